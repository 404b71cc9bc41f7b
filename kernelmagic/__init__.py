"""kernelmagic: tune GPU kernels with an LLM, interactively, with a harness that cannot be fooled.

The public surface is `__all__`; everything else is private modules of one idea each.
"""

from .api import check, compare
from .candidate import Candidate
from .devices import DeviceInfo, profile
from .errors import (
    BackendUnavailable,
    CandidateError,
    KernelmagicError,
    LoadError,
    OptionError,
    ProblemError,
)
from .harness.cluster import ClusterOptions
from .harness.comparison import Comparison
from .harness.evaluate import Harness, HarnessOptions
from .harness.jobs import TimingOptions
from .problem import Problem
from .verdict import CompileInfo, Resources, Roofline, Status, Timing, Verdict

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "Candidate",
    "CandidateError",
    "ClusterOptions",
    "Comparison",
    "CompileInfo",
    "DeviceInfo",
    "Harness",
    "HarnessOptions",
    "KernelmagicError",
    "LoadError",
    "OptionError",
    "Problem",
    "ProblemError",
    "Resources",
    "Roofline",
    "Status",
    "Timing",
    "TimingOptions",
    "Verdict",
    "check",
    "compare",
    "profile",
]

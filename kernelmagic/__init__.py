"""kernelmagic: tune GPU kernels with an LLM, interactively, with a harness that cannot be fooled.

The public surface is `__all__`; everything else is private modules of one idea each.
"""

from .api import check, compare, optimize
from .candidate import Candidate
from .devices import DeviceInfo, profile
from .errors import (
    BackendUnavailable,
    CandidateError,
    KernelmagicError,
    LoadError,
    OptionError,
    ProblemError,
    ProposerError,
    StoreError,
)
from .harness.cluster import ClusterOptions
from .harness.comparison import Comparison
from .harness.evaluate import Harness, HarnessOptions
from .harness.jobs import TimingOptions
from .loop.engine import Challenge, OptimizeOptions
from .loop.events import Event
from .loop.llm import LLMOptions
from .loop.records import CandidateRecord, Decision
from .loop.session import Best, Session
from .problem import Problem
from .store import SessionStore
from .verdict import CompileInfo, Resources, Roofline, Status, Timing, Verdict

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "Best",
    "Candidate",
    "CandidateError",
    "CandidateRecord",
    "Challenge",
    "ClusterOptions",
    "Comparison",
    "CompileInfo",
    "Decision",
    "DeviceInfo",
    "Event",
    "Harness",
    "HarnessOptions",
    "KernelmagicError",
    "LLMOptions",
    "LoadError",
    "OptimizeOptions",
    "OptionError",
    "Problem",
    "ProblemError",
    "ProposerError",
    "Resources",
    "Roofline",
    "Session",
    "SessionStore",
    "Status",
    "StoreError",
    "Timing",
    "TimingOptions",
    "Verdict",
    "check",
    "compare",
    "export_tutorial",
    "load_ipython_extension",
    "optimize",
    "profile",
    "replay_report",
]


def __getattr__(name: str) -> object:
    # The tutorial export needs nbformat, slow to import: loaded when first asked for.
    if name in ("export_tutorial", "replay_report"):
        from . import export

        return getattr(export, name)
    raise AttributeError(f"module 'kernelmagic' has no attribute {name!r}")


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext kernelmagic`: register `%%cuda_optimize` (imported only here)."""
    from .magic import CudaOptimize
    from .ui.lab import bridge

    ipython.register_magics(CudaOptimize(ipython))  # type: ignore[attr-defined]
    if getattr(ipython, "kernel", None) is not None:
        bridge().open()  # says hello to the JupyterLab extension, if there is one

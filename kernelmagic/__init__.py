"""kernelmagic: tune GPU kernels with an LLM, interactively, with a harness that cannot be fooled.

The public surface is `__all__`; everything else is private modules of one idea each.

The names are loaded when first used: the worker processes and the pool's host import
this package on their way to one module, and need none of the rest (importing it all
took 0.35 s of each one's start on a 2-core machine).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from kernelmagic._version import __version__ as __version__

if TYPE_CHECKING:
    from kernelmagic._api import check, compare, optimize
    from kernelmagic.candidate import Candidate
    from kernelmagic.errors import (
        BackendUnavailable,
        CandidateError,
        KernelmagicError,
        LoadError,
        OptionError,
        ProblemError,
        ProposerError,
        StoreError,
    )
    from kernelmagic.harness.comparison import Comparison
    from kernelmagic.harness.devices import DeviceInfo, profile
    from kernelmagic.harness.evaluate import Harness
    from kernelmagic.harness.options import ClusterOptions, HarnessOptions, TimingOptions
    from kernelmagic.harness.verdict import (
        CompileInfo,
        Resources,
        Roofline,
        Status,
        Timing,
        Verdict,
    )
    from kernelmagic.loop.events import Challenge, Event
    from kernelmagic.loop.options import LLMOptions, OptimizeOptions
    from kernelmagic.loop.records import CandidateRecord, Decision
    from kernelmagic.loop.session import Best, Session
    from kernelmagic.problem import Problem
    from kernelmagic.store import SessionStore, StoredSession

_PUBLIC = {
    "BackendUnavailable": "kernelmagic.errors",
    "Best": "kernelmagic.loop.session",
    "Candidate": "kernelmagic.candidate",
    "CandidateError": "kernelmagic.errors",
    "CandidateRecord": "kernelmagic.loop.records",
    "Challenge": "kernelmagic.loop.events",
    "ClusterOptions": "kernelmagic.harness.options",
    "Comparison": "kernelmagic.harness.comparison",
    "CompileInfo": "kernelmagic.harness.verdict",
    "Decision": "kernelmagic.loop.records",
    "DeviceInfo": "kernelmagic.harness.devices",
    "Event": "kernelmagic.loop.events",
    "Harness": "kernelmagic.harness.evaluate",
    "HarnessOptions": "kernelmagic.harness.options",
    "KernelmagicError": "kernelmagic.errors",
    "LLMOptions": "kernelmagic.loop.options",
    "LoadError": "kernelmagic.errors",
    "OptimizeOptions": "kernelmagic.loop.options",
    "OptionError": "kernelmagic.errors",
    "Problem": "kernelmagic.problem",
    "ProblemError": "kernelmagic.errors",
    "ProposerError": "kernelmagic.errors",
    "Resources": "kernelmagic.harness.verdict",
    "Roofline": "kernelmagic.harness.verdict",
    "Session": "kernelmagic.loop.session",
    "SessionStore": "kernelmagic.store",
    "Status": "kernelmagic.harness.verdict",
    "StoreError": "kernelmagic.errors",
    "StoredSession": "kernelmagic.store",
    "Timing": "kernelmagic.harness.verdict",
    "TimingOptions": "kernelmagic.harness.options",
    "Verdict": "kernelmagic.harness.verdict",
    "check": "kernelmagic._api",
    "compare": "kernelmagic._api",
    "optimize": "kernelmagic._api",
    "profile": "kernelmagic.harness.devices",
}

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
    "StoredSession",
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
    "session_from_json",
]


def session_from_json(text: str) -> StoredSession:
    """A session recorded as JSON (`kernelmagic sessions ID --json`, a tutorial's cell)."""
    from kernelmagic.store import session_file

    return session_file.loads(text)


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # asked once
        return value
    # The tutorial export needs nbformat, slow to import: loaded when first asked for.
    if name in ("export_tutorial", "replay_report"):
        from kernelmagic import export

        return getattr(export, name)
    # Tutorials exported by earlier versions read their recorded session with
    # `from kernelmagic import session_file`: kept working, though no longer public.
    if name == "session_file":
        from kernelmagic.store import session_file

        return session_file
    raise AttributeError(f"module 'kernelmagic' has no attribute {name!r}")


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext kernelmagic`: register `%%cuda_optimize` (imported only here)."""
    from kernelmagic.notebook.lab import bridge
    from kernelmagic.notebook.magic import CudaOptimize

    ipython.register_magics(CudaOptimize(ipython))  # type: ignore[attr-defined]
    # The loop parses candidates in the background while cells run: see `_python_ast`.
    compiler = getattr(ipython, "compile", None)
    if callable(getattr(compiler, "ast_parse", None)):
        from kernelmagic._python_ast import guard

        compiler.ast_parse = guard(compiler.ast_parse)  # type: ignore[union-attr]
    if getattr(ipython, "kernel", None) is not None:
        bridge().open()  # says hello to the JupyterLab extension, if there is one


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

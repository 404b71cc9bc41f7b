"""Rounds that cannot help, said before any is run.

A search over a kernel's launch parameters tunes a working kernel: it cannot repair one
that fails (five variants with the same IndexError teach nothing). Where nothing can run
(CUDA C without a GPU), rounds still compile and check every variant (an LLM fixes compile
errors, a search shows what each variant costs in registers), so they run, and the user is
told once, up front, what they can and cannot do.
"""

from __future__ import annotations

from kernelmagic.harness.verdict import Status
from kernelmagic.loop.proposal import Proposer
from kernelmagic.loop.records import CandidateRecord


def repairs(proposer: Proposer) -> bool:
    """Whether `proposer` can turn a failing kernel into a working one (an LLM can; a
    parameter search cannot). Proposers say so with a `repairs` attribute; default yes."""
    return bool(getattr(proposer, "repairs", True))


def nothing_runs(base: CandidateRecord) -> str:
    """Why no candidate can be verified or timed here ("" when they can)."""
    if base.status is not Status.UNVERIFIED or base.verdict is None:
        return ""
    why = base.verdict.message.splitlines()[0] if base.verdict.message else "it cannot run here"
    return (
        f"your kernel could not be run here ({why}): candidates are compiled and checked, "
        "never run, so none can be verified or timed; run on a machine with an NVIDIA GPU"
    )


def futile(base: CandidateRecord, proposer: Proposer) -> str:
    """Why no round is worth running, before the first ("" when rounds can help)."""
    if repairs(proposer) or nothing_runs(base):
        return ""  # where nothing runs, a search still shows what each variant compiles to
    v = base.verdict
    if v is not None and v.status is not Status.CORRECT:
        first = v.message.splitlines()[0] if v.message else ""
        return (
            f"your kernel is not correct ({v.status.value}: {first}); the {proposer.name} "
            "proposer tunes a working kernel's launch parameters and cannot repair it: fix "
            "the kernel, or use an LLM proposer (--proposer llm)"
        )
    return ""

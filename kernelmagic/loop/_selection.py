"""Which kernel of a round challenges the best: the fastest correct one, if an interleaved
comparison finds it faster beyond noise and (on a GPU) compute-sanitizer finds nothing.
The approver, if any, has the last word (see the loop)."""

from __future__ import annotations

from kernelmagic.errors import PoolClosed, WorkersUnavailable
from kernelmagic.harness.evaluate import Harness
from kernelmagic.harness.verdict import Status, Verdict
from kernelmagic.loop.events import Challenge
from kernelmagic.loop.records import CandidateRecord


def challenge(
    session_id: str,
    r: int,
    judged: list[CandidateRecord],
    incumbent: CandidateRecord | None,
    harness: Harness,
) -> tuple[Challenge, bool] | None:
    """The round's challenge to `incumbent` and whether it won the comparison (its reason
    then says why the incumbent is kept); None when nothing challenges it."""
    timed = [c for c in judged if c.status is Status.CORRECT and c.latency_ms is not None]
    if not timed:
        return None
    challenger = min(timed, key=lambda c: c.latency_ms or 0.0)
    if incumbent is None:
        return Challenge(session_id, r, challenger, None, None, "the first correct kernel"), True
    if challenger.id == incumbent.id or (challenger.latency_ms or 0) >= (incumbent.latency_ms or 0):
        return None
    comparison = harness.compare(incumbent.candidate, challenger.candidate)
    speedup = comparison.speedup
    won = comparison.significant and speedup is not None and speedup > 1
    why = comparison.message if won else f"kept the incumbent: {comparison.message}"
    return Challenge(session_id, r, challenger, incumbent, speedup, why), won


def sanitizer_finding(harness: Harness, challenger: CandidateRecord) -> Verdict | None:
    """The verdict of compute-sanitizer's race or bad access in `challenger`, if it found
    one; None where it found nothing or cannot run (no GPU, workers gone)."""
    try:
        return harness.sanitize(challenger.candidate)
    except PoolClosed:
        raise
    except WorkersUnavailable:
        return None

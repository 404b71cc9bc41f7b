"""Which kernel of a round challenges the best: the fastest correct one, if an interleaved
comparison finds it faster by the decision rule and (on a GPU) compute-sanitizer finds
nothing. The approver, if any, has the last word (see the loop)."""

from __future__ import annotations

from kernelmagic.errors import PoolClosed, WorkersUnavailable
from kernelmagic.harness.evaluate import Harness
from kernelmagic.harness.verdict import Status, Verdict
from kernelmagic.loop.events import Challenge
from kernelmagic.loop.records import CandidateRecord


def challenger(
    judged: list[CandidateRecord], incumbent: CandidateRecord | None
) -> CandidateRecord | None:
    """The round's fastest correct candidate, if its screening median beats the incumbent's
    (or there is no incumbent yet); None when nothing challenges it."""
    timed = [c for c in judged if c.status is Status.CORRECT and c.latency_ms is not None]
    if not timed:
        return None
    fastest = min(timed, key=lambda c: c.latency_ms or 0.0)
    if incumbent is None:
        return fastest
    if fastest.id == incumbent.id or (fastest.latency_ms or 0) >= (incumbent.latency_ms or 0):
        return None
    return fastest


def challenge(
    session_id: str,
    r: int,
    contender: CandidateRecord,
    incumbent: CandidateRecord | None,
    harness: Harness,
) -> tuple[Challenge, bool]:
    """`contender`'s challenge to `incumbent` and whether it won the interleaved comparison
    (`DECISION_RULE`; its reason then says why the incumbent is kept)."""
    if incumbent is None:
        return Challenge(session_id, r, contender, None, None, "the first correct kernel"), True
    comparison = harness.compare(incumbent.candidate, contender.candidate)
    won = comparison.faster
    why = comparison.message if won else f"kept the incumbent: {comparison.message}"
    return Challenge(session_id, r, contender, incumbent, comparison.estimate, why), won


def sanitizer_finding(harness: Harness, challenger: CandidateRecord) -> Verdict | None:
    """The verdict of compute-sanitizer's race or bad access in `challenger`, if it found
    one; None where it found nothing or cannot run (no GPU, workers gone)."""
    try:
        return harness.sanitize(challenger.candidate)
    except PoolClosed:
        raise
    except WorkersUnavailable:
        return None

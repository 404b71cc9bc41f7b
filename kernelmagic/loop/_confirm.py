"""The session's one speedup figure: its best kernel against the user's, interleaved.

Each decision compares a challenger with the best of its time, so after two steps no
decision compares the final kernel with the user's: the product of two intervals is no
interval. At the end the best is therefore timed against the user's kernel once more,
interleaved, unless its own decision already did exactly that.
"""

from __future__ import annotations

from kernelmagic.harness.verdict import Status
from kernelmagic.loop.records import CandidateRecord, Confirmation
from kernelmagic.loop.session import Session


def pair(session: Session) -> tuple[CandidateRecord, CandidateRecord] | None:
    """(best, the user's kernel) when there is a speedup to confirm: both correct, not one."""
    best, base = session.best, session.baseline
    if best is None or base is None or best.id == base.id or base.status is not Status.CORRECT:
        return None
    return best.record, base


def settled(session: Session, best: CandidateRecord, base: CandidateRecord) -> Confirmation | None:
    """The confirmation a decision already made: the one that crowned `best` over `base`."""
    for d in reversed(session.decisions):
        if d.accepted and d.candidate == best.id and d.estimate is not None:
            if d.incumbent == base.id:
                return Confirmation(best.id, base.id, d.estimate, d.reason)
            return None
    return None

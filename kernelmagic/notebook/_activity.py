"""What the loop is doing now, in words: the widget's status line.

A plain function of the session (its phase, contest and rounds) and of the little only the
view knows: whether the user answers the challenges, whether Stop was clicked, how long the
current phase has lasted. A comparison takes 10-30 s on the simulator: the line counts them.
"""

from __future__ import annotations

from kernelmagic.loop.session import Phase, Session

TIMED = ("comparing", "confirming")  # phases whose line counts the seconds
ENDED = ("finished", "stopped", "failed", "interrupted")


def phase_of(session: Session, *, ended: bool = False) -> Phase:
    """The session's phase; "finished" once the view was told it ended (`ended`)."""
    phase = session.phase
    return "finished" if ended and phase not in ENDED else phase


def activity_text(
    session: Session,
    *,
    you_answer: bool,
    stopping: bool = False,
    ended: bool = False,
    elapsed_s: float | None = None,
) -> str:
    """One line: "screening round 2: 3 of 4 candidates evaluated", "comparing #4 with the
    best #0 (interleaved runs)… 12 s", "waiting for you: accept #4?", "stopped: on request"."""
    phase = phase_of(session, ended=ended)
    if phase in ENDED:
        return _ended(session, phase)
    if stopping or phase == "stopping":
        return "stopping after the evaluation in flight…"
    contest = session.contest
    if phase == "screening" or contest is None:
        return _screening(session)
    challenger, against = contest
    vs = f" #{against.seq}" if against else ""
    clock = f" {_seconds(elapsed_s)}" if elapsed_s is not None else ""
    if phase == "awaiting":
        if you_answer:
            return f"waiting for you: accept #{challenger.seq}?"
        return f"waiting for the approver: #{challenger.seq} over{vs or ' the best'}?"
    if phase == "confirming":
        return (
            f"confirming the best #{challenger.seq} against your kernel (interleaved runs)…" + clock
        )
    return f"comparing #{challenger.seq} with the best{vs} (interleaved runs)…{clock}"


def _screening(session: Session) -> str:
    base = session.baseline
    if base is None or base.verdict is None:
        return "checking and timing your kernel (#0)…"
    rounds = [r for r in session.rounds if r.round > 0]
    last = rounds[-1] if rounds else None
    if last is None or (last.finished and last.round < session.planned_rounds):
        upcoming = last.round + 1 if last else 1
        return f"round {upcoming} of {session.planned_rounds}: proposing candidates…"
    records = {c.id: c for c in session.candidates}
    evaluated = sum(1 for cid in last.candidates if cid in records and records[cid].verdict)
    return (
        f"screening round {last.round}: {evaluated} of {len(last.candidates)} candidates evaluated"
    )


def _ended(session: Session, phase: str) -> str:
    """ "stopped: on request", "failed: the worker processes could not be restored"."""
    why = str(session.error) if phase == "failed" and session.error else session.stop_reason
    why = why.removeprefix(phase + " ")  # "stopped: stopped on request" says it twice
    return f"{phase}: {why}" if why else phase


def _seconds(elapsed_s: float) -> str:
    s = int(elapsed_s)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"

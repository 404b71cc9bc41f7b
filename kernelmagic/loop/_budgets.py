"""When a session stops before its last round: patience, time and token budgets, a stop."""

from __future__ import annotations

import time
from typing import Protocol

from kernelmagic._words import count
from kernelmagic.loop.session import Session


class Budgets(Protocol):
    """The budgets of a session's options (`OptimizeOptions` has them)."""

    @property
    def patience(self) -> int | None: ...

    @property
    def time_budget_s(self) -> float | None: ...

    @property
    def max_tokens(self) -> int | None: ...


def rounds_without_gain(session: Session) -> int:
    """Finished rounds since the last accepted kernel (what a resumed session's patience
    has used up)."""
    accepted = [d.round for d in session.decisions if d.accepted]
    finished = [r.round for r in session.rounds if r.finished]
    last = max(finished, default=0)
    return last - max(accepted, default=0) if finished else 0


def budget_spent(session: Session, budgets: Budgets, *, started: float, stale: int) -> str:
    """Why no further round may start, "" if it may (`started`: `time.monotonic()` when the
    loop began; `stale`: rounds in a row without a new best)."""
    b = budgets
    if session.stop_requested:
        return "stopped on request"
    if b.patience is not None and stale >= b.patience:
        return f"no new best in {count(b.patience, 'round')}"
    if b.time_budget_s is not None and time.monotonic() - started >= b.time_budget_s:
        return f"the time budget of {b.time_budget_s:g} s is spent"
    if b.max_tokens is not None and session.tokens >= b.max_tokens:
        return f"the token budget of {b.max_tokens} is spent ({session.tokens} used)"
    return ""

"""What a running session reports as it goes: for progress bars, widgets and logs."""

from __future__ import annotations

import dataclasses
from typing import Literal

from kernelmagic.loop.records import CandidateRecord, Decision

EventKind = Literal[
    "started",  # the session began (or resumed)
    "round",  # a round began: `round`, `message` holds the mode
    "proposed",  # a candidate was proposed and stored
    "evaluated",  # a candidate has its verdict
    "note",  # something the user should know (a reply without a kernel, a budget hit)
    "decision",  # a round's best challenger was accepted or rejected
    "finished",  # the session ended: `message` says why
]


@dataclasses.dataclass(frozen=True)
class Event:
    """One thing that happened; `candidate`/`decision` are set where the kind has one."""

    kind: EventKind
    session: str
    round: int
    message: str = ""
    candidate: CandidateRecord | None = None
    decision: Decision | None = None
    tokens: int = 0  # tokens used so far in the session

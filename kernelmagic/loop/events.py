"""What a running session reports as it goes: for progress bars, widgets, logs and the store.

Each change to a session is one `Event`: the loop keeps it in its storage and then hands it
to an `EventFeed`, which the user's `Session` follows. What the store holds and what the
`Session` shows are thus the same events applied, never two writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from kernelmagic.errors import KernelmagicError
from kernelmagic.harness.comparison import Estimate
from kernelmagic.loop.proposal import Exchange
from kernelmagic.loop.records import (
    CandidateRecord,
    Confirmation,
    Decision,
    RoundRecord,
    SessionState,
)

EventKind = Literal[
    "started",  # the session began (`candidate`: the user's kernel) or resumed (`dropped`)
    "round",  # a round began: `round`, `message` holds the mode
    "exchange",  # the proposer talked to the LLM: `exchange` (as sent and received)
    "proposed",  # a candidate was proposed
    "evaluated",  # a candidate has its verdict (again: `JUDGED_AGAIN`, counters or a sanitizer)
    "note",  # something the user should know (a reply without a kernel, a budget hit)
    "round_record",  # a round's proposals are all in, or it is over: `round_record`
    "best",  # the user's kernel is the first best (correct; no decision to make)
    "comparing",  # the round's challenger (`candidate`) is timed against the best (`against`)
    "awaiting",  # the challenge (`candidate` over `against`) waits for the approver
    "decision",  # a round's best challenger was accepted or rejected
    "confirming",  # the best (`candidate`) is timed against the user's kernel (`against`)
    "confirmed",  # the session's speedup over the user's kernel: `confirmation`
    "finished",  # the session ended: `message` says why, `state` how (`error` if it failed)
]


# The message of an "evaluated" event that gives a judged best its hardware counters.
PROFILED = "profiled"
# The message of an "evaluated" event that gives a challenger compute-sanitizer's verdict.
SANITIZED = "sanitized"
# Both are a verdict given again, not one more evaluation.
JUDGED_AGAIN = (PROFILED, SANITIZED)


@dataclasses.dataclass(frozen=True)
class Event:
    """One thing that happened; the other fields are set where the kind has one."""

    kind: EventKind
    session: str
    round: int
    message: str = ""
    candidate: CandidateRecord | None = None
    decision: Decision | None = None
    tokens: int = 0  # tokens used so far in the session
    round_record: RoundRecord | None = None
    exchange: Exchange | None = None
    state: SessionState | None = None
    error: KernelmagicError | None = None
    dropped: tuple[str, ...] = ()  # proposals of a round cut short, asked again on resume
    against: str | None = None  # the kernel a challenger or the best is compared with
    confirmation: Confirmation | None = None


@dataclasses.dataclass(frozen=True)
class Challenge:
    """A round's proposed new best, put to the approver."""

    session: str
    round: int
    challenger: CandidateRecord
    incumbent: CandidateRecord | None
    estimate: Estimate | None  # challenger over incumbent (None for the first correct kernel)
    reason: str

    @property
    def speedup(self) -> float | None:
        return self.estimate.speedup if self.estimate else None


class EventFeed:
    """Hands each of a loop's events, in order, to whoever follows them (its `Session`)."""

    def __init__(self) -> None:
        self._followers: list[Callable[[Event], None]] = []

    def follow(self, follower: Callable[[Event], None]) -> None:
        self._followers.append(follower)

    def publish(self, event: Event) -> None:
        for follower in self._followers:
            follower(event)

"""The handle a caller holds on a tuning session, running or done.

A read-only view: it follows the loop's events (each applied privately, in the loop's
thread), so it always shows what the store holds. Callers read `best`, `candidates` and
`rounds`, follow `events()`, and may `stop()`, `wait()` or `choose()` an earlier kernel:
those go to the loop as requests.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol

from kernelmagic._words import count
from kernelmagic.errors import KernelmagicError, OptionError
from kernelmagic.harness.comparison import Estimate
from kernelmagic.harness.verdict import Status, speedup
from kernelmagic.loop.events import Event, EventFeed
from kernelmagic.loop.records import (
    CandidateRecord,
    Confirmation,
    Decision,
    Recorded,
    RoundRecord,
    SessionState,
)

# What the loop is doing, as a view says it: screening candidates (compiling, checking and
# timing each once), comparing the round's fastest with the best (interleaved runs), waiting
# for the approver, confirming the best against the user's kernel; then how it ended.
Phase = Literal[
    "screening", "comparing", "awaiting", "confirming", "stopping",
    "finished", "stopped", "failed", "interrupted",
]  # fmt: skip
_PHASES: dict[str, Phase] = {
    "round": "screening",
    "comparing": "comparing",
    "awaiting": "awaiting",
    "decision": "screening",
    "confirming": "confirming",
}


@dataclasses.dataclass(frozen=True)
class Best:
    """The kernel a session recommends, and how much faster than the user's it is."""

    id: str
    source: str
    status: Status
    latency_ms: float | None
    # The speedup over the user's kernel: an interleaved comparison's estimate with its 95%
    # interval, once the session has made it (at its end); None before, or for the user's own.
    estimate: Estimate | None
    screening: float | None  # the user's kernel's median over this one's: a screening figure
    simulated: bool
    record: CandidateRecord

    @property
    def speedup(self) -> float | None:
        """The confirmed speedup over the user's kernel (`estimate`'s point); None until the
        session has compared the two: a screening figure is never returned as a speedup."""
        return self.estimate.speedup if self.estimate else None


class Steering(Protocol):
    """Where a session's user commands go: the loop that runs it."""

    @property
    def stop_requested(self) -> bool: ...

    def request_stop(self) -> None: ...

    def request_choice(self, candidate_id: str) -> None: ...


class Session:
    """A tuning session: its candidates, rounds and best kernel, as the loop's events say.

    Made by the loop (following its `feed`, steering it through `steering`), from a stored
    session (`of_stored`), or from `recorded` records and then a feed's events.
    """

    def __init__(
        self,
        session_id: str,
        *,
        store_path: str,
        planned_rounds: int,
        per_round: int,
        feed: EventFeed | None = None,
        steering: Steering | None = None,
        recorded: Recorded | None = None,
    ) -> None:
        self.id = session_id
        self.store_path = store_path
        self.planned_rounds = planned_rounds  # at most; budgets and the proposer may end sooner
        self.per_round = per_round
        self._steering = steering
        self._state: SessionState = "running"
        self._stop_reason = ""
        self._error: KernelmagicError | None = None
        self._tokens = 0
        self._records: dict[str, CandidateRecord] = {}
        self._rounds: dict[int, RoundRecord] = {}
        self._decisions: list[Decision] = []
        self._notes: list[tuple[int, str]] = []
        self._best_id: str | None = None
        self._baseline_id: str | None = None
        self._phase: Phase = "screening"
        self._contest: tuple[str, str | None] | None = None  # (challenger, against) ids
        self._confirmation: Confirmation | None = None
        self._events: list[Event] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._changed = threading.Condition()
        self._done = threading.Event()
        if recorded is not None:
            self._take_in(recorded)
        if feed is not None:
            feed.follow(self._apply)

    @classmethod
    def of_stored(cls, stored: Recorded) -> Session:
        """A finished session as it was stored: for records and exports, no loop attached."""
        info = stored.info
        session = cls(
            info.id,
            store_path="",
            planned_rounds=info.rounds,
            per_round=max(1, info.candidates),
            recorded=stored,
        )
        session._state, session._stop_reason = info.state, info.stop_reason
        session._done.set()
        return session

    # -- reading -------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def stop_reason(self) -> str:
        return self._stop_reason

    @property
    def error(self) -> KernelmagicError | None:
        """Why the session failed, if it did (`wait()` raises it)."""
        return self._error

    @property
    def tokens(self) -> int:
        """LLM tokens used so far."""
        return self._tokens

    @property
    def candidates(self) -> list[CandidateRecord]:
        """Every candidate so far, in the order proposed (the user's kernel first)."""
        with self._changed:
            return sorted(self._records.values(), key=lambda r: r.seq)

    @property
    def rounds(self) -> list[RoundRecord]:
        with self._changed:
            return [self._rounds[k] for k in sorted(self._rounds)]

    @property
    def decisions(self) -> list[Decision]:
        with self._changed:
            return list(self._decisions)

    @property
    def notes(self) -> list[tuple[int, str]]:
        """(round, text) of what the loop told the user as it went (a problem's warning, a
        reply without a kernel, a budget hit), oldest first; a resumed or stored session's
        begin with those it kept."""
        with self._changed:
            return list(self._notes)

    @property
    def baseline(self) -> CandidateRecord | None:
        with self._changed:
            return self._records.get(self._baseline_id or "")

    @property
    def best(self) -> Best | None:
        """The fastest correct kernel accepted so far; None while there is none."""
        with self._changed:
            record = self._records.get(self._best_id or "")
            if record is None or record.verdict is None:
                return None
            base = self._records.get(self._baseline_id or "")
            base_ms = base.latency_ms if base and base.status is Status.CORRECT else None
            confirmed = self._confirmation
            return Best(
                id=record.id,
                source=record.source,
                status=record.verdict.status,
                latency_ms=record.latency_ms,
                estimate=confirmed.estimate
                if confirmed and confirmed.candidate == record.id
                else None,
                screening=speedup(base_ms, record.latency_ms),
                simulated=record.simulated,
                record=record,
            )

    @property
    def confirmation(self) -> Confirmation | None:
        """The best against the user's kernel, if the session has compared them (and the
        best has not changed since)."""
        with self._changed:
            found = self._confirmation
            return found if found and found.candidate == self._best_id else None

    @property
    def phase(self) -> Phase:
        """What the loop is doing now, or how it ended (as soon as its end is applied, before
        the session counts as done: listeners of the "finished" event read it so)."""
        with self._changed:
            if self._state != "running":
                return self._state
            if self._done.is_set():
                return "finished"
            if self._steering is not None and self._steering.stop_requested:
                return "stopping"
            return self._phase

    @property
    def contest(self) -> tuple[CandidateRecord, CandidateRecord | None] | None:
        """(challenger, the kernel it is timed against) while comparing, confirming or
        awaiting the approver; None otherwise."""
        with self._changed:
            if self._contest is None or self._done.is_set():
                return None
            challenger, against = self._contest
            return self._records[challenger], self._records.get(against or "")

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def events(self, *, timeout_s: float | None = None) -> Iterator[Event]:
        """Every event from the start, then new ones as they happen, until the session ends.

        With `timeout_s`, stops waiting for the next event after that long.
        """
        index = 0
        while True:
            with self._changed:
                if index >= len(self._events) and not self._done.is_set():
                    self._changed.wait(timeout_s)
                fresh = self._events[index:]
                index += len(fresh)
                finished = self._done.is_set()
            yield from fresh
            if finished and not fresh:
                return
            if not fresh and timeout_s is not None:
                return

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call `listener(event)` for each new event, in the loop's thread, once the session
        shows it."""
        with self._changed:
            self._listeners.append(listener)

    # -- steering ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to end after the evaluation in flight."""
        if self._steering is not None:
            self._steering.request_stop()

    @property
    def stop_requested(self) -> bool:
        return self._steering is not None and self._steering.stop_requested

    def wait(self, timeout_s: float | None = None) -> Session:
        """Block until the session ends (or `timeout_s` passes); re-raise its error if any."""
        self._done.wait(timeout_s)
        if self._error is not None:
            raise self._error
        return self

    def choose(self, candidate_id: str) -> None:
        """Make an earlier correct candidate the best (a user's pick or revert): the loop
        records it as the user's decision, which this session then shows."""
        with self._changed:
            record = self._records.get(candidate_id)
        if record is None:
            raise OptionError(f"no candidate {candidate_id!r} in session {self.id}")
        if record.status is not Status.CORRECT:
            raise OptionError(
                f"candidate {candidate_id} is {record.status or 'not evaluated yet'}: "
                "only a correct kernel can be chosen"
            )
        if self._steering is not None:
            self._steering.request_choice(candidate_id)

    # -- following the loop (private: only events change a session) ----------------------

    def _take_in(self, recorded: Recorded) -> None:
        """Start from a kept session's candidates, rounds, decisions and notes."""
        self._records = {rec.id: rec for rec in recorded.candidates}
        for kept in recorded.rounds:
            ids = tuple(c.id for c in recorded.candidates if c.round == kept.round)
            self._rounds[kept.round] = dataclasses.replace(kept, candidates=ids)
        self._decisions = list(recorded.decisions)
        self._notes = list(recorded.notes)
        self._baseline_id = recorded.meta["baseline_id"]
        self._best_id = recorded.meta["best_id"]
        self._tokens = sum(r.tokens for r in recorded.rounds)
        confirmed = recorded.meta.get("confirmed")
        self._confirmation = Confirmation.from_dict(confirmed) if confirmed else None

    def _apply(self, event: Event) -> None:
        with self._changed:
            self._tokens = event.tokens
            if event.candidate is not None and event.kind in ("started", "proposed", "evaluated"):
                self._records[event.candidate.id] = event.candidate
            if event.kind == "started":
                self._baseline_id = event.candidate.id if event.candidate else self._baseline_id
                for dropped in event.dropped:
                    self._records.pop(dropped, None)
            elif event.kind == "round_record" and event.round_record is not None:
                self._rounds[event.round_record.round] = event.round_record
            elif event.kind == "best" and event.candidate is not None:
                self._best_id = event.candidate.id
            elif event.kind == "decision" and event.decision is not None:
                self._decisions.append(event.decision)
                if event.decision.accepted:
                    self._best_id = event.decision.candidate
            elif event.kind == "confirmed":
                self._confirmation = event.confirmation
            elif event.kind == "note":
                self._notes.append((event.round, event.message))
            elif event.kind == "finished":
                self._state, self._stop_reason = event.state or "finished", event.message
                self._error = event.error
            if event.kind in _PHASES:
                self._phase = _PHASES[event.kind]
                contest = event.kind in ("comparing", "awaiting", "confirming")
                self._contest = (
                    (event.candidate.id, event.against) if contest and event.candidate else None
                )
            self._events.append(event)
            listeners = list(self._listeners)
            self._changed.notify_all()
        for listener in listeners:
            listener(event)
        if event.kind == "finished":  # after the listeners: followers see it, then stop
            with self._changed:
                self._done.set()
                self._changed.notify_all()

    # -- showing -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the CLI's --json output)."""
        best = self.best
        base = self.baseline
        return {
            "session": self.id,
            "session_db": self.store_path,
            "state": self.state,
            "stop_reason": self.stop_reason,
            "best": {
                "id": best.id,
                "status": best.status.value,
                "latency_ms": best.latency_ms,
                # The one speedup: interleaved against the user's kernel, with its interval.
                "speedup": best.estimate.to_dict() if best.estimate else None,
                "screening": best.screening,
                "simulated": best.simulated,
                "source": best.source,
            }
            if best
            else None,
            "baseline": base.summary() if base else None,
            "rounds": len([r for r in self.rounds if r.round > 0 and r.finished]),
            "tokens": self.tokens,
            "candidates": [r.summary() for r in self.candidates],
            "decisions": [d.to_dict() for d in self.decisions],
        }

    def __repr__(self) -> str:
        best = self.best
        if best is None:
            summary = "no correct kernel"
        else:
            timing = f"{best.latency_ms:.4g} ms" if best.latency_ms is not None else "untimed"
            speed = f", {best.estimate.describe()}" if best.estimate else ""
            sim = " (simulated)" if best.simulated else ""
            summary = f"best {best.id}: {timing}{sim}{speed}"
        return (
            f"<kernelmagic Session {self.id}: {self.state}, "
            f"{count(len(self._records), 'candidate')}, {summary}>"
        )

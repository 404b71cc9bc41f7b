"""The handle a caller holds on a tuning session, running or done.

The loop writes to it from its own thread; callers read `best`, `candidates` and
`rounds`, follow `events()`, and may `stop()`, `wait()` or `choose()` an earlier kernel.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

from kernelmagic.errors import KernelmagicError, OptionError
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.events import Event
from kernelmagic.loop.records import CandidateRecord, Decision, RoundRecord, SessionState

if TYPE_CHECKING:
    from kernelmagic.store import StoredSession


@dataclasses.dataclass(frozen=True)
class Best:
    """The kernel a session recommends, and how much faster than the user's it is."""

    id: str
    source: str
    status: Status
    latency_ms: float | None
    speedup: float | None  # over the baseline (the user's kernel); None if either is untimed
    simulated: bool
    record: CandidateRecord


class Session:
    """A tuning session: its candidates, rounds and best kernel, updated as the loop runs."""

    def __init__(
        self, session_id: str, *, store_path: str, planned_rounds: int, per_round: int
    ) -> None:
        self.id = session_id
        self.store_path = store_path
        self.planned_rounds = planned_rounds  # at most; budgets and the proposer may end sooner
        self.per_round = per_round
        self.state: SessionState = "running"
        self.stop_reason = ""
        self.error: KernelmagicError | None = None
        self.tokens = 0
        self._records: dict[str, CandidateRecord] = {}
        self._rounds: dict[int, RoundRecord] = {}
        self._decisions: list[Decision] = []
        self._best_id: str | None = None
        self._baseline_id: str | None = None
        self._events: list[Event] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._done = threading.Event()
        # Set by the loop: records a user's choice in the store and tells listeners.
        self.on_choice: Callable[[str], None] | None = None

    # -- reading -------------------------------------------------------------------------

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
            ms = record.latency_ms
            return Best(
                id=record.id,
                source=record.source,
                status=record.verdict.status,
                latency_ms=ms,
                speedup=base_ms / ms if base_ms and ms else None,
                simulated=record.simulated,
                record=record,
            )

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
        """Call `listener(event)` for each new event, in the loop's thread."""
        with self._changed:
            self._listeners.append(listener)

    # -- steering ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to end after the evaluation in flight."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout_s: float | None = None) -> Session:
        """Block until the session ends (or `timeout_s` passes); re-raise its error if any."""
        self._done.wait(timeout_s)
        if self.error is not None:
            raise self.error
        return self

    def choose(self, candidate_id: str) -> None:
        """Make an earlier correct candidate the best (a user's pick or revert); it is stored."""
        with self._changed:
            record = self._records.get(candidate_id)
        if record is None:
            raise OptionError(f"no candidate {candidate_id!r} in session {self.id}")
        if record.status is not Status.CORRECT:
            raise OptionError(
                f"candidate {candidate_id} is {record.status or 'not evaluated yet'}: "
                "only a correct kernel can be chosen"
            )
        if self.on_choice is not None:
            self.on_choice(candidate_id)

    # -- written by the loop -------------------------------------------------------------

    def put(self, record: CandidateRecord) -> None:
        with self._changed:
            self._records[record.id] = record

    def put_round(self, record: RoundRecord) -> None:
        with self._changed:
            self._rounds[record.round] = record

    def set_baseline(self, candidate_id: str) -> None:
        with self._changed:
            self._baseline_id = candidate_id

    def set_best(self, candidate_id: str | None) -> None:
        with self._changed:
            self._best_id = candidate_id

    def add_decision(self, decision: Decision) -> None:
        with self._changed:
            self._decisions.append(decision)
            if decision.accepted:
                self._best_id = decision.candidate

    def restore(self, stored: StoredSession, *, skip: Collection[str] = ()) -> None:
        """Take in a stored session's candidates (but those in `skip`), rounds and decisions."""
        for rec in stored.candidates:
            if rec.id not in skip:
                self.put(rec)
        for kept in stored.rounds:
            ids = tuple(c.id for c in stored.candidates if c.round == kept.round)
            self.put_round(dataclasses.replace(kept, candidates=ids))
        for decision in stored.decisions:
            self.add_decision(decision)
        self.set_baseline(stored.meta["baseline_id"])
        self.set_best(stored.meta["best_id"])
        self.tokens = sum(r.tokens for r in stored.rounds)

    @classmethod
    def of_stored(cls, stored: StoredSession) -> Session:
        """A finished session as it was stored: for records and exports, no loop attached."""
        info = stored.info
        session = cls(
            info.id, store_path="", planned_rounds=info.rounds, per_round=max(1, info.candidates)
        )
        session.restore(stored)
        session.state = info.state
        session.stop_reason = info.stop_reason
        session.finish()
        return session

    def emit(self, event: Event) -> None:
        with self._changed:
            self._events.append(event)
            listeners = list(self._listeners)
            self._changed.notify_all()
        for listener in listeners:
            listener(event)

    def finish(self) -> None:
        """Mark the session over (the loop has set `state` and `stop_reason`)."""
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
                "speedup": best.speedup,
                "simulated": best.simulated,
                "source": best.source,
            }
            if best
            else None,
            "baseline": base.summary() if base else None,
            "rounds": len([r for r in self.rounds if r.round > 0 and r.finished]),
            "tokens": self.tokens,
            "candidates": [r.summary() for r in self.candidates],
            "decisions": [dataclasses.asdict(d) for d in self.decisions],
        }

    def __repr__(self) -> str:
        best = self.best
        if best is None:
            summary = "no correct kernel"
        else:
            timing = f"{best.latency_ms:.4g} ms" if best.latency_ms is not None else "untimed"
            speed = f", {best.speedup:.2f}x the baseline" if best.speedup else ""
            sim = " (simulated)" if best.simulated else ""
            summary = f"best {best.id}: {timing}{sim}{speed}"
        return (
            f"<kernelmagic Session {self.id}: {self.state}, {len(self._records)} candidates, "
            f"{summary}>"
        )

"""The refinement loop (FSR): propose, verify, time, keep the fastest correct, repeat.

Round r asks the proposer for K candidates: in `repair` mode while no kernel is correct,
in `optimize` mode from the fastest once one is. Each candidate is stored, then judged by
the harness (or its stored verdict is reused). The round's fastest correct candidate
replaces the incumbent only if an interleaved comparison says it is faster beyond noise,
and only if the approver (when there is one) agrees. Budgets and a stop request end the
loop between evaluations; a killed process resumes from the store.

Every change goes through `Loop._apply`: one event, kept by the storage and then followed
by the session the user holds. The user's commands (stop, choose) come back as requests.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from kernelmagic._redact import redact_text
from kernelmagic._words import count
from kernelmagic.errors import (
    BackendUnavailable,
    KernelmagicError,
    PoolClosed,
    StoreError,
    WorkersUnavailable,
)
from kernelmagic.harness.devices import DeviceInfo
from kernelmagic.harness.evaluate import Harness
from kernelmagic.harness.verdict import Status, Verdict
from kernelmagic.loop._budgets import budget_spent, rounds_without_gain
from kernelmagic.loop._confirm import pair, settled
from kernelmagic.loop._futile import futile, nothing_runs
from kernelmagic.loop._parallel import judge_round
from kernelmagic.loop._profiling import BestCounters
from kernelmagic.loop._selection import challenge, challenger, sanitizer_finding
from kernelmagic.loop._storage import Storage
from kernelmagic.loop.brief import round_request
from kernelmagic.loop.events import SANITIZED, Challenge, Event, EventFeed, EventKind
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.loop.proposal import Mode, ProblemBrief, Proposal, Proposer, ProposerReply
from kernelmagic.loop.records import (
    CandidateRecord,
    Confirmation,
    DecidedBy,
    Decision,
    Recorded,
    RoundRecord,
    SessionState,
)
from kernelmagic.loop.session import Session

DEFAULT_ROUNDS = 5


Approver = Callable[[Challenge], bool]


class Loop:
    """Runs one session to its end, keeping every change in `storage` as it happens."""

    def __init__(
        self,
        session_id: str,
        *,
        storage: Storage,
        store_path: str,
        harness: Harness,
        proposer: Proposer,
        options: OptimizeOptions,
        brief_device: DeviceInfo,
        device_label: str,
        brief: ProblemBrief,
        resumed: Recorded | None = None,
        approve: Approver | None = None,
    ) -> None:
        self.storage = storage
        self.harness = harness
        self.proposer = proposer
        self.options = options
        self.device_label = device_label
        self._request = functools.partial(
            round_request, k=options.candidates, problem=brief, device=brief_device
        )
        self.approve = approve
        self._counters = BestCounters(harness, self._apply)
        self._resumed = resumed
        self._seq = 0
        self._seeds: dict[str, tuple[int, ...]] = {}  # replayed candidates: their recorded seeds
        self._stop = threading.Event()
        self._changing = threading.RLock()  # a user's choice and the loop's changes, in turn
        feed = EventFeed()
        self._publish = feed.publish
        self.session = Session(
            session_id,
            store_path=store_path,
            planned_rounds=options.rounds if options.rounds is not None else DEFAULT_ROUNDS,
            per_round=options.candidates,
            feed=feed,
            steering=self,
            recorded=resumed,
        )

    # -- requests from the user (through the session) ------------------------------------

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """End after the evaluation in flight."""
        self._stop.set()

    def request_choice(self, candidate_id: str) -> None:
        """Make a correct candidate the best, as the user's decision (also once finished)."""
        with self._changing:
            best = self.session.best
            chosen = next(c for c in self.session.candidates if c.id == candidate_id)
            why = "chosen by the user"
            incumbent = best.record if best else None
            pick = Challenge(self.session.id, chosen.round, chosen, incumbent, None, why)
            self._decide(pick, True, "user", why)

    # -- the loop ------------------------------------------------------------------------

    def run(self, baseline: CandidateRecord) -> None:
        """Evaluate the baseline (a resumed session has its own), then run rounds until a
        budget or the proposer runs out."""
        started = time.monotonic()
        try:
            first = self._restore(self._resumed) if self._resumed else self._start(baseline)
            base = self.session.baseline
            assert base is not None
            if base.verdict is None:
                base = self._evaluate(base)
            if self.session.best is None and base.status is Status.CORRECT:
                self._apply("best", 0, candidate=base)
            if first == 1 and base.verdict is not None:  # the problem's own warnings, once
                for warning in base.verdict.warnings:
                    self._apply("note", 0, f"warning: {warning}")
            reason = futile(base, self.proposer)
            if not reason and nothing_runs(base) and first == 1:
                self._apply("note", 0, nothing_runs(base))
            stale = rounds_without_gain(self.session)
            rounds = 0 if reason else self.session.planned_rounds
            for r in range(first, rounds + 1):
                reason = budget_spent(self.session, self.options, started=started, stale=stale)
                if reason:
                    break
                gained, exhausted = self._round(r)
                stale = 0 if gained else stale + 1
                if self.stop_requested:
                    reason = "stopped on request"
                    break
                if exhausted:
                    reason = f"the {self.proposer.name} proposer has nothing more to try"
                    break
            else:
                reason = reason or f"{count(rounds, 'round')} done"
                if self._resumed and first > rounds:
                    reason += " before: resume with more rounds to go on"
            self._counters.update(None if self.stop_requested else self.session.best)
            self._confirm()
            state: SessionState = "stopped" if self.stop_requested else "finished"
            self._finish(state, reason or "done")
        except PoolClosed:
            # A second Ctrl-C (or the process exiting) shut the workers down mid-evaluation:
            # nothing was judged, nothing is stored for it, and the session can be resumed.
            self._finish("interrupted", "interrupted before it finished; resume it to go on")
        except StoreError as exc:
            # The database is gone or full: what the session holds goes to a file beside it.
            try:
                message = f"{exc}; the session is saved in {self.storage.rescue(self.session)}"
            except StoreError as again:
                message = f"{exc} (and it could not be saved elsewhere either: {again})"
            self._finish("failed", message, StoreError(message))
        except KernelmagicError as exc:
            self._finish("failed", str(exc), exc)
        except BaseException as exc:
            error = KernelmagicError(
                f"the loop failed ({type(exc).__name__}: {exc}); the session is stored and "
                "can be resumed"
            )
            self._finish("failed", str(error), error)
            if not isinstance(exc, Exception):
                raise

    def _round(self, r: int) -> tuple[bool, bool]:
        """Run round `r`; (a new best was accepted, the proposer is exhausted)."""
        # The best so far is profiled first: the round's prompt shows its counters.
        self._counters.update(None if self.stop_requested else self.session.best)
        known = {rec.round: rec for rec in self.session.rounds}.get(r)
        exhausted = False
        if known is None:
            mode: Mode = "optimize" if self.session.best else "repair"
            self._apply("round", r, mode)
            reply = self.proposer.propose(self._request(self.session, r, mode))
            records = self._take(r, mode, reply)
            exhausted = reply.exhausted
        else:
            records = [c for c in self.session.candidates if c.round == r]
            mode = known.mode  # type: ignore[assignment]
            self._apply("round", r, f"{mode} (resumed)")
        judged = self._evaluate_round(records)
        gained = self._select(r, judged)
        if len(judged) == len(records):
            done = dataclasses.replace(self.session.rounds[-1], finished=True)
            self._apply("round_record", r, round_record=done)
        return gained, exhausted

    def _take(self, r: int, mode: Mode, reply: ProposerReply) -> list[CandidateRecord]:
        """Keep the round's exchanges and proposals (before any is evaluated)."""
        before = self.session.tokens
        for exchange in reply.exchanges:
            self._apply(
                "exchange", r, exchange=exchange, tokens=self.session.tokens + exchange.tokens
            )
        records = [self._record(p, r) for p in reply.proposals[: self.options.candidates]]
        for note in reply.notes:
            self._apply("note", r, note)
        if len(reply.proposals) > self.options.candidates:
            self._apply(
                "note",
                r,
                f"the proposer offered {len(reply.proposals)} candidates; the first "
                f"{self.options.candidates} were kept",
            )
        ids = tuple(x.id for x in records)
        kept = RoundRecord(r, mode, ids, reply.notes, self.session.tokens - before)
        # Kept after the proposals: a kept round means its proposals are all kept.
        self._apply("round_record", r, round_record=kept)
        return records

    def _record(self, proposal: Proposal, r: int) -> CandidateRecord:
        self._seq += 1
        # A reply can echo the API key: it is taken out before anything sees the proposal,
        # so what is judged, stored, shown and printed is the same text.
        # A proposal is a new source: its lines are its own, not the user's cell's.
        source = redact_text(proposal.candidate.source)
        candidate = (
            proposal.candidate
            if source == proposal.candidate.source and proposal.candidate.first_line == 1
            else dataclasses.replace(proposal.candidate, source=source, first_line=1)
        )
        record = CandidateRecord(
            id=f"{self.session.id}.{self._seq}",
            session=self.session.id,
            seq=self._seq,
            round=r,
            origin=proposal.origin,
            candidate=candidate,
            rationale=redact_text(proposal.rationale),
            parent=proposal.parent,
            params=proposal.params,
        )
        if proposal.seeds:
            self._seeds[record.id] = proposal.seeds
        self._apply("proposed", r, candidate=record)
        return record

    def _evaluate_round(self, records: list[CandidateRecord]) -> list[CandidateRecord]:
        """Judge a round's candidates, as many at once as there are workers (`_parallel`)."""
        stored = {
            rec.id: hit for rec in records if rec.verdict is None and (hit := self._stored(rec))
        }
        todo = [rec for rec in records if rec.verdict is None and rec.id not in stored]
        return judge_round(
            records,
            stored,
            width=max((self.harness.slots(rec.candidate) for rec in todo), default=1),
            judge=lambda rec: None if self.stop_requested else self._judge(rec),
            settle=self._settle,
            keep_early=self.storage.keep_early,
        )

    def _evaluate(self, record: CandidateRecord) -> CandidateRecord:
        verdict, reused = self._stored(record) or (self._judge(record), None)
        return self._settle(record, verdict, reused)

    def _stored(self, record: CandidateRecord) -> tuple[Verdict, str] | None:
        """The stored verdict of the same evaluation of another candidate, if any."""
        hit = self.storage.cached(record)
        return hit if hit is not None and hit[1] != record.id else None

    def _settle(
        self, record: CandidateRecord, verdict: Verdict, reused: str | None
    ) -> CandidateRecord:
        record = dataclasses.replace(record, verdict=verdict, reused_from=reused)
        # A `crashed` verdict of failed workers is kept (and never reused: see the store).
        self._apply("evaluated", record.round, verdict.status.value, candidate=record)
        if self.harness.workers_failed:
            raise WorkersUnavailable(
                f"the worker processes could not be restored ({self.harness.workers_failed}); "
                "the session is stored: resume it once the machine has recovered"
            )
        return record

    def _judge(self, record: CandidateRecord) -> Verdict:
        try:
            return self.harness.evaluate(record.candidate, seeds=self._seeds.pop(record.id, None))
        except WorkersUnavailable:
            raise  # the machine's state, not the kernel's: no verdict (see `_evaluate`)
        except BackendUnavailable as exc:  # e.g. a proposal that switched to CuPy
            # The machine's setup, not the kernel: unverified, and never reused once fixed.
            return Verdict(
                Status.UNVERIFIED,
                f"not run here (the machine's setup, not this kernel's fault): {exc}",
                backend=self.harness.backend,
                device=self.device_label,
                source_sha256=record.candidate.sha256,
            )

    # -- selection -----------------------------------------------------------------------

    def _select(self, r: int, judged: list[CandidateRecord]) -> bool:
        """Crown the round's challenger if it beats the best, is clean and is approved."""
        best = self.session.best
        incumbent = best.record if best else None
        contender = challenger(judged, incumbent)
        if contender is None:
            return False
        if incumbent is not None:
            self._apply("comparing", r, candidate=contender, against=incumbent.id)
        bout, won = challenge(self.session.id, r, contender, incumbent, self.harness)
        if not won:
            self._decide(bout, False, "loop", bout.reason)
            return False
        found = sanitizer_finding(self.harness, bout.challenger)
        if found is not None:  # not crowned: its verdict now says why
            record = dataclasses.replace(bout.challenger, verdict=found, reused_from=None)
            self._apply("evaluated", r, SANITIZED, candidate=record)
            return False
        if self.approve is None:
            self._decide(bout, True, "loop", bout.reason)
            return True
        self._apply(
            "awaiting",
            r,
            bout.reason,
            candidate=bout.challenger,
            against=incumbent and incumbent.id,
        )
        accepted = bool(self.approve(bout))
        self._decide(
            bout, accepted, "approver", f"{'accepted' if accepted else 'rejected'}: {bout.reason}"
        )
        return accepted

    def _confirm(self) -> None:
        """Time the best against the user's kernel (see `_confirm`); after a stop only a
        decision that already did so counts: a stop should not wait for a comparison."""
        found = pair(self.session)
        if found is None:
            return
        best, base = found
        r = self.session.rounds[-1].round if self.session.rounds else 0
        confirmation = settled(self.session, best, base)
        if confirmation is None:
            if self.stop_requested:
                return
            self._apply("confirming", r, candidate=best, against=base.id)
            comparison = self.harness.compare(base.candidate, best.candidate)
            confirmation = Confirmation(best.id, base.id, comparison.estimate, comparison.message)
        self._apply("confirmed", r, confirmation.message, confirmation=confirmation)

    def _decide(self, bout: Challenge, accepted: bool, by: DecidedBy, reason: str) -> None:
        incumbent = bout.incumbent.id if bout.incumbent else None
        decision = Decision(
            bout.session,
            bout.round,
            bout.challenger.id,
            incumbent,
            accepted,
            by,
            reason,
            bout.estimate,
        )
        self._apply("decision", bout.round, reason, candidate=bout.challenger, decision=decision)

    # -- state -------------------------------------------------------------------------

    def _start(self, baseline: CandidateRecord) -> int:
        self._apply("started", 0, "started", candidate=baseline)
        self._seq = baseline.seq
        return 1

    def _restore(self, stored: Recorded) -> int:
        """Take up a stored session where it stopped (the session holds its records)."""
        rounds = {r.round: r for r in stored.rounds}
        # Proposals of a round whose proposing was cut short are dropped: it is asked again.
        cut = tuple(c.id for c in stored.candidates if c.round and c.round not in rounds)
        self._apply("started", 0, "resumed", dropped=cut)
        self._seq = max(c.seq for c in stored.candidates)
        unfinished = [r.round for r in stored.rounds if not r.finished]
        if unfinished:
            return min(unfinished)
        return max([0, *rounds]) + 1

    def _finish(
        self, state: SessionState, reason: str, error: KernelmagicError | None = None
    ) -> None:
        self._apply("finished", 0, reason, state=state, error=error)

    def _apply(self, kind: EventKind, r: int, message: str = "", **fields: Any) -> None:
        """The one place a session changes: the storage keeps the event, then the session
        follows it. Even when the storage fails: the session then holds what the store
        lost, for `run` to rescue; and a session whose last write fails still ends."""
        event = Event(
            kind, self.session.id, r, message, **{"tokens": self.session.tokens, **fields}
        )
        with self._changing:
            try:
                self.storage.keep(event)
            except StoreError as exc:
                if kind != "finished":
                    self._publish(event)
                    raise
                event = dataclasses.replace(event, error=event.error or exc)
            self._publish(event)

"""The refinement loop (FSR): propose, verify, time, keep the fastest correct, repeat.

Round r asks the proposer for K candidates: in `repair` mode while no kernel is correct,
in `optimize` mode from the fastest once one is. Each candidate is stored, then judged by
the harness (or its stored verdict is reused). The round's fastest correct candidate
replaces the incumbent only if an interleaved comparison says it is faster beyond noise,
and only if the approver (when there is one) agrees. Budgets and a stop request end the
loop between evaluations; a killed process resumes from the store.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from kernelmagic._redact import redact_text
from kernelmagic.errors import (
    BackendUnavailable,
    KernelmagicError,
    OptionError,
    PoolClosed,
    StoreError,
    WorkersUnavailable,
)
from kernelmagic.harness.devices import DeviceInfo, profile
from kernelmagic.harness.evaluate import Harness
from kernelmagic.harness.verdict import Status, Verdict
from kernelmagic.loop.events import Event
from kernelmagic.loop.fingerprint import evaluation_key
from kernelmagic.loop.proposal import (
    Mode,
    ProblemBrief,
    Proposal,
    Proposer,
    ProposerReply,
    RoundRequest,
)
from kernelmagic.loop.records import CandidateRecord, Decision, RoundRecord, SessionState
from kernelmagic.loop.session import Session
from kernelmagic.store import SessionStore, StoredSession
from kernelmagic.store.rescue import save_rescue

DEFAULT_ROUNDS = 5


@dataclasses.dataclass(frozen=True)
class OptimizeOptions:
    """Budgets and knobs of a session.

    `rounds` (default 5) of up to `candidates` proposals each; stop early after `patience` rounds
    without a new best, after `time_budget_s` of wall clock, or once `max_tokens` LLM
    tokens are spent. `target` names the GPU profile described to proposers where no GPU
    is present (default: the harness's arch, else ``h100``). `task` says in words what the
    kernel computes (default: the reference's docstring).
    """

    rounds: int | None = None  # default 5; for replay, every recorded round
    candidates: int = 4
    patience: int | None = 3  # replay ignores it: a replay runs every recorded round
    time_budget_s: float | None = None
    max_tokens: int | None = None
    target: str | None = None
    task: str = ""

    def __post_init__(self) -> None:
        if self.rounds is not None and self.rounds < 0:
            raise OptionError(f"rounds must be 0 or more, not {self.rounds}")
        if self.candidates < 1:
            raise OptionError(f"candidates per round must be at least 1, not {self.candidates}")
        if self.patience is not None and self.patience < 1:
            raise OptionError(f"patience must be at least 1 round, not {self.patience}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise OptionError("the time budget must be positive")
        if self.max_tokens is not None and self.max_tokens <= 0:
            raise OptionError("the token budget must be positive")


@dataclasses.dataclass(frozen=True)
class Challenge:
    """A round's proposed new best, put to the approver."""

    session: str
    round: int
    challenger: CandidateRecord
    incumbent: CandidateRecord | None
    speedup: float | None  # challenger over incumbent (None for the first correct kernel)
    reason: str


Approver = Callable[[Challenge], bool]


class Loop:
    """Runs one session to its end, writing everything to the store as it happens."""

    def __init__(
        self,
        session: Session,
        *,
        store: SessionStore,
        harness: Harness,
        proposer: Proposer,
        options: OptimizeOptions,
        problem_key: str,
        brief_device: DeviceInfo,
        device_label: str,
        brief: ProblemBrief,
        approve: Approver | None = None,
    ) -> None:
        self.session = session
        self.store = store
        self.harness = harness
        self.proposer = proposer
        self.options = options
        self.problem_key = problem_key
        self.device = brief_device
        self.device_label = device_label
        self.brief = brief
        self.approve = approve
        self._seq = 0
        self._seeds: dict[str, tuple[int, ...]] = {}  # replayed candidates: their recorded seeds
        session.on_choice = self._user_choice

    # -- the loop ------------------------------------------------------------------------

    def run(self, baseline: CandidateRecord, resumed: StoredSession | None = None) -> None:
        """Evaluate the baseline, then run rounds until a budget or the proposer runs out."""
        started = time.monotonic()
        try:
            first = self._restore(resumed) if resumed else self._start(baseline)
            self._emit("started", 0, "resumed" if resumed else "started")
            base = self.session.baseline
            assert base is not None
            if base.verdict is None:
                base = self._evaluate(base)
            if self.session.best is None and base.status is Status.CORRECT:
                self._set_best(base.id)
            reason = ""
            stale = self._rounds_without_gain()
            rounds = self.options.rounds if self.options.rounds is not None else DEFAULT_ROUNDS
            for r in range(first, rounds + 1):
                reason = self._budget_spent(started, stale)
                if reason:
                    break
                gained, exhausted = self._round(r)
                stale = 0 if gained else stale + 1
                if self.session.stop_requested:
                    reason = "stopped on request"
                    break
                if exhausted:
                    reason = f"the {self.proposer.name} proposer has nothing more to try"
                    break
            else:
                reason = f"all {rounds} rounds done"
                if resumed and first > rounds:
                    reason += " before: resume with more rounds to go on"
            state: SessionState = "stopped" if self.session.stop_requested else "finished"
            self._finish(state, reason or "done")
        except PoolClosed:
            # A second Ctrl-C (or the process exiting) shut the workers down mid-evaluation:
            # nothing was judged, nothing is stored for it, and the session can be resumed.
            self._finish("interrupted", "interrupted before it finished; resume it to go on")
        except StoreError as exc:
            # The database is gone or full: what the session holds goes to a file beside it.
            try:
                message = f"{exc}; the session is saved in {save_rescue(self.store, self.session)}"
            except StoreError as again:
                message = f"{exc} (and it could not be saved elsewhere either: {again})"
            self.session.error = StoreError(message)
            self._finish("failed", message)
        except KernelmagicError as exc:
            self.session.error = exc
            self._finish("failed", str(exc))
        except BaseException as exc:
            self.session.error = KernelmagicError(
                f"the loop failed ({type(exc).__name__}: {exc}); the session is stored and "
                "can be resumed"
            )
            self._finish("failed", str(self.session.error))
            if not isinstance(exc, Exception):
                raise

    def _round(self, r: int) -> tuple[bool, bool]:
        """Run round `r`; (a new best was accepted, the proposer is exhausted)."""
        known = {rec.round: rec for rec in self.session.rounds}.get(r)
        exhausted = False
        if known is None:
            mode: Mode = "optimize" if self.session.best else "repair"
            self._emit("round", r, mode)
            reply = self.proposer.propose(self._request(r, mode))
            records = self._take(r, mode, reply)
            exhausted = reply.exhausted
        else:
            records = [c for c in self.session.candidates if c.round == r]
            mode = known.mode  # type: ignore[assignment]
            self._emit("round", r, f"{mode} (resumed)")
        judged = []
        for rec in records:
            if self.session.stop_requested:
                break
            judged.append(rec if rec.verdict is not None else self._evaluate(rec))
        gained = self._select(r, judged)
        if len(judged) == len(records):
            done = dataclasses.replace(self.session.rounds[-1], finished=True)
            self.store.set_round(self.session.id, done)
            self.session.put_round(done)
        return gained, exhausted

    def _take(self, r: int, mode: Mode, reply: ProposerReply) -> list[CandidateRecord]:
        """Store the round's exchanges and proposals (before any is evaluated)."""
        tokens = 0
        for exchange in reply.exchanges:
            self.store.add_exchange(self.session.id, r, exchange)
            tokens += exchange.tokens
        self.session.tokens += tokens
        records = [self._record(p, r) for p in reply.proposals[: self.options.candidates]]
        for note in reply.notes:
            self._emit("note", r, note)
        if len(reply.proposals) > self.options.candidates:
            self._emit(
                "note",
                r,
                f"the proposer offered {len(reply.proposals)} candidates; the first "
                f"{self.options.candidates} were kept",
            )
        round_record = RoundRecord(r, mode, tuple(x.id for x in records), reply.notes, tokens)
        # Written after the proposals: a stored round means its proposals are all stored.
        self.store.set_round(self.session.id, round_record)
        self.session.put_round(round_record)
        return records

    def _record(self, proposal: Proposal, r: int) -> CandidateRecord:
        self._seq += 1
        # A reply can echo the API key: it is taken out before anything sees the proposal,
        # so what is judged, stored, shown and printed is the same text.
        source = redact_text(proposal.candidate.source)
        candidate = (
            proposal.candidate
            if source == proposal.candidate.source
            else dataclasses.replace(proposal.candidate, source=source)
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
        # Held in memory first: a store that fails now loses nothing (see `run`'s rescue).
        self.session.put(record)
        self.store.add_candidate(record, self._key(record))
        if proposal.seeds:
            self._seeds[record.id] = proposal.seeds
        self._emit("proposed", r, candidate=record)
        return record

    def _evaluate(self, record: CandidateRecord) -> CandidateRecord:
        hit = self.store.cached(self._key(record))
        reused: str | None = None
        if hit is not None and hit[1] != record.id:
            verdict, reused = hit
        else:
            verdict = self._judge(record)
        record = dataclasses.replace(record, verdict=verdict, reused_from=reused)
        self.session.put(record)
        # A `crashed` verdict of failed workers is stored (and never reused: see the store).
        self.store.set_verdict(record.id, verdict, reused)
        self._emit("evaluated", record.round, verdict.status.value, candidate=record)
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
            return self._not_run(record, Status.REJECTED, f"cannot run here: {exc}")

    def _not_run(self, record: CandidateRecord, status: Status, message: str) -> Verdict:
        return Verdict(
            status,
            message,
            backend=self.harness.backend,
            device=self.device_label,
            source_sha256=record.candidate.sha256,
        )

    # -- selection -----------------------------------------------------------------------

    def _select(self, r: int, judged: list[CandidateRecord]) -> bool:
        timed = [c for c in judged if c.status is Status.CORRECT and c.latency_ms is not None]
        if not timed:
            return False
        challenger = min(timed, key=lambda c: c.latency_ms or 0.0)
        best = self.session.best
        incumbent = best.record if best else None
        speedup: float | None = None
        if incumbent is None:
            reason = "the first correct kernel"
        else:
            if challenger.id == incumbent.id or (challenger.latency_ms or 0) >= (
                incumbent.latency_ms or 0
            ):
                return False
            comparison = self.harness.compare(incumbent.candidate, challenger.candidate)
            speedup = comparison.speedup
            if not (comparison.significant and speedup is not None and speedup > 1):
                self._decide(
                    r,
                    challenger,
                    incumbent,
                    False,
                    "loop",
                    f"kept the incumbent: {comparison.message}",
                    speedup,
                )
                return False
            reason = comparison.message
        if self._sanitized_away(r, challenger):
            return False
        if self.approve is None:
            self._decide(r, challenger, incumbent, True, "loop", reason, speedup)
            return True
        accepted = bool(
            self.approve(Challenge(self.session.id, r, challenger, incumbent, speedup, reason))
        )
        verdict = "accepted" if accepted else "rejected"
        self._decide(
            r, challenger, incumbent, accepted, "approver", f"{verdict}: {reason}", speedup
        )
        return accepted

    def _sanitized_away(self, r: int, challenger: CandidateRecord) -> bool:
        """On a GPU a kernel is crowned only after compute-sanitizer found no race or bad access."""
        try:
            found = self.harness.sanitize(challenger.candidate)
        except PoolClosed:
            raise
        except WorkersUnavailable:
            return False
        if found is None:
            return False
        self.store.set_verdict(challenger.id, found, None)
        record = dataclasses.replace(challenger, verdict=found, reused_from=None)
        self.session.put(record)
        self._emit("evaluated", r, found.status.value, candidate=record)
        return True

    def _decide(
        self,
        r: int,
        challenger: CandidateRecord,
        incumbent: CandidateRecord | None,
        accepted: bool,
        by: str,
        reason: str,
        speedup: float | None,
    ) -> None:
        decision = Decision(
            self.session.id,
            r,
            challenger.id,
            incumbent.id if incumbent else None,
            accepted,
            by,  # type: ignore[arg-type]
            reason,
            speedup,
        )
        self.store.add_decision(decision)
        if accepted:
            self.store.update_session(self.session.id, best_id=challenger.id)
        self.session.add_decision(decision)
        self._emit("decision", r, reason, candidate=challenger, decision=decision)

    def _user_choice(self, candidate_id: str) -> None:
        best = self.session.best
        chosen = next(c for c in self.session.candidates if c.id == candidate_id)
        incumbent = best.record if best else None
        self._decide(chosen.round, chosen, incumbent, True, "user", "chosen by the user", None)

    def _set_best(self, candidate_id: str) -> None:
        self.store.update_session(self.session.id, best_id=candidate_id)
        self.session.set_best(candidate_id)

    # -- state -------------------------------------------------------------------------

    def _start(self, baseline: CandidateRecord) -> int:
        self.store.add_candidate(baseline, self._key(baseline))
        self.store.update_session(self.session.id, baseline_id=baseline.id)
        self.session.put(baseline)
        self.session.set_baseline(baseline.id)
        self._seq = baseline.seq
        return 1

    def _restore(self, stored: StoredSession) -> int:
        """Take up a stored session: its candidates, decisions and where it stopped."""
        rounds = {r.round: r for r in stored.rounds}
        # Proposals of a round whose proposing was cut short are dropped: it is asked again.
        cut = [c.id for c in stored.candidates if c.round and c.round not in rounds]
        self.store.discard(cut)
        self.session.restore(stored, skip=cut)
        self._seq = max(c.seq for c in stored.candidates)
        unfinished = [r.round for r in stored.rounds if not r.finished]
        if unfinished:
            return min(unfinished)
        return max([0, *rounds]) + 1

    def _request(self, r: int, mode: Mode) -> RoundRequest:
        base = self.session.baseline
        assert base is not None and base.verdict is not None
        base_ms = base.latency_ms if base.status is Status.CORRECT else None
        done = [c for c in self.session.candidates if c.verdict is not None]
        best = self.session.best
        return RoundRequest(
            round=r,
            mode=mode,
            k=self.options.candidates,
            problem=self.brief,
            device=self.device,
            baseline=base.attempt(base_ms),
            best=best.record.attempt(base_ms) if best else None,
            last_round=tuple(c.attempt(base_ms) for c in done if c.round == r - 1),
            history=tuple(c.attempt(base_ms) for c in done),
        )

    def _rounds_without_gain(self) -> int:
        accepted = [d.round for d in self.session.decisions if d.accepted]
        finished = [r.round for r in self.session.rounds if r.finished]
        last = max(finished, default=0)
        return last - max(accepted, default=0) if finished else 0

    def _budget_spent(self, started: float, stale: int) -> str:
        o = self.options
        if self.session.stop_requested:
            return "stopped on request"
        if o.patience is not None and stale >= o.patience:
            return f"no new best in {o.patience} rounds"
        if o.time_budget_s is not None and time.monotonic() - started >= o.time_budget_s:
            return f"the time budget of {o.time_budget_s:g} s is spent"
        if o.max_tokens is not None and self.session.tokens >= o.max_tokens:
            return f"the token budget of {o.max_tokens} is spent ({self.session.tokens} used)"
        return ""

    def _key(self, record: CandidateRecord) -> str:
        return evaluation_key(
            record.candidate, self.problem_key, self.harness.backend, self.device_label
        )

    def _emit(self, kind: str, r: int, message: str = "", **fields: object) -> None:
        self.session.emit(
            Event(kind, self.session.id, r, message, tokens=self.session.tokens, **fields)  # type: ignore[arg-type]
        )

    def _finish(self, state: SessionState, reason: str) -> None:
        try:
            self.store.update_session(self.session.id, state=state, stop_reason=reason)
        except StoreError as exc:  # the store failed: the session still ends, and says why
            if self.session.error is None:
                self.session.error = exc
        finally:
            self.session.state, self.session.stop_reason = state, reason
            self._emit("finished", 0, reason)  # before `done`: followers see it, then stop
            self.session.finish()


def describe_target(
    harness: Harness, candidate_device: DeviceInfo | None, target: str | None
) -> DeviceInfo:
    """The GPU described to proposers: the real one, else a named profile."""
    if candidate_device is not None and not candidate_device.simulated:
        return candidate_device
    return profile(target or harness.options.arch or "h100")

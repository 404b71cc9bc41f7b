"""What a session is made of, as the loop reports it and the store keeps it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from kernelmagic.candidate import Candidate
from kernelmagic.harness.comparison import Estimate
from kernelmagic.harness.verdict import Status, Verdict, speedup
from kernelmagic.loop.proposal import Attempt, Origin

SessionState = Literal["running", "finished", "stopped", "failed", "interrupted"]
DecidedBy = Literal["loop", "approver", "user"]


@dataclasses.dataclass(frozen=True)
class CandidateRecord:
    """One candidate of a session: where it came from and, once judged, its verdict."""

    id: str
    session: str
    seq: int  # order of proposal within the session
    round: int  # 0 is the user's kernel
    origin: Origin
    candidate: Candidate
    rationale: str = ""
    parent: str | None = None
    params: Mapping[str, Any] | None = None
    verdict: Verdict | None = None
    reused_from: str | None = None  # the candidate whose stored verdict was reused

    @property
    def status(self) -> Status | None:
        return self.verdict.status if self.verdict else None

    @property
    def latency_ms(self) -> float | None:
        return self.verdict.latency_ms if self.verdict else None

    @property
    def source(self) -> str:
        return self.candidate.source

    @property
    def simulated(self) -> bool:
        """Its latency is CPU simulator time, not GPU time."""
        v = self.verdict
        return bool(v and v.timing and v.timing.simulated)

    def attempt(self, baseline_ms: float | None) -> Attempt:
        """This candidate as proposers see it (it must have a verdict)."""
        assert self.verdict is not None
        v = self.verdict
        latency = v.latency_ms
        return Attempt(
            id=self.id,
            round=self.round,
            origin=self.origin,
            candidate=self.candidate,
            status=v.status,
            message=v.message,
            rationale=self.rationale,
            latency_ms=latency,
            simulated=self.simulated,
            speedup=speedup(baseline_ms, latency),
            resources=v.compile.resources if v.compile else (),
            compile_log=v.compile.log if v.compile and v.status is Status.COMPILE_ERROR else "",
            params=self.params,
            profile=v.profile,
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-ready line for the CLI and the widget's table."""
        v = self.verdict
        return {
            "id": self.id,
            "round": self.round,
            "origin": self.origin,
            "parent": self.parent,
            "status": v.status.value if v else "pending",
            "latency_ms": self.latency_ms,
            "simulated": self.simulated,
            "message": v.message if v else "",
            "rationale": self.rationale,
            "params": dict(self.params) if self.params else None,
            "reused_from": self.reused_from,
        }


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether a round's fastest correct candidate replaced the incumbent, and why."""

    session: str
    round: int
    candidate: str
    incumbent: str | None
    accepted: bool
    by: DecidedBy
    reason: str
    estimate: Estimate | None = None  # challenger over incumbent, from the comparison

    @property
    def speedup(self) -> float | None:
        return self.estimate.speedup if self.estimate else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the estimate's outcome and (for readers of old files) `speedup`."""
        estimate = self.estimate.to_dict() if self.estimate else None
        return {**dataclasses.asdict(self), "estimate": estimate, "speedup": self.speedup}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """From `to_dict` (a session file); one written before estimates has none."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in data.items() if k in fields}
        found = data.get("estimate")
        return cls(**{**kept, "estimate": Estimate.from_dict(found) if found else None})


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """The session's one speedup figure: its best kernel against the user's, interleaved.

    Made at the end (or taken from the decision that already compared the two); `estimate`
    None when the comparison could not be made (`message` says why).
    """

    candidate: str
    baseline: str
    estimate: Estimate | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        estimate = self.estimate.to_dict() if self.estimate else None
        return {**dataclasses.asdict(self), "estimate": estimate}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Confirmation:
        found = data.get("estimate")
        return cls(
            data["candidate"], data["baseline"], Estimate.from_dict(found) if found else None,
            data.get("message", ""),
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RoundRecord:
    """One round: FSR's mode, what was proposed, and the proposer's notes."""

    round: int
    mode: str
    candidates: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    tokens: int = 0
    finished: bool = False


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """A session's summary row (`kernelmagic sessions`)."""

    id: str
    title: str
    created: float
    updated: float
    state: SessionState
    stop_reason: str
    proposer: str
    backend: str
    device: str
    candidates: int
    rounds: int
    baseline_ms: float | None
    best_ms: float | None
    best_status: str | None
    speedup: Estimate | None = None  # the best against the user's kernel, interleaved


class Recorded(Protocol):
    """A session as it was kept (the store's `StoredSession` is one): what a `Session` and a
    resumed loop start from."""

    @property
    def info(self) -> SessionInfo: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...  # the baseline's and the best's ids among them

    @property
    def candidates(self) -> Sequence[CandidateRecord]: ...

    @property
    def decisions(self) -> Sequence[Decision]: ...

    @property
    def rounds(self) -> Sequence[RoundRecord]: ...

    @property
    def notes(self) -> Sequence[tuple[int, str]]: ...  # (round, text), oldest first

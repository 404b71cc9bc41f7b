"""What flows between the loop and a proposer: the round's request, proposals, replies.

A proposer sees the problem in words, the device, the current best and what happened to
every earlier attempt; it answers with complete candidates. Everything here is frozen so
that a proposer cannot change the loop's state, and plain enough to store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from kernelmagic.candidate import Candidate
from kernelmagic.harness.devices import DeviceInfo
from kernelmagic.harness.profile import Profile
from kernelmagic.harness.verdict import Resources, Status

Origin = Literal["user", "llm", "search", "replay"]
Mode = Literal["repair", "optimize"]


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One candidate a proposer suggests, with why, and the tunable values it chose."""

    candidate: Candidate
    origin: Origin
    rationale: str = ""
    parent: str | None = None  # the id of the candidate it was derived from
    params: Mapping[str, Any] | None = None  # search: the tunable values of this variant
    seeds: tuple[int, ...] | None = None  # replay: the verification seeds it was judged on


@dataclasses.dataclass(frozen=True)
class Attempt:
    """What happened to one evaluated candidate, as proposers and prompts see it."""

    id: str
    round: int
    origin: Origin
    candidate: Candidate
    status: Status
    message: str
    rationale: str = ""
    latency_ms: float | None = None
    simulated: bool = False
    speedup: float | None = None  # over the baseline (the user's kernel), when both are timed
    resources: tuple[Resources, ...] = ()
    compile_log: str = ""
    params: Mapping[str, Any] | None = None
    profile: Profile | None = None  # hardware counters, read for kernels that became the best

    @property
    def ok(self) -> bool:
        return self.status is Status.CORRECT


@dataclasses.dataclass(frozen=True)
class ProblemBrief:
    """The problem in words: enough for an LLM to write the kernel without seeing ours."""

    title: str
    description: str  # the reference's docstring or the user's task text
    reference_source: str
    inputs: str  # one line per input: name, type, shape, dtype (of the first case)
    outputs: str  # one line per output of the reference: shape and dtype
    tolerance: str


@dataclasses.dataclass(frozen=True)
class RoundRequest:
    """Everything a proposer may use for one round.

    `mode` is FSR's: `repair` while no candidate is correct (fix the errors), `optimize`
    once one is (make the fastest faster). `history` holds every earlier attempt, oldest
    first, including the baseline; `last_round` is the previous round's attempts.
    """

    round: int
    mode: Mode
    k: int
    problem: ProblemBrief
    device: DeviceInfo
    baseline: Attempt
    best: Attempt | None
    last_round: tuple[Attempt, ...] = ()
    history: tuple[Attempt, ...] = ()


@dataclasses.dataclass(frozen=True)
class Exchange:
    """One request to an LLM and its reply, as stored (never with keys or headers)."""

    model: str
    messages: tuple[Mapping[str, str], ...]
    reply: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None  # the request failed, or the reply held no usable kernel
    seconds: float | None = None

    @property
    def tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


@dataclasses.dataclass(frozen=True)
class ProposerReply:
    """A round's proposals; `exhausted` says the proposer has nothing more to offer."""

    proposals: tuple[Proposal, ...]
    exchanges: tuple[Exchange, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "reply 2 held no usable kernel (prose only)"
    exhausted: bool = False


class Proposer(Protocol):
    """Suggests up to `request.k` candidates per round.

    A proposer must rebuild whatever state it needs from `request.history`: that is how a
    resumed session continues where it stopped. Failures of the proposer's service that
    the user must fix (bad key, unknown model) raise `ProposerError`. A proposer that
    cannot repair a failing kernel says so with ``repairs = False`` (see `loop._futile`).
    """

    name: str

    def propose(self, request: RoundRequest) -> ProposerReply: ...

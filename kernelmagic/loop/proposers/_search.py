"""The offline `search` proposer: Optuna over the kernel's own tunable features.

No LLM and no network. The space is what `tunables.find` reads off the user's kernel
(constants marked ``# kernelmagic: tune ...``, the launch block size, CUDA C compile
options), and every proposal is the user's kernel with one configuration written in, so
`params` are absolute, whatever the current best.

Nothing is kept between rounds: each round rebuilds an Optuna study from
`request.history` (the baseline as the original configuration; a correct, timed attempt
as a COMPLETE trial valued by its latency; a correct or compiled one without a time as
PRUNED; any failure as FAIL) and asks it for configurations never tried. That is how a
resumed session continues where it stopped, and why one seed gives one sequence.

A space of at most `enumerate_up_to` configurations (default 20, what a default session
of 5 rounds of 4 covers) is enumerated by `BruteForceSampler` in a seeded order: a model
learns little from so few points, and enumerating tries each exactly once. A larger space
goes to seeded multivariate TPE, which learns which combinations are fast; when its asks
keep landing on configurations already tried, the round is filled from the untried ones.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import warnings
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

from kernelmagic.errors import CandidateError
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.proposal import Attempt, Proposal, ProposerReply, RoundRequest
from kernelmagic.loop.proposers import _tunables as tunables
from kernelmagic.loop.proposers._tunables import Tunable

_ASKS_PER_PROPOSAL = 10  # bounds the asks of a round whose answers repeat earlier ones
_ENUMERABLE = 100_000  # beyond this, untried configurations are not listed to fill a round

_Key = tuple[int, ...]  # a configuration as the index of each tunable's value


class SearchProposer:
    """Proposes configurations of the user's kernel that were never tried, chosen by Optuna."""

    name = "search"
    repairs = False  # it varies a working kernel's parameters: a failing one stays failing

    def __init__(self, *, seed: int = 0, enumerate_up_to: int = 20) -> None:
        self.seed = seed
        self.enumerate_up_to = enumerate_up_to

    def propose(self, request: RoundRequest) -> ProposerReply:
        """Up to `request.k` untried configurations; `exhausted` once none is left.

        A marker the user must fix raises CandidateError, which ends the session with it.
        """
        baseline = request.baseline.candidate
        try:
            space = tunables.find(baseline)
        except CandidateError as exc:
            raise CandidateError(f"the search proposer cannot follow a marker: {exc}") from None
        if not space:
            note = f"search: this kernel has nothing to tune; {tunables.EXAMPLE}"
            return ProposerReply((), notes=(note,), exhausted=True)
        trials = list(_trials(request, space))
        total = math.prod(len(t.values) for t in space)
        chosen = self._choose(space, trials, request.k, total)
        parent = request.best.id if request.best else request.baseline.id
        proposals = []
        for key in chosen:
            params = _params(space, key)
            changed = [
                tunables.describe(t, params[t.name]) for t in space if params[t.name] != t.original
            ]
            proposals.append(
                Proposal(
                    candidate=tunables.apply(baseline, params),
                    origin="search",
                    rationale="search: " + ", ".join(changed),
                    parent=parent,
                    params=params,
                )
            )
        left = total - len({key for key, _, _ in trials} | set(chosen))
        notes = []
        if len(trials) <= 1:
            notes.append(_describe_space(space, total, total <= self.enumerate_up_to))
        if not left:
            notes.append(f"search: all {total} configurations are tried")
        elif not chosen:
            notes.append("search: no untried configuration found this round")
        return ProposerReply(tuple(proposals), notes=tuple(notes), exhausted=not left)

    def _choose(
        self,
        space: Sequence[Tunable],
        trials: list[tuple[_Key, float | None, str]],
        k: int,
        total: int,
    ) -> list[_Key]:
        import optuna

        distributions: dict[str, optuna.distributions.BaseDistribution] = {
            t.name: optuna.distributions.CategoricalDistribution(t.values) for t in space
        }
        # A new stream each round: the same first draws again would only repeat last round's.
        seed = (self.seed * 1_000_003 + len(trials)) % 2**32
        with _quiet(optuna):
            sampler: optuna.samplers.BaseSampler = (
                optuna.samplers.BruteForceSampler(seed=seed)
                if total <= self.enumerate_up_to
                else optuna.samplers.TPESampler(seed=seed, multivariate=True)
            )
            study = optuna.create_study(direction="minimize", sampler=sampler)
            # Earlier attempts were never asked of this study, so they go in whole (tell
            # needs an asked trial, and BruteForceSampler's tell stops an optimize loop).
            for tried, latency, state in trials:
                study.add_trial(
                    optuna.trial.create_trial(
                        params=_params(space, tried),
                        distributions=distributions,
                        state=optuna.trial.TrialState[state],
                        value=latency if state == "COMPLETE" else None,
                    )
                )
            seen = {key for key, _, _ in trials}
            chosen: list[_Key] = []
            for _ in range(_ASKS_PER_PROPOSAL * k):
                if len(chosen) == k or len(seen) == total:
                    break
                asked = _key(space, study.ask(distributions).params)
                if asked is not None and asked not in seen:
                    seen.add(asked)
                    chosen.append(asked)
        if len(chosen) < k and len(seen) < total <= _ENUMERABLE:
            ranges = (range(len(t.values)) for t in space)
            untried = [key for key in itertools.product(*ranges) if key not in seen]
            random.Random(seed).shuffle(untried)
            chosen += untried[: k - len(chosen)]
        return chosen


@contextlib.contextmanager
def _quiet(optuna: ModuleType) -> Iterator[None]:
    """Optuna logs each new study at INFO and calls BruteForceSampler experimental; the loop
    reports rounds itself. The user's own logging level comes back afterwards."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _trials(
    request: RoundRequest, space: Sequence[Tunable]
) -> Iterator[tuple[_Key, float | None, str]]:
    """(configuration, latency, Optuna trial state) of every attempt made in this space."""
    original = {t.name: t.original for t in space}
    attempts: list[Attempt] = list(request.history)
    if all(a.id != request.baseline.id for a in attempts):
        attempts.insert(0, request.baseline)
    for attempt in attempts:
        params = attempt.params
        if params is None and attempt.id == request.baseline.id:
            params = original
        key = _key(space, params)
        if key is None:
            continue  # not a configuration of this space: an LLM's kernel, or older markers
        if attempt.status is Status.CORRECT and attempt.latency_ms is not None:
            yield key, attempt.latency_ms, "COMPLETE"
        elif attempt.status in (Status.CORRECT, Status.UNVERIFIED):
            yield key, None, "PRUNED"  # it works, but there is no time to learn from
        else:
            yield key, None, "FAIL"


def _key(space: Sequence[Tunable], params: Mapping[str, Any] | None) -> _Key | None:
    if params is None or set(params) != {t.name for t in space}:
        return None
    key = []
    for t in space:
        index = next((i for i, v in enumerate(t.values) if v == params[t.name]), None)
        if index is None:
            return None
        key.append(index)
    return tuple(key)


def _params(space: Sequence[Tunable], key: _Key) -> dict[str, Any]:
    return {t.name: t.values[index] for t, index in zip(space, key, strict=True)}


def _describe_space(space: Sequence[Tunable], total: int, enumerated: bool) -> str:
    parts = ", ".join(f"{t.name} ({len(t.values)} values; {t.where})" for t in space)
    how = "each tried once, in a seeded order" if enumerated else "searched with TPE"
    return f"search: {parts}: {total} configurations, {how}"

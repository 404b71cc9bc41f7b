"""The problem's cases as the harness draws them: fresh seeds per evaluation, their twins,
and the timing sets.

Expected answers are computed here, in the calling process, and stay here: a
`WorkerCase` carries inputs, output shapes and tolerances, never the answer.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from kernelmagic.candidate.launch import LaunchError, evaluate_number
from kernelmagic.errors import ProblemError
from kernelmagic.harness.jobs import WorkerCase
from kernelmagic.problem import (
    Case,
    Problem,
    answered,
    draw_inputs,
    make_case,
    problem_warnings,
)
from kernelmagic.problem.twins import twin_case

# Inputs past this many elements make the CPU simulator (about 10,000 threads a second)
# slow enough that a correct kernel can time out.
SIM_SLOW_ELEMENTS = 20_000


class Draws:
    """The verification and timing cases of one problem, drawn for one harness."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.warnings: tuple[str, ...] = ()  # the problem's, known once `cases` was drawn
        self._cases: list[Case] | None = None
        self._unused_draw: Draw | None = None
        self._timing_cases: dict[str, list[Case]] = {}
        self._twins: dict[str, list[tuple[int, Case]]] = {}
        self._drawing = threading.RLock()

    @property
    def cases(self) -> list[Case]:
        """A first draw of verification cases (raises ProblemError for an unusable problem).

        It names the inputs and gives the problem's warnings; every evaluation then draws
        its own seeds (see `draw`), starting with this draw.
        """
        if self._cases is None:
            cases = [make_case(self.problem, s) for s in self.problem.verification_seeds()]
            _check_work(self.problem, cases[0])
            self.warnings = problem_warnings(self.problem, cases)
            self._cases = cases
            self._unused_draw = self._with_twins(cases)
        return self._cases

    @functools.cached_property
    def identity_cases(self) -> list[Case]:
        """Cases of the fixed seeds 0, 1, ...: what identifies the problem across sessions
        (the store's key), never what a candidate is judged on."""
        return [make_case(self.problem, s) for s in range(self.problem.cases)]

    def draw(self, seeds: tuple[int, ...] | None = None) -> Draw:
        """Verification cases for one evaluation: fresh seeds (or `seeds`, to reproduce a
        verdict), and a twin for each case."""
        # One draw at a time: evaluations run in parallel threads, and the user's inputs(seed)
        # may seed NumPy's global generator, which threads drawing at once would interleave.
        with self._drawing:
            self.cases  # noqa: B018 - the first draw also checks the problem
            if seeds is None and self._unused_draw is not None:
                drawn, self._unused_draw = self._unused_draw, None
                return drawn
            seeds = seeds or self.problem.verification_seeds()
            return self._with_twins([make_case(self.problem, s) for s in seeds])

    def _with_twins(self, cases: list[Case]) -> Draw:
        twins = [(k, t) for k, c in enumerate(cases) if (t := twin_case(self.problem, c))]
        n = len(cases)
        labels = [f"case {k + 1} of {n}" for k in range(n)]
        labels += [f"the twin of case {k + 1}" for k, _ in twins]
        everything = [*cases, *(t for _, t in twins)]
        # A twin runs once: its job is to differ from its case, not to catch unwritten
        # elements, which the case's two runs on different poison already do.
        # A twin names its case: it runs in that case's device buffers, so a result kept
        # per buffer (a cache keyed on the pointer) is stale there.
        of = [None] * n + [k for k, _ in twins]
        worker = tuple(
            dataclasses.replace(
                worker_case(i, c, self.problem, label=labels[i], repeats=2 if i < n else 1),
                of=of[i],
            )
            for i, c in enumerate(everything)
        )
        return Draw(tuple(everything), tuple(labels), worker, n)

    def timing_twins(self, *, simulated: bool) -> list[tuple[int, Case]]:
        """(set index, twin) per timing set that has one: what 'inputs never seen' are."""
        key = "sim" if simulated else "gpu"
        with self._drawing:
            if key not in self._twins:
                twins = [
                    (k, twin_case(self.problem, c, timing=not simulated, for_timing=True))
                    for k, c in enumerate(self.timing_cases(simulated=simulated))
                ]
                self._twins[key] = [(k, t) for k, t in twins if t is not None]
            return self._twins[key]

    def timing_cases(self, *, simulated: bool) -> list[Case]:
        """Inputs to time on: `timing_inputs` on a GPU; small `inputs` draws on the simulator.

        Their seeds are drawn once per harness (the sets are sent to the workers once).
        Stated sizes give one set each; on the simulator only those whose inputs it can
        run in time, else the small draws.
        """
        key = "sim" if simulated else "gpu"
        with self._drawing:
            if key not in self._timing_cases:
                seeds = self.problem.timing_seeds(small=simulated)
                sized = self._sized(seeds, simulated) if self.problem.sizes else []
                if self.problem.sizes and not sized:  # none fits the simulator: its own draws
                    seeds = dataclasses.replace(self.problem, sizes=()).timing_seeds(small=True)
                self._timing_cases[key] = sized or [
                    make_case(self.problem, s, timing=not simulated) for s in seeds
                ]
            return self._timing_cases[key]

    def _sized(self, seeds: tuple[int, ...], simulated: bool) -> list[Case]:
        """A timing set per stated size; on the simulator, those it can run in time."""
        drawn = [
            (n, s, draw_inputs(self.problem, s, size=n))
            for s, n in zip(seeds, self.problem.sizes, strict=True)
        ]
        if simulated:
            drawn = [d for d in drawn if _elements(d[2]) <= SIM_SLOW_ELEMENTS]
        return [answered(self.problem, s, i, n) for n, s, i in drawn]

    def sizes_left_out(self) -> tuple[int, ...]:
        """The stated sizes the simulator does not time (too large for it)."""
        if not self.problem.sizes:
            return ()
        kept = {c.size for c in self.timing_cases(simulated=True)}
        return tuple(n for n in self.problem.sizes if n not in kept)

    def largest_input(self) -> int:
        """The most elements of any verification input (what makes the simulator slow)."""
        return max((_elements(c.inputs) for c in self.cases), default=0)


@dataclasses.dataclass(frozen=True)
class Draw:
    """One evaluation's verification cases: the first `originals`, then their twins."""

    cases: tuple[Case, ...]
    labels: tuple[str, ...]
    worker_cases: tuple[WorkerCase, ...]
    originals: int

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds that reproduce this draw (twins derive from them)."""
        return tuple(c.seed for c in self.cases[: self.originals])


def _check_work(problem: Problem, case: Case) -> None:
    """The roofline's expressions, worked out on a first case: one that cannot be (an
    unknown name, a division by zero) would only ever leave the roofline out, unsaid."""
    for what, spec in (
        ("bytes moved (--bytes)", problem.bytes_moved),
        ("flops (--flops)", problem.flops),
    ):
        if isinstance(spec, str):
            try:
                evaluate_number(spec, case.inputs)
            except LaunchError as exc:
                reason = str(exc).split(": ", 1)[-1]
                raise ProblemError(f"the {what} {spec!r} cannot be worked out: {reason}") from None


def _elements(inputs: Mapping[str, Any]) -> int:
    """The most elements of any of the inputs' arrays."""
    return max((v.size for v in inputs.values() if isinstance(v, np.ndarray)), default=0)


def worker_case(
    index: int, case: Case, problem: Problem, *, label: str = "", repeats: int = 0
) -> WorkerCase:
    tols = [problem.tolerance(*case.tolerance_basis(i)) for i in range(len(case.expected))]
    return WorkerCase(
        index,
        dict(case.inputs),
        case.output_specs,
        rtol=tuple(t.rtol for t in tols),
        atol=tuple(t.atol for t in tols),
        label=label or f"case {index + 1}",
        repeats=repeats,
    )

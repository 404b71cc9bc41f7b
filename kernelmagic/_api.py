"""The calls most users need: `check` one candidate, `compare` two, `optimize` one."""

from __future__ import annotations

import os

from kernelmagic.candidate import Candidate
from kernelmagic.harness.comparison import Comparison
from kernelmagic.harness.evaluate import Harness
from kernelmagic.harness.options import HarnessOptions
from kernelmagic.harness.verdict import Verdict
from kernelmagic.problem import Problem
from kernelmagic.start import as_candidate, optimize


def check(
    candidate: Candidate | str | os.PathLike[str],
    problem: Problem,
    *,
    backend: str = "auto",
    options: HarnessOptions | None = None,
) -> Verdict:
    """Compile, verify and (on a GPU) time one candidate against `problem`.

    `candidate` is a `Candidate`, source text, or a path to a `.py`/`.cu` file. Mistakes
    in the problem or the backend raise `KernelmagicError`; whatever the candidate does
    ends up in the returned verdict's `status` and `message`.
    """
    harness = Harness(problem, backend=backend, options=options or HarnessOptions())
    harness.start_workers()  # while the cases are drawn and the candidate parsed
    return harness.evaluate(as_candidate(candidate))


def compare(
    a: Candidate | str | os.PathLike[str],
    b: Candidate | str | os.PathLike[str],
    problem: Problem,
    *,
    backend: str = "auto",
    options: HarnessOptions | None = None,
) -> Comparison:
    """Time A and B interleaved in one GPU worker: `estimate` is B's speedup over A with its
    95% interval (`estimate.describe()`), `faster` whether B wins by the decision rule."""
    harness = Harness(problem, backend=backend, options=options or HarnessOptions())
    return harness.compare(as_candidate(a), as_candidate(b))


__all__ = ["check", "compare", "optimize"]

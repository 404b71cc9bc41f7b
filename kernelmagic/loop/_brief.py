"""The problem in words, for prompts and stored sessions: read off the user's functions."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from kernelmagic.loop.proposal import ProblemBrief
from kernelmagic.problem import Case, Problem


def make_brief(problem: Problem, cases: Sequence[Case], *, task: str = "") -> ProblemBrief:
    """Describe `problem` from its reference, its first case and its tolerances."""
    ref = problem.reference
    doc = inspect.getdoc(ref) or ""
    first = cases[0]
    tols = [problem.tolerance(e) for e in first.expected]
    return ProblemBrief(
        title=problem.title,
        description=task or doc or f"compute what `{problem.title}` computes",
        reference_source=_source(ref),
        inputs="\n".join(_describe(name, value) for name, value in first.inputs.items()),
        outputs="\n".join(
            _describe(f"output {i}", value) for i, value in enumerate(first.expected)
        ),
        tolerance="; ".join(
            f"output {i}: rtol={t.rtol:g}, atol={t.atol:g}" for i, t in enumerate(tols)
        ),
    )


def _source(fn: Any) -> str:
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        name = getattr(fn, "__qualname__", repr(fn))
        return f"# the source of {name} is not available"


def _describe(name: str, value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{name}: array, shape {value.shape} (varies by case), dtype {value.dtype}"
    if isinstance(value, np.generic):
        return f"{name}: scalar {value.dtype}"
    return f"{name}: {type(value).__name__} (e.g. {value!r})"

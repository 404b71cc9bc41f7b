"""What proposers are told: the problem in words (read off the user's functions, also for
stored sessions), and each round's request (the session so far)."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from kernelmagic.harness.devices import DeviceInfo
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.proposal import Mode, ProblemBrief, RoundRequest
from kernelmagic.loop.session import Session
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


def round_request(
    session: Session, r: int, mode: Mode, *, k: int, problem: ProblemBrief, device: DeviceInfo
) -> RoundRequest:
    """Round `r`'s request: the baseline, the best, the last round and every judged kernel,
    with speedups over the baseline (the baseline must have its verdict)."""
    base = session.baseline
    assert base is not None and base.verdict is not None
    base_ms = base.latency_ms if base.status is Status.CORRECT else None
    done = [c for c in session.candidates if c.verdict is not None]
    best = session.best
    return RoundRequest(
        round=r,
        mode=mode,
        k=k,
        problem=problem,
        device=device,
        baseline=base.attempt(base_ms),
        best=best.record.attempt(base_ms) if best else None,
        last_round=tuple(c.attempt(base_ms) for c in done if c.round == r - 1),
        history=tuple(c.attempt(base_ms) for c in done),
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

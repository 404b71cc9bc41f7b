"""Comparing what a candidate returned with what the reference expects (calling process).

This is the only place expected values meet candidate outputs, and it is not a process
a candidate ever ran in. It also turns raw timing samples into a `Timing`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..problem import Case, Problem
from ..tolerance import compare
from ..verdict import Timing
from .jobs import POISON_BYTES, RunRecord


def first_wrong(
    problem: Problem, case: Case, outputs: Sequence[np.ndarray], where: str
) -> str | None:
    """A message for the first output that differs from the reference, or None."""
    for i, (got, expected) in enumerate(zip(outputs, case.expected, strict=False)):
        if got.dtype != expected.dtype:
            return (
                f"{where}: output {i} has dtype {got.dtype}; the reference returns {expected.dtype}"
            )
        if got.shape != expected.shape:
            return (
                f"{where}: output {i} has shape {got.shape}; the reference returns {expected.shape}"
            )
        mismatch = compare(got, expected, problem.tolerance(expected))
        if mismatch is not None:
            return f"{where}: output {i}: {mismatch.describe()}"
    return None


def judge_runs(problem: Problem, cases: Sequence[Case], runs: Sequence[RunRecord]) -> str | None:
    """Check every verification run; the first failure as a message that says where."""
    for run in runs:
        case = cases[run.case]
        poison = POISON_BYTES[run.repeat % len(POISON_BYTES)]
        where = (
            f"case {run.case + 1} of {len(cases)}, {case.describe()}, run {run.repeat + 1} "
            f"(outputs pre-filled with byte 0x{poison:02X})"
        )
        wrong = first_wrong(problem, case, run.outputs, where)
        if wrong:
            return wrong
    return None


def summarize(samples_ms: Sequence[float], *, simulated: bool, method: str) -> Timing:
    q1, med, q3 = np.percentile(samples_ms, [25, 50, 75])
    return Timing(
        median_ms=float(med),
        min_ms=float(np.min(samples_ms)),
        spread=float((q3 - q1) / med) if med > 0 else 0.0,
        samples=len(samples_ms),
        simulated=simulated,
        method=method,
    )


def escaped_stream(event_ms: Sequence[float], host_ms: Sequence[float]) -> bool:
    """True when the host waited much longer than the events measured: work on a side stream."""
    event, host = float(np.median(event_ms)), float(np.median(host_ms))
    return host > event + 0.05 + 0.25 * event

"""Comparing what a candidate returned with what the reference expects (calling process).

This is the only place expected values meet candidate outputs, and it is not a process
a candidate ever ran in. It also turns raw timing samples into a `Timing`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kernelmagic.harness.jobs import POISON_BYTES, RunRecord
from kernelmagic.harness.verdict import Timing
from kernelmagic.problem import Case, Problem
from kernelmagic.problem.tolerance import compare


def first_wrong(
    problem: Problem, case: Case, outputs: Sequence[np.ndarray], where: str
) -> str | None:
    """A message for the first output that differs from the reference, or None."""
    for i, (got, expected) in enumerate(zip(outputs, case.expected, strict=False)):
        if type(got) is not np.ndarray or got.dtype.hasobject:
            # Workers send plain numeric arrays only; anything else is not judged at all.
            return f"{where}: output {i} is a {type(got).__name__}, not a plain NumPy array"
        if got.dtype != expected.dtype:
            return (
                f"{where}: output {i} has dtype {got.dtype}; the reference returns {expected.dtype}"
            )
        if got.shape != expected.shape:
            return (
                f"{where}: output {i} has shape {got.shape}; the reference returns {expected.shape}"
            )
        mismatch = compare(got, expected, problem.tolerance(*case.tolerance_basis(i)))
        if mismatch is not None:
            return f"{where}: output {i}: {mismatch.describe()}"
    return None


def judge_runs(
    problem: Problem, cases: Sequence[Case], labels: Sequence[str], runs: Sequence[RunRecord]
) -> str | None:
    """Check every verification run; the first failure as a message that says where."""
    if len(runs) < len(cases):
        return f"the worker reported {len(runs)} runs for {len(cases)} cases"
    for run in runs:
        case = cases[run.case]
        poison = POISON_BYTES[run.repeat % len(POISON_BYTES)]
        where = (
            f"{labels[run.case]}, {case.describe()}, run {run.repeat + 1} "
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


def skipped_work(
    fresh_ms: Sequence[float], repeated_ms: Sequence[float], simulated: bool
) -> str | None:
    """A rejection when calls on new inputs are much slower than calls on inputs seen before.

    A kernel that fingerprints its inputs and replays an earlier answer passes every
    correctness check; only its latency tells: on data it has never seen it must do the
    work. Honest kernels take the same time either way (every call is on cold L2 and
    refreshed buffers), so the rule asks for a gap no noise makes: every fresh call slower
    than `factor` times the repeated median (and than the slowest quarter of repeated calls
    on the noisy simulator clock, so one hiccup proves nothing but an occasional honest
    recompute hides nothing).
    """
    if len(fresh_ms) < 2 or len(repeated_ms) < 2:
        return None
    factor = 2.0 if simulated else 1.5
    repeated = float(np.median(repeated_ms))
    slowest_repeat = float(np.percentile(repeated_ms, 75)) if simulated else repeated
    fastest_fresh = float(np.min(fresh_ms))
    if fastest_fresh <= factor * repeated or fastest_fresh <= slowest_repeat:
        return None
    clock = "simulated " if simulated else ""
    return (
        f"it skips work on inputs it has seen before: its first calls on new inputs took "
        f"{float(np.median(fresh_ms)):.4g} ms ({clock}median of {len(fresh_ms)}), its calls on "
        f"repeated inputs {repeated:.4g} ms (median of {len(repeated_ms)}), over {factor:g}x "
        "faster; a result cached by input contents is not a faster kernel"
    )

"""Deciding whether B is faster than A, from interleaved timings in one worker.

Pairs of runs (A B, then B A, ...) on the same data cancel drift; a sign test over the
pairs says whether the difference is more than noise.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kernelmagic.harness.jobs import TimeReport
from kernelmagic.harness.verdict import speedup as verdict_speedup


@dataclasses.dataclass(frozen=True)
class Comparison:
    """B against A from interleaved runs in one worker: `speedup` > 1 means B is faster.

    `suspicious` marks a speedup either way beyond `HarnessOptions.too_good_speedup`:
    published "100x" kernels were evaluator exploits, so such a result deserves a look.
    """

    a_ms: float | None  # None: the comparison could not be made (see `message`)
    b_ms: float | None
    speedup: float | None
    p_value: float
    significant: bool
    pairs: int
    message: str
    suspicious: bool = False
    simulated: bool = False  # simulator time: ranks candidates on the CPU, not on a GPU


def from_samples(report: TimeReport, too_good: float, *, simulated: bool = False) -> Comparison:
    """B against A from the paired samples of an interleaved timing job."""
    a, b = np.asarray(report.samples_ms[0]), np.asarray(report.samples_ms[1])
    n = min(len(a), len(b))
    # Each pair only says which ran faster (the speedup itself is `verdict.speedup`, below).
    # Ties (the event clock ticks in ~0.5 us steps) say nothing either way: a sign test drops them.
    wins, losses = int(np.count_nonzero(a[:n] > b[:n])), int(np.count_nonzero(a[:n] < b[:n]))
    p = _sign_test(wins, wins + losses)
    a_ms, b_ms = float(np.median(a)), float(np.median(b))
    speedup = verdict_speedup(a_ms, b_ms)
    if speedup is None:
        return no_comparison("a median of 0 ms is below the clock's resolution: no ratio to claim")
    # The simulator's host clock drifts by several percent between two runs of one kernel
    # (a thread scheduled late): there only a 10% difference counts, on a GPU 1%.
    significant = p < 0.01 and abs(speedup - 1.0) > (0.10 if simulated else 0.01)
    verdict = (
        ("B is faster" if speedup > 1 else "A is faster")
        if significant
        else "no significant difference"
    )
    message = f"{verdict}: {speedup:.3f}x (B over A), sign test p={p:.2g} over {n} pairs"
    if simulated:
        message += " (CPU simulator time, not GPU speed)"
    suspicious = max(speedup, 1 / speedup) > too_good and not simulated
    if suspicious:
        message += f"; more than {too_good:g}x apart: too good to be true? worth a human look"
    return Comparison(
        a_ms,
        b_ms,
        speedup,
        p,
        significant,
        n,
        message,
        suspicious,
        simulated,
    )


def no_comparison(message: str) -> Comparison:
    """A comparison that could not be made, and why."""
    return Comparison(None, None, None, 1.0, False, 0, message)


def _sign_test(wins: int, n: int) -> float:
    """Two-sided binomial sign test: how likely this many wins is when neither is faster."""
    if n == 0:
        return 1.0
    k = min(wins, n - wins)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2 * tail)

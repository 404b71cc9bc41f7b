"""Deciding whether B is faster than A, from interleaved timings in one worker.

Pairs of runs (A B, then B A, ...) on the same data cancel drift. Each pair gives one ratio
A/B; the speedup is their median, with its distribution-free 95% confidence interval: the
order statistics that the sign test inverts. It assumes nothing about the noise's shape,
which matters on a loaded machine: a slowdown hits one run of a pair, so the noise is
one-sided, and an interval that assumes symmetry (Hodges-Lehmann's, say) was pulled past
the decision threshold by a handful of such pairs where this one needs 18 of 24 ratios
beyond it. That one statistic, an `Estimate`, is what every view shows as "the speedup"; a
single run's median is only a screening figure.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from kernelmagic.harness.jobs import TimeReport

Outcome = Literal["faster", "slower", "no clear difference"]
CONFIDENCE = 0.95
# What counts as a real difference: the whole interval beyond this margin. The simulator's
# host clock drifts by several percent between two runs of one kernel (a thread scheduled
# late): there only a 10% difference counts, on a GPU 1%.
GPU_MARGIN = 0.01
SIMULATOR_MARGIN = 0.10
DECISION_RULE = (
    "a kernel replaces the best only when the 95% confidence interval of its speedup over "
    f"the best, from interleaved runs, lies wholly above {1 + GPU_MARGIN:.2f}x "
    f"({1 + SIMULATOR_MARGIN:.2f}x on the CPU simulator, whose clock drifts)"
)


@dataclasses.dataclass(frozen=True)
class SizePoint:
    """Both kernels' median latency on the timing sets of one size: a kernel tuned for one
    size can lose at another, which a single speedup hides."""

    size: str  # the array inputs' shapes, e.g. "1500" or "512x256, 256x512"
    elements: int  # of all array inputs together: where it goes on a size axis
    a_ms: float
    b_ms: float

    @property
    def speedup(self) -> float | None:
        return self.a_ms / self.b_ms if self.b_ms > 0 else None


@dataclasses.dataclass(frozen=True)
class Estimate:
    """How many times faster B ran than A, with its 95% interval, from `pairs` pairs.

    `low`/`high` are None when there are too few pairs (under 6) for a 95% interval; the
    outcome is then "no clear difference" whatever the estimate.
    """

    speedup: float
    low: float | None
    high: float | None
    pairs: int
    simulated: bool = False
    sizes: tuple[SizePoint, ...] = ()  # the same runs, by input size (see `by_size`)

    @property
    def margin(self) -> float:
        return SIMULATOR_MARGIN if self.simulated else GPU_MARGIN

    @property
    def outcome(self) -> Outcome:
        if self.low is not None and self.low > 1 + self.margin:
            return "faster"
        if self.high is not None and self.high < 1 / (1 + self.margin):
            return "slower"
        return "no clear difference"

    def describe(self) -> str:
        """ "1.38x faster (95% CI 1.20-1.55), 24 pairs", "0.78x, slower (...)", or
        "no clear difference: 1.04x (...)"; simulator time says so."""
        ci = f"95% CI {self.low:.2f}-{self.high:.2f}" if self.low and self.high else "no 95% CI"
        figures = f"({ci}), {self.pairs} pairs"
        sim = " in CPU simulator time" if self.simulated else ""
        if self.outcome == "faster":
            return f"{self.speedup:.2f}x faster{sim} {figures}"
        if self.outcome == "slower":
            return f"{self.speedup:.2f}x, slower{sim} {figures}"
        return f"no clear difference{sim}: {self.speedup:.2f}x {figures}"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "outcome": self.outcome}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Estimate:
        fields = {f.name for f in dataclasses.fields(cls)}
        found = {k: v for k, v in data.items() if k in fields}
        found["sizes"] = tuple(SizePoint(**p) for p in found.get("sizes") or ())
        return cls(**found)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """B against A from interleaved runs in one worker; `estimate` None: not made (see
    `message`).

    `suspicious` marks a speedup either way beyond `HarnessOptions.too_good_speedup`:
    published "100x" kernels were evaluator exploits, so such a result deserves a look.
    """

    a_ms: float | None  # the medians within the comparison
    b_ms: float | None
    estimate: Estimate | None
    message: str
    suspicious: bool = False
    simulated: bool = False  # simulator time: ranks candidates on the CPU, not on a GPU

    @property
    def speedup(self) -> float | None:
        return self.estimate.speedup if self.estimate else None

    @property
    def faster(self) -> bool:
        """B is faster by the decision rule (`DECISION_RULE`)."""
        return self.estimate is not None and self.estimate.outcome == "faster"

    @property
    def pairs(self) -> int:
        return self.estimate.pairs if self.estimate else 0


def estimate(a_ms: np.ndarray, b_ms: np.ndarray, *, simulated: bool = False) -> Estimate | None:
    """The median speedup of B over A from paired timings, with its 95% interval; None when
    no pair has two positive timings (below the clock's resolution)."""
    n = min(len(a_ms), len(b_ms))
    a, b = np.asarray(a_ms[:n], dtype=float), np.asarray(b_ms[:n], dtype=float)
    keep = (a > 0) & (b > 0)
    ratios = np.sort(a[keep] / b[keep])
    m = len(ratios)
    if m == 0:
        return None
    point = float(np.median(ratios))
    k = _interval_rank(m)
    if k == 0:  # below 6 pairs no interval reaches 95%
        return Estimate(point, None, None, m, simulated)
    return Estimate(point, float(ratios[k - 1]), float(ratios[m - k]), m, simulated)


def _interval_rank(n: int) -> int:
    """The largest k whose k-th smallest and k-th largest of n ratios bound their median
    with at least 95% confidence (the sign test inverted: P(Binomial(n, 1/2) < k) <= 2.5%);
    0 when no k does."""
    tail, k = 0.0, 0
    while k < n:
        tail += math.comb(n, k) / 2.0**n
        if tail > (1 - CONFIDENCE) / 2:
            return k
        k += 1
    return k


def from_samples(report: TimeReport, too_good: float, *, simulated: bool = False) -> Comparison:
    """B against A from the paired samples of an interleaved timing job."""
    a, b = np.asarray(report.samples_ms[0]), np.asarray(report.samples_ms[1])
    found = estimate(a, b, simulated=simulated)
    if found is None:
        return no_comparison("a median of 0 ms is below the clock's resolution: no ratio to claim")
    message = found.describe()
    suspicious = max(found.speedup, 1 / found.speedup) > too_good and not simulated
    if suspicious:
        message += f"; more than {too_good:g}x apart: too good to be true? worth a human look"
    return Comparison(
        float(np.median(a)), float(np.median(b)), found, message, suspicious, simulated
    )


def by_size(report: TimeReport, sizes: Sequence[tuple[str, int]]) -> tuple[SizePoint, ...]:
    """Per input size, A's and B's median over the timing sets of that size, smallest first.

    `sizes` gives each timing set's (shapes, elements); the job visits set k at the
    repetitions k, k + n, k + 2n, ... (n sets), so its samples split by set.
    """
    n = len(sizes)
    if n == 0:
        return ()
    grouped: dict[str, tuple[int, list[float], list[float]]] = {}
    for k, (size, elements) in enumerate(sizes):
        _, a, b = grouped.setdefault(size, (elements, [], []))
        a += report.samples_ms[0][k::n]
        b += report.samples_ms[1][k::n]
    points = [
        SizePoint(size, elements, float(np.median(a)), float(np.median(b)))
        for size, (elements, a, b) in grouped.items()
        if a and b
    ]
    return tuple(sorted(points, key=lambda p: p.elements))


def no_comparison(message: str) -> Comparison:
    """A comparison that could not be made, and why."""
    return Comparison(None, None, None, message)

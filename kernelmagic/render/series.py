"""What the latency chart plots, independent of how it is drawn (Plotly or SVG)."""

from __future__ import annotations

import dataclasses
import math

from kernelmagic.harness.verdict import Status
from kernelmagic.loop.session import Session
from kernelmagic.render.rows import SIM_TAG, Row, baseline_ms, best_steps, rows

# Beyond this ratio of slowest to fastest latency, a linear axis squashes the fast end.
LOG_SPAN = 10.0
LOG_PAD = 1.3  # a log axis reaches this factor past the extreme points, so none is clipped
LIN_PAD = 1.08
X_PAD = 0.5  # candidates sit half a step inside the x range: the first and last show whole

# Both charts' colours. The best-so-far line is wide and light, the baseline thin, dark,
# dashed and drawn after it: while the best is still the baseline both stay visible.
GRID = "#e8e8e8"
LINE = "#7fc98f"
LINE_WIDTH = 4
BASELINE = "#444444"

# The unit goes in the title, so each tick is a plain number of ms: "0.5" next to "2,000"
# compares at a glance, "500 µs" next to "2 s" does not.
Y_TITLE = "latency (ms)"
ROUND_MARK = "#d0d7de"
MAX_ROUND_MARKS = 12  # beyond this many rounds every k-th is marked: the labels stay legible


@dataclasses.dataclass(frozen=True)
class YAxis:
    """The latency axis both charts draw: its range in ms and its ticks at 1-2-5 steps."""

    lo_ms: float
    hi_ms: float
    ticks: tuple[float, ...]
    log: bool


@dataclasses.dataclass(frozen=True)
class Series:
    """The evaluated candidates, split by whether they were timed, and the reference lines."""

    timed: tuple[Row, ...]
    untimed: tuple[Row, ...]  # evaluated but not timed (failures): drawn in a strip below
    steps: tuple[tuple[int, float], ...]  # best so far, (seq, ms)
    baseline_ms: float | None
    last_seq: int
    simulated: bool
    log_y: bool
    pending: int  # proposed, awaiting a verdict: not drawn
    y_axis: YAxis | None  # None until a candidate is timed

    @property
    def x_range(self) -> tuple[float, float]:
        return -X_PAD, self.last_seq + X_PAD

    @property
    def x_step(self) -> int:
        """Whole-number x ticks, about eight of them."""
        return max(1, int(nice(self.last_seq / 8)))

    @property
    def statuses(self) -> list[tuple[Status, int]]:
        """Each status present, in a fixed order, with how many candidates ended so."""
        counts: dict[Status, int] = {}
        for row in self.timed + self.untimed:
            assert row.status is not None
            counts[row.status] = counts.get(row.status, 0) + 1
        return [(s, counts[s]) for s in Status if s in counts]

    @property
    def title(self) -> str:
        # The progress line or the record's facts spell out what "simulated" means.
        suffix = f" ({SIM_TAG})" if self.simulated else ""
        return f"Latency per candidate{suffix}"


def series(session: Session) -> Series:
    """The chart's data for `session` as it stands now."""
    every = rows(session)
    evaluated = [r for r in every if r.status is not None]
    timed = tuple(r for r in evaluated if r.latency_ms is not None)
    latencies = [r.latency_ms for r in timed if r.latency_ms]
    base = baseline_ms(session)
    log_y = bool(latencies) and max(latencies) > LOG_SPAN * min(latencies)
    return Series(
        timed=timed,
        untimed=tuple(r for r in evaluated if r.latency_ms is None),
        steps=tuple(best_steps(session, evaluated)),
        baseline_ms=base,
        last_seq=max((r.seq for r in evaluated), default=0),
        simulated=any(r.simulated for r in timed),
        log_y=log_y,
        pending=len(every) - len(evaluated),
        y_axis=y_axis(latencies + ([base] if base else []), log=log_y) if latencies else None,
    )


def y_axis(values: list[float], *, log: bool) -> YAxis:
    """A padded range over `values` (ms) and ticks a reader can take in at a glance."""
    lo, hi = min(values), max(values)
    if log:
        lo, hi = lo / LOG_PAD, hi * LOG_PAD
        lo_log, hi_log = math.log10(lo), math.log10(hi)
        mantissas = (1, 2, 5) if hi_log - lo_log < 3 else (1,)
        ticks = [
            m * 10.0**k
            for k in range(math.floor(lo_log), math.ceil(hi_log) + 1)
            for m in mantissas
            if lo <= m * 10.0**k <= hi
        ]
    else:
        lo, hi = 0.0, hi * LIN_PAD or 1.0
        step = nice(hi / 6)  # four to seven ticks
        ticks = [i * step for i in range(int(hi / step) + 1)]
    # Six digits: 3 * 0.1 is 0.3 in the JSON, not 0.30000000000000004.
    return YAxis(lo, hi, tuple(float(f"{t:.6g}") for t in ticks), log=log)


def nice(raw: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `raw`."""
    power = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def ms_labels(axis: YAxis) -> list[str]:
    """The latency ticks as numbers of ms ("0.05", "2.5", "2,000"), under `Y_TITLE`."""
    return [_ms_number(t) for t in axis.ticks]


def _ms_number(ms: float) -> str:
    if ms >= 1000:
        return f"{ms:,.0f}"
    if ms >= 1:
        return f"{ms:.4g}"
    return f"{ms:.6f}".rstrip("0").rstrip(".") or "0"


def round_marks(s: Series) -> list[tuple[float, int]]:
    """(x, round) where each round's candidates begin, half a step before its first one;
    every k-th round only when there are more than `MAX_ROUND_MARKS`."""
    starts: dict[int, int] = {}
    for row in s.timed + s.untimed:
        if row.round > 0:
            starts[row.round] = min(row.seq, starts.get(row.round, row.seq))
    every = math.ceil(len(starts) / MAX_ROUND_MARKS) or 1
    return [(starts[r] - 0.5, r) for i, r in enumerate(sorted(starts)) if i % every == 0]

"""What the latency chart plots, independent of how it is drawn (Plotly or SVG)."""

from __future__ import annotations

import dataclasses

from ..loop.session import Session
from ..verdict import Status
from .rows import SIMULATED, Row, baseline_ms, best_steps, rows

# Beyond this ratio of slowest to fastest latency, a linear axis squashes the fast end.
LOG_SPAN = 10.0


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
        suffix = f": {SIMULATED}" if self.simulated else ""
        return f"Latency per candidate{suffix}"

    @property
    def y_title(self) -> str:
        return f"latency, ms, {SIMULATED}" if self.simulated else "latency, ms"


def series(session: Session) -> Series:
    """The chart's data for `session` as it stands now."""
    every = rows(session)
    evaluated = [r for r in every if r.status is not None]
    timed = tuple(r for r in evaluated if r.latency_ms is not None)
    latencies = [r.latency_ms for r in timed if r.latency_ms]
    return Series(
        timed=timed,
        untimed=tuple(r for r in evaluated if r.latency_ms is None),
        steps=tuple(best_steps(session, evaluated)),
        baseline_ms=baseline_ms(session),
        last_seq=max((r.seq for r in evaluated), default=0),
        simulated=any(r.simulated for r in timed),
        log_y=bool(latencies) and max(latencies) > LOG_SPAN * min(latencies),
        pending=len(every) - len(evaluated),
    )

"""One line per candidate, as every view shows it: the chart, the table and the record.

Computed once from a session's records so that the widget, the Plotly figure, the SVG and
the static record agree on numbers, colors and wording.
"""

from __future__ import annotations

import dataclasses

from ..loop.records import CandidateRecord
from ..loop.session import Session
from ..verdict import Status

SIMULATED = "simulated (CPU simulator, not GPU time)"

# A fixed color per status, so a status looks the same in every chart and table.
STATUS_COLORS: dict[Status, str] = {
    Status.CORRECT: "#2ca02c",
    Status.COMPILE_ERROR: "#d62728",
    Status.RUNTIME_ERROR: "#ff7f0e",
    Status.WRONG_RESULT: "#9467bd",
    Status.TIMEOUT: "#8c564b",
    Status.CRASHED: "#e377c2",
    Status.REJECTED: "#7f7f7f",
    Status.UNVERIFIED: "#17becf",
}
PENDING_COLOR = "#bbbbbb"


@dataclasses.dataclass(frozen=True)
class Row:
    """A candidate reduced to what is displayed; `status` is None while it awaits its verdict."""

    id: str
    seq: int
    round: int
    origin: str
    status: Status | None
    latency_ms: float | None
    speedup: float | None  # over the baseline (the user's kernel), when both are timed
    simulated: bool
    message: str  # the first line of the verdict's message
    reused: bool  # the verdict of an identical earlier candidate was reused

    @property
    def status_text(self) -> str:
        return self.status.value if self.status else "pending"

    @property
    def color(self) -> str:
        return STATUS_COLORS[self.status] if self.status else PENDING_COLOR


def baseline_ms(session: Session) -> float | None:
    """The user's kernel's latency, if it is correct and timed (what speedups divide)."""
    base = session.baseline
    return base.latency_ms if base and base.status is Status.CORRECT else None


def make_row(record: CandidateRecord, base_ms: float | None) -> Row:
    v = record.verdict
    ms = record.latency_ms
    return Row(
        id=record.id,
        seq=record.seq,
        round=record.round,
        origin=record.origin,
        status=v.status if v else None,
        latency_ms=ms,
        speedup=base_ms / ms if base_ms and ms else None,
        simulated=bool(v and v.timing and v.timing.simulated),
        message=first_line(v.message) if v else "",
        reused=record.reused_from is not None,
    )


def rows(session: Session) -> list[Row]:
    """Every candidate of the session in proposal order, pending ones included."""
    base = baseline_ms(session)
    return [make_row(r, base) for r in session.candidates]


def best_steps(session: Session, evaluated: list[Row]) -> list[tuple[int, float]]:
    """The best-so-far latency as (seq, ms) steps: the baseline, then each accepted kernel.

    A step sits at the accepted candidate's seq, or later when it came after later
    candidates (a user's revert to an earlier kernel); the last step runs to the newest.
    """
    by_id = {r.id: r for r in evaluated}
    steps: list[tuple[int, float]] = []
    base = by_id.get(session.baseline.id) if session.baseline else None
    if base is not None and base.status is Status.CORRECT and base.latency_ms is not None:
        steps.append((base.seq, base.latency_ms))
    for decision in session.decisions:
        row = by_id.get(decision.candidate)
        if not decision.accepted or row is None or row.latency_ms is None:
            continue
        x = max(row.seq, steps[-1][0]) if steps else row.seq
        steps.append((x, row.latency_ms))
    last = max((r.seq for r in evaluated), default=0)
    if steps and last > steps[-1][0]:
        steps.append((last, steps[-1][1]))
    return steps


def first_line(text: str, limit: int = 100) -> str:
    """The first non-empty line of `text`, cut to `limit` characters."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def fmt_ms(ms: float | None) -> str:
    return f"{ms:.4g} ms" if ms is not None else "—"


def fmt_speedup(speedup: float | None) -> str:
    return f"{speedup:.2f}x" if speedup is not None else "—"


def round_label(session: Session) -> str:
    """Where the session is: "round 2 of 5" (round 0 is the user's kernel)."""
    rounds = session.rounds
    current = rounds[-1].round if rounds else 0
    where = f"round {current} of {session.planned_rounds}"
    return where + " (your kernel)" if current == 0 else where


def device_of(session: Session) -> str:
    """Where the candidates ran, as the harness described it; "" before any verdict."""
    verdicts = [r.verdict for r in session.candidates if r.verdict]
    timed = [v.device for v in verdicts if v.timing and v.device]
    ran = [v.device for v in verdicts if v.device and v.device != "not run"]
    return (timed or ran or [""])[0]

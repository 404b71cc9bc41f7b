"""The latency chart as a small self-contained SVG, for the static record.

GitHub and nbviewer show a saved notebook without running JavaScript, so the record's chart
is drawn here by hand: the same content as the Plotly figure, hover text as SVG `<title>`s.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable

from ..loop.session import Session
from .chart import BASELINE, GRID, LINE
from .rows import STATUS_COLORS, Row, fmt_ms, fmt_speedup
from .series import Series, series

WIDTH = 640
LEFT, RIGHT = 64, 486  # the plot area's x extent; the legend sits to its right
TOP, PLOT_H = 46, 200
STRIP_H = 22  # the "not timed" strip under the plot
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML, even escaped


def latency_svg(session: Session) -> str:
    """The chart of `session` as an inline `<svg>` element (no scripts, no external files)."""
    s = series(session)
    strip_top = TOP + PLOT_H + 8
    axis_y = strip_top + STRIP_H if s.untimed else TOP + PLOT_H
    height = axis_y + 34
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11" '
        f'role="img" aria-label="{_x(s.title)}">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="8" y="18" font-size="13" font-weight="bold">{_x(s.title)}</text>',
        f'<text x="{LEFT}" y="{TOP - 10}" fill="#555">{_x(s.y_title)}</text>',
    ]
    span = max(s.last_seq, 1)

    def x_of(seq: float) -> float:
        return LEFT + 6 + (RIGHT - LEFT - 12) * seq / span

    out += _x_axis(span, x_of, axis_y)
    if s.timed:
        y_of, ticks = _y_scale(s)
        out += _y_axis(ticks, y_of)
        out += _lines(s, x_of, y_of)
        for row in s.timed:
            assert row.latency_ms is not None
            out.append(
                f'<circle cx="{x_of(row.seq):.1f}" cy="{y_of(row.latency_ms):.1f}" r="3.5" '
                f'fill="{row.color}"><title>{_x(_tip(row))}</title></circle>'
            )
    else:
        out.append(
            f'<text x="{(LEFT + RIGHT) / 2}" y="{TOP + PLOT_H / 2}" text-anchor="middle" '
            'fill="#777">no timed candidate yet</text>'
        )
    if s.untimed:
        mid = strip_top + STRIP_H / 2
        out.append(
            f'<text x="{LEFT - 6}" y="{mid + 4}" text-anchor="end" fill="#555">not timed</text>'
        )
        for row in s.untimed:
            cx = x_of(row.seq)
            out.append(
                f'<path d="M{cx - 3:.1f} {mid - 3:.1f}l6 6m0-6l-6 6" stroke="{row.color}" '
                f'stroke-width="1.8"><title>{_x(_tip(row))}</title></path>'
            )
    out += _legend(s)
    out.append("</svg>")
    return "\n".join(out)


def _y_scale(s: Series) -> tuple[Callable[[float], float], list[float]]:
    """A value -> pixel map over the timed latencies and the baseline, and its tick values."""
    values = [r.latency_ms for r in s.timed if r.latency_ms] + (
        [s.baseline_ms] if s.baseline_ms else []
    )
    hi = max(values, default=1.0)
    if s.log_y:
        lo_log, hi_log = math.log10(min(values) / 1.3), math.log10(hi * 1.3)

        def y_log(v: float) -> float:
            t = (math.log10(max(v, 1e-12)) - lo_log) / (hi_log - lo_log)
            return TOP + PLOT_H * (1 - t)

        return y_log, _log_ticks(lo_log, hi_log)
    top = hi * 1.08 or 1.0
    step = _nice(top / 4)
    ticks = [i * step for i in range(int(top / step) + 1)]

    def y_lin(v: float) -> float:
        return TOP + PLOT_H * (1 - v / top)

    return y_lin, ticks


def _log_ticks(lo_log: float, hi_log: float) -> list[float]:
    mantissas = (1, 2, 5) if hi_log - lo_log < 3 else (1,)
    return [
        m * 10.0**k
        for k in range(math.floor(lo_log), math.ceil(hi_log) + 1)
        for m in mantissas
        if lo_log <= math.log10(m * 10.0**k) <= hi_log
    ]


def _nice(raw: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `raw`."""
    power = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _x_axis(span: int, x_of: Callable[[float], float], axis_y: float) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{axis_y}" x2="{RIGHT}" y2="{axis_y}" stroke="#999"/>']
    step = max(1, int(_nice(span / 8)))
    for seq in range(0, span + 1, step):
        x = x_of(seq)
        out.append(
            f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#555">{seq}</text>'
        )
    out.append(
        f'<text x="{(LEFT + RIGHT) / 2}" y="{axis_y + 29}" text-anchor="middle" fill="#555">'
        "candidate # (proposal order)</text>"
    )
    return out


def _y_axis(ticks: list[float], y_of: Callable[[float], float]) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" stroke="#999"/>']
    for value in ticks:
        y = y_of(value)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{value:.3g}</text>'
        )
    return out


def _lines(s: Series, x_of: Callable[[float], float], y_of: Callable[[float], float]) -> list[str]:
    out = []
    if s.baseline_ms is not None:
        y = y_of(s.baseline_ms)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" stroke="{BASELINE}" '
            f'stroke-dasharray="5 4"><title>baseline {_x(fmt_ms(s.baseline_ms))}</title></line>'
        )
    if s.steps:
        (x0, y0), *rest = s.steps
        d = [f"M{x_of(x0):.1f} {y_of(y0):.1f}"]
        for x, ms in rest:
            d.append(f"H{x_of(x):.1f}V{y_of(ms):.1f}")
        out.append(f'<path d="{"".join(d)}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    return out


def _legend(s: Series) -> list[str]:
    x, y = RIGHT + 14, TOP + 4
    out = []
    for status, count in s.statuses:
        out.append(f'<circle cx="{x + 5}" cy="{y}" r="4" fill="{STATUS_COLORS[status]}"/>')
        out.append(f'<text x="{x + 15}" y="{y + 4}">{status.value} ({count})</text>')
        y += 17
    if s.steps:
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 10}" y2="{y}" stroke="{LINE}" stroke-width="2"/>'
        )
        out.append(f'<text x="{x + 15}" y="{y + 4}">best so far</text>')
        y += 17
    if s.baseline_ms is not None:
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 10}" y2="{y}" stroke="{BASELINE}" '
            'stroke-dasharray="3 2"/>'
        )
        out.append(f'<text x="{x + 15}" y="{y + 4}">baseline ({_x(fmt_ms(s.baseline_ms))})</text>')
        y += 17
    if s.pending:
        out.append(f'<text x="{x}" y="{y + 4}" fill="#777">{s.pending} awaiting a verdict</text>')
    return out


def _tip(row: Row) -> str:
    speed = f" · {fmt_speedup(row.speedup)} vs baseline" if row.speedup is not None else ""
    tip = f"#{row.seq} · round {row.round} · {row.origin}\n{row.status_text} · "
    tip += fmt_ms(row.latency_ms) + speed
    return tip + (f"\n{row.message}" if row.message and row.latency_ms is None else "")


def _x(text: str) -> str:
    """Text made safe for XML: escaped, and without the control characters XML forbids."""
    return html.escape(_CONTROL.sub("", text), quote=True)

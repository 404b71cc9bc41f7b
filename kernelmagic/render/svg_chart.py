"""The latency chart as a small self-contained SVG, for the static record.

GitHub and nbviewer show a saved notebook without running JavaScript, so the record's chart
is drawn here by hand: the same content as the Plotly figure, hover text as SVG `<title>`s.
The latency axis's labels and the round marks are defined here, once, for both charts.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable

from kernelmagic.loop.session import Session
from kernelmagic.render.rows import STATUS_COLORS, Row, fmt_ms, fmt_speedup, not_evaluated
from kernelmagic.render.series import (
    BASELINE,
    GRID,
    LINE,
    LINE_WIDTH,
    ROUND_MARK,
    Y_TITLE,
    Series,
    YAxis,
    ms_labels,
    round_marks,
    series,
)

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
        f'<text x="{LEFT}" y="{TOP - 10}" fill="#555">{Y_TITLE}</text>',
    ]
    x_lo, x_hi = s.x_range  # half a step of room each side: the end points show whole

    def x_of(seq: float) -> float:
        return LEFT + (RIGHT - LEFT) * (seq - x_lo) / (x_hi - x_lo)

    out += _x_axis(s, x_of, axis_y)
    out += _round_marks(s, x_of, axis_y)
    if s.timed and s.y_axis is not None:
        y_of = _y_scale(s.y_axis)
        out += _y_axis(s.y_axis, y_of)
        out += _lines(s, x_of, y_of)
        for row in s.timed:
            assert row.latency_ms is not None
            out += _error_bar(row, x_of, y_of)
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
    out += _legend(s, session.state)
    out.append("</svg>")
    return "\n".join(out)


def _y_scale(axis: YAxis) -> Callable[[float], float]:
    """The value -> pixel map of the latency axis."""
    if axis.log:
        lo_log, hi_log = math.log10(axis.lo_ms), math.log10(axis.hi_ms)

        def y_log(v: float) -> float:
            t = (math.log10(max(v, 1e-12)) - lo_log) / (hi_log - lo_log)
            return TOP + PLOT_H * (1 - t)

        return y_log

    def y_lin(v: float) -> float:
        return TOP + PLOT_H * (1 - (v - axis.lo_ms) / (axis.hi_ms - axis.lo_ms))

    return y_lin


def _x_axis(s: Series, x_of: Callable[[float], float], axis_y: float) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{axis_y}" x2="{RIGHT}" y2="{axis_y}" stroke="#999"/>']
    for seq in range(0, s.last_seq + 1, s.x_step):
        x = x_of(seq)
        out.append(
            f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#555">{seq}</text>'
        )
    out.append(
        f'<text x="{(LEFT + RIGHT) / 2}" y="{axis_y + 29}" text-anchor="middle" fill="#555">'
        "candidate # (proposal order)</text>"
    )
    return out


def _y_axis(axis: YAxis, y_of: Callable[[float], float]) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" stroke="#999"/>']
    for value, label in zip(axis.ticks, ms_labels(axis), strict=True):
        y = y_of(value)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{_x(label)}</text>'
        )
    return out


def _round_marks(s: Series, x_of: Callable[[float], float], axis_y: float) -> list[str]:
    """A dotted line where each round begins, labelled at the top of the plot."""
    out = []
    for x, r in round_marks(s):
        px = x_of(x)
        out.append(
            f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{axis_y}" stroke="{ROUND_MARK}" '
            'stroke-dasharray="2 3"/>'
        )
        out.append(
            f'<text x="{px + 3:.1f}" y="{TOP + 10}" font-size="9" fill="#8c959f">r{r}</text>'
        )
    return out


def _error_bar(
    row: Row, x_of: Callable[[float], float], y_of: Callable[[float], float]
) -> list[str]:
    """The timing's spread (its interquartile range, centred on the median), within the plot."""
    if not row.spread_ms or row.latency_ms is None:
        return []
    half = row.spread_ms / 2
    top = max(TOP, y_of(row.latency_ms + half))
    bottom = min(TOP + PLOT_H, y_of(max(row.latency_ms - half, 1e-12)))
    x = x_of(row.seq)
    return [
        f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="{row.color}" '
        'stroke-opacity="0.5"/>'
    ]


def _lines(s: Series, x_of: Callable[[float], float], y_of: Callable[[float], float]) -> list[str]:
    """The best-so-far steps, then the baseline over them: both show where they coincide."""
    out = []
    if s.steps:
        (x0, y0), *rest = s.steps
        d = [f"M{x_of(x0):.1f} {y_of(y0):.1f}"]
        for x, ms in rest:
            d.append(f"H{x_of(x):.1f}V{y_of(ms):.1f}")
        out.append(
            f'<path d="{"".join(d)}" fill="none" stroke="{LINE}" stroke-width="{LINE_WIDTH}"/>'
        )
    if s.baseline_ms is not None:
        y = y_of(s.baseline_ms)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" stroke="{BASELINE}" '
            f'stroke-width="1.5" stroke-dasharray="5 4">'
            f"<title>baseline {_x(fmt_ms(s.baseline_ms))}</title></line>"
        )
    return out


def _legend(s: Series, state: str) -> list[str]:
    x, y = RIGHT + 14, TOP + 4
    out = []
    for status, count in s.statuses:
        out.append(f'<circle cx="{x + 5}" cy="{y}" r="4" fill="{STATUS_COLORS[status]}"/>')
        out.append(f'<text x="{x + 15}" y="{y + 4}">{status.value} ({count})</text>')
        y += 17
    if s.steps:
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 10}" y2="{y}" stroke="{LINE}" '
            f'stroke-width="{LINE_WIDTH}"/>'
        )
        out.append(f'<text x="{x + 15}" y="{y + 4}">best so far</text>')
        y += 17
    if s.baseline_ms is not None:
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 10}" y2="{y}" stroke="{BASELINE}" '
            'stroke-width="1.5" stroke-dasharray="3 2"/>'
        )
        out.append(f'<text x="{x + 15}" y="{y + 4}">baseline ({_x(fmt_ms(s.baseline_ms))})</text>')
        y += 17
    if s.pending:
        what = not_evaluated(state) if state != "running" else "awaiting a verdict"
        out.append(f'<text x="{x}" y="{y + 4}" fill="#777">{s.pending} {what}</text>')
    return out


def _tip(row: Row) -> str:
    speed = f" · screen {fmt_speedup(row.screening)} (medians)" if row.screening else ""
    tip = f"#{row.seq} · round {row.round} · {row.origin}\n{row.status_text} · "
    tip += fmt_ms(row.latency_ms) + speed
    if row.spread_ms:
        tip += f" (IQR {fmt_ms(row.spread_ms)})"
    return tip + (f"\n{row.message}" if row.message and row.latency_ms is None else "")


def _x(text: str) -> str:
    """Text made safe for XML: escaped, and without the control characters XML forbids."""
    return html.escape(_CONTROL.sub("", text), quote=True)

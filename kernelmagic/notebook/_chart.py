"""The live latency chart as a Plotly figure in plain JSON (the widget's chart).

A plain dict rather than a `FigureWidget`: a saved notebook then holds a few KB of data
instead of the widget's multi-MB bundle, and no template is baked in (plotly.js defaults
plus a few explicit settings), so 500 candidates stay well under 150 KB.
"""

from __future__ import annotations

import html
import math
from typing import Any

from kernelmagic.harness.verdict import Status
from kernelmagic.loop.session import Session
from kernelmagic.render.rows import STATUS_COLORS, Row, fmt_ms, fmt_speedup
from kernelmagic.render.series import BASELINE, GRID, LINE, LINE_WIDTH, Series, series


def latency_figure(session: Session) -> dict[str, Any]:
    """Every evaluated candidate's latency by proposal order, the best so far and the baseline.

    Untimed candidates (the failures) appear as crosses in a "not timed" strip under the
    plot, so each status's legend count covers all of its candidates. Lines come first so
    the points sit on top of them.
    """
    s = series(session)
    data: list[dict[str, Any]] = []
    if s.steps:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "best so far",
                "x": [x for x, _ in s.steps],
                "y": [_short(ms) for _, ms in s.steps],
                "line": {"color": LINE, "shape": "hv", "width": LINE_WIDTH},
                "hoverinfo": "skip",
                "legendrank": 1001,  # drawn first, listed after the statuses
            }
        )
    if s.baseline_ms is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"baseline ({fmt_ms(s.baseline_ms)})",
                "x": list(s.x_range),
                "y": [_short(s.baseline_ms)] * 2,
                "line": {"color": BASELINE, "dash": "dash", "width": 1.5},
                "hoverinfo": "skip",
                "legendrank": 1002,
            }
        )
    for status, count in s.statuses:
        name = f"{status.value} ({count})"
        timed = [r for r in s.timed if r.status is status]
        untimed = [r for r in s.untimed if r.status is status]
        if timed:
            data.append(_points(timed, name, status, strip=False, legend=True))
        if untimed:
            data.append(_points(untimed, name, status, strip=True, legend=not timed))
    return {"data": data, "layout": _layout(s, session.id)}


def _points(rows: list[Row], name: str, status: Status, *, strip: bool, legend: bool) -> dict:
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "legendgroup": status.value,
        "showlegend": legend,
        "cliponaxis": False,  # a point on the range's edge shows whole
        "x": [r.seq for r in rows],
        "y": [0] * len(rows) if strip else [_short(r.latency_ms) for r in rows],
        "marker": {
            "color": STATUS_COLORS[status],
            "size": 9 if strip else 7,
            "symbol": "x" if strip else "circle",
        },
        "text": [hover_text(r) for r in rows],
        "hovertemplate": "%{text}<extra></extra>",
    }
    if strip:
        trace["yaxis"] = "y2"
    return trace


def hover_text(row: Row) -> str:
    """What hovering a point says; escaped, since plotly.js reads it as simple HTML."""
    speed = f" · {fmt_speedup(row.speedup)} vs baseline (medians)" if row.speedup else ""
    text = (
        f"#{row.seq} · round {row.round} · {html.escape(row.origin)}<br>"
        f"{row.status_text} · {fmt_ms(row.latency_ms)}{speed}"
    )
    if row.status is not Status.CORRECT and row.message:
        text += "<br>" + html.escape(row.message[:80])
    return text


def _layout(s: Series, session_id: str) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": s.title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
        "height": 360,
        "margin": {"l": 80, "r": 20, "t": 44, "b": 44},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"family": "sans-serif", "size": 12},
        "hovermode": "closest",
        "uirevision": session_id,  # keeps the user's zoom across live updates
        "legend": {"font": {"size": 11}},
        "xaxis": {
            "title": {"text": "candidate # (proposal order)"},
            "range": list(s.x_range),  # half a step of room: the end points show whole
            "tickformat": "d",  # candidates are whole numbers: no 0.2, 0.4 ticks early on
            "tick0": 0,
            "dtick": s.x_step,
            "gridcolor": GRID,
            "zeroline": False,
        },
        "yaxis": {
            "title": {"text": s.y_title},
            "type": "log" if s.log_y else "linear",
            "gridcolor": GRID,
            "zeroline": False,
        },
    }
    if s.y_axis is not None:
        # Explicit 1-2-5 ticks: plotly's own log ticks label the minor 2..9 ("2" for 2000).
        y = s.y_axis
        lo, hi = (math.log10(y.lo_ms), math.log10(y.hi_ms)) if y.log else (y.lo_ms, y.hi_ms)
        layout["yaxis"].update(
            range=[lo, hi], tickmode="array", tickvals=list(y.ticks), ticktext=y.labels
        )
    if s.untimed:
        layout["yaxis"]["domain"] = [0.16, 1.0]
        layout["xaxis"]["anchor"] = "y2"
        layout["yaxis2"] = {
            "domain": [0.0, 0.08],
            "range": [-1, 1],
            "tickvals": [0],
            "ticktext": ["not timed"],
            "showgrid": False,
            "zeroline": False,
            "fixedrange": True,
        }
    return layout


def _short(ms: float | None) -> float | None:
    """Six significant digits: enough to plot, and a third of the JSON of a full float."""
    return float(f"{ms:.6g}") if ms is not None else None

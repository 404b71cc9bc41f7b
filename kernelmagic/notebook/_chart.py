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
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.render.rows import STATUS_COLORS, Row, fmt_ms, fmt_speedup
from kernelmagic.render.series import (
    BASELINE,
    GRID,
    LINE,
    LINE_WIDTH,
    ROUND_MARK,
    Y_TITLE,
    Series,
    ms_labels,
    round_marks,
    series,
)

CONTEST = "#8250df"  # the two kernels being timed against each other now


def latency_figure(session: Session) -> dict[str, Any]:
    """Every evaluated candidate's latency by proposal order, the best so far and the baseline.

    Untimed candidates (the failures) appear as crosses in a "not timed" strip under the
    plot, so each status's legend count covers all of its candidates. Lines come first so
    the points sit on top of them; while two kernels are timed against each other, rings
    mark them.
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
    contest = session.contest if session.state == "running" else None
    if contest is not None:
        data.append(_contest(session.phase, *contest))
    return {"data": data, "layout": _layout(s, session.id)}


def _contest(phase: str, challenger: CandidateRecord, against: CandidateRecord | None) -> dict:
    """Rings and labels on the challenger and the kernel it is timed against."""
    if phase == "confirming":
        name, labels = "confirming", ("best", "your kernel")
    else:
        name, labels = "comparing", ("challenger", "best")
    shown = [(challenger, labels[0])] + ([(against, labels[1])] if against else [])
    return {
        "type": "scatter",
        "mode": "markers+text",
        "name": f"{name} (interleaved)",
        "x": [r.seq for r, _ in shown],
        "y": [_short(r.latency_ms) for r, _ in shown],
        "text": [f"#{r.seq} {label}" for r, label in shown],
        "textposition": "top center",
        "textfont": {"color": CONTEST, "size": 11},
        "marker": {"symbol": "circle-open", "size": 17, "color": CONTEST, "line": {"width": 2.5}},
        "cliponaxis": False,
        "hoverinfo": "skip",
        "legendrank": 1003,
    }


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
    elif any(r.spread_ms for r in rows):
        trace["error_y"] = error_bars(rows, STATUS_COLORS[status])
    return trace


def error_bars(rows: list[Row], color: str) -> dict[str, Any]:
    """Each timing's spread as an error bar: its interquartile range, centred on the median."""
    return {
        "type": "data",
        "array": [_short(r.spread_ms / 2) if r.spread_ms else None for r in rows],
        "visible": True,
        "color": color,
        "thickness": 1,
        "width": 0,
    }


def hover_text(row: Row) -> str:
    """What hovering a point says; escaped, since plotly.js reads it as simple HTML."""
    speed = f" · screen {fmt_speedup(row.screening)} (medians)" if row.screening else ""
    text = (
        f"#{row.seq} · round {row.round} · {html.escape(row.origin)}<br>"
        f"{row.status_text} · {fmt_ms(row.latency_ms)}{speed}"
    )
    if row.spread_ms:
        text += f" · IQR {fmt_ms(row.spread_ms)}"
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
            "title": {"text": Y_TITLE},
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
            range=[lo, hi], tickmode="array", tickvals=list(y.ticks), ticktext=ms_labels(y)
        )
    layout.update(_round_marks(s))
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


def _round_marks(s: Series) -> dict[str, Any]:
    """A dotted line where each round begins, labelled "r2" at the top of the plot."""
    marks = round_marks(s)
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": x,
            "x1": x,
            "y0": 0,
            "y1": 1,
            "line": {"color": ROUND_MARK, "width": 1, "dash": "dot"},
            "layer": "below",
        }
        for x, _ in marks
    ]
    labels = [
        {
            "x": x,
            "xref": "x",
            "y": 1,
            "yref": "paper",
            "text": f"r{r}",
            "showarrow": False,
            "xanchor": "left",
            "yanchor": "top",
            "font": {"size": 10, "color": "#8c959f"},
        }
        for x, r in marks
    ]
    return {"shapes": shapes, "annotations": labels}


def _short(ms: float | None) -> float | None:
    """Six significant digits: enough to plot, and a third of the JSON of a full float."""
    return float(f"{ms:.6g}") if ms is not None else None

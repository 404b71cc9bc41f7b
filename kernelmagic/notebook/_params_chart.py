"""Latency against each tuned parameter, as a Plotly figure in plain JSON (like `_chart`).

For sessions whose proposals carry parameters (the search proposer's): one small scatter
per parameter, all on the latency chart's own axis (`series`: the same scale rule), each
timed candidate a point with its spread as an error bar, coloured by round so the path of
the search shows. A scatter per parameter reads better than parallel coordinates for one to
four parameters: each panel answers "how does latency move with this one?".
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from kernelmagic.loop.session import Session
from kernelmagic.notebook._chart import error_bars, hover_text
from kernelmagic.render.rows import Row, params_text, rows
from kernelmagic.render.series import GRID, Y_TITLE, YAxis, ms_labels, series

ERROR_COLOR = "#8c959f"
MAX_CATEGORIES = 16  # more distinct numbers than this: a linear axis, not evenly spaced values
PANEL_HEIGHT = 240
GAP = 0.06  # between panels side by side, a fraction of the figure's width
ROW_GAP = 0.2  # between rows of panels, a fraction of the figure's height


def param_names(everything: Sequence[Row]) -> list[str]:
    """Every parameter name proposed in the session, in the order first seen."""
    names: dict[str, None] = {}
    for row in everything:
        names.update(dict.fromkeys(row.params or {}))
    return list(names)


def value_text(value: object) -> str:
    """A parameter's value as the table and the hover text show it."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def params_figure(session: Session) -> dict[str, Any] | None:
    """The figure, or None when no candidate has parameters (nothing to show)."""
    everything = rows(session)
    names = param_names(everything)
    if not names:
        return None
    s = series(session)
    timed = [r for r in s.timed if r.params]
    untimed = sum(1 for r in s.untimed if r.params)
    best_id = session.best.id if session.best else None
    last_round = max((r.round for r in timed), default=1)
    cols = {1: 1, 2: 2, 3: 3, 4: 2}.get(len(names), 3)
    grid = _Grid(cols, math.ceil(len(names) / cols))
    panels = {name: [r for r in timed if name in (r.params or {})] for name in names}
    data = [
        _panel(i, name, having, best_id, last_round)
        for i, (name, having) in enumerate(panels.items())
    ]
    data[0]["marker"]["showscale"] = True
    title = "Latency against each tuned parameter" + (" (simulated)" if s.simulated else "")
    if any(r.id == best_id for r in timed):
        title += " · ★ the best"
    if untimed:
        title += f" · {untimed} not timed, not shown"
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
        "height": 90 + PANEL_HEIGHT * grid.rows,
        "margin": {"l": 80, "r": 20, "t": 44, "b": 50},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"family": "sans-serif", "size": 12},
        "hovermode": "closest",
        "uirevision": session.id,
        "showlegend": False,
    }
    for i, (name, having) in enumerate(panels.items()):
        layout.update(grid.axes(i, name, having, s.y_axis))
    return {"data": data, "layout": layout}


def _panel(i: int, name: str, having: list[Row], best_id: str | None, last_round: int) -> dict:
    suffix = str(i + 1) if i else ""
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "xaxis": f"x{suffix}",
        "yaxis": f"y{suffix}",
        "x": [_x_value((r.params or {})[name]) for r in having],
        "y": [r.latency_ms for r in having],
        "marker": {
            "color": [r.round for r in having],
            "colorscale": "Viridis",
            "cmin": 1,
            "cmax": max(last_round, 2),
            "size": [13 if r.id == best_id else 8 for r in having],
            "symbol": ["star" if r.id == best_id else "circle" for r in having],
            "line": {"width": 0.5, "color": "white"},
            "colorbar": {"title": {"text": "round"}, "thickness": 12, "dtick": 1},
            "showscale": False,
        },
        "text": [hover_text(r) + f"<br>{html.escape(params_text(r.params))}" for r in having],
        "hovertemplate": "%{text}<extra></extra>",
        "cliponaxis": False,
    }
    if any(r.spread_ms for r in having):
        trace["error_y"] = error_bars(having, ERROR_COLOR)
    return trace


def _x_value(value: object) -> object:
    """Numbers stay numbers (plotted to scale or in order); anything else is its text."""
    return value if _numeric(value) else value_text(value)


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


class _Grid:
    """Where each parameter's panel sits: `cols` across, `rows` down, axes x, x2, ...."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows

    def axes(self, i: int, name: str, having: list[Row], y: YAxis | None) -> dict[str, Any]:
        """Panel `i`'s x axis (named for its parameter) and its y axis, shared with the first."""
        col, row = i % self.cols, i // self.cols
        width, height = 1 / self.cols, 1 / self.rows
        suffix = str(i + 1) if i else ""
        xaxis: dict[str, Any] = {
            "title": {"text": name},
            "domain": [col * width + (GAP / 2 if col else 0), (col + 1) * width - GAP / 2],
            "anchor": f"y{suffix}",
            "gridcolor": GRID,
            "zeroline": False,
        }
        values = {(r.params or {})[name] for r in having}
        numbers = sorted((v for v in values if _numeric(v)), key=_as_float)
        if len(numbers) < len(values) or len(numbers) <= MAX_CATEGORIES:
            # Evenly spaced in order: 32, 64, ..., 1024 read better so than to scale.
            others = sorted((value_text(v) for v in values if not _numeric(v)), key=str)
            xaxis.update(type="category", categoryorder="array", categoryarray=numbers + others)
        # Room under each row but the last for its x axis's title.
        low = 1 - (row + 1) * height + (ROW_GAP if row < self.rows - 1 else 0)
        yaxis: dict[str, Any] = {
            "domain": [low, 1 - row * height],
            "anchor": f"x{suffix}",
            "gridcolor": GRID,
            "zeroline": False,
            "showticklabels": col == 0,
        }
        if col == 0:
            yaxis["title"] = {"text": Y_TITLE}
        if i:
            yaxis["matches"] = "y"
        if y is not None:
            lo, hi = (math.log10(y.lo_ms), math.log10(y.hi_ms)) if y.log else (y.lo_ms, y.hi_ms)
            yaxis.update(
                type="log" if y.log else "linear",
                range=[lo, hi],
                tickmode="array",
                tickvals=list(y.ticks),
                ticktext=ms_labels(y),
            )
        return {f"xaxis{suffix}": xaxis, f"yaxis{suffix}": yaxis}

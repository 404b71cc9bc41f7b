"""The widget's two Plotly outputs: latency per candidate, and latency per tuned parameter.

Each is drawn again only when what it shows changed: a figure of 500 candidates is 100 KB
sent to the browser, and a render comes several times a second while the loop runs.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from kernelmagic.loop.session import Best, Session
from kernelmagic.notebook._params_chart import param_names, params_figure
from kernelmagic.notebook._view_text import chart_output, plotly_output
from kernelmagic.render.rows import Row


class Plots:
    """`chart` (always shown) and `params_chart` (shown once a tuned candidate is timed)."""

    def __init__(self) -> None:
        self.chart = w.Output()
        self.params_chart = w.Output(layout=w.Layout(display="none"))
        self._chart_key: tuple[Any, ...] | None = None
        self._params_key: tuple[Any, ...] | None = None

    def update(self, session: Session, everything: list[Row], best: Best | None) -> None:
        evaluated = sum(1 for r in everything if r.status is not None)
        contest = session.contest if session.state == "running" else None
        rings = tuple(r.id for r in contest if r) if contest else ()
        best_id = best.id if best else None
        key = (evaluated, len(session.decisions), best_id, rings)
        if key != self._chart_key:
            self._chart_key = key
            self.chart.outputs = (chart_output(session, everything, best),)
        tuned = [r for r in everything if r.params and r.latency_ms is not None]
        tuned_key = (len(tuned), evaluated, best_id)
        if tuned_key == self._params_key:
            return
        self._params_key = tuned_key
        figure = params_figure(session) if tuned else None
        if figure is None:
            self.params_chart.layout.display = "none"
            return
        plain = f"latency against {', '.join(param_names(everything))}: {len(tuned)} timed"
        self.params_chart.outputs = (plotly_output(figure, plain),)
        self.params_chart.layout.display = None

"""The parameter space in the widget: a table column per tuned parameter, and latency
plotted against each, with the timings' spread and the rounds."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
from test_ui import fill, noop_actions
from test_widget_phases import Loop

import kernelmagic as km
from kernelmagic.notebook._params_chart import param_names, params_figure
from kernelmagic.notebook._view import SessionView
from kernelmagic.notebook._view_text import PLOTLY_MIME
from kernelmagic.render.rows import rows

S = km.Status


def tuned(grid: list[dict], *, failing: int | None = None, untuned: int | None = None) -> Loop:
    """A session of the user's kernel (10 ms) and one candidate per entry of `grid` (two per
    round), faster with more threads; `failing`/`untuned`: that candidate fails to compile /
    has no parameters."""
    loop = Loop(rounds=-(-len(grid) // 2))
    loop.baseline(ms=10.0)
    for r in range(1, loop.session.planned_rounds + 1):
        seqs = [s for s in range(2 * r - 1, 2 * r + 1) if s <= len(grid)]
        loop.send("round", r, "optimize")
        for seq in seqs:
            params = None if seq == untuned else grid[seq - 1]
            loop.send("proposed", r, candidate=loop.record(seq, r, params=params))
        for seq in seqs:
            params = None if seq == untuned else grid[seq - 1]
            ms = 10.0 * 64 / (params or {"threads": 64}).get("threads", 64)
            status, ms = (S.COMPILE_ERROR, None) if seq == failing else (S.CORRECT, ms)
            loop.send("evaluated", r, candidate=loop.record(seq, r, status, ms, params))
    return loop


GRID = [
    {"ITEMS": 1, "threads": 128},
    {"ITEMS": 2, "threads": 64},
    {"ITEMS": 4, "threads": 256},
    {"threads": 512},
    {"ITEMS": 2, "threads": 1024},
]


def test_no_parameters_no_figure_and_no_columns():
    session = fill(6)
    assert params_figure(session) is None
    view = SessionView(session, interactive=False, actions=noop_actions())
    assert view.params_chart.layout.display == "none"
    assert "threads" not in view.table_head.value


def test_latency_against_each_parameter_with_error_bars_and_rounds():
    loop = tuned(GRID, failing=5)
    fig = params_figure(loop.session)
    go.Figure(fig)  # plotly validates every property
    assert param_names(rows(loop.session)) == ["ITEMS", "threads"]
    items, threads = fig["data"]
    assert items["xaxis"] == "x" and threads["xaxis"] == "x2" and threads["yaxis"] == "y2"
    # One point per timed candidate having the parameter (#4 has no ITEMS, #5 failed).
    assert items["x"] == [1, 2, 4] and threads["x"] == [128, 64, 256, 512]
    assert threads["y"] == [5.0, 10.0, 2.5, 1.25]
    # The spread (1% of the median here) as error bars, half of it each way.
    assert threads["error_y"]["array"] == pytest.approx([0.025, 0.05, 0.0125, 0.00625])
    # Rounds by colour, on one scale for every panel; the best is a star.
    assert threads["marker"]["color"] == [1, 1, 2, 2] and items["marker"]["colorscale"]
    assert items["marker"]["showscale"] and not threads["marker"]["showscale"]
    assert threads["marker"]["symbol"] == ["circle"] * 4  # no decision made: #0 is the best
    layout = fig["layout"]
    assert layout["xaxis"]["title"]["text"] == "ITEMS"
    assert layout["xaxis2"]["title"]["text"] == "threads"
    # Few distinct values: evenly spaced, in numeric order (not 1024 before 128).
    assert layout["xaxis2"]["type"] == "category"
    assert layout["xaxis2"]["categoryarray"] == [64, 128, 256, 512]
    assert layout["yaxis2"]["matches"] == "y" and layout["yaxis"]["title"]["text"] == "latency (ms)"
    assert layout["yaxis"]["type"] == "linear"  # 10 ms over 1.25 ms: under the 10x rule
    assert "1 not timed, not shown" in layout["title"]["text"]
    assert "(simulated)" in layout["title"]["text"]
    assert "ITEMS=4, threads=256" in items["text"][2]


def test_the_panels_form_a_grid_and_a_wide_span_a_log_axis():
    one = params_figure(tuned([{"threads": t} for t in (32, 64, 1024)]).session)
    assert len(one["data"]) == 1 and one["layout"]["yaxis"]["type"] == "log"  # 20x
    four = params_figure(tuned([{"A": i, "B": i, "C": i, "D": i} for i in (1, 2, 3)]).session)
    layout = four["layout"]
    assert len(four["data"]) == 4
    assert layout["xaxis"]["domain"][1] <= 0.5 <= layout["xaxis2"]["domain"][0]  # 2 x 2
    assert layout["yaxis3"]["domain"][1] <= layout["yaxis"]["domain"][0]
    assert layout["height"] > one["layout"]["height"]
    go.Figure(four)


def test_the_table_has_a_column_per_parameter_blank_where_a_candidate_has_none():
    loop = tuned(GRID, untuned=3)
    view = SessionView(loop.session, interactive=False, actions=noop_actions())
    head = view._lines.head
    assert head.index("ITEMS") < head.index("threads") < head.index("error")
    labels = {cid: label.replace("\u00a0", " ") for label, cid in view.table.options}
    threads_end = head.index("threads") + len("threads")
    items_end = head.index("ITEMS") + len("ITEMS")
    assert labels["s.5"][:threads_end].endswith(" 1024")  # right-aligned under its name
    assert labels["s.5"][:items_end].endswith(" 2")
    assert labels["s.4"][:items_end].endswith("     ")  # #4 has no ITEMS
    assert labels["s.4"][:threads_end].endswith("512")
    assert len(labels["s.3"]) < items_end  # no parameters at all: its line ends before them
    assert "ITEMS" in view.table_head.value
    # And the figure shows, since candidates with parameters are timed.
    assert view.params_chart.layout.display is None
    figure = view.params_chart.outputs[0]["data"][PLOTLY_MIME]
    assert [t["name"] for t in figure["data"]] == ["ITEMS", "threads"]
    view.table.value = "s.5"
    assert "ITEMS=2, threads=1024" in view.detail.value

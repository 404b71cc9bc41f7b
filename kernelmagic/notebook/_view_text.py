"""What each part of the session widget says: its header, progress, decisions, charts and
table rows.

Plain functions of the session, as HTML or text; `_view.py` puts them into widgets.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from kernelmagic.harness.comparison import DECISION_RULE
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Best, Session
from kernelmagic.notebook._chart import latency_figure
from kernelmagic.notebook._params_chart import value_text
from kernelmagic.render.rows import (
    SIMULATED,
    Row,
    best_speedup,
    decision_line,
    fmt_ms,
    fmt_speedup,
    not_evaluated,
    round_label,
    status_label,
)

PLOTLY_MIME = "application/vnd.plotly.v1+json"
CONFIG = {"displaylogo": False}
SHOWN_DECISIONS = 100  # in a scrolling box, newest first; the record lists them all
# Said where a kernel ranked on the simulator is acted upon (Apply, Tutorial step).
RANKED_ON_SIMULATOR = (
    "ranked on the CPU simulator: its speed says nothing about a GPU; time it on one "
    "before relying on it"
)
GREY = "color: #57606a; font-size: 12px; line-height: 1.4"
# <option> text collapses spaces, so rows are padded with no-break spaces in a monospace font.
# A widget's 2 px margin comes on top of a 100% width: "auto" stretches it to fit instead.
# A disabled button loses its colour (the view sets no style) and gets a dashed border and
# a not-allowed cursor: paler alone reads as "another colour", not as "off".
VIEW_CSS = (
    "<style>.km-rows select { font-family: monospace; font-size: 12px; }"
    ".km-rows, .km-rows select { box-sizing: border-box; max-width: 100%; }"
    ".km-head { font-family: monospace; font-size: 12px; white-space: pre; color: #57606a;"
    " padding-left: 5px; }"
    ".km-buttons button:disabled { cursor: not-allowed; opacity: 0.55; color: #6e7781;"
    " background: #f6f8fa; border: 1px dashed #8c959f; box-shadow: none; }</style>"
)


def chart_output(session: Session, everything: Sequence[Row], best: Best | None) -> dict[str, Any]:
    """The latency chart as an output of the chart's `Output` widget, with a text fallback;
    a line of text instead while no candidate is timed (an empty plot says nothing)."""
    evaluated = [r for r in everything if r.status is not None]
    if not any(r.latency_ms is not None for r in evaluated):
        return _no_chart(evaluated)
    figure = latency_figure(session)
    plain = f"latency chart: {len(evaluated)} candidates evaluated"
    if best is not None and best.latency_ms is not None:
        plain += f", best {fmt_ms(best.latency_ms)}"
    return plotly_output(figure, plain)


def plotly_output(figure: dict[str, Any], plain: str) -> dict[str, Any]:
    """A Plotly figure as an `Output` widget's output, `plain` for frontends without it."""
    return {
        "output_type": "display_data",
        "data": {PLOTLY_MIME: {**figure, "config": CONFIG}, "text/plain": plain},
        "metadata": {},
    }


def _no_chart(evaluated: Sequence[Row]) -> dict[str, Any]:
    if evaluated:
        counts: dict[str, int] = {}
        for r in evaluated:
            counts[r.status_text] = counts.get(r.status_text, 0) + 1
        said = ", ".join(f"{n} {status}" for status, n in counts.items())
        text = f"latency chart: no candidate timed yet ({said}; see the table below)"
    else:
        text = "latency chart: it starts once a candidate is timed"
    return {
        "output_type": "display_data",
        "data": {
            "text/html": f'<div style="{GREY}; padding: 6px 0">{html.escape(text)}</div>',
            "text/plain": text,
        },
        "metadata": {},
    }


def header_html(session: Session) -> str:
    """The session's id and state, with why it stopped."""
    reason = f": {session.stop_reason}" if session.stop_reason else ""
    state = html.escape(session.state + reason)
    return (
        f"<b>kernelmagic session <code>{html.escape(session.id)}</code></b> "
        f'<span style="color: #57606a">({state})</span>'
    )


def progress_html(session: Session, everything: list[Row], best: Best | None) -> str:
    """Where the session is: its rounds, candidates, best and tokens."""
    s = session
    evaluated = sum(1 for r in everything if r.status is not None)
    parts = [
        round_label(s),
        f"{evaluated} of {len(everything)} candidates evaluated",
        f"{s.tokens:,} tokens",
    ]
    if best is not None:
        speed = f" ({best_speedup(best)})" if best_speedup(best) else ""
        parts.insert(2, f"best #{best.record.seq}: {fmt_ms(best.latency_ms)}{speed}")
    if any(r.simulated for r in everything):
        parts.append(SIMULATED)  # the one place the widget spells it out
    return f'<div style="line-height: 1.5">{html.escape(" · ".join(parts))}</div>'


def decision_rule_html() -> str:
    """The rule every decision follows, said once above them."""
    return f'<div style="{GREY}">decision rule: {html.escape(DECISION_RULE)}</div>'


def decisions_html(session: Session, everything: list[Row]) -> str:
    """Every decision, newest first (the box scrolls): why the best is what it is."""
    decisions = session.decisions
    if not decisions:
        return (
            f'<div style="{GREY}">no decision yet: each round\'s fastest is compared '
            "with the best</div>"
        )
    by_id = {r.id: r for r in everything}
    out = []
    for d in reversed(decisions[-SHOWN_DECISIONS:]):
        color = "#1a7f37" if d.accepted else "#57606a"
        out.append(f'<div style="color: {color}">{html.escape(decision_line(d, by_id))}</div>')
    if len(decisions) > SHOWN_DECISIONS:
        earlier = len(decisions) - SHOWN_DECISIONS
        out.append(f'<div style="color: #8c959f">… {earlier} earlier decisions</div>')
    return f'<div style="line-height: 1.5; font-size: 13px">{"".join(out)}</div>'


def param_columns(everything: Sequence[Row], names: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """(name, width) of each parameter column: wide enough for the name and every value."""

    def width(name: str) -> int:
        values = [r.params[name] for r in everything if r.params and name in r.params]
        return max([len(name), *(len(value_text(v)) for v in values)])

    return tuple((name, width(name)) for name in names)


def row_label(
    row: Row, *, best: bool, params: Sequence[tuple[str, int]] = (), state: str = "running"
) -> str:
    """One monospace line of the candidates table (no-break spaces keep the columns); a
    parameter column is blank where the candidate has no such parameter."""
    mark = "★" if best else " "
    text = (
        f"{mark}#{row.seq:<4} r{row.round:<3} {row.origin:<6} {status_label(row, state):<13} "
        f"{fmt_ms(row.latency_ms):>11} {fmt_speedup(row.screening):>7}"
    )
    for name, width in params:
        value = (row.params or {}).get(name)
        text += f" {value_text(value) if value is not None else '':>{width}}"
    if row.status not in (Status.CORRECT, None) and row.message:
        text += f"  {row.message[:70]}"
    elif row.status is None and state != "running":
        text += f"  {not_evaluated(state).removeprefix('not evaluated ')}"
    return text.rstrip().replace(" ", "\u00a0")


def row_label_head(params: Sequence[tuple[str, int]] = ()) -> str:
    """The column names over `row_label`'s columns, in the same widths."""
    head = f"{' #':<6} {'rnd':<4} {'origin':<6} {'status':<13} {'latency':>11} {'screen':>7}"
    for name, width in params:
        head += f" {name:>{width}}"
    return head + "  error"


def sim_caveat(record: CandidateRecord) -> str:
    """What to add where a kernel is acted upon: "" unless the simulator ranked it."""
    return f"; {RANKED_ON_SIMULATOR}" if record.simulated else ""

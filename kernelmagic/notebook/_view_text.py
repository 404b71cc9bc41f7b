"""What each part of the session widget says: its header, progress, chart and table rows.

Plain functions of the session, as HTML or text; `_view.py` puts them into widgets.
"""

from __future__ import annotations

import html
from typing import Any

from kernelmagic.harness.verdict import Status
from kernelmagic.loop.session import Best, Session
from kernelmagic.notebook._chart import latency_figure
from kernelmagic.render.rows import (
    SIMULATED,
    Row,
    decision_line,
    fmt_ms,
    fmt_speedup,
    round_label,
)

PLOTLY_MIME = "application/vnd.plotly.v1+json"
CONFIG = {"displaylogo": False}
SHOWN_DECISIONS = 3  # the newest, under the progress line; the record lists them all
# <option> text collapses spaces, so rows are padded with no-break spaces in a monospace font.
# A widget's 2 px margin comes on top of a 100% width: "auto" stretches it to fit instead.
ROWS_CSS = (
    "<style>.km-rows select { font-family: monospace; font-size: 12px; }"
    ".km-rows, .km-rows select { box-sizing: border-box; max-width: 100%; }"
    ".km-head { font-family: monospace; font-size: 12px; white-space: pre; color: #57606a;"
    " padding-left: 5px; }</style>"
)


def chart_output(session: Session, evaluated: int, best: Best | None) -> dict[str, Any]:
    """The latency chart as an output of the chart's `Output` widget, with a text fallback."""
    figure = latency_figure(session)
    plain = f"latency chart: {evaluated} candidates evaluated"
    if best is not None and best.latency_ms is not None:
        plain += f", best {fmt_ms(best.latency_ms)}"
    return {
        "output_type": "display_data",
        "data": {PLOTLY_MIME: {**figure, "config": CONFIG}, "text/plain": plain},
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
    """Where the session is, then its newest decisions: why the best is what it is."""
    s = session
    evaluated = sum(1 for r in everything if r.status is not None)
    parts = [
        round_label(s),
        f"{evaluated} of {len(everything)} candidates evaluated",
        f"{s.tokens:,} tokens",
    ]
    if best is not None:
        speed = f" ({fmt_speedup(best.speedup)} the baseline)" if best.speedup else ""
        parts.insert(2, f"best #{best.record.seq}: {fmt_ms(best.latency_ms)}{speed}")
    if any(r.simulated for r in everything):
        parts.append(SIMULATED)  # the one place the widget spells it out
    out = [f"<div>{html.escape(' · '.join(parts))}</div>"]
    decisions = s.decisions
    by_id = {r.id: r for r in everything}
    if len(decisions) > SHOWN_DECISIONS:
        earlier = len(decisions) - SHOWN_DECISIONS
        out.append(f'<div style="color: #8c959f">… {earlier} earlier decisions</div>')
    for d in decisions[-SHOWN_DECISIONS:]:
        color = "#1a7f37" if d.accepted else "#57606a"
        out.append(f'<div style="color: {color}">{html.escape(decision_line(d, by_id))}</div>')
    return f'<div style="line-height: 1.5">{"".join(out)}</div>'


def row_label(row: Row, *, best: bool) -> str:
    """One monospace line of the candidates table (no-break spaces keep the columns)."""
    mark = "★" if best else " "
    text = (
        f"{mark}#{row.seq:<4} r{row.round:<3} {row.origin:<6} {row.status_text:<13} "
        f"{fmt_ms(row.latency_ms):>11} {fmt_speedup(row.speedup):>7}"
    )
    if row.status not in (Status.CORRECT, None) and row.message:
        text += f"  {row.message[:70]}"
    return text.replace(" ", "\u00a0")


def row_label_head() -> str:
    """The column names over `row_label`'s columns, in the same widths."""
    return (
        f"{' #':<6} {'rnd':<4} {'origin':<6} {'status':<13} {'latency':>11} {'speedup':>7}  error"
    )

"""The static record a session leaves in the notebook (HTML) or on a terminal (text).

Unlike the live widget it needs no kernel or JavaScript to show, so a saved notebook on
GitHub or nbviewer still tells what was tried and what won. Candidate sources, messages and
rationales come from an LLM: every piece of them is escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from kernelmagic._words import clip_words, count
from kernelmagic.harness.comparison import DECISION_RULE
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.records import Decision
from kernelmagic.loop.session import Best, Session
from kernelmagic.render.diff import MAX_DIFF_LINES, diff_html, diff_lines
from kernelmagic.render.notes import notes_html, notes_text
from kernelmagic.render.rows import (
    SCREENING_NOTE,
    SIMULATED,
    Row,
    best_speedup,
    clean_reason,
    counters_line,
    decision_line,
    decision_outcome,
    decision_why,
    device_of,
    fmt_ms,
    fmt_speedup,
    rows,
    status_label,
)
from kernelmagic.render.sizes import HEADERS as SIZE_HEADERS
from kernelmagic.render.sizes import NOTE as SIZE_NOTE
from kernelmagic.render.sizes import one_size, size_points, size_rows, slower_sizes
from kernelmagic.render.svg_chart import latency_svg

MAX_ROWS = 200  # beyond this the table keeps the baseline, accepted kernels and the fastest
MAX_DECISIONS = 100  # the newest; a session has at most one per round and a few user picks
MAX_RATIONALE = 2000
ERROR_CHARS = 60  # of a failure's first line in the table; the HTML's tooltip has it all
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # terminal escapes in untrusted text
CELL = "padding:1px 8px;border-bottom:1px solid #eee"  # inline: it must survive a saved notebook
NUM = ";text-align:right;white-space:nowrap"  # numbers line up, the best's ★ included
HEADERS: tuple[tuple[str, str], ...] = (
    ("round", NUM),
    ("#", NUM),
    ("origin", ""),
    ("status", ""),
    ("latency", NUM),
    ("screen", NUM),
    ("error", ""),
)


def record_html(session: Session) -> str:
    """The session as self-contained HTML: heading, SVG chart, table and the final diff."""
    everything = rows(session)
    shown, hidden = table_rows(session, everything)
    best = session.best
    facts = " · ".join(html.escape(f) for f in facts_of(session, everything))
    error = (
        f'<div style="color: #b00020">{html.escape(str(session.error))}</div>'
        if session.error
        else ""
    )
    return (
        '<div style="font-family: sans-serif; font-size: 13px; line-height: 1.4">'
        f'<div style="font-size: 15px; font-weight: bold">{html.escape(headline(session))}</div>'
        f'<div style="color: #444">{facts}</div>'
        f"<div>{html.escape(best_line(session, best))}</div>{_counters_html(best)}{error}"
        f"{latency_svg(session)}"
        f"{_sizes_html(best)}"
        f"{_notes_html(session)}"
        f"{_decisions_html(session, everything)}"
        f"{_table_html(shown, hidden, best, _messages(session), session.state)}"
        f"{_final_html(session, best)}</div>"
    )


def record_text(session: Session) -> str:
    """The session as plain text for terminals: the same record without the chart."""
    everything = rows(session)
    shown, hidden = table_rows(session, everything)
    best = session.best
    lines = [headline(session), " · ".join(facts_of(session, everything)), best_line(session, best)]
    if _counters(best):
        lines.append(f"  {_counters(best)}")
    if session.error:
        lines.append(f"error: {session.error}")
    lines += _sizes_text(best)
    lines += notes_text(session.notes)
    decisions = session.decisions[-MAX_DECISIONS:]
    if decisions:
        by_id = {r.id: r for r in everything}
        lines += ["", f"decisions ({DECISION_RULE}):"]
        lines += [f"  {decision_line(d, by_id)}{_by(d)}" for d in decisions]
    lines += [
        "",
        f"{'round':>5}  {'#':>4}  {'origin':<7} {'status':<14} {'latency':>11}  "
        f"{'screen':>7}  error",
    ]
    for r in shown:
        mark = "★" if best and r.id == best.id else " "
        lines.append(
            f"{r.round:>5} {mark}{r.seq:>4}  {r.origin:<7} {status_label(r, session.state):<14} "
            f"{fmt_ms(r.latency_ms):>11}  {fmt_speedup(r.screening):>7}  {_error_cell(r)}"
        )
    if hidden:
        lines.append(f"({count(hidden, 'more candidate')} not listed)")
    lines.append(SCREENING_NOTE)
    base = session.baseline
    lines.append("")
    if best is None or base is None:
        lines.append("no correct kernel: nothing to compare with your original")
    elif best.id == base.id:
        lines.append("your original kernel is still the best" + _kept_note(session))
    else:
        lines.append(f"best kernel (#{best.record.seq}) against your original:")
        if best.record.rationale:
            lines.append("rationale: " + best.record.rationale[:MAX_RATIONALE])
        diff = diff_lines(
            base.source,
            best.source,
            old_label=_label(base.seq, "your kernel"),
            new_label=_label(best.record.seq, "best"),
        )
        lines += diff[:MAX_DIFF_LINES]
        if len(diff) > MAX_DIFF_LINES:
            lines.append(f"... {len(diff) - MAX_DIFF_LINES} more diff lines not shown")
    return _CONTROL.sub("", "\n".join(lines)) + "\n"


def headline(session: Session) -> str:
    reason = f" ({session.stop_reason})" if session.stop_reason else ""
    return f"kernelmagic session {session.id}: {session.state}{reason}"


def facts_of(session: Session, everything: list[Row]) -> list[str]:
    """The session's numbers in words: device, candidates, rounds and tokens."""
    correct = sum(1 for r in everything if r.status is Status.CORRECT)
    pending = sum(1 for r in everything if r.status is None)
    done = sum(1 for r in session.rounds if r.round > 0 and r.finished)
    counts = f"{count(len(everything), 'candidate')} ({correct} correct"
    left = "pending" if session.state == "running" else "not evaluated"
    counts += f", {pending} {left})" if pending else ")"
    facts = [counts, f"{done} of {count(session.planned_rounds, 'round')}"]
    if session.tokens:  # the search and replay proposers spend none: say nothing of tokens
        facts.append(count(session.tokens, "token"))
    device = device_of(session)
    if device:
        facts.insert(0, f"device: {device}")
    if any(r.simulated for r in everything):
        facts.append(f"latencies {SIMULATED}")
    return facts


def best_line(session: Session, best: Best | None) -> str:
    if best is None:
        if session.state == "running":
            return "no correct kernel yet"
        if any(c.status is Status.UNVERIFIED for c in session.candidates):
            return "no correct kernel: without a GPU, CUDA C kernels are compiled, not run"
        return "no correct kernel"
    speed = f", {best_speedup(best)}" if best_speedup(best) else ""
    return f"best: #{best.record.seq} ({best.record.origin}), {fmt_ms(best.latency_ms)}{speed}"


def _counters(best: Best | None) -> str:
    """What the best's hardware counters say bounds it, for under the best line (GPU only)."""
    return counters_line(best.record.verdict) if best else ""


def _counters_html(best: Best | None) -> str:
    said = _counters(best)
    return f'<div style="color: #444">{html.escape(said)}</div>' if said else ""


def table_rows(session: Session, everything: list[Row]) -> tuple[list[Row], int]:
    """The rows to list (in order) and how many were left out to keep the record small.

    Past `MAX_ROWS`, the baseline, accepted and best kernels stay, then the fastest correct
    ones, then the newest.
    """
    if len(everything) <= MAX_ROWS:
        return everything, 0
    best = session.best
    base = session.baseline
    keep = {d.candidate for d in session.decisions if d.accepted}
    keep |= {x.id for x in (best, base) if x is not None}
    ranked = sorted(
        everything,
        key=lambda r: (
            r.id not in keep,
            r.status is not Status.CORRECT or r.latency_ms is None,
            r.latency_ms or 0.0,
            -r.seq,
        ),
    )
    shown = sorted(ranked[:MAX_ROWS], key=lambda r: r.seq)
    return shown, len(everything) - len(shown)


def error_of(row: Row) -> str:
    """What the table says in its last column: a failure's first line, nothing for the rest.

    A correct candidate's message (cases matched, runs re-checked) is the same for all.
    """
    return row.message if row.status not in (Status.CORRECT, None) else ""


def _error_cell(row: Row) -> str:
    """The error column: the failure's first line, cut at a word to `ERROR_CHARS`."""
    return clip_words(error_of(row), ERROR_CHARS)


def _messages(session: Session) -> dict[str, str]:
    """Each judged candidate's whole verdict message, by id: what the error cell shortens."""
    return {r.id: r.verdict.message for r in session.candidates if r.verdict}


def _by(decision: Decision) -> str:
    """Who decided, where the sentence does not already say it (the approver's and the
    user's decisions name them)."""
    return " (by the loop)" if decision.by == "loop" else ""


def _decisions_html(session: Session, everything: list[Row]) -> str:
    """Each round's comparison of its fastest candidate with the best, and the outcome."""
    decisions = session.decisions
    if not decisions:
        return ""
    by_id = {r.id: r for r in everything}
    shown = decisions[-MAX_DECISIONS:]
    head = "".join(
        f'<th style="{CELL};text-align:left">{h}</th>'
        for h in ("round", "challenger", "outcome", "by", "why")
    )
    body = "".join(_decision_tr(d, by_id) for d in shown)
    more = len(decisions) - len(shown)
    more_text = count(more, "earlier decision")
    note = f'<div style="color: #57606a">{more_text} not listed</div>' if more else ""
    return (
        '<div style="font-weight: bold; margin-top: 8px">Decisions</div>'
        f'<div style="color: #57606a; font-size: 12px">{html.escape(DECISION_RULE)}</div>'
        '<table style="border-collapse: collapse; font-size: 12px; margin: 4px 0">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"
    )


def _decision_tr(d: Decision, by_id: dict[str, Row]) -> str:
    challenger = by_id.get(d.candidate)
    color = "#1a7f37" if d.accepted else "#57606a"
    outcome = "became the best" if d.accepted else decision_outcome(d, by_id)
    cells = (
        (str(d.round), NUM),
        (f"#{challenger.seq}" if challenger else html.escape(d.candidate), NUM),
        (f'<span style="color: {color}">{html.escape(outcome)}</span>', ";white-space:nowrap"),
        (html.escape(d.by), ""),
        (html.escape(decision_why(d, by_id)), ""),
    )
    # The stored reason, with the test's numbers, as a tooltip for whoever wants them.
    title = html.escape(clean_reason(d.reason), quote=True)
    tds = "".join(f'<td style="{CELL}{style}">{c}</td>' for c, style in cells)
    return f'<tr title="{title}">{tds}</tr>'


def _table_html(
    shown: list[Row], hidden: int, best: Best | None, messages: Mapping[str, str], state: str
) -> str:
    head = "".join(
        f'<th style="{CELL}{style or ";text-align:left"}">{h}</th>' for h, style in HEADERS
    )
    body = []
    for r in shown:
        is_best = best is not None and r.id == best.id
        style = ' style="background: #f0faf2; font-weight: bold"' if is_best else ""
        cells = (
            str(r.round),
            f"{'★ ' if is_best else ''}{r.seq}",
            html.escape(r.origin),
            f'<span style="color: {r.color}">{status_label(r, state)}</span>',
            fmt_ms(r.latency_ms),
            fmt_speedup(r.screening),
            html.escape(_error_cell(r)),
        )
        # The error cell shows one line; its tooltip, the whole message (every line, uncut).
        full = messages.get(r.id, "") if error_of(r) else ""
        tip = f' title="{html.escape(full, quote=True)}"' if full else ""
        attrs = [""] * (len(cells) - 1) + [tip]
        tds = "".join(
            f'<td style="{CELL}{align}"{attr}>{c}</td>'
            for c, (_, align), attr in zip(cells, HEADERS, attrs, strict=True)
        )
        body.append(f"<tr{style}>{tds}</tr>")
    more = (
        f"{count(hidden, 'more candidate')} not listed (slower or failed; the session store keeps "
        "them all). "
        if hidden
        else ""
    )
    return (
        '<table style="border-collapse: collapse; font-size: 12px; margin: 8px 0 2px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<div style="color: #57606a; font-size: 12px">{more}{html.escape(SCREENING_NOTE)}.</div>'
    )


def _final_html(session: Session, best: Best | None) -> str:
    base = session.baseline
    if best is None or base is None:
        return "<p>No correct kernel: nothing to compare with your original.</p>"
    if best.id == base.id:
        note = html.escape(_kept_note(session))
        return f"<p>Your original kernel is still the best: no candidate beat it{note}.</p>"
    rec = best.record
    rationale = (
        '<div style="white-space: pre-wrap; border-left: 3px solid #ccc; padding-left: 8px; '
        f'color: #333">{html.escape(rec.rationale[:MAX_RATIONALE])}</div>'
        if rec.rationale
        else ""
    )
    diff = diff_html(
        base.source,
        best.source,
        old_label=_label(base.seq, "your kernel"),
        new_label=_label(rec.seq, "best"),
    )
    title = f"Best kernel #{rec.seq} (round {rec.round}, {rec.origin}) against your original"
    return f'<div style="font-weight: bold; margin-top: 8px">{html.escape(title)}</div>' + (
        rationale + diff
    )


def _sizes_text(best: Best | None) -> list[str]:
    points = size_points(best)
    if len(points) < 2:
        return [one_size(points)] if points else []
    table = [SIZE_HEADERS, *size_rows(points)]
    wide = max(len(row[0]) for row in table)
    lines = ["", f"by input size ({SIZE_NOTE}):"]
    lines += [f"  {a:<{wide}}  {b:>11}  {c:>11}  {d:>7}" for a, b, c, d in table]
    slower = slower_sizes(points)
    if slower:
        lines.append(f"  slower than your kernel at: {', '.join(slower)}")
    return lines


def _sizes_html(best: Best | None) -> str:
    points = size_points(best)
    if len(points) < 2:
        note = html.escape(one_size(points))
        return f'<div style="color: #57606a; font-size: 12px">{note}.</div>' if points else ""
    head = "".join(
        f'<th style="{CELL}{NUM if i else ""}">{html.escape(h)}</th>'
        for i, h in enumerate(SIZE_HEADERS)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{CELL}{NUM if i else ""}">{html.escape(v)}</td>' for i, v in enumerate(row)
        )
        + "</tr>"
        for row in size_rows(points)
    )
    slower = slower_sizes(points)
    warn = (
        f'<div style="color: #b00020">slower than your kernel at: {html.escape(", ".join(slower))}'
        "</div>"
        if slower
        else ""
    )
    return (
        '<div style="font-weight: bold; margin-top: 8px">By input size</div>'
        '<table style="border-collapse: collapse; font-size: 12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f'<div style="color: #57606a; font-size: 12px">{html.escape(SIZE_NOTE)}.</div>{warn}'
    )


def _notes_html(session: Session) -> str:
    shown = notes_html(session.notes)
    return f'<div style="font-weight: bold; margin-top: 8px">Notes</div>{shown}' if shown else ""


def _kept_note(session: Session) -> str:
    """Why the original stands, when challengers were compared with it and lost."""
    kept = sum(1 for d in session.decisions if not d.accepted)
    if not kept:
        return ""
    what = "1 challenger" if kept == 1 else f"{kept} challengers"
    return f" ({what} compared with it did not replace it: see the decisions above)"


def _label(seq: int, what: str) -> str:
    return f"{what} (#{seq})"

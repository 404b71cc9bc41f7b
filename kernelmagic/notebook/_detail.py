"""One candidate up close, as the widget's diff view shows it: verdict, rationale and diff.

A candidate is compared with the current best, since that is what choosing it would
replace; the best itself is compared with the user's original.
"""

from __future__ import annotations

import html

from kernelmagic.harness.profile import figures
from kernelmagic.loop.events import Challenge
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.render.diff import diff_html
from kernelmagic.render.rows import (
    SCREENING_NOTE,
    SIM_TAG,
    baseline_ms,
    decision_line,
    fmt_ms,
    fmt_speedup,
    make_row,
    params_text,
    rows,
    status_label,
)

MAX_MESSAGE = 600
MAX_RATIONALE = 1500
NOTE = "white-space: pre-wrap; max-height: 10em; overflow: auto; margin: 4px 0"


def candidate_detail(session: Session, candidate: CandidateRecord) -> str:
    """`candidate` against the current best (or against the original when it is the best)."""
    best = session.best
    base = session.baseline
    if best is not None and best.id != candidate.id:
        against: CandidateRecord | None = best.record
        what = "the current best"
    elif base is not None and base.id != candidate.id:
        against, what = base, "your kernel"
    else:
        against, what = None, ""
    lines = [_summary(session, candidate), _decisions(session, candidate)]
    if against is not None:
        lines.append(_diff(against, candidate, what))
    elif candidate.round == 0:
        lines.append('<div style="color: #57606a">your original kernel</div>')
    return "".join(lines)


def challenge_detail(session: Session, challenge: Challenge) -> str:
    """The challenger of a paused round against the incumbent, and why it should win."""
    c = challenge
    speed = f" ({c.estimate.describe()}, over the incumbent)" if c.estimate else ""
    head = f"Round {c.round}: #{c.challenger.seq} is proposed as the new best{speed}. {c.reason}"
    against = c.incumbent or session.baseline
    parts = [
        f'<div style="font-weight: bold; color: #8250df">{html.escape(head)}</div>',
        _summary(session, c.challenger),
    ]
    if against is not None and against.id != c.challenger.id:
        what = "the incumbent" if c.incumbent else "your kernel"
        parts.append(_diff(against, c.challenger, what))
    return "".join(parts)


def _summary(session: Session, record: CandidateRecord) -> str:
    row = make_row(record, baseline_ms(session))
    status = status_label(row, session.state)
    facts = [
        f"round {row.round}",
        html.escape(row.origin),
        f'<span style="color: {row.color}; font-weight: bold">{status}</span>',
        fmt_ms(row.latency_ms),
    ]
    if row.params:
        facts.append(html.escape(params_text(row.params)))
    if row.screening is not None:
        note = html.escape(SCREENING_NOTE, quote=True)
        facts.append(
            f'<span title="{note}">screen {fmt_speedup(row.screening)} '
            "(one median each, not a comparison)</span>"
        )
    if row.simulated:
        facts.append(SIM_TAG)
    if record.reused_from:
        facts.append(f"verdict reused from {html.escape(record.reused_from)}")
    out = [f"<div><b>#{row.seq}</b> · {' · '.join(facts)}</div>", _counters(record, row.counters)]
    message = record.verdict.message if record.verdict else ""
    if message and row.status_text != "correct":
        out.append(f'<div style="{NOTE}; color: #82071e">{_cut(message, MAX_MESSAGE)}</div>')
    if record.rationale:
        out.append(
            f'<div style="{NOTE}; border-left: 3px solid #ccc; padding-left: 8px">'
            f"{_cut(record.rationale, MAX_RATIONALE)}</div>"
        )
    return "".join(out)


def _counters(record: CandidateRecord, said: str) -> str:
    """What the hardware counters of a kernel that became the best say, and their figures."""
    profile = record.verdict.profile if record.verdict else None
    if profile is None:
        return ""
    shown = "<br>".join(html.escape(line) for line in figures(profile))
    return (
        f'<div style="color: #444">{html.escape(said)}'
        f'<div style="color: #57606a; font-size: 12px">{shown}</div></div>'
    )


def _decisions(session: Session, record: CandidateRecord) -> str:
    """What the loop, the approver or the user decided about `record` as a challenger.

    This is what explains a big median speedup that did not become the best.
    """
    about = [d for d in session.decisions if d.candidate == record.id]
    if not about:
        return ""
    by_id = {r.id: r for r in rows(session)}
    lines = []
    for d in about:
        color = "#1a7f37" if d.accepted else "#57606a"
        lines.append(
            f'<div style="color: {color}">{html.escape(decision_line(d, by_id))}'
            f' <span style="color: #8c959f">(by the {d.by})</span></div>'
        )
    return "".join(lines)


def _diff(old: CandidateRecord, new: CandidateRecord, what: str) -> str:
    return diff_html(
        old.source,
        new.source,
        old_label=f"{what} (#{old.seq})",
        new_label=f"candidate #{new.seq}",
    )


def _cut(text: str, limit: int) -> str:
    """Escaped, and at most `limit` characters of it."""
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")

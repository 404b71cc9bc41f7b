"""What the loop told the user (a problem's warning, a reply without a kernel, a budget
hit), as the widget and the static record show it: the last few, a warning in amber."""

from __future__ import annotations

import html
from collections.abc import Sequence

SHOWN_NOTES = 20  # the last ones; the text progress printed each as it came
WARNING_COLOR = "#9a6700"


def note_line(r: int, text: str) -> str:
    """One note as it reads: its round first, unless it is about the session as a whole."""
    return f"round {r}: {text}" if r else text


def notes_html(notes: Sequence[tuple[int, str]]) -> str:
    """The last `SHOWN_NOTES` notes, newest first; nothing at all while there is none."""
    if not notes:
        return ""
    out = []
    for r, text in reversed(notes[-SHOWN_NOTES:]):
        color = WARNING_COLOR if text.startswith("warning:") else "#57606a"
        out.append(f'<div style="color: {color}">{html.escape(note_line(r, text))}</div>')
    if len(notes) > SHOWN_NOTES:
        out.append(f'<div style="color: #8c959f">… {len(notes) - SHOWN_NOTES} earlier notes</div>')
    return f'<div style="line-height: 1.5; font-size: 13px">{"".join(out)}</div>'


def notes_text(notes: Sequence[tuple[int, str]]) -> list[str]:
    """The same notes as lines for a terminal, oldest first; none while there is none."""
    if not notes:
        return []
    lines = ["", "notes:"]
    if len(notes) > SHOWN_NOTES:
        lines.append(f"  ({len(notes) - SHOWN_NOTES} earlier notes)")
    return lines + [f"  {note_line(r, text)}" for r, text in notes[-SHOWN_NOTES:]]

"""A highlighted unified diff between two kernel sources, as self-contained HTML.

Styles are inline (`noclasses`) so the diff keeps its colors in a saved notebook, on
nbviewer and on GitHub, where no stylesheet comes with it. Sources come from an LLM and may
be huge or hostile: everything is escaped and the output is bounded.
"""

from __future__ import annotations

import difflib
import html

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer
from pygments.style import Style
from pygments.token import Generic

MAX_SOURCE_LINES = 2000  # difflib is quadratic in the worst case: compare at most this much
MAX_DIFF_LINES = 300
MAX_LINE_CHARS = 200
BOX = (
    "max-height: 32em; overflow: auto; border: 1px solid #ddd; border-radius: 4px; font-size: 12px"
)


class _DiffStyle(Style):
    """GitHub-like line colors: a diff reads at a glance without knowing the syntax."""

    background_color = "#ffffff"
    styles = {  # noqa: RUF012 (pygments reads it as a class attribute)
        Generic.Inserted: "bg:#e6ffec #116329",
        Generic.Deleted: "bg:#ffebe9 #82071e",
        Generic.Heading: "bold #57606a",
        Generic.Subheading: "#8250df",
    }


_FORMATTER = HtmlFormatter(noclasses=True, style=_DiffStyle)


def diff_lines(old: str, new: str, *, old_label: str, new_label: str) -> list[str]:
    """The unified diff's lines (three lines of context), each cut to a readable length."""
    lines = difflib.unified_diff(
        old.splitlines()[:MAX_SOURCE_LINES],
        new.splitlines()[:MAX_SOURCE_LINES],
        _one_line(old_label),
        _one_line(new_label),
        lineterm="",
    )
    return [_clip(line) for line in lines]


def diff_html(old: str, new: str, *, old_label: str, new_label: str) -> str:
    """`new` against `old` as highlighted HTML, at most `MAX_DIFF_LINES` lines of it."""
    lines = diff_lines(old, new, old_label=old_label, new_label=new_label)
    if not lines:
        return (
            '<div style="color: #57606a; font-style: italic">no changes: '
            f"{html.escape(new_label)} is the same source as {html.escape(old_label)}</div>"
        )
    added = sum(1 for s in lines[2:] if s.startswith("+"))
    removed = sum(1 for s in lines[2:] if s.startswith("-"))
    shown = lines[:MAX_DIFF_LINES]
    body = highlight("\n".join(shown) + "\n", DiffLexer(), _FORMATTER)
    notes = [f"+{added} −{removed} lines"]
    if len(lines) > len(shown):
        notes.append(f"{len(lines) - len(shown)} more diff lines not shown")
    if max(len(old.splitlines()), len(new.splitlines())) > MAX_SOURCE_LINES:
        notes.append(f"only the first {MAX_SOURCE_LINES} source lines compared")
    summary = html.escape("; ".join(notes))
    return (
        f'<div style="{BOX}">{body}</div>'
        f'<div style="color: #57606a; font-size: 11px">{summary}</div>'
    )


def _one_line(label: str) -> str:
    return " ".join(label.split()) or "source"


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"

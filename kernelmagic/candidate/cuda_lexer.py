"""Where the comments, string literals and preprocessor lines of CUDA C source are.

The one C lexer of kernelmagic: the kernel reader, the `#include` check, the tunables
finder and the reply reader all ask it, so that none of them can take a comment for code
(or code for a comment) where another would not. It keeps every offset and line break, so
that what it finds can be edited in the original source; CRLF line endings are line
endings, as they are to the compiler.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Literal

Lexeme = Literal["line", "block", "string"]  # a // comment, a /* */ comment, a literal
COMMENTS: tuple[Lexeme, ...] = ("line", "block")
NOT_CODE: tuple[Lexeme, ...] = ("line", "block", "string")

# Comments, pp-numbers (so the digit separator in 1'000 starts no char literal) and
# string/char literals, raw strings included. `//` comments continue over line splices.
_LEXEMES = re.compile(
    r"""(?P<line>//(?:\\\r?\n|[^\r\n])*)
      | (?P<block>/\*.*?(?:\*/|\Z))
      | (?P<number>\b\d(?:'?[\w.])*)
      | (?P<string>R"(?P<delim>[^()\\\s"]{0,16})\(.*?\)(?P=delim)"
                  |"(?:\\.|[^"\\\r\n])*"?|'(?:\\.|[^'\\\r\n])*'?)""",
    re.S | re.X,
)
_PREPROCESSOR_LINE = re.compile(r"^[ \t]*(?:#|%:|\?\?=).*?(?:\\\r?\n.*?)*$", re.M)


def _blank(text: str) -> str:
    return re.sub(r"[^\r\n]", " ", text)


def mask(source: str, kinds: Collection[Lexeme]) -> str:
    """`source` with the lexemes of `kinds` blanked, keeping every offset and line break."""

    def blank(match: re.Match[str]) -> str:
        return _blank(match.group()) if match.lastgroup in kinds else match.group()

    return _LEXEMES.sub(blank, source)


def code(source: str) -> str:
    """Source with comments, literals and preprocessor lines blanked: just C++ tokens."""
    return _PREPROCESSOR_LINE.sub(lambda m: _blank(m.group()), mask(source, NOT_CODE))


def line_comments(source: str) -> Iterator[tuple[int, str]]:
    """(offset, text) of each `//` comment that really is one (not inside another or a
    string literal)."""
    for lexeme in _LEXEMES.finditer(source):
        if lexeme.lastgroup == "line":
            yield lexeme.start(), lexeme.group()


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each line after joining backslash continuations."""
    pending: list[str] = []
    start = 1
    for number, line in enumerate(text.split("\n"), start=1):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        yield start, "".join([*pending, line])
        pending = []
    if pending:
        yield start, "".join(pending)

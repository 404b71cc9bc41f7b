"""Counts and cut lines in words, for every message a user reads: "1 accepted step".

One rule for plurals, so that no message says "1 rounds" where a count happens to be one,
and one for cutting a line to fit, so that no column ends in half a word. At the top of the
package, like `_redact`: the loop's messages need it as much as the views.
"""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, in the plural (`plural`, else noun + "s") unless `n` is one."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def clip_words(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else the words that fit and an ellipsis
    (cut inside a word only when one word would leave less than half the room)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"

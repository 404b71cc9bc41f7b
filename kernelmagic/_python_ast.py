"""Python source parsed into an AST safely while other threads parse too.

CPython 3.11 and 3.12 keep one recursion counter per interpreter for building AST
objects (gh-106905). When a parse is paused halfway, for instance while the garbage
collector runs a finalizer, and another thread parses in that pause, one of the two
fails with "SystemError: AST constructor recursion depth mismatch". kernelmagic parses
candidates on several evaluation threads at once, beside the notebook's own parsing, so
every parse of kernelmagic goes through here: one lock keeps its own threads apart, and
the collector is held off for the parse so this thread never pauses inside one.
"""

from __future__ import annotations

import ast
import gc
import threading
from typing import Any, Literal

_LOCK = threading.Lock()


def parse(source: str, mode: Literal["exec", "eval"] = "exec", filename: str = "<unknown>") -> Any:
    """`ast.parse(source, filename, mode)`, never interleaved with another parse of this process."""
    with _LOCK:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return ast.parse(source, filename, mode)
        finally:
            if collecting:
                gc.enable()


def literal_eval(text: str) -> Any:
    """`ast.literal_eval(text)`, parsed through `parse`."""
    return ast.literal_eval(parse(text.lstrip(" \t"), mode="eval"))

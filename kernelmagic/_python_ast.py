"""Python source parsed into an AST safely while other threads parse too.

CPython 3.11 and 3.12 keep one recursion counter per interpreter for building AST
objects (gh-106905). When a parse is paused halfway, for instance while the garbage
collector runs a finalizer, and another thread parses in that pause, one of the two
fails with "SystemError: AST constructor recursion depth mismatch". kernelmagic parses
candidates on several evaluation threads at once, while the notebook parses the cells the
user runs, so every parse of kernelmagic goes through here, and the extension puts
IPython's cell parsing through here too (`guard`): one lock keeps them apart, and the
collector is held off for each parse so that none pauses inside one.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

_LOCK = threading.Lock()
_F = TypeVar("_F", bound=Callable[..., Any])


@contextlib.contextmanager
def _alone() -> Iterator[None]:
    with _LOCK:
        collecting = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if collecting:
                gc.enable()


def parse(source: str, mode: Literal["exec", "eval"] = "exec", filename: str = "<unknown>") -> Any:
    """`ast.parse(source, filename, mode)`, never interleaved with another guarded parse.

    Source that cannot be parsed raises SyntaxError whatever the reason: CPython raises
    RecursionError (or MemoryError) for an expression nested thousands deep, and ValueError
    for a null byte, which callers expecting SyntaxError let through as a traceback.
    """
    with _alone():
        try:
            return ast.parse(source, filename, mode)
        except (RecursionError, MemoryError):
            raise SyntaxError("it is nested too deeply to parse", (filename, 1, 1, "")) from None
        except ValueError as exc:  # "source code string cannot contain null bytes"
            raise SyntaxError(str(exc), (filename, 1, 1, "")) from None


def literal_eval(text: str) -> Any:
    """`ast.literal_eval(text)`, parsed through `parse`."""
    return ast.literal_eval(parse(text.lstrip(" \t"), mode="eval"))


def guard(parser: _F) -> _F:
    """`parser` (a function that parses, such as IPython's `ast_parse`), run as `parse` is;
    guarding a guarded one returns it as it is."""
    if getattr(parser, "_kernelmagic_guarded", False):
        return parser

    @functools.wraps(parser)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        with _alone():
            return parser(*args, **kwargs)

    guarded._kernelmagic_guarded = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]

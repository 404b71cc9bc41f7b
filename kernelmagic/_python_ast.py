"""Python source parsed into an AST safely while other threads parse too.

CPython 3.11 and 3.12 keep one recursion counter per interpreter for building AST
objects (gh-106905). When a parse is paused halfway, for instance while the garbage
collector runs a finalizer, and another thread parses in that pause, one of the two
fails with "SystemError: AST constructor recursion depth mismatch". kernelmagic parses
candidates on several evaluation threads at once, while the notebook parses the cells the
user runs, so every parse of kernelmagic goes through here, and the extension puts
IPython's cell parsing through here too (`guard`): one lock keeps them apart, and the
collector is held off for each parse so that none pauses inside one.

How deep source may nest is kernelmagic's own rule (`MAX_DEPTH`), not the interpreter's:
CPython 3.11 and 3.12 refuse a sum 3,000 terms long, 3.13 takes it, and the recursive
walks that follow a parse (the safety rules, `ast.unparse`) fail far sooner.
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

MAX_DEPTH = 200
"""Levels of syntax nodes a parsed source may have: Python's own cap on nested brackets,
ten times what real kernels reach, and safe for walks that recurse a few frames a level."""


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
    for a null byte, which callers expecting SyntaxError let through as a traceback. Source
    nested deeper than `MAX_DEPTH` raises SyntaxError too, on every Python version.
    """
    with _alone():
        try:
            tree = ast.parse(source, filename, mode)
        except (RecursionError, MemoryError):
            raise SyntaxError(
                "it is nested too deeply (deeper than Python parses here)",
                (filename, None, None, None),
            ) from None
        except ValueError as exc:  # "source code string cannot contain null bytes"
            raise SyntaxError(str(exc), (filename, None, None, None)) from None
        depth, line, column = _deepest(source, mode)
    if depth > MAX_DEPTH:
        text = source.splitlines()[line - 1] if line else None
        raise SyntaxError(
            f"it is nested too deeply ({depth:,} levels; kernelmagic reads at most {MAX_DEPTH})",
            (filename, line or None, column + 1 if line else None, text),
        )
    return tree


@functools.lru_cache(maxsize=64)
def _deepest(source: str, mode: str) -> tuple[int, int, int]:
    """How many levels `source`'s tree has, with the line and column of its deepest node
    (0, 0 where it has none): a second parse, once per distinct source."""
    deepest, line, column = 0, 0, 0
    stack: list[tuple[ast.AST, int, int, int]] = [(ast.parse(source, mode=mode), 1, 0, 0)]
    while stack:
        node, depth, at_line, at_column = stack.pop()
        at_line = getattr(node, "lineno", at_line)  # operators and contexts have none
        at_column = getattr(node, "col_offset", at_column)
        if depth > deepest:
            deepest, line, column = depth, at_line, at_column
        stack.extend((child, depth + 1, at_line, at_column) for child in ast.iter_child_nodes(node))
    return deepest, line, column


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

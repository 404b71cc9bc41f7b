"""One option's declaration: its flags, value, default, help and where it applies.

The options themselves are `kernelmagic._options.OPTIONS`.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any, Literal, cast, get_args

# Where an option applies: a `kernelmagic` command, one of the two magics, or `config`
# (a trait of the `CudaOptimize` class, the default of the magic's option).
Scope = Literal["check", "optimize", "sessions", "export", "magic", "magic_export", "config"]
COMMANDS: tuple[Scope, ...] = ("check", "optimize", "sessions", "export")

# The headings options are listed under in --help (None: the parser's own "options").
PROBLEM, CANDIDATE, RUNS, LOOP, NOTEBOOK = (
    "problem",
    "candidate",
    "where it runs",
    "the loop",
    "the notebook",
)
TERMINAL = "check optimize"  # the commands that take a problem and a candidate
EVERYWHERE = "check optimize magic"


@dataclasses.dataclass(frozen=True)
class Option:
    """One option: its flags (a positional's name), value, default, help and scopes.

    `required_in` lists the scopes where it must be given (a positional is optional, `?`,
    elsewhere). `group` is the heading it is listed under in `--help`. `doc` and
    `default_doc` are the docs table's longer words for the meaning and the default.
    """

    flags: tuple[str, ...]
    help: str | None
    where: frozenset[Scope]
    type: Callable[[str], Any] = str
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    action: Literal["store", "store_true", "append"] = "store"
    required_in: frozenset[Scope] = frozenset()
    group: str | None = None
    doc: str | None = None
    default_doc: str | None = None
    name: str | None = None  # only for an option without flags (a trait alone)

    @property
    def dest(self) -> str:
        """The attribute the parsed value lands in, and the trait's name."""
        if self.name is not None:
            return self.name
        if self.positional:
            return self.flags[0]
        return self.flags[-1].lstrip("-").replace("-", "_")

    @property
    def positional(self) -> bool:
        return bool(self.flags) and not self.flags[0].startswith("-")


def option(*flags: str, where: str, help: str | None = None, **fields: Any) -> Option:
    """An `Option` with its scopes written as words: ``where="check optimize magic"``."""
    required = scopes(fields.pop("required_in", ""))
    return Option(flags, help, scopes(where), required_in=required, **fields)


def scopes(words: str) -> frozenset[Scope]:
    """The scopes named in `words`; a misspelt one fails at import, not silently."""
    named = frozenset(words.split())
    unknown = named - set(get_args(Scope))
    if unknown:
        raise ValueError(f"unknown option scopes: {sorted(unknown)}")
    return cast("frozenset[Scope]", named)


def size_list(text: str) -> tuple[int, ...]:
    """`--sizes 1024,65536,1_048_576`: positive whole numbers, comma-separated."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        sizes = ()
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of sizes: write positive whole numbers separated by "
            "commas, e.g. 1024,65536,1048576"
        )
    return sizes

"""What the tunable finders share: the `Tunable` record, how a feature writes its values, and
the rules every language follows. Its own module so that `tunables` can import the
language finders and they can import this, without a cycle."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from kernelmagic.errors import CandidateError

Value = int | float | bool | None

BLOCK_SIZES = (32, 64, 128, 256, 512, 1024)
REGISTER_CAPS: tuple[int | None, ...] = (None, 32, 64, 128)
FAST_MATH = "-use_fast_math"  # option tunables are named as flags: no identifier collides
REGISTERS = "-maxrregcount"
EXAMPLE = (
    "mark a constant tunable with the values to try, e.g. "
    "`BLOCK = 128  # kernelmagic: tune 64, 128, 256` (Python) or "
    "`#define TILE 16 // kernelmagic: tune 8, 16, 32` (CUDA C)"
)


@dataclasses.dataclass(frozen=True)
class Tunable:
    """One searchable feature: its name and the values to try, the original among them."""

    name: str
    values: tuple[Value, ...]
    original: Value
    where: str  # for people: "line 12", "the launch of saxpy_kernel (line 14)"


Edit = tuple[int, int, str]  # replace source[start:end] with the text


@dataclasses.dataclass(frozen=True)
class Feature:
    """A tunable and how to write a value of it: source edits, compile options, or both."""

    tunable: Tunable
    edits: Callable[[Any], list[Edit]] = lambda value: []
    options: Callable[[tuple[str, ...], Any], tuple[str, ...]] | None = None
    marked: bool = False  # by the user, with a marker comment


def typed_values(
    values: Sequence[Value], original: Value, line: int, name: str
) -> tuple[Value, ...]:
    """Marker values as the constant's type, without repeats, the original included."""
    kind = type(original)
    out: list[Value] = []
    for value in values:
        value = float(value) if kind is float and type(value) is int else value
        if type(value) is not kind:
            kinds = {bool: "a bool", int: "an int", float: "a float"}
            raise CandidateError(
                f"line {line}: {name} is {kinds[kind]} but the tune marker lists {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise CandidateError(f"line {line}: {value!r} in the tune marker is not finite")
        out += [] if value in out else [value]
    return (*out, original) if original not in out else tuple(out)


def block_sizes(original: int) -> tuple[Value, ...]:
    """The block sizes a launch is searched over: the powers of two and its own."""
    return tuple(sorted({*BLOCK_SIZES, original}))


def lines(source: str) -> Iterator[tuple[int, int, str]]:
    """(number, offset, text without its end) of each line."""
    offset = 0
    for number, line in enumerate(re.split(r"(?<=\r\n)|(?<=\n)|(?<=\r)(?!\n)", source), 1):
        yield number, offset, line.rstrip("\r\n")
        offset += len(line)

"""A candidate's tunable features, found in its source and rewritten: what `search` searches.

A constant is tunable when a marker comment lists the values to try (its own value is
always one of them; every value is a literal of the constant's type):

    BLOCK = 128  # kernelmagic: tune 64, 128, 256           Python (also `tune [64, 128]`)
    #define TILE 16 // kernelmagic: tune 8, 16, 32          CUDA C
    constexpr int TILE = 16; // kernelmagic: tune 8, 16, 32 CUDA C (also const int,
                                                            static constexpr, float...)

Python markers sit on an assignment of an int, float or bool literal to a plain name, at
module level or in a function. A CUDA C marker is a `//` comment of its own: inside a
``/* ... */`` comment, another comment or a string it is text. A marker that cannot be
followed (values that are not literals or not of the constant's type, no constant on its
line, a name marked twice) raises `CandidateError` naming the line: searching without it
would quietly ignore what the user asked for.

Found without a marker, and searched over the powers of two 32..1024 (plus the original):

* the block size of a numba launch ``kernel[blocks, threads](...)`` in a host function,
  when it is an int literal or a name bound once to one, in the function or the module
  (``threads = 256``). Literals equal to the block size, or to one less, in the grid
  expression (or in the one assignment of the grid's name) change with it, so that
  ``(n + 255) // 256`` stays a ceiling division;
* the block size of CUDA C, from the ``// kernelmagic: grid=...; block=...`` directive or
  the candidate's `block`, when it is an integer literal; the grid expression changes
  with it by the same rule (``cdiv(n, 256)``). New values go into the directive, which
  the harness prefers over the candidate's fields, so the source carries its launch
  wherever it is copied.

  A block size is not searched when the kernel is written for it: when its device code
  reads that number (``cuda.shared.array(256, float32)``, ``__shared__ float tile[256]``,
  ``__launch_bounds__(256)``, a name or constant bound to 256) or, in CUDA C, the dynamic
  shared-memory size does. Other sizes would only give wrong or crashing variants; a
  marker on the constant searches it anyway;
* CUDA C compile options: ``-use_fast_math`` on or off and a ``-maxrregcount`` cap (none,
  32, 64, 128), merged with the candidate's own compile options. An option set in the
  source's directive is the author's fixed choice and is not searched.

`apply` with the original values returns the candidate unchanged, byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kernelmagic.candidate import Candidate
from kernelmagic.errors import CandidateError
from kernelmagic.loop.proposers import _tunables_cuda as tunables_cuda
from kernelmagic.loop.proposers import _tunables_python as tunables_python
from kernelmagic.loop.proposers._tunables_base import (
    BLOCK_SIZES,
    EXAMPLE,
    FAST_MATH,
    REGISTER_CAPS,
    REGISTERS,
    Edit,
    Feature,
    Tunable,
    Value,
)

__all__ = [
    "BLOCK_SIZES",
    "EXAMPLE",
    "FAST_MATH",
    "REGISTERS",
    "REGISTER_CAPS",
    "Tunable",
    "Value",
    "apply",
    "describe",
    "find",
]


def find(candidate: Candidate) -> tuple[Tunable, ...]:
    """The candidate's tunable features; raises CandidateError for a marker it cannot follow."""
    return tuple(feature.tunable for feature in _features(candidate))


def apply(candidate: Candidate, params: Mapping[str, Any]) -> Candidate:
    """The candidate with `params` written in; tunables not named keep their values."""
    features = _features(candidate)
    unknown = sorted(set(params) - {f.tunable.name for f in features})
    if unknown:
        raise ValueError(f"no tunable named {', '.join(unknown)} in the candidate")
    edits: list[Edit] = []
    options = candidate.compile_options
    for feature in features:
        tunable = feature.tunable
        wanted = params.get(tunable.name, tunable.original)
        matches = [v for v in tunable.values if v == wanted]  # as the tunable's own type
        if not matches:
            raise ValueError(f"{wanted!r} is not a value of {tunable.name} {tunable.values}")
        if matches[0] == tunable.original:
            continue  # untouched, so the original values give the original bytes
        edits += feature.edits(matches[0])
        if feature.options is not None:
            options = feature.options(options, matches[0])
    source = candidate.source
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    if source == candidate.source and options == candidate.compile_options:
        return candidate
    return dataclasses.replace(candidate, source=source, compile_options=options)


def describe(tunable: Tunable, value: Value) -> str:
    """A value as people write it: "threads=128", "-use_fast_math", "no -maxrregcount"."""
    if tunable.name == FAST_MATH:
        return FAST_MATH if value else f"no {FAST_MATH}"
    if tunable.name == REGISTERS and value is None:
        return f"no {REGISTERS}"
    return f"{tunable.name}={value}"


def _features(candidate: Candidate) -> list[Feature]:
    language = tunables_cuda if candidate.kind == "cuda_c" else tunables_python
    found = language.features(candidate)
    marked: dict[str, str] = {}
    for tunable in (f.tunable for f in found if f.marked):
        if tunable.name in marked:
            also = marked[tunable.name]
            raise CandidateError(f"{tunable.where}: {tunable.name} is marked twice (also {also})")
        marked[tunable.name] = tunable.where
    unique: list[Feature] = []
    for feature in found:  # an unmarked feature yields its name to a marked one: "block_2"
        name, n = feature.tunable.name, 1
        while name in {u.tunable.name for u in unique} or (not feature.marked and name in marked):
            n += 1
            name = f"{feature.tunable.name}_{n}"
        unique.append(
            dataclasses.replace(feature, tunable=dataclasses.replace(feature.tunable, name=name))
        )
    return unique

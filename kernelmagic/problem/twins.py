"""A case's twin: inputs of the same shapes with other values, run beside the case.

A twin leaves nothing keyed on the size, the shape or a pointer that could pass: a table
of answers by size, a cache by shape. Only the calling process makes twins (they need the
reference's answers).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from kernelmagic.errors import ProblemError
from kernelmagic.problem import (
    SEED_RANGE,
    TIMING_SEED_BASE,
    Case,
    Inputs,
    Problem,
    draw_inputs,
    run_reference,
)

TWIN_TRIES = 8


def twin_case(
    problem: Problem, case: Case, *, timing: bool = False, for_timing: bool = False
) -> Case | None:
    """A case with the same shapes as `case` and other values, or None if none can be made.

    Run beside the case, it leaves nothing keyed on the size, the shape or a pointer that
    could pass: a table of answers by size, a cache by shape. Tried in order: another seed
    whose inputs have the same shapes (the generator's own values); the case's arrays
    shuffled; values of another seed's arrays laid out in the case's shapes. A twin must
    change the expected answer (a shuffle does not change a sum) and the reference must
    accept it. Twin seeds lie past the seeds cases are drawn from, so a twin is never a
    case the candidate saw. Derived from the case's seed alone: a stored seed reproduces
    its twin. `timing`: a twin of a `timing_inputs` case; `for_timing`: a twin a timing set
    gets, drawn apart from the cases' twins (a timing set can share a case's seed).
    """
    if not problem.twins:
        return None
    rng = random.Random(f"{'timing ' if for_timing else ''}twin of {case.seed}")
    base = case.seed - case.seed % TIMING_SEED_BASE if case.seed >= TIMING_SEED_BASE else 0
    base += 2 * SEED_RANGE if for_timing else SEED_RANGE
    first: Inputs | None = None
    same: Inputs | None = None
    for _ in range(TWIN_TRIES):  # one draw at a time: timing inputs can be large
        seed = base + rng.randrange(SEED_RANGE)
        other = draw_inputs(problem, seed, timing=timing, size=case.size)
        first = first or other
        if _same_layout(other, case.inputs):
            same = other
            break
    made: list[tuple[Callable[[], Inputs | None], str]] = [
        (lambda: same, "another seed's inputs of the same shapes"),
        (lambda: _shuffled(case.inputs, rng), "its inputs shuffled"),
        (lambda: _laid_out(first or {}, case.inputs), "another seed's values in its shapes"),
    ]
    for make, how in made:
        inputs = make()
        if inputs is None or not _values_differ(inputs, case.inputs):
            continue
        try:
            expected = run_reference(problem.reference, inputs, case.seed)
        except ProblemError:
            continue  # the reference needs what these values broke: try the next way
        if any(not np.array_equal(a, b) for a, b in zip(expected, case.expected, strict=False)):
            twin = f"a twin: {how}"
            return Case(case.seed, inputs, expected, twin, scale=case.expected, size=case.size)
    return None


def _shuffled(inputs: Mapping[str, Any], rng: random.Random) -> Inputs:
    return {k: _permuted(v, rng) if _is_array(v) else v for k, v in inputs.items()}


def _laid_out(other: Mapping[str, Any], like: Mapping[str, Any]) -> Inputs | None:
    """`other`'s array values, repeated or cut to `like`'s shapes; `like`'s scalars."""
    laid: Inputs = {}
    for key, value in like.items():
        source = other.get(key)
        if not _is_array(value):
            laid[key] = value
        elif isinstance(source, np.ndarray) and source.dtype == value.dtype and source.size:
            laid[key] = np.resize(source.ravel(), value.shape)
        else:
            return None
    return laid


def _permuted(values: np.ndarray, rng: random.Random) -> np.ndarray:
    generator = np.random.default_rng(rng.randrange(2**32))
    return generator.permutation(values.ravel()).reshape(values.shape)


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.size > 1 and value.dtype.kind in "fciub"


def _same_layout(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, np.ndarray) != isinstance(other, np.ndarray):
            return False
        if isinstance(value, np.ndarray):
            if value.shape != other.shape or value.dtype != other.dtype:
                return False
        elif np.asarray(value).dtype.kind in "iub" and value != other:
            return False  # a size passed as a scalar must match too; other scalars may differ
    return True


def _values_differ(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return any(
        isinstance(v, np.ndarray) and not np.array_equal(v, b[k], equal_nan=v.dtype.kind in "fc")
        for k, v in a.items()
    )

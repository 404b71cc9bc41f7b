"""A problem: the reference that defines the right answer and the inputs to try it on.

The reference and the generator are the user's own functions; they run in the calling
process, never in a worker, so the expected answers never exist where a candidate runs.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import ProblemError
from .tolerance import Tolerance

Inputs = dict[str, Any]
Generator = Callable[[int], Mapping[str, Any]]
Work = str | float | Callable[[Mapping[str, Any]], float] | None

TIMING_SEED_BASE = 1000


@dataclasses.dataclass(frozen=True)
class Problem:
    """What a kernel must compute, and how it is checked.

    `inputs(seed)` returns the named inputs of one case; `cases` seeds are drawn for
    verification. `timing_inputs` (default: `inputs`) makes the inputs that are timed on
    the GPU, usually larger. `atol`/`rtol` override the dtype defaults. `bytes_moved` and
    `flops` (an expression over the inputs such as ``"3 * n * 4"``, a number, or a
    function of the inputs) give the roofline. `allowed_imports` extends the modules
    Python candidates may import.
    """

    reference: Callable[..., Any]
    inputs: Generator
    cases: int = 3
    atol: float | None = None
    rtol: float | None = None
    timing_inputs: Generator | None = None
    timing_sets: int = 3
    bytes_moved: Work = None
    flops: Work = None
    allowed_imports: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if not callable(self.reference):
            raise ProblemError(
                f"the reference must be a function, not {type(self.reference).__name__}"
            )
        if not callable(self.inputs):
            raise ProblemError(
                "the input generator must be a function inputs(seed), "
                f"not {type(self.inputs).__name__}"
            )
        if self.cases < 1:
            raise ProblemError("a problem needs at least one verification case")
        if self.timing_sets < 1:
            raise ProblemError("timing needs at least one input set")

    @property
    def title(self) -> str:
        return self.name or getattr(self.reference, "__name__", "problem")

    def verification_seeds(self) -> tuple[int, ...]:
        return tuple(range(self.cases))

    def timing_seeds(self) -> tuple[int, ...]:
        return tuple(range(TIMING_SEED_BASE, TIMING_SEED_BASE + self.timing_sets))

    def tolerance(self, expected: np.ndarray) -> Tolerance:
        default = Tolerance.default_for(expected.dtype, expected)
        return Tolerance(
            rtol=default.rtol if self.rtol is None else self.rtol,
            atol=default.atol if self.atol is None else self.atol,
        )


@dataclasses.dataclass(frozen=True)
class Case:
    """One set of inputs and the reference's answer for it (the answer stays in this process)."""

    seed: int
    inputs: Mapping[str, Any]
    expected: tuple[np.ndarray, ...]

    def describe(self) -> str:
        parts = []
        for name, value in self.inputs.items():
            if isinstance(value, np.ndarray):
                shape = "x".join(map(str, value.shape)) or "scalar"
                parts.append(f"{name}: {value.dtype}[{shape}]")
            else:
                parts.append(f"{name}={value!r}")
        return f"seed {self.seed} ({', '.join(parts)})"

    @property
    def output_specs(self) -> tuple[tuple[tuple[int, ...], str], ...]:
        """Shapes and dtypes of the outputs: all a worker may know of the answer."""
        return tuple((e.shape, e.dtype.str) for e in self.expected)


def make_case(problem: Problem, seed: int, *, timing: bool = False) -> Case:
    """Draw the inputs for `seed` and compute the expected outputs with the reference."""
    generator = (problem.timing_inputs or problem.inputs) if timing else problem.inputs
    inputs = _draw(generator, seed)
    expected = run_reference(problem.reference, inputs, seed)
    return Case(seed=seed, inputs=inputs, expected=expected)


def _draw(generator: Generator, seed: int) -> Inputs:
    name = getattr(generator, "__name__", "inputs")
    try:
        raw = generator(seed)
    except Exception as exc:
        raise ProblemError(f"{name}({seed}) raised {type(exc).__name__}: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ProblemError(
            f"{name}({seed}) must return a dict of named inputs, not {type(raw).__name__}"
        )
    inputs: Inputs = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ProblemError(
                f"{name}({seed}) returned an input named {key!r}: names must be identifiers"
            )
        inputs[key] = _check_input(name, seed, key, value)
    if not inputs:
        raise ProblemError(f"{name}({seed}) returned no inputs")
    return inputs


def _check_input(generator: str, seed: int, key: str, value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc" and value.dtype.name != "bfloat16":
            raise ProblemError(
                f"{generator}({seed})[{key!r}] has dtype {value.dtype}: "
                "inputs must be numeric arrays"
            )
        # A private read-only copy: nothing the reference or a caller does can change it.
        arr = np.ascontiguousarray(value).copy()
        arr.flags.writeable = False
        return arr
    if isinstance(value, (bool, int, float, np.generic)) and not isinstance(value, np.void):
        return value
    raise ProblemError(
        f"{generator}({seed})[{key!r}] is a {type(value).__name__}: inputs must be NumPy arrays, "
        "ints or floats"
    )


def run_reference(
    reference: Callable[..., Any], inputs: Mapping[str, Any], seed: int
) -> tuple[np.ndarray, ...]:
    """Call the reference with the inputs it names; return its outputs as arrays."""
    name = getattr(reference, "__name__", "reference")
    kwargs = select_arguments(reference, inputs, what="reference")
    # The reference gets writable copies so that an in-place reference cannot alter the case.
    kwargs = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    try:
        result = reference(**kwargs)
    except Exception as exc:
        raise ProblemError(f"{name} raised {type(exc).__name__} on seed {seed}: {exc}") from None
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    arrays = []
    for i, out in enumerate(outputs):
        arr = np.asarray(out)
        if arr.dtype.kind not in "biufc" and arr.dtype.name != "bfloat16":
            raise ProblemError(
                f"{name} returned {type(out).__name__} as output {i}: the reference must return a "
                "NumPy array or a tuple of arrays"
            )
        if arr.dtype.kind in "fc" and np.isnan(arr).any():
            where = np.argwhere(np.isnan(arr))[0].tolist()
            raise ProblemError(
                f"{name} returned NaN at index {where} of output {i} for seed {seed}: NaN never "
                "matches anything, so no kernel could pass; make inputs(seed) avoid it"
            )
        arr = arr.copy()
        arr.flags.writeable = False
        arrays.append(arr)
    if not arrays:
        raise ProblemError(f"{name} returned no outputs")
    return tuple(arrays)


def select_arguments(
    fn: Callable[..., Any], inputs: Mapping[str, Any], *, what: str
) -> dict[str, Any]:
    """The inputs that `fn` takes by name (all of them if it takes **kwargs)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return dict(inputs)
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return dict(inputs)
    chosen: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            raise ProblemError(
                f"the {what} must take its inputs by name, not *{p.name} or positional-only"
            )
        if p.name in inputs:
            chosen[p.name] = inputs[p.name]
        elif p.default is p.empty:
            raise ProblemError(
                f"the {what} takes '{p.name}' but the inputs give only {', '.join(inputs)}"
            )
    return chosen


def problem_warnings(problem: Problem, cases: list[Case]) -> tuple[str, ...]:
    """What about the cases would let a wrong kernel pass; raises for a degenerate problem."""
    warnings = []
    for k in range(len(cases[0].expected)):
        values = [c.expected[k] for c in cases if k < len(c.expected)]
        first = values[0].ravel()[:1]
        if first.size and all(v.size and np.all(v == first[0]) for v in values):
            raise ProblemError(
                f"output {k} of {problem.title} is {first[0]!r} everywhere in every case: "
                "a kernel that only writes that constant would pass; "
                "make inputs(seed) give varied values"
            )
    shapes = {
        tuple(sorted((n, v.shape) for n, v in c.inputs.items() if isinstance(v, np.ndarray)))
        for c in cases
    }
    if len(cases) > 1 and len(shapes) == 1:
        warnings.append(
            "every case has the same input shapes: a kernel that hard-codes the size would pass; "
            "let inputs(seed) vary the sizes"
        )
    sizes = [
        v.size for c in cases for v in c.inputs.values() if isinstance(v, np.ndarray) and v.size > 1
    ]
    if sizes and all(s % 32 == 0 for s in sizes):
        warnings.append(
            "every input size is a multiple of 32: a kernel without bounds checks would pass; "
            "include sizes that are not"
        )
    return tuple(warnings)

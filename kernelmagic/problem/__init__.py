"""A problem: the reference that defines the right answer and the inputs to try it on.

The reference and the generator are the user's own functions; they run in the calling
process, never in a worker, so the expected answers never exist where a candidate runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from kernelmagic.errors import USER_CODE_FAILURES, ProblemError, described
from kernelmagic.problem.tolerance import Tolerance

Inputs = dict[str, Any]
Generator = Callable[..., Mapping[str, Any]]  # inputs(seed), or (seed, size=n)
Work = str | float | Callable[[Mapping[str, Any]], float] | None

TIMING_SEED_BASE = 1000
# Seeds are drawn per evaluation from this range: generators are written for small seeds
# (sizes often grow with them), and a range this wide is no table a kernel could carry.
SEED_RANGE = 100


@dataclasses.dataclass(frozen=True)
class Problem:
    """What a kernel must compute, and how it is checked.

    `inputs(seed)` returns the named inputs of one case; `cases` seeds are drawn for
    verification. `timing_inputs` (default: `inputs`) makes the inputs that are timed on
    the GPU, usually larger. `atol`/`rtol` override the dtype defaults. `bytes_moved` and
    `flops` (an expression over the inputs such as ``"3 * n * 4"``, a number, or a
    function of the inputs) give the roofline. `allowed_imports` extends the modules
    Python candidates may import. `sizes` states the sizes the user cares about: one timing
    set per size, made by the timing generator called as ``timing_inputs(seed, size=n)``,
    so that the final comparison shows the best kernel against the user's at each.
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
    seeds: tuple[int, ...] | None = None
    twins: bool = True
    sizes: tuple[int, ...] = ()

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
        if self.seeds is None and self.cases > SEED_RANGE:
            raise ProblemError(
                f"at most {SEED_RANGE} verification cases are drawn (seeds 0-{SEED_RANGE - 1}), "
                f"not {self.cases}; state more seeds with seeds=(...) instead"
            )
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value >= 0):
                raise ProblemError(f"{name} must be a number of at least 0, not {value!r}")
            if value is not None and not math.isfinite(value):
                raise ProblemError(f"{name} must be finite, not {value!r}")
        if self.timing_sets < 1:
            raise ProblemError("timing needs at least one input set")
        if self.seeds is not None and len(set(self.seeds)) != len(self.seeds):
            raise ProblemError(f"the verification seeds must differ: {self.seeds}")
        if self.sizes:
            _check_sizes(self.sizes, self.timing_inputs or self.inputs)

    @property
    def timing_set_count(self) -> int:
        """How many timing sets there are: one per stated size, else `timing_sets`."""
        return len(self.sizes) or self.timing_sets

    @property
    def title(self) -> str:
        """What is tuned: the name given, else the reference's, read by `tuning_title`."""
        return self.name or tuning_title(getattr(self.reference, "__name__", ""))

    def verification_seeds(self, rng: random.Random | None = None) -> tuple[int, ...]:
        """The stated seeds, or `cases` distinct seeds drawn with `rng` (unpredictable)."""
        if self.seeds is not None:
            return self.seeds
        return tuple((rng or random.SystemRandom()).sample(range(SEED_RANGE), self.cases))

    def timing_seeds(
        self, rng: random.Random | None = None, *, small: bool = False
    ) -> tuple[int, ...]:
        """Seeds for the timing sets: drawn once per harness, so no kernel can know them.

        `small` draws them from the verification range, for the simulator, which times on
        `inputs` and must not be handed the sizes a generator gives large seeds.
        """
        base = 0 if small else TIMING_SEED_BASE
        span = SEED_RANGE if small else 1000
        count = min(self.timing_set_count, span)
        picked = (rng or random.SystemRandom()).sample(range(span), count)
        return tuple(base + s for s in picked)

    def tolerance(self, expected: np.ndarray, *more: np.ndarray) -> Tolerance:
        """The tolerance for an output like `expected`, scaled to it and to `more` (a twin's
        case's answer), unless the user set it."""
        default = Tolerance.default_for(expected.dtype, expected, *more)
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
    twin: str | None = None  # how this twin's values were made, for a case's twin
    # A twin is held to its case's tolerance: the same kind of data, whatever values it drew
    # (another seed's values can happen to cancel in a sum).
    scale: tuple[np.ndarray, ...] | None = None
    size: int | None = None  # the stated size it was made for (`Problem.sizes`)

    def tolerance_basis(self, index: int) -> tuple[np.ndarray, ...]:
        """What the tolerance of output `index` is scaled to: for a twin, the larger of its
        own answer and its case's."""
        own = self.expected[index]
        return (own, self.scale[index]) if self.scale else (own,)

    def describe(self) -> str:
        parts = []
        for name, value in self.inputs.items():
            if isinstance(value, np.ndarray):
                shape = "x".join(map(str, value.shape)) or "scalar"
                parts.append(f"{name}: {value.dtype}[{shape}]")
            else:
                parts.append(f"{name}={value!r}")
        origin = f", {self.twin}" if self.twin else ""
        return f"seed {self.seed}{origin} ({', '.join(parts)})"

    @property
    def output_specs(self) -> tuple[tuple[tuple[int, ...], str], ...]:
        """Shapes and dtypes of the outputs: all a worker may know of the answer."""
        return tuple((e.shape, e.dtype.str) for e in self.expected)


def make_case(
    problem: Problem, seed: int, *, timing: bool = False, size: int | None = None
) -> Case:
    """Draw the inputs for `seed` (at a stated `size`, from the timing generator) and
    compute the expected outputs with the reference."""
    return answered(problem, seed, draw_inputs(problem, seed, timing=timing, size=size), size)


def draw_inputs(
    problem: Problem, seed: int, *, timing: bool = False, size: int | None = None
) -> Inputs:
    """The generator's inputs for `seed`; a stated size is drawn by the timing generator."""
    generator = (problem.timing_inputs or problem.inputs) if timing or size else problem.inputs
    return _draw(generator, seed, size)


def answered(problem: Problem, seed: int, inputs: Inputs, size: int | None = None) -> Case:
    """The case of drawn `inputs`: the reference's answer for them."""
    expected = run_reference(problem.reference, inputs, seed)
    return Case(seed=seed, inputs=inputs, expected=expected, size=size)


def _check_sizes(sizes: tuple[int, ...], generator: Generator) -> None:
    """Stated sizes must be distinct positive whole numbers that the generator takes."""
    name = getattr(generator, "__name__", "inputs")
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in sizes):
        raise ProblemError(f"sizes must be positive whole numbers, not {list(sizes)}")
    if len(set(sizes)) != len(sizes):
        raise ProblemError(f"the stated sizes must differ: {list(sizes)}")
    try:
        params = inspect.signature(generator).parameters.values()
    except (TypeError, ValueError):
        return  # a builtin or C function: its call will say whether it takes a size
    if not any(p.name == "size" or p.kind is p.VAR_KEYWORD for p in params):
        raise ProblemError(
            f"stated sizes are drawn as {name}(seed, size=n), and {name} takes no 'size': "
            f"add one, for example def {name}(seed, size=4096)"
        )


def _draw(generator: Generator, seed: int, size: int | None = None) -> Inputs:
    name = getattr(generator, "__name__", "inputs")
    call = f"{name}({seed})" if size is None else f"{name}({seed}, size={size})"
    try:
        raw = generator(seed) if size is None else generator(seed, size=size)
    except USER_CODE_FAILURES as exc:
        raise ProblemError(f"{call} raised {described(exc)}") from None
    if not isinstance(raw, Mapping):
        raise ProblemError(f"{call} must return a dict of named inputs, not {type(raw).__name__}")
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
    except USER_CODE_FAILURES as exc:
        raise ProblemError(f"{name} raised {described(exc)} on seed {seed}") from None
    if isinstance(result, list) and not all(isinstance(out, np.ndarray) for out in result):
        # A list of numbers is one output written as a list, not that many outputs.
        raise ProblemError(
            f"{name} returned a list of {len(result)} values: return a NumPy array "
            "(np.asarray(...)) or a tuple of arrays, one per output"
        )
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    arrays = []
    for i, out in enumerate(outputs):
        try:
            arr = np.asarray(out)
        except (ValueError, TypeError) as exc:  # ragged nesting, say
            raise ProblemError(f"{name}'s output {i} is not an array: {described(exc)}") from None
        if arr.dtype.kind not in "biufc" and arr.dtype.name != "bfloat16":
            shown = (
                f"an array of dtype {arr.dtype}"
                if isinstance(out, np.ndarray)
                else (f"a {type(out).__name__}")
            )
            raise ProblemError(
                f"{name} returned {shown} as output {i}: outputs must be numeric NumPy arrays "
                "(bool, integer, floating or complex), one or a tuple of them"
            )
        if not arr.dtype.isnative:  # kernels write in the machine's byte order
            arr = arr.astype(arr.dtype.newbyteorder("="))
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


# Words of a reference's name that say it is the reference, not what it computes.
_REFERENCE_WORDS = frozenset({"ref", "reference", "numpy", "np"})


def tuning_title(name: str, kernel: str | None = None) -> str:
    """A session's title: what is being tuned, not that a reference defines it.

    `name` (the problem's or its reference's) without its reference words
    (`saxpy_reference`, `ref_softmax` -> "saxpy", "softmax"); where no other word is left
    (`reference`, `ref`, as notebooks name it), `kernel`: the kernel's own name.
    """
    words = [w for w in name.split("_") if w and w.lower() not in _REFERENCE_WORDS]
    return "_".join(words) or kernel or name or "problem"


def problem_warnings(problem: Problem, cases: list[Case]) -> tuple[str, ...]:
    """What about the cases would let a wrong kernel pass; raises for a degenerate problem."""
    warnings = []
    for k in range(len(cases[0].expected)):
        values = [c.expected[k] for c in cases if k < len(c.expected)]
        first = values[0].ravel()[:1]
        if first.size and all(v.size and np.all(v == first[0]) for v in values):
            raise ProblemError(
                f"output {k} of {getattr(problem.reference, '__name__', 'the reference')} is "
                f"{first[0]!r} everywhere in every case: "
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

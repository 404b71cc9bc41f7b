"""How close is close enough, and where exactly a result went wrong.

Defaults follow the dtype: float32 tight, float16/bfloat16 looser, integers and bools
exact. The absolute part of the tolerance is scaled by the size of the expected output,
so a kernel that writes zeros cannot pass an output whose values are all tiny (softmax
over 400k columns has values near 2.5e-6; an absolute 1e-4 lets zeros through). NaN never
matches anything, not even NaN.

Large outputs are checked in slices that fit in a CPU cache: every output of a GPU's
timing sets and their twins is judged here for every candidate, and the whole-array check
made some twenty passes over memory with 64 MB temporaries (about 100 ms for 16M float32
elements, 0.75 s for the SAXPY example's six).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

# dtype kind/name -> (rtol, atol as a fraction of the output's largest magnitude)
_DEFAULTS: dict[str, tuple[float, float]] = {
    "float16": (1e-2, 1e-2),
    "bfloat16": (2e-2, 2e-2),
    "float32": (1e-4, 1e-5),
    "float64": (1e-7, 1e-9),
}


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Elementwise |got - expected| <= atol + rtol * |expected|.

    `atol` given by the user is absolute; the default is relative to the largest
    finite magnitude in the expected output (see module docstring).
    """

    rtol: float
    atol: float

    @classmethod
    def default_for(cls, dtype: np.dtype, *basis: np.ndarray) -> Tolerance:
        """The default for outputs of `dtype`, its absolute part scaled to the largest finite
        magnitude in the `basis` arrays (the expected output, and a twin's case's)."""
        name = "bfloat16" if dtype.name == "bfloat16" else dtype.name
        if dtype.kind == "c":
            name = "float32" if dtype.itemsize <= 8 else "float64"
        if name not in _DEFAULTS:
            return cls(0.0, 0.0)  # integers, bools: exact
        rtol, atol_fraction = _DEFAULTS[name]
        scale = max((_largest_finite(chunk) for a in basis for chunk in _slices(a)), default=0.0)
        return cls(rtol, atol_fraction * scale)


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """The first place a result differs, and how much of it does."""

    index: tuple[int, ...]
    expected: object
    got: object
    count: int
    total: int
    max_abs_error: float | None

    def describe(self) -> str:
        where = "[" + ", ".join(map(str, self.index)) + "]" if self.index else "(scalar)"
        text = (
            f"first mismatch at index {where}: expected {_fmt(self.expected)}, "
            f"got {_fmt(self.got)}; {self.count} of {self.total} elements differ"
        )
        if self.max_abs_error is not None and np.isfinite(self.max_abs_error):
            text += f" (max abs error {self.max_abs_error:.3g})"
        return text


def compare(got: np.ndarray, expected: np.ndarray, tol: Tolerance | None = None) -> Mismatch | None:
    """None when `got` matches `expected` everywhere; shape and dtype are checked by the caller."""
    if tol is None:
        tol = Tolerance.default_for(expected.dtype, expected)
    count, at = 0, -1
    flat_got, flat_expected, step = got.reshape(-1), expected.reshape(-1), _step(expected)
    for start in range(0, flat_expected.size, step):
        end = start + step
        bad = mismatch_mask(flat_got[start:end], flat_expected[start:end], tol)
        found = int(np.count_nonzero(bad))
        if found and at < 0:
            at = start + int(np.argmax(bad))
        count += found
    if count == 0:
        return None
    first = tuple(int(i) for i in np.unravel_index(at, expected.shape)) if expected.ndim else ()
    max_err: float | None = None
    if expected.dtype.kind in "fc":
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(
                got.astype(np.complex128 if expected.dtype.kind == "c" else np.float64)
                - expected.astype(np.complex128 if expected.dtype.kind == "c" else np.float64)
            )
        finite = diff[np.isfinite(diff)]
        max_err = float(finite.max()) if finite.size else float("nan")
    return Mismatch(
        index=first,
        expected=expected[first].item() if first or expected.ndim == 0 else expected.item(),
        got=_element(got, first),
        count=count,
        total=int(expected.size),
        max_abs_error=max_err,
    )


def mismatch_mask(got: Any, expected: Any, tol: Tolerance, xp: Any = np) -> Any:
    """True where `got` is not close to `expected`; `xp` is NumPy, or CuPy for device arrays."""
    if expected.dtype.kind == "b" and got.dtype.kind == "b":
        # By their bytes: an element left unwritten holds a poison byte (0xFF, 0x7B), which
        # NumPy reads as True, so a kernel that writes only the False elements would pass.
        return xp.asarray(got.view(xp.uint8) != expected.view(xp.uint8))
    if expected.dtype.kind not in "fc":
        return xp.asarray(got != expected)
    # Half types are widened so rounding in the check itself is moot; float32 stays float32
    # (its rounding is far below any tolerance we use) to keep large outputs cheap to check.
    wide = (
        np.complex128 if expected.dtype.kind == "c" else np.result_type(expected.dtype, np.float32)
    )
    g = got.astype(wide, copy=False)
    e = expected.astype(wide, copy=False)
    quiet = np.errstate(invalid="ignore", over="ignore") if xp is np else contextlib.nullcontext()
    with quiet:
        bound = tol.atol + tol.rtol * xp.abs(e)
        within = xp.abs(g - e) <= bound  # False wherever either side is NaN
        if bool(xp.isfinite(bound).all()):  # so every expected value is finite
            return ~within
        # An infinite expected value would make rtol * |e| infinite: only equality counts there.
        close = xp.isfinite(e) & within
        # Matching infinities of the same sign are equal; NaN is never close to anything.
        same_inf = xp.isinf(e) & (g == e)
    return ~(close | same_inf) | xp.isnan(g) | xp.isnan(e)


# Bytes of one slice of an array being checked: its few temporaries then stay within even a
# small (256 KB) L2 cache. On a 2-core EPYC VM, 16M float32 elements took 18 ms in slices of
# 64 KB, 51 ms in slices of 256 KB and 44 ms whole.
_SLICE_BYTES = 1 << 16


def _step(a: np.ndarray) -> int:
    """Elements per slice of `a`: what is narrower than float32 is checked widened to it;
    exact types in one pass (`!=` makes no temporaries to keep in cache)."""
    if a.dtype.kind not in "fc":
        return max(a.size, 1)
    return _SLICE_BYTES // max(a.dtype.itemsize, 4)


def _slices(a: np.ndarray) -> Iterator[np.ndarray]:
    """`a` flattened, in slices (one, for a scalar; none when empty)."""
    flat, step = a.reshape(-1), _step(a)
    for start in range(0, flat.size, step):
        yield flat[start : start + step]


def _largest_finite(a: np.ndarray) -> float:
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = np.abs(a)
        largest = float(magnitude.max())
        if not np.isfinite(largest):  # an infinity or a NaN in this slice: skip them
            finite = magnitude[np.isfinite(magnitude)]
            largest = float(finite.max()) if finite.size else 0.0
    return largest


class _Said(str):
    """Text shown as it is where a value would be shown by its repr."""

    def __repr__(self) -> str:
        return str(self)


def _element(got: np.ndarray, index: tuple[int, ...]) -> object:
    """The value at `index`; for a bool that is neither 0 nor 1, its byte (a poison byte
    means the element was never written, which NumPy would show as True)."""
    if got.dtype.kind == "b":
        byte = int(got.view(np.uint8)[index])
        if byte > 1:
            return _Said(f"byte 0x{byte:02X}, not a bool (never written?)")
    return got[index].item()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)

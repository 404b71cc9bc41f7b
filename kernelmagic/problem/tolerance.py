"""How close is close enough, and where exactly a result went wrong.

Defaults follow the dtype: float32 tight, float16/bfloat16 looser, integers and bools
exact. The absolute part of the tolerance is scaled by the size of the expected output,
so a kernel that writes zeros cannot pass an output whose values are all tiny (softmax
over 400k columns has values near 2.5e-6; an absolute 1e-4 lets zeros through). NaN never
matches anything, not even NaN.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
    def default_for(cls, dtype: np.dtype, expected: np.ndarray) -> Tolerance:
        name = "bfloat16" if dtype.name == "bfloat16" else dtype.name
        if dtype.kind == "c":
            name = "float32" if dtype.itemsize <= 8 else "float64"
        if name not in _DEFAULTS:
            return cls(0.0, 0.0)  # integers, bools: exact
        rtol, atol_fraction = _DEFAULTS[name]
        finite = np.abs(expected[np.isfinite(expected)]) if expected.size else expected
        scale = float(finite.max()) if finite.size else 0.0
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
    bad = mismatch_mask(got, expected, tol)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return None
    first = (
        tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape)) if bad.ndim else ()
    )
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
        got=got[first].item() if first or got.ndim == 0 else got.item(),
        count=count,
        total=int(expected.size),
        max_abs_error=max_err,
    )


def mismatch_mask(got: Any, expected: Any, tol: Tolerance, xp: Any = np) -> Any:
    """True where `got` is not close to `expected`; `xp` is NumPy, or CuPy for device arrays."""
    if expected.dtype.kind not in "fc":
        return xp.asarray(got != expected)
    # Half types are widened so rounding in the check itself is moot; float32 stays float32
    # (its rounding is far below any tolerance we use) to keep large outputs cheap to check.
    wide = (
        np.complex128 if expected.dtype.kind == "c" else np.result_type(expected.dtype, np.float32)
    )
    g = got.astype(wide)
    e = expected.astype(wide)
    quiet = np.errstate(invalid="ignore", over="ignore") if xp is np else contextlib.nullcontext()
    with quiet:
        # An infinite expected value would make rtol * |e| infinite: only equality counts there.
        close = xp.isfinite(e) & (xp.abs(g - e) <= tol.atol + tol.rtol * xp.abs(e))
        # Matching infinities of the same sign are equal; NaN is never close to anything.
        same_inf = xp.isinf(e) & (g == e)
    return ~(close | same_inf) | xp.isnan(g) | xp.isnan(e)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)

"""What the harness asks of a device runtime (worker side), and the checks on the host.

Three runtimes implement `Runtime`: the numba-cuda simulator on the CPU (`_runtimes`),
numba-cuda and CuPy on a GPU (`_gpu_runtimes`). Each moves arrays, poisons buffers,
synchronizes the whole device, flushes L2 and times; `HostChecks` compares on the host.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from kernelmagic.harness.devices import DeviceInfo
from kernelmagic.problem.tolerance import Tolerance, compare


class Timer(Protocol):
    def start(self) -> None: ...
    def stop(self) -> float:
        """Milliseconds since start, after the device has finished everything."""
        ...


class Runtime(Protocol):
    name: str
    simulated: bool
    can_run: bool
    counts_launches: bool

    def device_info(self) -> DeviceInfo: ...
    def upload(self, host: np.ndarray) -> Any: ...
    def own(self, value: Any) -> bool:
        """Whether `value` is exactly an array type this runtime (or NumPy) makes."""
        ...

    def download(self, value: Any) -> np.ndarray:
        """A plain host copy of an `own` value, made by the harness's code alone."""
        ...

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Any: ...
    def fill_bytes(self, arr: Any, byte: int) -> None: ...
    def copy(self, dst: Any, src: Any) -> None: ...
    def scrub(self, nbytes: int, byte: int) -> None: ...
    def synchronize(self) -> None: ...
    def flush_l2(self) -> None: ...
    def timer(self) -> Timer: ...
    def keep(self, value: Any) -> Any:
        """A private copy of a result, kept where it lives, to compare later runs with."""
        ...

    def mismatches(self, got: Any, kept: Any, rtol: float, atol: float) -> int:
        """How many elements of `got` are not close to `kept` (NaN never is)."""
        ...

    def changed(self, a: Any, b: Any) -> int:
        """How many bytes differ between two arrays of the same shape and dtype."""
        ...

    def overrun(self, arr: Any) -> bool:
        """Whether a kernel wrote past the end of a buffer this runtime allocated."""
        ...

    def release(self) -> None:
        """Forget the buffers allocated for the job that just ended."""
        ...


class HostChecks:
    """Comparisons on the host: for the simulator, whose arrays live there anyway (and the
    GPU runtimes without CuPy)."""

    def _device_types(self) -> tuple[type, ...]:
        raise NotImplementedError

    def _device_copy(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def own(self, value: Any) -> bool:
        kind = type(value)
        if kind is np.ndarray:
            return not value.dtype.hasobject
        return kind in _SCALARS or kind in self._device_types()

    def download(self, value: Any) -> np.ndarray:
        # Exact types only, copied by the library's own class methods: a subclass, a masked
        # array or an object with the right attributes never runs its own code here.
        if not self.own(value):
            raise TypeError(f"a {type(value).__name__} is not an array")
        if type(value) is np.ndarray or type(value) in _SCALARS:
            return np.array(value)
        host = self._device_copy(value)
        if type(host) is not np.ndarray or host.dtype.hasobject:
            raise TypeError(f"a {type(value).__name__} holding {type(host).__name__}")
        return host

    def keep(self, value: Any) -> Any:
        return self.download(value)

    def mismatches(self, got: Any, kept: Any, rtol: float, atol: float) -> int:
        result = compare(self.download(got), kept, Tolerance(rtol, atol))
        return result.count if result else 0

    def changed(self, a: Any, b: Any) -> int:
        x, y = self.download(a), self.download(b)
        return int(np.count_nonzero(x.view(np.uint8) != y.view(np.uint8)))

    def overrun(self, arr: Any) -> bool:
        """The simulator checks every index itself (an IndexError)."""
        return False

    def release(self) -> None:
        """Nothing is tracked on the host."""


# Host scalars a candidate may return for a 0-d output: Python's and NumPy's numeric types.
_SCALARS = frozenset(
    {bool, int, float, complex}
    | {t for t in np.sctypeDict.values() if issubclass(t, (np.number, np.bool_))}
)

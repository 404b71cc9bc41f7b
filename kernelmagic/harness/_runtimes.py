"""The runtime that runs candidates for a backend, in a worker; the simulator's is here.

numba-cuda's simulator runs kernels on the CPU; the GPU runtimes are in `_gpu_runtimes`.
Each runtime installs the watchers that fit it (`_sim_guard`, `_guard`) when it is made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from kernelmagic.harness import _sim_guard as sim_guard
from kernelmagic.harness._gpu_runtimes import CupyRuntime, NumbaRuntime
from kernelmagic.harness._runtime_base import HostChecks, Runtime, Timer
from kernelmagic.harness.devices import SIMULATOR, DeviceInfo


class _HostTimer:
    def __init__(self, sync: Callable[[], None]) -> None:
        self._sync = sync
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        self._sync()
        return (time.perf_counter() - self._t0) * 1e3


class SimRuntime(HostChecks):
    """numba-cuda's simulator: correctness only; its 'timings' are host clock readings."""

    name = "numba-sim"
    simulated = True
    can_run = True
    counts_launches = True

    def __init__(self) -> None:
        from numba import cuda

        self._cuda = cuda
        sim_guard.install_simulator_hooks()

    def device_info(self) -> DeviceInfo:
        return SIMULATOR

    def upload(self, host: np.ndarray) -> Any:
        return self._cuda.to_device(np.array(host))

    def _device_types(self) -> tuple[type, ...]:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return (FakeCUDAArray,)

    def _device_copy(self, value: Any) -> np.ndarray:
        held = object.__getattribute__(value, "_ary")  # no attribute hook of the array runs
        if type(held) is not np.ndarray:
            raise TypeError(f"a device array wrapping a {type(held).__name__}")
        return np.array(held)

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self._cuda.device_array(shape, dtype)

    def fill_bytes(self, arr: Any, byte: int) -> None:
        arr.view(np.uint8)[...] = byte  # a FakeCUDAArray view writes through

    def copy(self, dst: Any, src: Any) -> None:
        if dst.size == 0:  # numba-cuda's simulator fails to copy an empty array of 2+ dims
            return
        dst.copy_to_device(src)

    def scrub(self, nbytes: int, byte: int) -> None:
        """Nothing to do: simulator arrays come from fresh host allocations."""

    def synchronize(self) -> None:
        """The simulator runs kernels synchronously."""

    def flush_l2(self) -> None:
        """There is no L2 to flush on the CPU."""

    def timer(self) -> Timer:
        return _HostTimer(self.synchronize)


def make_runtime(backend: str) -> Runtime:
    """The runtime that runs candidates for `backend` in this worker."""
    if backend == "numba-sim":
        return SimRuntime()
    if backend == "numba":
        return NumbaRuntime()
    return CupyRuntime()

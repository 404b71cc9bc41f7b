"""The GPU runtimes (worker side): numba-cuda and CuPy on a real device.

Both allocate with a red zone, poison, flush L2 and time with device events; CuPy, where
installed, also does the comparisons on the device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from kernelmagic import _extras as extras
from kernelmagic.harness import _guard as guard
from kernelmagic.harness._runtime_base import HostChecks, Timer
from kernelmagic.harness.devices import DeviceInfo, from_properties
from kernelmagic.problem.tolerance import Tolerance, mismatch_mask


class GpuRuntime(HostChecks):
    """What the numba and CuPy runtimes share: allocation, poison, L2 flush and checks.

    Comparisons run on the GPU with CuPy, so re-checking a timed run costs microseconds,
    not a copy of every output to the host; without CuPy, on the host.

    Buffers the harness allocates (inputs, CUDA C outputs) end in a red zone of canary
    bytes: a kernel with a missing bounds check writes there, which a GPU would not report.
    """

    _tails: dict[int, tuple[Any, Any, int]]

    def _raw(self, nbytes: int) -> Any:
        """A device byte buffer."""
        raise NotImplementedError

    def fill_bytes(self, arr: Any, byte: int) -> None:
        raise NotImplementedError

    def device_info(self) -> DeviceInfo:
        raise NotImplementedError

    def _guarded(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        buf = self._raw(nbytes + REDZONE_BYTES)
        self.fill_bytes(buf[nbytes:], CANARY)
        arr = buf[:nbytes].view(dtype).reshape(shape)
        if not hasattr(self, "_tails"):
            self._tails = {}
        self._tails[id(arr)] = (arr, buf, nbytes)
        return arr

    def overrun(self, arr: Any) -> bool:
        entry = getattr(self, "_tails", {}).get(id(arr))
        if entry is None or entry[0] is not arr:
            return False
        _, buf, nbytes = entry
        return self.changed(buf[nbytes:], self._canaries()) > 0

    def _canaries(self) -> Any:
        if not hasattr(self, "_canary_tail"):
            self._canary_tail = self._raw(REDZONE_BYTES)
            self.fill_bytes(self._canary_tail, CANARY)
        return self._canary_tail

    def release(self) -> None:
        self._tails = {}

    def _device_types(self) -> tuple[type, ...]:
        return _gpu_array_types()

    def _device_copy(self, value: Any) -> np.ndarray:
        from numba.cuda.cudadrv.devicearray import DeviceNDArray

        if type(value) is DeviceNDArray:
            return DeviceNDArray.copy_to_host(value)
        return extras.require("cupy").ndarray.get(value)

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self._guarded(shape, dtype)

    def scrub(self, nbytes: int, byte: int) -> None:
        # Freed blocks go back to the allocator: the candidate's next allocation finds poison.
        if nbytes:
            scratch = self._raw(nbytes)
            self.fill_bytes(scratch, byte)
            del scratch

    def flush_l2(self) -> None:
        if getattr(self, "_flush", None) is None:
            self._flush = self._raw(_flush_bytes(self.device_info()))
        self.fill_bytes(self._flush, 0)

    def _xp(self) -> Any:
        return extras.optional("cupy")

    def keep(self, value: Any) -> Any:
        cp = self._xp()
        return super().keep(value) if cp is None else cp.array(cp.asarray(value), copy=True)

    def mismatches(self, got: Any, kept: Any, rtol: float, atol: float) -> int:
        cp = self._xp()
        if cp is None:
            return super().mismatches(got, kept, rtol, atol)
        bad = mismatch_mask(cp.asarray(got), cp.asarray(kept), Tolerance(rtol, atol), xp=cp)
        return int(cp.count_nonzero(bad))

    def changed(self, a: Any, b: Any) -> int:
        cp = self._xp()
        if cp is None:
            return super().changed(a, b)
        x, y = cp.asarray(a).ravel(), cp.asarray(b).ravel()
        return int(cp.count_nonzero(x.view(cp.uint8) != y.view(cp.uint8)))


REDZONE_BYTES = 64 * 1024
CANARY = 0xA5


class NumbaRuntime(GpuRuntime):
    """numba-cuda on a real GPU."""

    name = "numba"
    simulated = False
    can_run = True
    counts_launches = True

    def __init__(self) -> None:
        from numba import cuda
        from numba.cuda.cudadrv import driver

        self._cuda = cuda
        self._driver = driver
        guard.install_numba_hooks()

    def device_info(self) -> DeviceInfo:
        dev = self._cuda.get_current_device()
        major, minor = dev.compute_capability
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        _free, total = self._cuda.current_context().get_memory_info()
        return from_properties(
            {
                "name": name,
                "major": major,
                "minor": minor,
                "multiProcessorCount": dev.MULTIPROCESSOR_COUNT,
                "sharedMemPerBlock": dev.MAX_SHARED_MEMORY_PER_BLOCK,
                "sharedMemPerBlockOptin": dev.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                "l2CacheSize": dev.L2_CACHE_SIZE,
                "totalGlobalMem": total,
                "clockRate": getattr(dev, "CLOCK_RATE", None),
                "memoryClockRate": getattr(dev, "MEMORY_CLOCK_RATE", None),
                "memoryBusWidth": getattr(dev, "GLOBAL_MEMORY_BUS_WIDTH", None),
            }
        )

    def upload(self, host: np.ndarray) -> Any:
        arr = self._guarded(host.shape, host.dtype)
        arr.copy_to_device(host)
        return arr

    def fill_bytes(self, arr: Any, byte: int) -> None:
        if arr.nbytes:
            self._driver.device_memset(arr, byte, arr.nbytes)

    def copy(self, dst: Any, src: Any) -> None:
        dst.copy_to_device(src)

    def _raw(self, nbytes: int) -> Any:
        return self._cuda.device_array(nbytes, np.uint8)

    def scrub(self, nbytes: int, byte: int) -> None:
        super().scrub(nbytes, byte)
        self._cuda.current_context().deallocations.clear()  # numba frees lazily otherwise

    def synchronize(self) -> None:
        self._cuda.synchronize()

    def timer(self) -> Timer:
        return _EventTimer(self._cuda.event, self._cuda.event_elapsed_time, self.synchronize)


class CupyRuntime(GpuRuntime):
    """CuPy on a real GPU: runs CuPy candidates and CUDA C compiled by NVRTC."""

    name = "cuda"
    simulated = False
    can_run = True
    counts_launches = False

    def __init__(self) -> None:
        self._cp = extras.require("cupy")
        guard.install_cupy_hooks()

    def device_info(self) -> DeviceInfo:
        props = dict(self._cp.cuda.runtime.getDeviceProperties(self._cp.cuda.Device().id))
        if isinstance(props.get("name"), bytes):
            props["name"] = props["name"].decode()
        return from_properties(props)

    def upload(self, host: np.ndarray) -> Any:
        arr = self._guarded(host.shape, host.dtype)
        arr.set(host)
        return arr

    def fill_bytes(self, arr: Any, byte: int) -> None:
        if arr.nbytes:
            self._cp.cuda.runtime.memsetAsync(
                arr.data.ptr, byte, arr.nbytes, self._cp.cuda.get_current_stream().ptr
            )

    def copy(self, dst: Any, src: Any) -> None:
        dst.data.copy_from_device_async(src.data, src.nbytes)

    def _raw(self, nbytes: int) -> Any:
        return self._cp.empty(nbytes, np.uint8)

    def synchronize(self) -> None:
        # The whole device, not one stream: work hidden on a side stream is waited for too.
        self._cp.cuda.Device().synchronize()

    def timer(self) -> Timer:
        cp = self._cp
        return _EventTimer(lambda: cp.cuda.Event(), cp.cuda.get_elapsed_time, self.synchronize)


class _EventTimer:
    """Device events around the call; the host clock around it catches side-stream work."""

    def __init__(
        self,
        make_event: Callable[[], Any],
        elapsed: Callable[[Any, Any], float],
        sync: Callable[[], None],
    ) -> None:
        self._begin, self._end = make_event(), make_event()
        self._elapsed = elapsed
        self._sync = sync
        self._t0 = 0.0
        self.host_ms = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._begin.record()

    def stop(self) -> float:
        self._end.record()
        self._sync()
        self.host_ms = (time.perf_counter() - self._t0) * 1e3
        return float(self._elapsed(self._begin, self._end))


def _flush_bytes(info: DeviceInfo) -> int:
    # Writing twice the L2 size evicts everything the previous run left there.
    return max(2 * (info.l2_bytes or 0), 64 * 1024 * 1024)


def _gpu_array_types() -> tuple[type, ...]:
    """numba's and CuPy's device array classes, where installed (exact types, no subclasses)."""
    found: list[type] = []
    try:
        from numba.cuda.cudadrv.devicearray import DeviceNDArray

        found.append(DeviceNDArray)
    except ImportError:
        pass
    cupy = extras.optional("cupy")
    if cupy is not None:
        found.append(cupy.ndarray)
    return tuple(found)

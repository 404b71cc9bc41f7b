"""The simulator made as strict as a GPU, and watched like one (worker side).

numba-cuda's simulator arrays are NumPy arrays underneath: left alone they offer host-side
math a real device array does not have, and hold whatever the last run left. The hooks
here make them opaque, poison fresh allocations, run `cuda.reduce` as a launch, and
describe each launch for compiling it for a real GPU afterwards (`_gpu_target`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterator
from typing import Any

import numpy as np

from kernelmagic.candidate import launch as launch_limits
from kernelmagic.harness import _guard as guard
from kernelmagic.harness import _sim_warps as sim_warps
from kernelmagic.harness._guard import ALLOCATORS, Recorder

_installed = False

# A launch runs one Python thread per simulated GPU thread. At the interpreter's default
# thresholds (700, 10, 10) those threads' objects outlived young collections, reached the
# oldest generation and died there: full collections of a worker's heap (Dask, numba, NumPy)
# took 15-18% of a simulated SAXPY call on 1,500 elements. With young collections 14x
# rarer, most of them die young and no full collection runs during a launch.
LAUNCH_GC_THRESHOLDS = (10_000, 50, 100)


class LaunchRejected(RuntimeError):
    """A launch the simulator would run but a GPU refuses (an empty grid, too many threads)."""


@contextlib.contextmanager
def collections_for_a_launch() -> Iterator[None]:
    """`LAUNCH_GC_THRESHOLDS` while a launch runs, the process's own ones again after."""
    before = gc.get_threshold()
    gc.set_threshold(*LAUNCH_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


# What a real numba DeviceNDArray offers on the host (its public attributes and properties):
# the simulator's arrays forward everything else to the NumPy array underneath.
DEVICE_ARRAY_ATTRIBUTES = frozenset(
    {
        "shape",
        "dtype",
        "size",
        "ndim",
        "strides",
        "nbytes",
        "flags",
        "copy_to_host",
        "copy_to_device",
        "reshape",
        "ravel",
        "view",
        "T",
        "transpose",
        "is_c_contiguous",
        "is_f_contiguous",
        "split",
        "bind",
        "stream",
        "alloc_size",
        "setitem",
        "getitem",
        "squeeze",
        "__cuda_array_interface__",
    }
)
# Host-side operators a real device array does not have (the simulator's forward to NumPy).
_HOST_OPERATORS = (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__add__",
    "__sub__",
    "__mul__",
    "__floordiv__",
    "__truediv__",
    "__mod__",
    "__pow__",
    "__matmul__",
    "__and__",
    "__or__",
    "__xor__",
    "__lshift__",
    "__rshift__",
    "__neg__",
    "__pos__",
    "__abs__",
    "__invert__",
    "__radd__",
    "__rsub__",
    "__rmul__",
    "__rtruediv__",
    "__rfloordiv__",
    "__rmod__",
    "__rpow__",
    "__iadd__",
    "__isub__",
    "__imul__",
    "__itruediv__",
)


def _opaque_repr(self: Any) -> str:
    # A real device array prints its type and address, never its data.
    return f"<DeviceNDArray shape={tuple(self.shape)} dtype={self.dtype}>"


def install_simulator_hooks() -> None:
    """Make the simulator's device arrays as opaque as real ones, and watch them.

    The simulator's arrays are NumPy arrays underneath and forward any attribute
    (`x.sum()`, `x + 1`, `str(x)`) to NumPy: on a real GPU those do not exist. Only what
    a real DeviceNDArray offers is let through, and the arrays a candidate allocates are
    poisoned as a GPU's allocator would leave them (never the last run's answer).
    """
    global _installed
    if _installed:
        return
    guard.install_signature_guard()
    sim_warps.install()
    import numba.cuda.simulator as sim_package
    from numba import cuda
    from numba.cuda.simulator import api as sim_api
    from numba.cuda.simulator import kernel as sim_kernel
    from numba.cuda.simulator.cudadrv import devicearray as sim_arrays

    fake = sim_arrays.FakeCUDAArray
    forward = fake.__getattr__

    def strict_getattr(self: Any, name: str) -> Any:
        if name not in DEVICE_ARRAY_ATTRIBUTES:
            raise AttributeError(
                f"device arrays have no attribute '{name}' on a real GPU: do the work in a kernel"
            )
        return forward(self, name)

    def no_host_math(self: Any, *other: Any) -> Any:
        raise TypeError("device arrays support no host-side arithmetic or comparison: use a kernel")

    fake.__getattr__ = strict_getattr  # type: ignore[method-assign]
    for op in _HOST_OPERATORS:
        setattr(fake, op, no_host_math)
    fake.__str__ = fake.__repr__ = _opaque_repr  # type: ignore[method-assign]

    def squeeze(self: Any, axis: Any = None, stream: Any = 0) -> Any:
        # A real one returns a device array; forwarded to NumPy it was a host view.
        return fake(np.squeeze(object.__getattribute__(self, "_ary"), axis))

    fake.squeeze = squeeze  # type: ignore[attr-defined]

    def reduce_on_the_device(func: Any) -> Any:
        """`cuda.reduce` as a GPU runs it: a launch whose only copy back is the result
        (the simulator folds it on the host, element by element through __getitem__)."""

        def reduction(seq: Any, res: Any = None, init: Any = 0, stream: Any = 0) -> Any:
            rec = guard.active()
            values = object.__getattribute__(seq, "_ary") if isinstance(seq, fake) else seq
            result = functools.reduce(func, np.asarray(values).ravel(), init)
            if rec is not None:
                rec.launches += 1
            if res is not None:
                res[0] = result
                return None
            if rec is not None:
                rec.d2h_bytes += int(np.asarray(result).nbytes)
            return result

        return reduction

    for namespace in (sim_package, cuda):
        namespace.reduce = namespace.Reduce = reduce_on_the_device  # type: ignore[attr-defined]

    def count_copy(rec: Recorder, result: Any, self: Any, ary: Any = None, stream: Any = 0) -> None:
        rec.d2h_bytes += result.nbytes
        rec.host_written(result)

    def count_item(rec: Recorder, result: Any, self: Any, idx: Any) -> None:
        # Kernels index the same arrays while they run: only host-side reads are copies.
        if sim_kernel._kernel_context is None and not isinstance(result, fake):
            rec.d2h_bytes += int(np.asarray(result).nbytes)

    def poison_fresh(rec: Recorder, result: Any, *args: Any, **kwargs: Any) -> None:
        if rec.poison is not None and isinstance(result, fake):
            object.__getattribute__(result, "_ary").view(np.uint8)[...] = rec.poison

    guard.wrap(fake, "copy_to_host", after=count_copy)
    guard.wrap(fake, "__getitem__", after=count_item)
    for name in ALLOCATORS:
        # device_array_like calls device_array through its module: poisoned once, either way.
        guard.wrap(sim_arrays, name, after=poison_fresh)
        for namespace in (sim_api, cuda):
            if hasattr(namespace, name):
                setattr(namespace, name, getattr(sim_arrays, name))

    from kernelmagic.harness._gpu_target import describe_launch

    original_call = sim_kernel.FakeCUDAKernel.__call__

    @functools.wraps(original_call)
    def launch(self: Any, *args: Any) -> Any:
        rec = guard.active()
        is_launch = not (self._device or sim_kernel._kernel_context)
        if is_launch and self.grid_dim is not None and self.block_dim is not None:
            reason = launch_limits.rejected(self.grid_dim, self.block_dim)
            if reason is not None:
                grid, block = _short(self.grid_dim), _short(self.block_dim)
                raise LaunchRejected(f"kernel[{grid}, {block}] fails on a GPU: {reason}")
        if rec is not None and is_launch:
            rec.described.setdefault(describe_launch(self, args), None)
        if is_launch:
            with collections_for_a_launch():
                result = original_call(self, *args)
        else:
            result = original_call(self, *args)
        if rec is not None and is_launch:
            rec.launches += 1
            for arg in args:
                # On a GPU numba copies host arrays to the device and back around a launch.
                if isinstance(arg, np.ndarray) and arg.ndim > 0:
                    rec.d2h_bytes += arg.nbytes
                    rec.host_written(arg)
        return result

    sim_kernel.FakeCUDAKernel.__call__ = launch  # type: ignore[method-assign]
    _installed = True


def _short(dims: tuple[int, ...]) -> int | tuple[int, ...]:
    """A launch dimension as it is usually written: 128, not (128, 1, 1)."""
    trimmed = tuple(dims)
    while len(trimmed) > 1 and trimmed[-1] == 1:
        trimmed = trimmed[:-1]
    return trimmed[0] if len(trimmed) == 1 else trimmed

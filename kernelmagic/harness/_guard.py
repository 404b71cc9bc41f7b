"""Watching what a candidate's entry function does on the host while it runs (worker side).

A candidate must do its work on the GPU. The data live on the device, so host-side math
needs the data on the host first: every device-to-host copy made during the call is
counted, and more than the outputs it returns (plus a few scalars) is rejected. Host
arrays it returns must be exactly what a copy from the device (or, on the simulator, a
kernel) wrote. Kernel launches are counted where the runtime lets us (numba, simulator):
none at all is rejected.

The hooks wrap library functions once per worker process and only record while a guard
is active, so the harness's own copies are never counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from kernelmagic.harness import _sim_warps as sim_warps

SCALAR_SLACK_BYTES = 256  # a few scalar reads to size a launch are fine


@dataclasses.dataclass
class Recorder:
    """What one watched call did; `poison` is the byte its own allocations are filled with."""

    poison: int | None = None
    launches: int = 0
    d2h_bytes: int = 0
    # The simulator's launches, described for compiling them for a real GPU afterwards.
    described: dict[Any, None] = dataclasses.field(default_factory=dict)
    # id of a host buffer -> (the array, digest when written) for provenance checks
    written: dict[int, tuple[np.ndarray, bytes]] = dataclasses.field(default_factory=dict)

    def host_written(self, arr: np.ndarray) -> None:
        self.written[id(_root(arr))] = (arr, _digest(arr))


_active: Recorder | None = None
_installed: set[str] = set()


@contextlib.contextmanager
def watching(poison: int | None = None) -> Iterator[Recorder]:
    """Record launches and device-to-host traffic for the duration of the block.

    With `poison`, every array the candidate allocates meanwhile is filled with that byte,
    so an element it never writes cannot hold a right value left by an earlier run.
    """
    global _active
    recorder = Recorder(poison)
    _active = recorder
    try:
        yield recorder
    finally:
        _active = None


def verdict_on_host_work(
    recorder: Recorder, returned: tuple[Any, ...], *, launches_counted: bool
) -> str | None:
    """A rejection message when the call did its work on the host, else None."""
    if launches_counted and recorder.launches == 0:
        return (
            "the entry function launched no GPU kernel: the work must run on the GPU "
            "(host-side computation is not allowed)"
        )
    host_bytes = 0
    for i, value in enumerate(returned):
        if not isinstance(value, np.ndarray) or value.size <= 1:
            continue
        host_bytes += value.nbytes
        entry = recorder.written.get(id(_root(value)))
        if entry is None:
            return (
                f"output {i} is a host array that no device copy or kernel wrote: computing "
                "results on the host is not allowed (return the device array instead)"
            )
        if _digest(entry[0]) != entry[1]:
            return (
                f"output {i} was changed on the host after it was copied from the device: "
                "host-side computation is not allowed"
            )
    if recorder.d2h_bytes > host_bytes + SCALAR_SLACK_BYTES:
        return (
            f"the entry function copied {recorder.d2h_bytes} bytes from the device to the host "
            f"but returns only {host_bytes} bytes of host arrays: reading data back to compute on "
            "the host is not allowed"
        )
    return None


def _root(arr: np.ndarray) -> np.ndarray:
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def _digest(arr: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(arr).view(np.uint8).data, digest_size=16).digest()


def _wrap(
    owner: Any,
    name: str,
    before: Callable[..., None] | None = None,
    after: Callable[..., None] | None = None,
) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def hooked(*args: Any, **kwargs: Any) -> Any:
        rec = _active
        if rec is not None and before is not None:
            before(rec, *args, **kwargs)
        result = original(*args, **kwargs)
        if rec is not None and after is not None:
            after(rec, result, *args, **kwargs)
        return result

    setattr(owner, name, hooked)


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
# Functions that hand out a fresh array whose contents are whatever memory held before.
_ALLOCATORS = ("device_array", "device_array_like", "mapped_array", "managed_array")


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
    if "sim" in _installed:
        return
    install_signature_guard()
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
            rec = _active
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

    _wrap(fake, "copy_to_host", after=count_copy)
    _wrap(fake, "__getitem__", after=count_item)
    for name in _ALLOCATORS:
        # device_array_like calls device_array through its module: poisoned once, either way.
        _wrap(sim_arrays, name, after=poison_fresh)
        for namespace in (sim_api, cuda):
            if hasattr(namespace, name):
                setattr(namespace, name, getattr(sim_arrays, name))

    from kernelmagic.harness._gpu_target import describe_launch

    original_call = sim_kernel.FakeCUDAKernel.__call__

    @functools.wraps(original_call)
    def launch(self: Any, *args: Any) -> Any:
        rec = _active
        is_launch = not (self._device or sim_kernel._kernel_context)
        if rec is not None and is_launch:
            rec.described.setdefault(describe_launch(self, args), None)
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
    _installed.add("sim")


def install_signature_guard() -> None:
    """numba parses signature strings with `eval` and full builtins: parse plain ones only.

    The static rules see literal signatures; this covers strings a candidate builds at
    run time or hands to numba through a container. The same check as the static rule,
    then an `eval` with no builtins of text that holds only numba type names, calls,
    subscripts and constants.
    """
    if "signatures" in _installed:
        return
    import ast
    import importlib

    from kernelmagic.candidate.safety.strings import signature_string_problem

    for module_name in ("numba.cuda.core.sigutils", "numba.core.sigutils"):
        try:
            sigutils = importlib.import_module(module_name)
        except ImportError:
            continue
        namespace = dict(sigutils.types.__dict__)
        names = frozenset(n for n in namespace if not n.startswith("_"))

        def parse(
            text: str, namespace: dict[str, Any] = namespace, names: frozenset[str] = names
        ) -> Any:
            problem = signature_string_problem(text, names)
            if problem:
                raise TypeError(problem)
            code = compile(ast.parse(text.strip(), mode="eval"), "<signature>", "eval")
            return eval(code, {"__builtins__": {}}, namespace)

        sigutils._parse_signature_string = parse  # type: ignore[attr-defined]
    _installed.add("signatures")


def install_numba_hooks() -> None:
    """Count numba kernel launches and every device-to-host copy numba makes."""
    if "numba" in _installed:
        return
    install_signature_guard()
    from numba import cuda
    from numba.cuda import api, dispatcher
    from numba.cuda.cudadrv import driver

    def count_launch(rec: Recorder, *args: Any, **kwargs: Any) -> None:
        rec.launches += 1

    def count_copy(
        rec: Recorder, result: Any, dst: Any, src: Any, size: int, stream: Any = 0
    ) -> None:
        rec.d2h_bytes += int(size)
        if isinstance(dst, np.ndarray):
            rec.host_written(dst)

    def poison_fresh(rec: Recorder, result: Any, *args: Any, **kwargs: Any) -> None:
        nbytes = int(getattr(result, "nbytes", 0))
        if rec.poison is not None and nbytes:
            driver.device_memset(result, rec.poison, nbytes)

    _wrap(dispatcher._Kernel, "launch", before=count_launch)
    _wrap(driver, "device_to_host", after=count_copy)
    for name in _ALLOCATORS:
        # device_array_like calls device_array through the api module: poisoned either way.
        _wrap(api, name, after=poison_fresh)
        if hasattr(cuda, name):
            setattr(cuda, name, getattr(api, name))
    _installed.add("numba")


def install_cupy_hooks() -> None:
    """Count CuPy's device-to-host copies (its launches happen in compiled code we cannot see)."""
    if "cupy" in _installed:
        return
    install_signature_guard()
    import cupy

    def count_get(rec: Recorder, result: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(result, np.ndarray):
            rec.d2h_bytes += result.nbytes
            rec.host_written(result)

    def count_scalar(rec: Recorder, result: Any, *args: Any, **kwargs: Any) -> None:
        rec.d2h_bytes += int(np.asarray(result).nbytes)

    pool = cupy.get_default_memory_pool()

    def poisoning_malloc(size: int) -> Any:
        # Every CuPy allocation goes through here: a candidate's outputs start as poison.
        memory = pool.malloc(size)
        rec = _active
        if rec is not None and rec.poison is not None and size:
            stream = cupy.cuda.get_current_stream().ptr
            cupy.cuda.runtime.memsetAsync(memory.ptr, rec.poison, size, stream)
        return memory

    cupy.cuda.set_allocator(poisoning_malloc)
    _wrap(cupy.ndarray, "get", after=count_get)
    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "__complex__", "__index__"):
        if hasattr(cupy.ndarray, name):
            _wrap(cupy.ndarray, name, after=count_scalar)
    _installed.add("cupy")

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

from kernelmagic import _extras as extras
from kernelmagic._python_ast import parse as parse_python

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


def active() -> Recorder | None:
    """The recorder of the watched call running now, if any (hooks record into it)."""
    return _active


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


def wrap(
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


# numba's functions that hand out a fresh array whose contents are whatever memory held before.
ALLOCATORS = ("device_array", "device_array_like", "mapped_array", "managed_array")


def install_signature_guard() -> None:
    """numba parses signature strings with `eval` and full builtins: parse plain ones only.

    The static rules see literal signatures; this covers strings a candidate builds at
    run time or hands to numba through a container. The same check as the static rule,
    then an `eval` with no builtins of text that holds only numba type names, calls,
    subscripts and constants.
    """
    if "signatures" in _installed:
        return
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
            code = compile(parse_python(text.strip(), mode="eval"), "<signature>", "eval")
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

    wrap(dispatcher._Kernel, "launch", before=count_launch)
    wrap(driver, "device_to_host", after=count_copy)
    for name in ALLOCATORS:
        # device_array_like calls device_array through the api module: poisoned either way.
        wrap(api, name, after=poison_fresh)
        if hasattr(cuda, name):
            setattr(cuda, name, getattr(api, name))
    _installed.add("numba")


def install_cupy_hooks() -> None:
    """Count CuPy's device-to-host copies (its launches happen in compiled code we cannot see)."""
    if "cupy" in _installed:
        return
    install_signature_guard()
    cupy = extras.require("cupy")

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
    wrap(cupy.ndarray, "get", after=count_get)
    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "__complex__", "__index__"):
        if hasattr(cupy.ndarray, name):
            wrap(cupy.ndarray, name, after=count_scalar)
    _installed.add("cupy")

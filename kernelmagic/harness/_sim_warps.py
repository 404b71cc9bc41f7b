"""Warp-level primitives for numba-cuda's CPU simulator (worker side).

numba-cuda's simulator (0.30) has no `shfl_*_sync`, vote or match functions, so a warp
reduction, the way CUDA programmers write one, fails there with an AttributeError and
a correct kernel could not be verified without a GPU. The simulator runs each thread of
a block as a Python thread; here the lanes of a warp meet at a barrier of their own,
hand over their values, and each reads the lane it asked for. Lanes in the mask that
have exited are left out, as the simulator's `syncthreads` leaves them out; lanes that
diverge (some wait here while others never come) end in a clear error after a timeout,
where a GPU's behaviour is undefined.
"""

from __future__ import annotations

import threading
import time
from typing import Any

WARP = 32
_WAIT_S = 30.0  # far beyond any honest wait: simulated lanes arrive within milliseconds


class _Warp:
    """One warp's meeting point: the values of this round, and the last round's result."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.values: dict[int, Any] = {}
        self.generation = 0
        self.result: dict[int, Any] = {}


def _exchange(value: Any, mask: int) -> tuple[int, dict[int, Any]]:
    """Wait for every live lane of `mask` in this warp; (own lane, each lane's value)."""
    thread = threading.current_thread()
    manager: Any = getattr(thread, "_manager", None)
    if manager is None:
        raise RuntimeError("warp functions can only be called inside a kernel")
    lane, warp_id = thread.thread_id % WARP, thread.thread_id // WARP  # type: ignore[attr-defined]
    with _registry_lock:
        warps = manager.__dict__.setdefault("_kernelmagic_warps", {})
        warp = warps.setdefault(warp_id, _Warp())
    deadline = time.monotonic() + _WAIT_S
    with warp.cond:
        generation = warp.generation
        warp.values[lane] = value
        while warp.generation == generation:
            if set(warp.values) >= _expected(manager, warp_id, mask):
                warp.result, warp.values = warp.values, {}
                warp.generation += 1
                warp.cond.notify_all()
                break
            if getattr(thread, "abort", False):
                raise RuntimeError("abort flag set in a warp function")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"lanes {sorted(_expected(manager, warp_id, mask) - set(warp.values))} of "
                    f"warp {warp_id} never reached this warp function (divergent lanes in the "
                    f"mask 0x{mask & 0xFFFFFFFF:08x}?)"
                )
            warp.cond.wait(0.005)
        return lane, warp.result


def _expected(manager: Any, warp_id: int, mask: int) -> set[int]:
    """Lanes of `mask` that exist in this block and have not exited."""
    block = 1
    for extent in manager._block_dim:
        block *= extent
    threads: dict[int, Any] = manager.__dict__.get("_kernelmagic_threads", {})
    lanes = set()
    for lane in range(WARP):
        tid = warp_id * WARP + lane
        if not (mask >> lane) & 1 or tid >= block:
            continue
        thread = threads.get(tid)
        if thread is not None and thread.ident is not None and not thread.is_alive():
            continue  # it exited; one not started yet will still come
        lanes.add(lane)
    return lanes


def shfl_sync(self: Any, mask: int, value: Any, src_lane: int) -> Any:
    values = _exchange(value, mask)[1]
    return values.get(src_lane % WARP, value)


def shfl_up_sync(self: Any, mask: int, value: Any, delta: int) -> Any:
    lane, values = _exchange(value, mask)
    return values.get(lane - delta, value) if lane >= delta else value


def shfl_down_sync(self: Any, mask: int, value: Any, delta: int) -> Any:
    lane, values = _exchange(value, mask)
    return values.get(lane + delta, value)


def shfl_xor_sync(self: Any, mask: int, value: Any, lane_mask: int) -> Any:
    lane, values = _exchange(value, mask)
    return values.get((lane ^ lane_mask) % WARP, value)


def all_sync(self: Any, mask: int, predicate: Any) -> int:
    return int(all(_exchange(bool(predicate), mask)[1].values()))


def any_sync(self: Any, mask: int, predicate: Any) -> int:
    return int(any(_exchange(bool(predicate), mask)[1].values()))


def eq_sync(self: Any, mask: int, predicate: Any) -> int:
    return int(len(set(_exchange(bool(predicate), mask)[1].values())) == 1)


def ballot_sync(self: Any, mask: int, predicate: Any) -> int:
    values = _exchange(bool(predicate), mask)[1]
    return sum(1 << lane for lane, bit in values.items() if bit)


def match_any_sync(self: Any, mask: int, value: Any) -> int:
    lane, values = _exchange(value, mask)
    return sum(1 << other for other, v in values.items() if v == values[lane])


def match_all_sync(self: Any, mask: int, value: Any) -> tuple[int, int]:
    values = _exchange(value, mask)[1]
    same = len(set(values.values())) == 1
    return (sum(1 << lane for lane in values) if same else 0), int(same)


def syncwarp(self: Any, mask: int = 0xFFFFFFFF) -> None:
    _exchange(None, mask)


def activemask(self: Any) -> int:
    thread: Any = threading.current_thread()
    lanes = _expected(thread._manager, thread.thread_id // WARP, 0xFFFFFFFF)
    return sum(1 << lane for lane in lanes)


def lanemask_lt(self: Any) -> int:
    thread: Any = threading.current_thread()
    return (1 << (thread.thread_id % WARP)) - 1


_registry_lock = threading.Lock()
_FUNCTIONS = (
    shfl_sync,
    shfl_up_sync,
    shfl_down_sync,
    shfl_xor_sync,
    all_sync,
    any_sync,
    eq_sync,
    ballot_sync,
    match_any_sync,
    match_all_sync,
    syncwarp,
    activemask,
    lanemask_lt,
)


def install() -> None:
    """Give the simulator's in-kernel `cuda` module the warp functions it lacks."""
    from numba.cuda.simulator import kernel, kernelapi

    for fn in _FUNCTIONS:
        if not hasattr(kernelapi.FakeCUDAModule, fn.__name__):
            setattr(kernelapi.FakeCUDAModule, fn.__name__, fn)
    original_init = kernel.BlockThread.__init__

    def registering_init(self: Any, f: Any, manager: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, f, manager, *args, **kwargs)
        with _registry_lock:
            manager.__dict__.setdefault("_kernelmagic_threads", {})[self.thread_id] = self

    kernel.BlockThread.__init__ = registering_init  # type: ignore[method-assign]

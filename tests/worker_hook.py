"""Tests only: run any function inside a named worker of a pool, as candidate code could.

It goes through the pool's own Dask client, so nothing in the pool or the workers is opened
up for it. Functions of the calling test module are pickled by value: workers cannot import
test modules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import cloudpickle

from kernelmagic.harness.cluster import WorkerPool


def in_worker(
    pool: WorkerPool, fn: Callable[..., Any], *args: Any, name: str = "sim-0", timeout_s: float = 60
) -> Any:
    """`fn(*args)` in worker `name`'s task thread; its result, or its exception raised here."""
    _by_value(fn)
    # A lambda cannot be pickled by reference: Dask then pickles the whole task with
    # cloudpickle, which honours the by-value registration (a named function would not).
    future = pool.client.submit(
        lambda: fn(*args), workers=[pool._address(name)], allow_other_workers=False, pure=False
    )
    try:
        return future.result(timeout=timeout_s)
    finally:
        future.release()


def on_event_loop(pool: WorkerPool, fn: Callable[..., Any], name: str = "sim-0") -> Any:
    """`fn()` on worker `name`'s event-loop thread (Dask's `Client.run`)."""
    _by_value(fn)
    return pool.client.run(fn, workers=[pool._address(name)])[pool._address(name)]


def _by_value(fn: Callable[..., Any]) -> None:
    if fn.__module__.startswith("test_"):
        cloudpickle.register_pickle_by_value(sys.modules[fn.__module__])

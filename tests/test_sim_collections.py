"""A simulated launch runs with fewer young collections (worker side): at the interpreter's
defaults its threads' objects reached the oldest generation and died there, and full
collections of the worker's heap took 15-18% of a simulated SAXPY call."""

from __future__ import annotations

from worker_hook import in_worker

from kernelmagic.harness._sim_guard import LAUNCH_GC_THRESHOLDS

KERNEL = """
import gc
from numba import cuda  # a module-level global, as the simulator needs


@cuda.jit
def scale(x, out):
    i = cuda.grid(1)
    if i == 0:
        seen.append(gc.get_threshold())
        if fail:
            raise ValueError("a failing kernel")
    if i < x.size:
        out[i] = 2 * x[i]
"""


def _collections_in_a_launch(fail: bool) -> dict:
    import gc

    import numpy as np

    from kernelmagic.harness import _worker

    _worker.runtime("numba-sim")
    from numba import cuda

    seen: list[tuple[int, int, int]] = []
    namespace = {"seen": seen, "fail": fail}
    exec(compile(KERNEL, "<kernel>", "exec"), namespace)
    scale = namespace["scale"]
    by_generation = [0, 0, 0]

    before = gc.get_threshold()

    def count(phase: str, info: dict) -> None:
        # Only while the launch's thresholds hold: a collection due at the defaults as the
        # launch was set up (a full one now and then) is the process's, not the launch's.
        if phase == "start" and gc.get_threshold() != before:
            by_generation[info["generation"]] += 1

    x = np.ones(1500, np.float32)
    out = cuda.device_array_like(x)
    dx = cuda.to_device(x)
    gc.callbacks.append(count)
    try:
        scale[24, 64](dx, out)
        error = None
    except Exception as exc:  # the simulator's own wrapping of the kernel's exception
        error = f"{type(exc).__name__}: {exc}"
    finally:
        gc.callbacks.remove(count)
    return {
        "before": before,
        "inside": seen[0] if seen else None,
        "after": gc.get_threshold(),
        "by_generation": by_generation,
        "error": error,
    }


def test_a_launch_collects_young_less_often_and_never_fully_and_restores_the_thresholds(pool):
    seen = in_worker(pool, _collections_in_a_launch, False)
    assert tuple(seen["inside"]) == LAUNCH_GC_THRESHOLDS != tuple(seen["before"])
    assert seen["after"] == seen["before"]
    young, middle, full = seen["by_generation"]
    # At the defaults (700, 10, 10), this launch of 1,536 threads made about 45 young
    # collections, 4 of the middle generation and now and then a full one.
    assert full == 0 and middle <= 1 and 0 < young < 15, seen["by_generation"]


def test_the_thresholds_come_back_after_a_launch_that_fails(pool):
    seen = in_worker(pool, _collections_in_a_launch, True)
    assert seen["error"] is not None
    assert tuple(seen["inside"]) == LAUNCH_GC_THRESHOLDS
    assert seen["after"] == seen["before"]

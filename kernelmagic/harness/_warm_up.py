"""What a worker loads while it waits for its first job (worker side).

A worker's first job used to pay for its imports: the simulator's hooks and numba in a
simulator worker, numba and libNVVM's first compile in the compile worker (about 1.7 s
on a 2-core machine), and the README demo waited for both in turn. The pool sends each of
its own simulator and compile workers this job as soon as they are all up (not before:
on two cores it would slow the others' start); a candidate's job that comes sooner waits
behind it, on the same imports it would have made itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A kernel of the shape candidates have: compiling it loads libNVVM and numba's typing.
_WARM_KERNEL = """
from numba import cuda

def warm(a, x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i]
"""


def warm(kind: str) -> None:
    """Load what the first job of a worker of `kind` ("sim" or "cc") needs. What fails
    here fails again in the first job, which says so; this one's error is never read."""
    from kernelmagic.harness import _worker

    if kind == "sim":
        _worker.runtime("numba-sim")
    elif kind == "cc":
        from numba import cuda, float32

        namespace: dict[str, object] = {}
        exec(compile(_WARM_KERNEL, "<kernelmagic warm-up>", "exec"), namespace)
        cuda.compile(namespace["warm"], (float32, float32[:], float32[:]), cc=(9, 0), output="ptx")


def warm_up(client: Any, names: Mapping[str, list[str]]) -> list[Any]:
    """Send `warm` to each of the pool's own simulator and compile workers; the futures."""
    return [
        client.submit(warm, kind, workers=[name], pure=False, key=f"warm_up-{name}")
        for kind in ("sim", "cc")
        for name in names[kind]
    ]

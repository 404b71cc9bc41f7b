"""What kind each worker of the pool is, and how the pool names it.

kernelmagic's own workers are named for their kind (`sim-0`, `cc-0`, `gpu-0`). The workers
of a cluster someone else started (`dask worker`, dask-cuda) have other names, so they are
sorted by what they are: a `GPU` resource makes a GPU worker; the simulator is in the
worker's environment from its start (numba reads it once, when it is imported).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from kernelmagic._version import build
from kernelmagic.errors import BackendUnavailable

# "cc": a worker without the simulator that compiles for a GPU target.
WorkerKind = Literal["sim", "gpu", "cc"]

# How to add a worker of a kind an existing cluster lacks (docs/dask.md).
MISSING_HINTS: dict[WorkerKind, str] = {
    "sim": "start a `dask worker --nthreads 1` with NUMBA_ENABLE_CUDASIM=1 in its environment",
    "gpu": "start one `dask worker --nthreads 1 --resources GPU=1` per GPU, each with its "
    "own CUDA_VISIBLE_DEVICES",
    "cc": "start a `dask worker --nthreads 1` without NUMBA_ENABLE_CUDASIM",
}


def identity(address: str, info: Mapping[str, Any]) -> str:
    """The name the pool knows a worker by, the same for its replacement.

    A worker started without `--name` is named after its address, which changes when its
    nanny starts it again; the nanny's address does not.
    """
    name = str(info.get("name"))
    return str(info.get("nanny") or name) if name == address else name


def kind_by_name(name: str) -> WorkerKind:
    """The kind of a worker kernelmagic started itself (`_cluster_host` names them)."""
    return "gpu" if name.startswith("gpu-") else "cc" if name.startswith("cc-") else "sim"


def simulator_enabled() -> bool:
    """Run in a worker: whether its numba runs kernels on the CUDA simulator."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def worker_facts() -> tuple[bool, str]:
    """Run in a worker: (whether it simulates, the kernelmagic build it runs)."""
    return simulator_enabled(), build()


def kinds_of(client: Any, workers: Mapping[str, Mapping[str, Any]]) -> dict[str, WorkerKind]:
    """The kind of each of an existing cluster's workers, by address.

    Every worker is asked, GPU workers too: one that cannot run kernelmagic's functions, or
    runs other sources of them, fails here, with a hint, rather than at a candidate's job.
    """
    gpus = {a for a, info in workers.items() if (info.get("resources") or {}).get("GPU")}
    try:
        facts = client.run(worker_facts, workers=list(workers)) if workers else {}
    except Exception as exc:  # most often: kernelmagic is not installed where they run
        raise BackendUnavailable(
            f"cannot ask the Dask workers what they are ({exc}); "
            f"they need kernelmagic installed, the same build as this process ({build()})"
        ) from None
    other = sorted(f"{a} ({built})" for a, (_, built) in facts.items() if built != build())
    if other:
        raise BackendUnavailable(
            f"the Dask worker{'s' if len(other) > 1 else ''} {', '.join(other)} "
            f"run{'' if len(other) > 1 else 's'} another kernelmagic than this process "
            f"({build()}): install the same one there and restart them"
        )
    return {
        a: "gpu" if a in gpus else "sim" if facts.get(a, (False,))[0] else "cc" for a in workers
    }

"""Which backend runs a candidate, on which kind of worker, and what to say when none can.

numba-sim  numba.cuda candidates on numba-cuda's CPU simulator (correctness only)
numba      numba.cuda candidates on a GPU
cuda       CUDA C (NVRTC; launched through CuPy) and CuPy candidates; without a GPU,
           CUDA C is compiled only and its verdict is `unverified`
auto       the best of these that can run the candidate here
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from kernelmagic.candidate import Flavor
from kernelmagic.errors import BackendUnavailable

BACKENDS = ("auto", "numba-sim", "numba", "cuda")


@dataclasses.dataclass(frozen=True)
class Plan:
    """`worker` is the kind of worker process; `run` is False where nothing can execute it."""

    backend: str
    worker: Literal["sim", "gpu", "cc"] | None
    run: bool


def plan(backend: str, flavor: Flavor, *, gpus: int) -> Plan:
    """Resolve `backend` for a candidate of `flavor` on a machine with `gpus` GPUs."""
    if backend not in BACKENDS:
        raise BackendUnavailable(
            f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}"
        )
    if flavor == "numba":
        if backend in ("auto", "numba"):
            if gpus:
                return Plan("numba", "gpu", True)
            if backend == "numba":
                raise BackendUnavailable(
                    "backend numba needs an NVIDIA GPU and none was found; use --backend numba-sim "
                    "to check correctness on the CPU simulator"
                )
            return Plan("numba-sim", "sim", True)
        if backend == "numba-sim":
            return Plan("numba-sim", "sim", True)
        raise BackendUnavailable(
            "this candidate uses numba.cuda; backend cuda runs CUDA C and CuPy candidates: "
            "use --backend numba (GPU) or numba-sim (CPU)"
        )
    if backend not in ("auto", "cuda"):
        what = "CUDA C" if flavor == "cuda_c" else "CuPy"
        raise BackendUnavailable(
            f"a {what} candidate runs on backend cuda (CUDA C compiles without a GPU; running "
            f"needs one), not {backend}"
        )
    if gpus:
        return Plan("cuda", "gpu", True)
    if flavor == "cuda_c":
        return Plan("cuda", "sim", False)  # NVRTC compiles on any worker
    return Plan("cuda", None, False)  # CuPy cannot even import its kernels without a driver

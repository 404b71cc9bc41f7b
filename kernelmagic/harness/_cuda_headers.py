"""Where the CUDA headers that NVRTC compiles against are, found once for the whole pool.

Finding them through cuda.pathfinder may start a Python process, which a confined worker
cannot do, and costs a worker 0.1-0.3 s before it can serve. The cluster host finds them
once, in the probe it forks as it starts, and each worker takes that answer (`preset`)
before it is confined; a process that was handed none looks for itself.
"""

from __future__ import annotations

from collections.abc import Iterable

_found: tuple[str, ...] | None = None


def include_dirs() -> tuple[str, ...]:
    """CUDA header directories (CUDA runtime and CCCL), looked up on first use only."""
    global _found
    if _found is None:
        from cuda.pathfinder import find_nvidia_header_directory

        found = (find_nvidia_header_directory(library) for library in ("cudart", "cccl"))
        _found = tuple(directory for directory in found if directory)
    return _found


def preset(directories: Iterable[str]) -> None:
    """Take `directories` as what `include_dirs` would find (the cluster host found them)."""
    global _found
    _found = tuple(directories)

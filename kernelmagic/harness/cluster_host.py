"""The process that owns the Dask cluster of candidate workers.

It is started by the calling process with a scrubbed environment (no API keys, no
tokens), so everything it spawns inherits only that. It detects GPUs, starts one pinned
worker per GPU plus simulator workers (each a Dask Nanny that restarts its worker when
the process dies), prints one JSON line with the scheduler's address and the worker
names, then waits: when its stdin closes, because the caller exited or died, it shuts
the cluster down. Usage: ``python -m kernelmagic.harness.cluster_host '{"sim_workers": 2}'``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def gpu_ids() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries."""
    try:
        from cuda.bindings import driver

        (err,) = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return []
        err, count = driver.cuDeviceGetCount()
        if err != driver.CUresult.CUDA_SUCCESS:
            return []
    except Exception:  # no driver library at all: a CPU-only machine
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [v.strip() for v in visible.split(",") if v.strip()][:count]
    return [str(i) for i in range(count)]


def worker_specs(sim_workers: int, gpus: list[str]) -> dict[str, dict[str, Any]]:
    from distributed import Nanny

    def spec(env: dict[str, str]) -> dict[str, Any]:
        return {
            "cls": Nanny,
            "options": {"nthreads": 1, "env": env, "dashboard_address": None, "silence_logs": 40},
        }

    specs = {f"sim-{i}": spec({"NUMBA_ENABLE_CUDASIM": "1"}) for i in range(sim_workers)}
    # One worker per GPU, pinned: timings of one candidate never share a device with another.
    specs.update({f"gpu-{i}": spec({"CUDA_VISIBLE_DEVICES": dev}) for i, dev in enumerate(gpus)})
    return specs


def main(argv: list[str]) -> int:
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    # Everything below, workers included, writes to the log, never to the pipe the caller reads.
    log_path = config.get("log")
    log_fd = (
        os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if log_path
        else os.open(os.devnull, os.O_WRONLY)
    )
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)

    import dask

    dask.config.set(
        {
            # A task whose worker died is a crashed candidate: never retry it elsewhere.
            "distributed.scheduler.allowed-failures": 0,
            "distributed.worker.daemon": False,
            # The Nannies restart every worker that dies. Left at its default (15 s), SpecCluster
            # would close a Nanny for good if its worker was being restarted again at the moment
            # the timer for an earlier death ran out (two timeouts in a row did that).
            "distributed.deploy.lost-worker-timeout": "3650 days",
            "logging.distributed": "error",
        }
    )
    from distributed import Scheduler, SpecCluster

    gpus = gpu_ids()
    specs = worker_specs(int(config.get("sim_workers", 1)), gpus)
    cluster = SpecCluster(
        workers=specs,
        scheduler={
            "cls": Scheduler,
            "options": {"dashboard_address": None, "port": 0, "host": "127.0.0.1"},
        },
        asynchronous=False,
        silence_logs=40,
    )
    out.write(
        json.dumps(
            {"address": cluster.scheduler_address, "workers": sorted(specs), "gpus": len(gpus)}
        )
        + "\n"
    )
    out.flush()
    out.close()
    try:
        sys.stdin.read()  # returns at EOF: the caller closed the pipe or died
    finally:
        cluster.close(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

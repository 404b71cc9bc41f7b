"""Parallel rounds: the same session on 1 and on 2 simulator workers, and on a Dask cluster.

The session is the example saxpy, 3 rounds of 4 candidates (the example with block sizes no
other round tried: distinct kernels, each judged in full), on the numba-cuda
simulator, each run with a new session database (no verdict is reused).
Reports the wall time of the session (the pool already started) with 1 and 2 workers of a
pool kernelmagic starts, their ratio, and the per-round time on a cluster kernelmagic did
not start: `dask scheduler` and 2 `dask worker` processes (simulator workers) on loopback.

Run: python bench/parallel_bench.py [--json] [--rounds 3] [--candidates 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _report import emit

import kernelmagic as km
from kernelmagic.cli._loading import load_object
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.options import ClusterOptions
from kernelmagic.loop.proposal import Proposal, ProposerReply, RoundRequest

ROOT = Path(__file__).resolve().parents[1] / "examples" / "saxpy"
PROBLEM = km.Problem(
    load_object(f"{ROOT / 'problem.py'}:reference", what="reference"),
    load_object(f"{ROOT / 'problem.py'}:inputs", what="inputs"),
)
KERNEL = ROOT / "saxpy_numba.py"


class BlockSizes:
    """Round r proposes the example with `k` block sizes no other round tries."""

    name = "block sizes"

    def __init__(self, k: int) -> None:
        self.k = k

    def propose(self, request: RoundRequest) -> ProposerReply:
        source = KERNEL.read_text()
        first = (request.round - 1) * self.k
        sizes = [32 * (i + 1) for i in range(first, first + self.k) if i != 7]  # 256: the example
        return ProposerReply(
            tuple(
                Proposal(
                    km.Candidate.from_source(source.replace("threads = 256", f"threads = {t}")),
                    "search",
                    f"{t} threads per block",
                )
                for t in sizes
            )
        )


def session_seconds(pool: WorkerPool, db: Path, rounds: int, candidates: int) -> tuple[float, int]:
    """Wall time of one session on `pool`, and how many candidates it judged."""
    t = time.perf_counter()
    session = km.optimize(
        KERNEL,
        PROBLEM,
        proposer=BlockSizes(candidates),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=km.OptimizeOptions(rounds=rounds, candidates=candidates, patience=None),
    )
    seconds = time.perf_counter() - t
    judged = sum(1 for c in session.candidates if c.verdict is not None and not c.reused_from)
    # Comparisons depend on which screening figure looks faster, which noise decides: two
    # runs of the session can compare different numbers of times.
    compared = sum(1 for d in session.decisions if d.estimate is not None)
    confirmed = "a final comparison" if session.confirmation else "no final comparison"
    print(f"{pool.counts['sim']} workers: {compared} decided by comparison, {confirmed}",
          file=sys.stderr)  # fmt: skip
    return seconds, judged


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dask_cluster(workers: int) -> Iterator[str]:
    """A scheduler and `workers` simulator workers started from Dask's command-line tools."""
    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    for i in range(workers):
        command = [dask, "worker", address, "--nthreads", "1", "--name", f"bench-{i}"]
        procs.append(
            subprocess.Popen(
                [*command, "--no-dashboard", "--host", "127.0.0.1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=4)
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for n in (1, 2):
            t = time.perf_counter()
            pool = WorkerPool(ClusterOptions(sim_workers=n))
            results[f"pool_start_{n}_workers_s"] = time.perf_counter() - t
            try:
                seconds, judged = session_seconds(
                    pool, tmp / f"local-{n}.sqlite", args.rounds, args.candidates
                )
            finally:
                pool.close()
            results[f"session_{n}_workers_s"] = seconds
            results[f"judged_{n}_workers"] = judged
        results["ratio_2_over_1"] = results["session_2_workers_s"] / results["session_1_workers_s"]
        with dask_cluster(2) as address:
            pool = WorkerPool(ClusterOptions(scheduler_address=address, startup_timeout_s=60))
            try:
                seconds, judged = session_seconds(
                    pool, tmp / "remote.sqlite", args.rounds, args.candidates
                )
            finally:
                pool.close()
        results["remote_2_workers_session_s"] = seconds
        results["remote_2_workers_per_round_s"] = seconds / args.rounds
        results["judged_remote"] = judged
    emit(results, as_json=args.json)


if __name__ == "__main__":
    main()

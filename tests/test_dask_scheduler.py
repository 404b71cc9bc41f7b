"""`--scheduler ADDRESS`: a session on a Dask cluster started with Dask's own command-line
tools (`dask scheduler`, `dask worker`), not by kernelmagic. Its workers are sorted by what
they are, not by their names: one has the simulator in its environment, the other, started
without `--name`, compiles for a GPU target."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic.errors import BackendUnavailable
from kernelmagic.harness.cluster import WorkerPool, close_shared_pools
from kernelmagic.harness.options import ClusterOptions
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.start import optimize

pytestmark = pytest.mark.slow  # a scheduler and two workers start in about 5 s

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "saxpy"
DEADLINE_S = 60.0  # for each process to come up, generous on a loaded 2-core machine
SANDBOX_WARNING = "not confined by kernelmagic's sandbox"


def dask_command(*args: str) -> list[str]:
    """The `dask` command of this environment (`python -m dask` where it has no script)."""
    script = Path(sys.executable).with_name("dask")
    return [str(script), *args] if script.is_file() else [sys.executable, "-m", "dask", *args]


class Processes:
    """The cluster's processes, each in its own process group (a worker's nanny and the
    worker it starts), each with its log."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.logs: dict[subprocess.Popen[bytes], Path] = {}
        # Not the simulator unless a worker is given it.
        self.env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}

    def start(
        self, role: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = self.work / f"{role}-{len(self.logs)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                dask_command(role, "--host", "127.0.0.1", "--no-dashboard", *args),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**self.env, **(env or {})},
                cwd=self.work,
                start_new_session=True,
            )
        self.logs[proc] = log
        return proc

    def wait_until(self, ready: Callable[[], Any], what: str) -> Any:
        """ready()'s first true value; fails at once, with the logs, if a process exited."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            value = ready()
            if value:
                return value
            if any(proc.poll() is not None for proc in self.logs):
                break
            time.sleep(0.1)
        logs = "\n".join(f"-- {log.name}\n{log.read_text()[-2000:]}" for log in self.logs.values())
        pytest.fail(f"{what} did not happen within {DEADLINE_S:g} s:\n{logs}")

    def stop(self, *procs: subprocess.Popen[bytes]) -> None:
        """SIGTERM to each one's process group, then SIGKILL to what is left after 15 s."""
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            del self.logs[proc]


@dataclasses.dataclass
class Cluster:
    address: str
    client: Any  # distributed.Client
    sim: str  # the simulator worker's address
    cc: str  # the compile worker's address (it has no name: Dask names it by its address)
    procs: Processes

    def start_worker(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return self.procs.start(
            "worker", self.address, "--nthreads", "1", "--local-directory",
            str(self.procs.work), *args, env=env,
        )  # fmt: skip

    def workers(self) -> dict[str, dict[str, Any]]:
        return dict(self.client.scheduler_info(n_workers=-1)["workers"])


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from distributed import Client

    procs = Processes(tmp_path_factory.mktemp("dask-cli"))
    info = procs.work / "scheduler.json"
    client = None
    try:
        # A crashed candidate is a verdict, not a task to retry (docs/dask.md).
        procs.start(
            "scheduler", "--port", "0", "--scheduler-file", str(info),
            env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"},
        )  # fmt: skip

        def address() -> str | None:
            try:
                return str(json.loads(info.read_text())["address"])
            except (OSError, ValueError, KeyError):  # not written yet, or half written
                return None

        addr = procs.wait_until(address, "the scheduler's start")
        client = Client(addr, set_as_default=False, timeout="60s")
        cluster = Cluster(addr, client, "", "", procs)
        cluster.start_worker("--name", "ext-sim", env={"NUMBA_ENABLE_CUDASIM": "1"})
        cluster.start_worker(env={"CUDA_VISIBLE_DEVICES": ""})  # no --name
        procs.wait_until(lambda: len(cluster.workers()) == 2, "both workers' start")
        found = cluster.workers()
        cluster.sim = next(a for a, w in found.items() if w["name"] == "ext-sim")
        (cluster.cc,) = set(found) - {cluster.sim}
        yield cluster
    finally:
        close_shared_pools()  # the sessions' pools on this cluster, before it stops
        if client is not None:
            client.close()
        procs.stop(*list(procs.logs)[::-1])  # the workers, then the scheduler


def test_a_session_on_the_cluster_sends_each_job_to_a_worker_of_its_kind(dask_cluster, tmp_path):
    from distributed import get_task_stream

    options = km.HarnessOptions(cluster=ClusterOptions(scheduler_address=dask_cluster.address))
    problem = km.Problem(saxpy_reference, saxpy_inputs)
    with get_task_stream(client=dask_cluster.client) as stream:
        session = optimize(
            NUMBA_SAXPY,
            problem,
            proposer="search",
            options=OptimizeOptions(rounds=1, candidates=2),
            harness_options=options,
            session_db=tmp_path / "s.db",
        )
        # A comparison ("time_job") runs only when a candidate may beat the best, which
        # the search need not find in one round: one is made here, on the same cluster.
        kernel = km.Candidate.from_source(NUMBA_SAXPY)
        comparison = km.Harness(problem, options=options).compare(kernel, kernel)
    assert session.phase == "finished", session.stop_reason
    baseline = session.baseline
    assert baseline is not None and baseline.verdict is not None
    assert baseline.status is km.Status.CORRECT, baseline.verdict.message
    assert baseline.verdict.backend == "numba-sim"
    assert any(SANDBOX_WARNING in w for w in baseline.verdict.warnings)
    assert len(session.candidates) == 3  # the baseline and the round's two
    assert comparison.estimate is not None and comparison.simulated, comparison.message
    ran: dict[str, set[str]] = {}
    for task in stream.data:
        ran.setdefault(task["key"].split("-")[0], set()).add(task["worker"])
    # What the simulator ran is compiled for a GPU target on the worker without it;
    # everything else (verification, "job": a partial; timing) runs on the simulator.
    assert ran.pop("gpu_compile") == {dask_cluster.cc}, ran
    assert {"job", "time_job"} <= set(ran), ran
    assert all(workers == {dask_cluster.sim} for workers in ran.values()), ran


def test_kernelmagic_check_runs_on_the_cluster_named_by_scheduler(dask_cluster, tmp_path):
    problem = tmp_path / "small.py"
    problem.write_text(
        "import numpy as np\n"
        "def reference(a, x, y):\n    return a * x + y\n"
        "def inputs(seed):\n"
        "    rng = np.random.default_rng(seed)\n"
        "    n = int(rng.integers(100, 300)) | 1\n"
        "    return {'a': np.float32(1.5), 'x': rng.standard_normal(n, dtype=np.float32),\n"
        "            'y': rng.standard_normal(n, dtype=np.float32), 'n': n}\n"
    )
    result = subprocess.run(
        [
            sys.executable, "-m", "kernelmagic", "check", str(EXAMPLE / "saxpy_numba.py"),
            "--reference", f"{problem}:reference", "--inputs", f"{problem}:inputs",
            "--scheduler", dask_cluster.address, "--json",
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "correct", verdict["message"]
    assert verdict["simulated"] is True
    assert SANDBOX_WARNING in result.stderr


def test_a_worker_without_a_name_is_found_again_after_its_nanny_restarts_it(dask_cluster):
    pool = WorkerPool(ClusterOptions(scheduler_address=dask_cluster.address))
    try:
        assert (pool.counts["sim"], pool.counts["cc"], pool.gpus) == (1, 1, 0)
        (name,) = pool._names["cc"]
        before, _ = pool.run("cc", os.getpid, timeout_s=30)
        pool.replace(name)  # comes back on another port: another name, the same nanny
        after, ran_on = pool.run("cc", os.getpid, timeout_s=30)
    finally:
        pool.close()
    assert ran_on == name and after != before
    assert pool.generation == 1


def test_a_worker_kind_the_cluster_lacks_says_how_to_add_it_and_is_found_once_added(
    dask_cluster,
):
    pool = WorkerPool(ClusterOptions(scheduler_address=dask_cluster.address))
    gpu = None
    try:
        with pytest.raises(BackendUnavailable, match=r"--resources GPU=1"):
            pool.run("gpu", os.getpid, timeout_s=30)
        # A worker that advertises a GPU is one, whatever its name and environment (nothing
        # here uses a GPU: the job only asks for the worker's pid).
        gpu = dask_cluster.start_worker(
            "--name", "sim-looking", "--resources", "GPU=1", env={"NUMBA_ENABLE_CUDASIM": "1"}
        )
        dask_cluster.procs.wait_until(
            lambda: len(dask_cluster.workers()) == 3, "the GPU worker's start"
        )
        pid, name = pool.run("gpu", os.getpid, timeout_s=30)
    finally:
        pool.close()
        if gpu is not None:
            dask_cluster.procs.stop(gpu)
            # The other tests see the two workers again.
            dask_cluster.procs.wait_until(
                lambda: len(dask_cluster.workers()) == 2, "the GPU worker's exit"
            )
    assert name == "sim-looking" and pool.gpus == 1 and pid > 0


def test_a_worker_running_other_kernelmagic_sources_is_refused_with_both_builds(
    dask_cluster, tmp_path
):
    import shutil

    from kernelmagic._version import build

    # The same version number, one changed line: a checkout with local edits, say.
    other = tmp_path / "other"
    shutil.copytree(
        ROOT / "kernelmagic", other / "kernelmagic", ignore=shutil.ignore_patterns("labextension")
    )
    with open(other / "kernelmagic" / "harness" / "jobs.py", "a") as fh:
        fh.write("# a local change\n")
    stale = dask_cluster.start_worker("--name", "stale", env={"PYTHONPATH": str(other)})
    try:
        dask_cluster.procs.wait_until(
            lambda: len(dask_cluster.workers()) == 3, "the stale worker's start"
        )
        with pytest.raises(BackendUnavailable) as refused:
            WorkerPool(ClusterOptions(scheduler_address=dask_cluster.address)).close()
    finally:
        dask_cluster.procs.stop(stale)
        dask_cluster.procs.wait_until(
            lambda: len(dask_cluster.workers()) == 2, "the stale worker's exit"
        )
    said = str(refused.value)
    assert "runs another kernelmagic than this process" in said, said
    assert f"({build()})" in said and said.count("0.1.0+") == 2


def test_a_scheduler_address_where_nothing_listens_fails_at_once_with_the_reason(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago, closed again
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [
            sys.executable, "-m", "kernelmagic", "check", str(EXAMPLE / "saxpy_numba.py"),
            "--reference", f"{EXAMPLE / 'problem.py'}:reference",
            "--inputs", f"{EXAMPLE / 'problem.py'}:inputs",
            "--scheduler", f"tcp://127.0.0.1:{port}",
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=50,  # Dask alone waits 60 s
    )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in result.stderr
    assert "no scheduler listens there" in result.stderr and "Traceback" not in result.stderr

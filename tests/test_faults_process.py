"""Process faults: workers lost under a job, a pool that cannot come back, Ctrl-C, resume.

Each test recreates a failure that was seen: a correct kernel failed when the generator's
sizes grew with the seed and a retry reused data that died with a worker; a pool that
could not be restored hung a session or was reported as a usage error; a second Ctrl-C
stored a correct kernel as `runtime_error`; a resume sent the key to another endpoint.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from openai_server import Reply, serve
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_cli_optimize import PROBLEM, base_args, kernelmagic
from test_loop import SLOW_SAXPY

import kernelmagic as km
from kernelmagic import _process_owner as store_owner
from kernelmagic.harness import cluster
from kernelmagic.harness._job_failures import LostData
from kernelmagic.harness._measure import time_job
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.options import ClusterOptions
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.loop.proposal import Proposal, ProposerReply, RoundRequest
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore

GROWING = """
import numpy as np

def reference(a, x, y):
    return a * x + y

def saxpy(seed, n):
    rng = np.random.default_rng(seed)
    return {
        "a": np.float32(rng.uniform(-2.0, 2.0)),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }

def inputs(seed):
    return saxpy(seed, 300 + 97 * seed)

def huge(seed):
    return saxpy(seed, 1 << 24)

def fixed(seed):
    return saxpy(seed, 1031)

def slow(seed):  # seconds per evaluation on the simulator
    return saxpy(seed, 2503)
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    (root / "growing.py").write_text(GROWING)
    (root / "problem.py").write_text(PROBLEM)
    (root / "saxpy.py").write_text(NUMBA_SAXPY)
    (root / "slow.py").write_text(SLOW_SAXPY)
    return root


@pytest.mark.parametrize(
    "generator, timing", [("inputs", None), ("fixed", None), ("fixed", "huge")]
)
def test_the_simulator_times_on_inputs_of_the_verification_sizes(root, generator, timing):
    """`inputs(1000 + k)` once asked the simulator for ~97,000 threads per launch; stated
    `timing_inputs` of 16M elements would take the simulator half an hour per call."""
    problem = f"{root / 'growing.py'}"
    extra = ["--timing-inputs", f"{problem}:{timing}"] if timing else []
    result = kernelmagic(
        "check",
        str(root / "saxpy.py"),
        "--reference",
        f"{problem}:reference",
        "--inputs",
        f"{problem}:{generator}",
        "--backend",
        "numba-sim",
        *extra,
        "--json",
    )
    verdict = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdict["status"] == "correct" and verdict["timing"]["samples"] >= 3
    said = "timing_inputs are for a GPU" in " ".join(verdict["warnings"])
    assert said == bool(timing)


def test_a_retry_after_a_lost_worker_scatters_the_timing_sets_again(pool, monkeypatch):
    """The first timing try finds its data gone with the workers that held it (killed and
    replaced); the retry must send the sets again, not hand the new workers a dead copy."""
    real_run = pool.run
    lost = []

    def run(kind, fn, *args, **kwargs):
        if fn is time_job and not lost:
            lost.append(pool.generation)
            for k in range(pool.counts["sim"]):  # a real kill, and a real replacement
                pool.replace(f"sim-{k}")
            raise LostData("the timing sets died with their workers (the test killed them)")
        return real_run(kind, fn, *args, **kwargs)

    monkeypatch.setattr(pool, "run", run)
    harness = km.Harness(km.Problem(saxpy_reference, saxpy_inputs), backend="numba-sim", pool=pool)
    # One share of the pairs: the test kills every simulator worker, so no other share may
    # be running meanwhile.
    monkeypatch.setattr(harness._timing, "_pair_shares", lambda workers: [24])
    kernel = km.Candidate.from_source(NUMBA_SAXPY)
    assert harness.evaluate(kernel).status is km.Status.CORRECT
    comparison = harness.compare(kernel, kernel)  # times on the scattered sets
    assert lost and pool.generation > lost[0]
    assert comparison.estimate is not None, comparison.message


def test_data_lost_with_another_worker_is_not_a_dead_worker(pool):
    """A job whose scattered input died with an earlier worker fails at once with
    `LostData`, and the pool does not wait for a replacement of the healthy worker."""
    held = pool.scatter([1, 2, 3], "sim")
    for k in range(pool.counts["sim"]):  # every copy goes
        pool.replace(f"sim-{k}")
    with pytest.raises(LostData):
        pool.run("sim", len, held, timeout_s=30)
    result, _ = pool.run("sim", len, pool.scatter([1, 2, 3], "sim"), timeout_s=30)
    assert result == 3


@pytest.fixture
def doomed_pool():
    """A pool of its own, for tests that kill its host (and so every worker)."""
    pool = WorkerPool(ClusterOptions(startup_timeout_s=20))
    yield pool
    pool.close()


def _kill_host(pool: WorkerPool) -> None:
    assert pool._host is not None
    os.killpg(pool._host.pid, signal.SIGKILL)  # the host leads its own process group
    pool._host.wait(timeout=10)


def test_workers_that_cannot_come_back_are_crashed_not_the_kernels_fault(doomed_pool):
    harness = km.Harness(
        km.Problem(saxpy_reference, saxpy_inputs), backend="numba-sim", pool=doomed_pool
    )
    harness.cases  # noqa: B018
    _kill_host(doomed_pool)
    verdict = harness.evaluate(km.Candidate.from_source(NUMBA_SAXPY))
    assert verdict.status is km.Status.CRASHED
    assert "not the kernel's fault" in verdict.message
    assert "host exited" in (harness.workers_failed or "")


class _KillsTheHost:
    """A proposer whose first round takes the pool's host down before it answers."""

    name = "kills"

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    def propose(self, request: RoundRequest) -> ProposerReply:
        _kill_host(self.pool)
        candidate = km.Candidate.from_source(NUMBA_SAXPY)
        return ProposerReply(proposals=(Proposal(candidate, "llm", "the same kernel"),))


def test_a_session_whose_workers_cannot_be_restored_ends_with_the_reason(doomed_pool, tmp_path):
    session = optimize(
        SLOW_SAXPY,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer=_KillsTheHost(doomed_pool),
        backend="numba-sim",
        session_db=tmp_path / "s.sqlite",
        pool=doomed_pool,
        options=OptimizeOptions(rounds=3, candidates=1),
        wait=False,
    )
    with pytest.raises(km.KernelmagicError, match="could not be restored"):
        session.wait(timeout_s=120)
    assert session.done and session.state == "failed"
    stored = SessionStore(tmp_path / "s.sqlite").load(session.id)
    assert stored.info.state == "failed" and "resume" in stored.info.stop_reason
    proposed = [c for c in stored.candidates if c.round == 1]
    assert proposed and proposed[0].status is km.Status.CRASHED
    assert "not the kernel's fault" in proposed[0].verdict.message
    # Never reused: a later session judges this kernel again.
    assert stored.candidates[0].status is km.Status.CORRECT


def _optimize_in_background(root: Path, db: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kernelmagic",
            *base_args(root, db),
            "--proposer",
            "search",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _lines_until(proc: subprocess.Popen[str], marker: str, seen: list[str]) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError("the session ended first:\n" + "".join(seen))
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"no {marker!r} in time:\n" + "".join(seen))


def test_one_ctrl_c_stops_after_the_evaluation_in_flight_and_prints_once(root, tmp_path):
    db = tmp_path / "s.sqlite"
    proc = _optimize_in_background(root, db, "--rounds", "4")
    seen: list[str] = []
    try:
        _lines_until(proc, " started (store: ", seen)  # the user's kernel is being judged
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(seen) + rest
    assert log.count("stopping after the evaluation in flight") == 1
    assert log.count(" started (store: ") == 1  # the log is not printed a second time
    (info,) = SessionStore(db).sessions()
    assert info.state == "stopped" and info.stop_reason == "stopped on request"
    assert proc.returncode == 0  # the evaluation in flight finished: the user's kernel
    assert info.best_ms is not None


def test_a_second_ctrl_c_quits_at_once_and_stores_no_verdict_for_the_evaluation(root, tmp_path):
    db = tmp_path / "s.sqlite"
    # The second Ctrl-C must land while the user's kernel is judged: inputs that take seconds.
    slow = ["--inputs", f"{root / 'growing.py'}:slow"]
    proc = _optimize_in_background(root, db, "--rounds", "4", *slow)
    seen: list[str] = []
    try:
        _lines_until(proc, " started (store: ", seen)  # the user's kernel is being judged
        proc.send_signal(signal.SIGINT)
        _lines_until(proc, "Ctrl-C again", seen)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(seen) + rest
    assert "--resume" in rest
    with sqlite3.connect(db) as con:
        statuses = [s for (s,) in con.execute("SELECT status FROM verdicts")]
        (state,) = con.execute("SELECT state FROM sessions").fetchone()
    # The user's kernel was cut short: no verdict at all, not a `runtime_error`.
    assert statuses == [] and state == "interrupted"
    (info,) = SessionStore(db).sessions()
    resumed = kernelmagic(
        "optimize", "--resume", info.id, "--session-db", str(db), "--rounds", "0", "--json"
    )
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["state"] == "finished" and out["baseline"]["status"] == "correct"


RENAMED_SAXPY = NUMBA_SAXPY.replace("def saxpy(", "def saxpy_fast(")


def test_resume_keeps_the_sessions_endpoint_model_and_budgets(root, tmp_path, monkeypatch):
    db = tmp_path / "s.sqlite"
    reply = Reply(f"A renamed kernel.\n```python\n{RENAMED_SAXPY}```")
    with serve(default=reply) as first, serve(default=reply) as other:
        key = first.api_key
        env = {**os.environ, "OPENAI_API_KEY": key, "OPENAI_BASE_URL": other.url}
        args = [*base_args(root, db), "--json"]
        started = kernelmagic(
            *args,
            "--base-url",
            first.url,
            "--model",
            "other-model",
            "--rounds",
            "1",
            "--candidates",
            "2",
            "--patience",
            "5",
            env=env,
        )
        assert started.returncode == 0, started.stderr
        session = json.loads(started.stdout)["session"]
        asked = len(first.chat_requests())
        resumed = kernelmagic(
            "optimize",
            "--resume",
            session,
            "--session-db",
            str(db),
            "--rounds",
            "2",
            "--json",
            env=env,
        )
        assert resumed.returncode == 0, resumed.stderr
        out = json.loads(resumed.stdout)
    assert not other.chat_requests(), "the key went to $OPENAI_BASE_URL, not the session's server"
    later = first.chat_requests()[asked:]
    assert len(later) == 2  # round 2 asked for the stored 2 candidates
    assert {r.body["model"] for r in later} == {"other-model"}
    assert out["rounds"] == 2
    assert key not in started.stdout + started.stderr + resumed.stdout + resumed.stderr


def test_a_key_echoed_in_a_reply_never_reaches_stdout_or_stderr(root, tmp_path):
    with serve() as server:
        key = server.api_key
        echo = RENAMED_SAXPY + f"\n# debug: my key is {key}\n"
        server.script(
            Reply(f"Renamed (key {key}).\n```python\n{echo}```"),
            Reply(f"Again, key={key}\n```python\n{echo}# 2\n```"),
        )
        env = {**os.environ, "OPENAI_API_KEY": key}
        result = kernelmagic(
            *base_args(root, tmp_path / "s.sqlite"),
            "--base-url",
            server.url,
            "--model",
            "test-model",
            "--rounds",
            "1",
            "--candidates",
            "2",
            "--json",
            env=env,
        )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert key not in result.stdout and key not in result.stderr
    assert "[redacted]" in out["best"]["source"]
    with sqlite3.connect(tmp_path / "s.sqlite") as con:
        dump = "\n".join(con.iterdump())
    assert key not in dump


def test_a_shared_pool_whose_host_died_is_replaced_by_the_next_harness(monkeypatch):
    """The process-wide pool is not reused once its workers are gone: the next evaluation
    starts a new one (once), so a notebook is not stuck with a dead pool."""
    options = ClusterOptions(startup_timeout_s=20, queue_timeout_s=30)
    harness = km.Harness(
        km.Problem(saxpy_reference, saxpy_inputs),
        backend="numba-sim",
        options=km.HarnessOptions(cluster=options),
    )
    try:
        first = harness.pool
        _kill_host(first)
        verdict = harness.evaluate(km.Candidate.from_source(NUMBA_SAXPY))
        assert verdict.status is km.Status.CORRECT, verdict.message
        assert harness.pool is not first and first.closed
        assert cluster.shared_pool(options.sized(1)) is harness.pool  # the key it was sized to
    finally:
        cluster.drop_shared_pool(harness.pool)


def test_workers_failing_before_a_session_starts_is_not_a_usage_error(
    root, tmp_path, monkeypatch, capsys
):
    from kernelmagic.cli import main as cli
    from kernelmagic.errors import WorkersUnavailable
    from kernelmagic.harness.evaluate import Harness

    def down(self, candidate):
        raise WorkersUnavailable("the worker processes' host exited (status -9)")

    monkeypatch.setattr(Harness, "device_info", down)
    code = cli.main(
        [
            *base_args(root, tmp_path / "s.sqlite"),
            "--proposer",
            "search",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 1
    said = json.loads(out.out)
    assert said["status"] == "crashed" and "not the kernel's fault" in said["message"]
    assert "Traceback" not in out.err


def test_the_directories_of_a_pool_whose_caller_died_are_removed_by_the_next(tmp_path):
    """A caller killed with SIGKILL never closes its pool: its log and scratch stay, until
    the next pool on the machine starts."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = Path(tempfile.mkdtemp(prefix="kernelmagic-workers-"))
    (orphan / "kernelmagic-workers.log").write_text("a log nobody will read")
    owner = store_owner.Owner(int(dead.stdout), socket.gethostname(), "gone/1")
    (orphan / "owner.json").write_text(json.dumps(dataclasses.asdict(owner)))
    alive = Path(tempfile.mkdtemp(prefix="kernelmagic-workers-"))
    (alive / "owner.json").write_text(json.dumps(dataclasses.asdict(store_owner.current())))
    try:
        pool = WorkerPool(ClusterOptions(startup_timeout_s=20))
        pool.close()
        assert not orphan.exists() and alive.exists()
    finally:
        shutil.rmtree(orphan, ignore_errors=True)
        shutil.rmtree(alive, ignore_errors=True)


def test_a_full_temporary_directory_is_a_pool_failure_in_words(monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", full)
    with pytest.raises(km.KernelmagicError, match=r"cannot make the workers' directory.*No space"):
        WorkerPool(ClusterOptions())

"""The caller never dies: a hang ends as a timeout, a crash as `crashed`; the next one works.

Crashes are planted through modules a problem explicitly allows (os, ctypes): a problem
may extend the import list, and a candidate must not be able to take the harness down
even then.
"""

from __future__ import annotations

import functools
import os
import pathlib

import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic import Status
from kernelmagic.harness._host_process import worker_environment
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.options import ClusterOptions

SAXPY = km.Problem(saxpy_reference, saxpy_inputs)

CORRECT = NUMBA_SAXPY


def test_an_endless_host_loop_times_out_and_the_next_candidate_still_runs(evaluate):
    hang = CORRECT.replace(
        "    out = cuda.device_array_like(x)\n", "    while True:\n        pass\n", 1
    )
    verdict = evaluate(hang, SAXPY, timeout_s=3.0)
    assert verdict.status is Status.TIMEOUT
    assert "within 3 s" in verdict.message
    assert evaluate(CORRECT, SAXPY).status is Status.CORRECT


def test_an_endless_loop_inside_a_kernel_times_out(evaluate):
    hang = CORRECT.replace(
        "    if i < x.size:\n", "    while i >= 0:\n        i += 0\n    if i < x.size:\n"
    )
    verdict = evaluate(hang, SAXPY, timeout_s=3.0)
    assert verdict.status is Status.TIMEOUT
    assert evaluate(CORRECT, SAXPY).status is Status.CORRECT


@pytest.mark.parametrize(
    ("module", "crash"),
    [("os", "os._exit(3)"), ("ctypes", "ctypes.string_at(0)")],
    ids=["os._exit", "segfault"],
)
def test_a_crashing_worker_is_replaced(evaluate, module, crash):
    problem = km.Problem(saxpy_reference, saxpy_inputs, allowed_imports=(module,))
    source = f"import {module}\n" + CORRECT.replace(
        "    out = cuda.device_array_like(x)\n", f"    {crash}\n", 1
    )
    verdict = evaluate(source, problem)
    assert verdict.status is Status.CRASHED
    assert "died" in verdict.message
    assert evaluate(CORRECT, SAXPY).status is Status.CORRECT


def test_an_exception_in_the_candidate_is_a_runtime_error_with_its_line(evaluate):
    source = CORRECT.replace("    return out\n", "    return out[10**9]\n")
    verdict = evaluate(source, SAXPY)
    assert verdict.status is Status.RUNTIME_ERROR
    assert "line 13, in saxpy" in verdict.message
    assert "IndexError" in verdict.message


def test_the_simulator_reports_an_out_of_bounds_write(evaluate):
    source = CORRECT.replace("    if i < x.size:\n        out[i]", "    if True:\n        out[i]")
    verdict = evaluate(source, SAXPY, backend="numba-sim")
    assert verdict.status is Status.RUNTIME_ERROR
    assert "index" in verdict.message.lower()


def test_a_syntax_error_is_a_compile_error_with_its_line(evaluate):
    verdict = evaluate(CORRECT.replace("def saxpy(a, x, y):", "def saxpy(a, x, y)"), SAXPY)
    assert verdict.status is Status.COMPILE_ERROR
    assert "line 10" in verdict.message


def test_a_candidate_without_an_entry_function_says_what_to_write(evaluate):
    verdict = evaluate(CORRECT.split("def saxpy")[0], SAXPY)
    assert verdict.status is Status.COMPILE_ERROR
    assert "def name(a, x, y)" in verdict.message


def test_a_problem_may_name_the_entry_explicitly(evaluate, pool):
    two = CORRECT + "\ndef other(a, x, y):\n    return saxpy(a, x, y)\n"
    harness = km.Harness(SAXPY, pool=pool)
    assert harness.evaluate(km.Candidate.from_source(two)).status is Status.COMPILE_ERROR
    named = km.Candidate.from_source(two, entry="other")
    assert harness.evaluate(named).status is Status.CORRECT


def test_workers_get_no_secrets_in_their_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-leak")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-do-not-leak")
    monkeypatch.setenv("CUDA_HOME_PASSWORD", "pw-do-not-leak")
    assert "OPENAI_API_KEY" not in worker_environment(os.environ)
    pool = WorkerPool(ClusterOptions(sim_workers=1))
    try:
        # Functions pickled by reference and run there: the worker's own environment.
        key, _ = pool.run("sim", functools.partial(os.getenv, "OPENAI_API_KEY"), timeout_s=30)
        sim, _ = pool.run("sim", functools.partial(os.getenv, "NUMBA_ENABLE_CUDASIM"), timeout_s=30)
        raw, _ = pool.run("sim", pathlib.Path("/proc/self/environ").read_bytes, timeout_s=30)
        assert pool._host is not None
        host_raw = pathlib.Path(f"/proc/{pool._host.pid}/environ").read_bytes()
    finally:
        pool.close()
    assert key is None
    assert sim == "1"
    for blob in (raw, host_raw):
        assert b"do-not-leak" not in blob
        assert b"OPENAI_API_KEY" not in blob


def test_a_closed_pipe_shuts_the_cluster_host_down():
    pool = WorkerPool(ClusterOptions(sim_workers=1))
    host = pool._host
    assert host is not None and host.poll() is None
    pool.close()
    assert host.poll() is not None


def test_an_existing_dask_cluster_can_run_the_candidates():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={"NUMBA_ENABLE_CUDASIM": "1"},
    ) as cluster:
        options = km.HarnessOptions(
            cluster=ClusterOptions(scheduler_address=cluster.scheduler_address)
        )
        pool = WorkerPool(options.cluster)
        try:
            harness = km.Harness(SAXPY, backend="numba-sim", options=options, pool=pool)
            verdict = harness.evaluate(km.Candidate.from_source(CORRECT))
        finally:
            pool.close()
    assert verdict.status is Status.CORRECT, verdict.message
    assert pool._host is None  # nothing was started beside the existing cluster


def test_a_worker_killed_again_as_dasks_lost_worker_timer_runs_out_still_comes_back():
    """Dask's SpecCluster closes a Nanny for good if its worker is absent when the 15 s timer
    for an earlier death runs out; a second kill lands in that window here."""
    import time

    from kernelmagic.harness._job_failures import JobTimeout

    hang = functools.partial(time.sleep, 3600)  # pickled by reference: runs in the worker
    pool = WorkerPool(ClusterOptions(sim_workers=1))
    try:
        first_death = time.monotonic() + 1.0  # the moment its timeout kills it
        with pytest.raises(JobTimeout):
            pool.run("sim", hang, timeout_s=1)
        time.sleep(max(0.0, first_death + 14.4 - time.monotonic()))
        with pytest.raises(JobTimeout):
            pool.run("sim", hang, timeout_s=0.2)  # dies again at about 15 s
        time.sleep(3)
        result, _ = pool.run(
            "sim", functools.partial(os.getenv, "NUMBA_ENABLE_CUDASIM"), timeout_s=60
        )
    finally:
        pool.close()
    assert result == "1"

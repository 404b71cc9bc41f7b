"""Shared fixtures: one pool of simulator workers for the whole run; GPU detection for marks;
a private data directory, so the suite never writes into the user's own."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

import kernelmagic as km
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.options import ClusterOptions


@functools.cache
def gpu_available() -> bool:
    """An NVIDIA driver with at least one device, and CuPy to drive it."""
    try:
        import cupy  # noqa: F401
        from cuda.bindings import driver

        (err,) = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return False
        err, count = driver.cuDeviceGetCount()
        return err == driver.CUresult.CUDA_SUCCESS and count > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU with a CUDA driver and CuPy; none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This run's stand-in for the user data directory, and its default session database.

    Set in the environment, so subprocesses and notebook kernels started by tests use it
    too; a test that wants its own database passes one or sets the variable again.
    """
    root = tmp_path_factory.mktemp("data-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("XDG_DATA_HOME", str(root))
        env.setenv("KERNELMAGIC_SESSION_DB", str(root / "kernelmagic" / "sessions.sqlite"))
        env.setenv("IPYTHONDIR", str(root / "ipython"))  # shells and kernels keep history there
        yield root


@pytest.fixture(scope="session")
def pool():
    """Two simulator workers (and any GPUs), shared by every test that evaluates candidates."""
    workers = WorkerPool(ClusterOptions(sim_workers=2))
    yield workers
    workers.close()


@pytest.fixture
def ran(pool) -> km.Status:
    """What a correct CUDA C or CuPy candidate ends as here: run and correct on a GPU,
    compiled but `unverified` without one."""
    return km.Status.CORRECT if pool.gpus else km.Status.UNVERIFIED


@pytest.fixture
def evaluate(pool):
    """evaluate(source, problem, backend="auto", **options) -> Verdict, on the shared pool."""

    def run(source: str, problem: km.Problem, backend: str = "auto", **options) -> km.Verdict:
        harness = km.Harness(
            problem, backend=backend, options=km.HarnessOptions(**options), pool=pool
        )
        return harness.evaluate(km.Candidate.from_source(source))

    return run


@pytest.fixture
def openai_server():
    """A scripted OpenAI-compatible server on 127.0.0.1 (tests/openai_server.py)."""
    from openai_server import serve

    with serve() as server:
        yield server

"""What a process loads on its way to one of kernelmagic's modules: the pool's host (and
each GPU worker, which starts as the same module) must reach its work without the public
API, Dask or numba, which cost it most of a second of a 2-core machine's start-up; the host
then loads Dask once for the children it forks (tests/test_forked_children.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import kernelmagic as km

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(module: str) -> set[str]:
    """The modules a fresh process holds after importing `module`."""
    probe = PROBE.format(module=module)
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(run.stdout))


def test_the_pool_host_module_loads_neither_the_api_nor_dask_nor_numba():
    loaded = loaded_by("kernelmagic.harness._cluster_host")
    heavy = {"kernelmagic._api", "kernelmagic.harness.evaluate", "distributed", "dask", "numba"}
    assert not heavy & loaded, sorted(heavy & loaded)


def test_the_static_checks_load_none_of_numpys_lazy_submodules():
    # Listing NumPy's ufuncs through getattr over dir(numpy) loaded f2py, testing and the
    # rest: 60 ms in every process that checks a candidate (the CLI, each worker).
    loaded = loaded_by("kernelmagic.candidate.safety")
    lazy = {"numpy.f2py", "numpy.testing", "numpy.ctypeslib", "numpy.polynomial", "numpy.ma"}
    assert not lazy & loaded, sorted(lazy & loaded)


def test_every_public_name_is_there_when_asked_for():
    for name in km.__all__:
        assert getattr(km, name) is not None, name
    assert set(km.__all__) <= set(dir(km))
    assert km.Harness.__module__ == "kernelmagic.harness.evaluate"


def test_the_pool_warms_each_of_its_simulator_and_compile_workers_once_all_are_up(pool):
    warming = {future.key: future for future in pool._warming}
    expected = {f"warm_up-{name}" for kind in ("sim", "cc") for name in pool._names[kind]}
    assert set(warming) == expected and len(expected) >= 2
    pool.client.gather(list(warming.values()), errors="skip")  # waits for each
    # Each ran where it was sent and loaded what it should without an error.
    assert all(future.status == "finished" for future in warming.values()), {
        key: future.exception() for key, future in warming.items()
    }

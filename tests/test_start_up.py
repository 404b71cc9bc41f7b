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
import kernelmagic.harness._cluster_host
print(json.dumps(sorted(sys.modules)))
"""


def test_the_pool_host_module_loads_neither_the_api_nor_dask_nor_numba():
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        ).stdout
    )
    heavy = {"kernelmagic._api", "kernelmagic.harness.evaluate", "distributed", "dask", "numba"}
    assert not heavy & set(loaded), sorted(heavy & set(loaded))


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

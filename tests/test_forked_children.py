"""The pool's scheduler and CPU workers are forked from the cluster host once it has loaded
Dask. A fork is only as sound as the host it copies: one thread, no CUDA driver, no numba
(whose simulator is chosen when it loads), and no descriptor a child should not hold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.options import ClusterOptions


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _pipes(pid: int) -> dict[int, str]:
    """A process's descriptors that are pipes, by number."""
    held = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            held[int(fd)] = target
    return held


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_the_host_keeps_one_thread_and_loads_neither_numba_nor_a_cuda_driver(pool):
    host = pool._host.pid
    assert os.listdir(f"/proc/{host}/task") == [str(host)]
    maps = Path(f"/proc/{host}/maps").read_text()
    assert "libcuda" not in maps
    assert "/numba/" not in maps
    assert len(_children(host)) == 1 + sum(pool.counts.values())  # the scheduler too


def test_no_pool_process_holds_the_callers_pipes_or_another_ones_stdin(pool):
    host = pool._host.pid
    ends = (pool._host.stdin, pool._host.stdout)
    caller = {f"pipe:[{os.fstat(end.fileno()).st_ino}]" for end in ends}
    children = _children(host)
    stdins = {pid: _pipes(pid).get(0) for pid in children}
    assert all(stdins.values()) and len(set(stdins.values())) == len(children)
    for pid in children:
        held = set(_pipes(pid).values())
        assert not held & caller, pid
        assert not held & (set(stdins.values()) - {stdins[pid]}), pid


def test_every_child_exits_when_the_host_is_killed():
    pool = WorkerPool(ClusterOptions(sim_workers=1))
    try:
        children = _children(pool._host.pid)
        assert len(children) == 3  # scheduler, sim-0, cc-0
        os.kill(pool._host.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in children if _alive(pid)]
    finally:
        pool.close()


# The forks below run in a process of their own: this one has other threads (the shared
# pool's client), and the host a fork copies must have only one.
FORK_CHILD = """
import json, os, sys
from kernelmagic.harness import _forked

held = open(sys.argv[1], "w")  # open across the fork


def main():
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    os.write(1, json.dumps({"fds": fds, "env": os.environ.get("KM_FORK_TEST")}).encode() + b"\\n")
    while os.read(0, 4096):
        pass
    return 7


child = _forked.Forked(main, {"KM_FORK_TEST": "yes"}, report=True)
line = json.loads(child.stdout.readline())
waiting = child.poll() is None  # until its stdin closes
child.stdin.close()
code = child.wait(timeout=10)
here = os.environ.get("KM_FORK_TEST")
print(json.dumps({**line, "waiting": waiting, "code": code, "here": here}))
"""

FAILURES = """
import json, time
from kernelmagic.harness import _forked


def fails():
    raise RuntimeError("no driver")


def raises():
    raise ValueError("boom")


sleeper = _forked.Forked(lambda: time.sleep(30) or 0, {}, report=False)
try:
    sleeper.wait(timeout=0.1)
    timed_out = False
except Exception as exc:
    timed_out = "forked child" in str(exc)
sleeper.kill()
print(json.dumps({
    "probe": _forked.probe(lambda: {"gpus": ["0"]})(),
    "failed_probe": _forked.probe(fails)(),
    "raised": _forked.Forked(raises, {}, report=False).wait(timeout=10),
    "timed_out": timed_out,
    "killed": sleeper.wait(timeout=10),
}))
"""


def _run(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_forked_child_has_its_own_stdin_stdout_and_environment_and_nothing_else(tmp_path):
    seen = _run(FORK_CHILD, str(tmp_path / "held"))
    assert seen["env"] == "yes" and seen["here"] is None
    assert seen["waiting"] and seen["code"] == 7
    # 0, 1, 2 and the descriptor that listed the directory (closed once listed).
    assert seen["fds"][:3] == [0, 1, 2] and len(seen["fds"]) <= 4


def test_a_probe_answers_its_result_or_none_and_a_child_that_raises_exits_1():
    seen = _run(FAILURES)
    assert seen["probe"] == {"gpus": ["0"]}
    assert seen["failed_probe"] is None
    assert seen["raised"] == 1
    assert seen["timed_out"] and seen["killed"] == -9

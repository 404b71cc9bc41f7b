"""compute-sanitizer and ncu start the process they watch, which runs the candidate: a tool
that hangs is ended at its timeout together with that process, not alone."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from problems import NUMBA_SAXPY

import kernelmagic as km
from kernelmagic.harness import _profiler as profiler
from kernelmagic.harness import _sanitizer as sanitizer
from kernelmagic.harness.jobs import RunSpec, VerifyJob

JOB = VerifyJob(RunSpec(km.Candidate(NUMBA_SAXPY), "numba", None), (), repeats=1)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped (a killed orphan may stay one here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("tool", "run", "error"),
    [
        ("ncu", lambda: profiler.run(JOB, timeout_s=0.5), profiler.ProfilerUnavailable),
        (
            "compute-sanitizer",
            lambda: sanitizer.run(JOB, "memcheck", timeout_s=0.5),
            RuntimeError,
        ),
    ],
)
def test_a_hung_tool_is_ended_with_the_process_it_watches(tool, run, error, tmp_path, monkeypatch):
    pid_file = tmp_path / "watched.pid"
    exe = tmp_path / "bin" / tool
    exe.parent.mkdir()
    # The tool starts "the watched process" and waits for it, as the real tools do.
    exe.write_text(f"#!/bin/sh\nsleep 120 &\necho $! > {pid_file}\nwait\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(error, match=r"ran past 0\.5 s"):
        run()
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), f"the watched process {pid} outlived its tool"

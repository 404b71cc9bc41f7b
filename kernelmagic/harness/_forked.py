"""The pool's CPU-side processes, forked from the cluster host once it has loaded Dask.

Each of them used to start as a new interpreter and import Dask, NumPy, NVRTC's bindings
and the worker's code itself: about 0.7 s of CPU each, three processes at once on a 2-core
machine, and the pool took 1.5-2.8 s to start. The host now loads all that once and forks
the scheduler and each simulator and compile worker from its own image. That is sound
because the host keeps to one thread (no lock can be held by a thread a child lacks), never
initialises CUDA (it asks a forked probe how many GPUs there are) and holds nothing secret
(its caller scrubbed its environment). A child closes every descriptor it did not need
before it runs anything, so it holds neither the caller's pipe nor its siblings' stdin.
GPU workers still start as new interpreters: not tested on a GPU here, and a CUDA driver
loaded by the host is the one thing a fork would carry into them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from typing import IO, Any


class Forked:
    """A forked child, seen through the part of `subprocess.Popen` the host uses."""

    def __init__(
        self,
        main: Callable[[], int],
        env: Mapping[str, str],
        *,
        report: bool,
    ) -> None:
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe() if report else (-1, -1)
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            _run_child(main, env, stdin_r, out_w)
        os.close(stdin_r)
        self.stdin: IO[bytes] | None = os.fdopen(stdin_w, "wb", buffering=0)
        self.stdout: IO[bytes] | None = None
        if report:
            os.close(out_w)
            self.stdout = os.fdopen(out_r, "rb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"forked child {self.pid}", timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _run_child(main: Callable[[], int], env: Mapping[str, str], stdin: int, out: int) -> None:
    """In the child: its own stdin and stdout, nothing else inherited, its environment; run
    `main` and exit with its status, never returning into the host's code."""
    code = 1
    try:
        os.dup2(stdin, 0)
        if out >= 0:
            os.dup2(out, 1)
        else:
            os.dup2(2, 1)  # the pool's log, as the host's children had it
        for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
            if fd > 2:
                with contextlib.suppress(OSError):  # the listing's own, closed by now
                    os.close(fd)
        os.environ.update(env)
        tempfile.tempdir = None  # read TMPDIR again: it is the child's own scratch directory
        code = main()
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def probe(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start `fn()` in a forked child; the returned callable waits for its JSON result (None
    if the child failed). For what the host must know but must not load itself, such as an
    initialised CUDA driver, and meanwhile it loads Dask on the other core."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.write(w, json.dumps(fn()).encode())
        finally:
            os._exit(0)
    os.close(w)

    def result() -> Any:
        with os.fdopen(r, "rb") as fh:
            data = fh.read()
        os.waitpid(pid, 0)
        try:
            return json.loads(data)
        except ValueError:
            return None

    return result

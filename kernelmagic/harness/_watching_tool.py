"""A GPU tool (compute-sanitizer, ncu) run on a harness-written driver.

Such a tool must start the process it watches, so ending the tool alone at a timeout
would leave that process, which runs the candidate, behind: the tool gets a session of
its own and the whole group is ended with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path


class ToolTimeout(Exception):
    """The tool ran past its time; it and every process it started were killed."""


def run_tool(
    command: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float
) -> tuple[str, str, int]:
    """(stdout, stderr, exit code) of `command`; raises ToolTimeout, or OSError if it
    cannot start."""
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except BaseException as exc:  # a timeout, or the caller interrupted: end them all
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise ToolTimeout(f"ran past {timeout_s:g} s") from None
        raise
    return out, err, proc.returncode

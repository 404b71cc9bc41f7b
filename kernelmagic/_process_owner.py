"""Which process runs a session, and whether it still does.

A session killed outright (SIGKILL, a lost machine) never gets to write that it ended: it
stays ``running`` in the store. So a session records its owner (pid, host name, and the
process's start time, since pids are reused) when it starts or resumes, and readers on the
same host check that owner is still the same live process.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Owner:
    """The process that runs a session."""

    pid: int
    host: str
    started: str | None  # boot id and start time of the process; None where /proc is missing


def current() -> Owner:
    """This process."""
    return Owner(os.getpid(), socket.gethostname(), _started(os.getpid()))


def gone(owner: Owner) -> bool:
    """Whether `owner` has surely ended: same host, and its pid is dead, a zombie or reused.

    A session owned on another host is never called gone: nothing here can tell.
    """
    if owner.host != socket.gethostname():
        return False
    if owner.started is None:
        return not _pid_exists(owner.pid)
    return _started(owner.pid) != owner.started


def ended(pid: int | None, host: str | None, started: str | None) -> str | None:
    """Why a session stored as running is not (its owner has gone), or None if it may be."""
    if pid is None or host is None or not gone(Owner(pid, host, started)):
        return None
    return (
        f"the process that ran it (pid {pid} on {host}) ended without finishing it: "
        "resume it to go on"
    )


def _started(pid: int) -> str | None:
    """`<boot id>/<start time in clock ticks>` of a live process, None if it is not alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # a zombie or a dead process: it has ended
        return None
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{boot}/{fields[19]}"  # field 22 of stat(5): starttime


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True

"""The cluster host process as the calling process starts it: its environment, its directory.

The host (`_cluster_host`) and its workers see only an allowlisted environment; their
scratch directories and the log live in one directory per pool, removed when the pool
closes or, should the caller die first, by the next pool to start.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from typing import Any

from kernelmagic import _process_owner as store_owner

# Environment variables workers may see. Everything else, API keys included, stays behind.
_ALLOWED_ENV = re.compile(
    r"^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_\w+|TZ|TMPDIR|TEMP|TMP|PYTHONPATH|PYTHONHOME|"
    r"VIRTUAL_ENV|CONDA_PREFIX|LD_LIBRARY_PATH|CUDA_\w+|NVIDIA_\w+|NUMBA_\w+|CUPY_\w+|"
    r"OMP_NUM_THREADS|XDG_CACHE_HOME|SYSTEMROOT|KERNELMAGIC_SANDBOX_PRETEND_MISSING)$"
)
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE", re.I)


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment handed to worker processes: an allowlist, minus anything secret-looking."""
    return {
        k: v for k, v in environ.items() if _ALLOWED_ENV.match(k) and not _SECRET_NAME.search(k)
    }


_DIR_PREFIX = "kernelmagic-workers-"
_OWNER_FILE = "owner.json"


def make_pool_dir() -> str:
    """A new directory for one pool's scratch directories and log, marked with its owner
    (OSError: a full or read-only temporary directory)."""
    _remove_orphaned_dirs()
    path = tempfile.mkdtemp(prefix=_DIR_PREFIX)
    try:
        with open(os.path.join(path, _OWNER_FILE), "w") as fh:
            json.dump(dataclasses.asdict(store_owner.current()), fh)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


def start_host(config: dict[str, Any]) -> subprocess.Popen[bytes]:
    """The cluster host, with the scrubbed environment, in a session of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "kernelmagic.harness._cluster_host", json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=worker_environment(os.environ),
        start_new_session=True,  # a Ctrl-C in the notebook must not reach the workers
    )


def _remove_orphaned_dirs() -> None:
    """Remove the pool directories (logs, scratch) of callers that died without closing."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), _DIR_PREFIX + "*")):
        try:
            with open(os.path.join(path, _OWNER_FILE)) as fh:
                owner = store_owner.Owner(**json.load(fh))
        except (OSError, ValueError, TypeError):
            continue  # not ours to judge (or being created right now)
        if store_owner.gone(owner):
            shutil.rmtree(path, ignore_errors=True)


def read_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The host's first line (its address and workers, or an error); "" if none in time."""
    result: list[bytes] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout_s)
    return result[0].decode().strip() if result else ""


def tail(path: str, lines: int = 5) -> str:
    """The log's last lines, on one line, for a message."""
    try:
        with open(path) as fh:
            return " | ".join(fh.read().strip().splitlines()[-lines:])
    except OSError:
        return ""

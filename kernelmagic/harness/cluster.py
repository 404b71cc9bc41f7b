"""Worker processes for candidates, managed by Dask, seen from the calling process.

The calling process (a notebook kernel, the CLI) never runs candidate code. It starts a
cluster host process with a scrubbed environment (see `cluster_host`), connects a Dask
client, and sends each job to a named worker of the right kind. A job that outlives its
timeout gets its worker killed (a hung kernel cannot be cancelled from inside); a worker
that dies (segfault, `os._exit`, out of memory) is restarted by the cluster host, on the
same port. Either way the pool waits for the replacement, so the next job finds a working
process. Every worker confines itself before it takes a job (`sandbox`); what the kernel
could not enforce becomes one warning, `WorkerPool.sandbox_warnings`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from kernelmagic.errors import BackendUnavailable, PoolClosed, WorkersUnavailable
from kernelmagic.harness._host_process import make_pool_dir, read_line, start_host, tail
from kernelmagic.harness._job_failures import (
    LOST,
    TIMEOUTS,
    JobTimeout,
    LostData,
    WorkerDied,
)
from kernelmagic.harness._warm_up import warm_up
from kernelmagic.harness._worker_kinds import (
    MISSING_HINTS,
    WorkerKind,
    identity,
    kind_by_name,
    kinds_of,
)
from kernelmagic.harness.options import ClusterOptions


class WorkerPool:
    """Named Dask workers of three kinds: `sim` (numba simulator, NVRTC), `cc` (compiles for a
    GPU target) and `gpu` (one per GPU)."""

    def __init__(self, options: ClusterOptions = ClusterOptions()) -> None:
        self.options = options
        self.closed = False
        self._available = threading.Condition()
        self._host: subprocess.Popen[bytes] | None = None
        self.log_path = ""
        self._dir = ""
        if options.scheduler_address and options.sandbox == "require":
            raise BackendUnavailable(
                "sandbox='require' needs workers kernelmagic starts itself: those of an "
                "existing Dask cluster are not confined by it"
            )
        address = options.scheduler_address or self._start_host()
        self._idle: dict[WorkerKind, list[str]] = {"sim": [], "gpu": [], "cc": []}
        self.counts: dict[WorkerKind, int] = {"sim": 0, "gpu": 0, "cc": 0}
        self._names: dict[WorkerKind, list[str]] = {"sim": [], "gpu": [], "cc": []}
        try:
            if options.scheduler_address:
                _listening(address)  # a refused connection fails now, not after Dask's 60 s
            from distributed import Client

            self.client = Client(address, set_as_default=False, timeout="60s")
            self._wait_for_workers(self._host_workers if self._host else None)
            self._adopt()
        except BaseException as exc:
            self.close()  # no half-started pool is left running
            if isinstance(exc, (OSError, *TIMEOUTS)):
                # A scheduler the user named is a setting to fix; our own one failing is not.
                error = BackendUnavailable if options.scheduler_address else WorkersUnavailable
                raise error(f"cannot reach the Dask scheduler at {address}: {exc}") from None
            raise
        # One line on what confines the workers less than docs/safety.md says; verdicts may
        # carry it. Empty when everything is enforced.
        self.sandbox_warnings: tuple[str, ...] = self._sandbox_warnings()
        for warning in self.sandbox_warnings:
            print(warning, file=sys.stderr)
        self.generation = 0  # counts worker replacements: data scattered before may be gone
        self._pids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        # Dask forgets a task whose future is gone: the warm-up jobs are kept.
        self._warming: list[Any] = warm_up(self.client, self._names) if self._host else []

    @property
    def gpus(self) -> int:
        return self.counts["gpu"]

    def run(
        self,
        kind: WorkerKind,
        fn: Callable[..., Any],
        *args: Any,
        timeout_s: float,
        prefer: str | None = None,
        **kwargs: Any,
    ) -> tuple[Any, str]:
        """Run `fn(*args, **kwargs)` on an idle worker of `kind` (`prefer` one if it is idle).

        Returns (result, worker name).
        """
        with self._worker(kind, prefer) as name:
            try:
                worker = self._incarnation(name)
                address, pid = worker[0], self._pid(worker)
            except Exception:
                if self.closed:  # shut down while the job was being placed
                    raise PoolClosed("the worker pool was shut down while a job ran") from None
                raise
            future = self.client.submit(
                fn,
                *args,
                workers=[address],
                allow_other_workers=False,
                pure=False,
                key=f"{getattr(fn, '__name__', 'job')}-{uuid.uuid4().hex}",
                **kwargs,
            )
            try:
                return future.result(timeout=timeout_s), name
            except Exception as exc:
                if self.closed:  # shut down under the job: its outcome means nothing
                    raise PoolClosed("the worker pool was shut down while a job ran") from None
                if isinstance(exc, TIMEOUTS):
                    self._kill(address, pid)
                    self._await_replacement(name, worker)
                    raise JobTimeout(f"did not finish within {timeout_s:g} s") from None
                if type(exc).__name__ not in LOST:
                    raise
                if self._alive(name, worker, pid):
                    # The worker is fine: what died was one that held the job's data.
                    raise LostData(str(exc)) from None
                self._await_replacement(name, worker)
                raise WorkerDied(str(exc)) from None
            finally:
                with contextlib.suppress(Exception):
                    future.release()

    def scatter(self, data: Any, kind: WorkerKind) -> Any:
        """Put `data` on every worker of `kind` once; pass the returned future to jobs."""
        workers = [self._address(name) for name in self._names[kind]]
        return self.client.scatter(data, workers=workers, broadcast=True, hash=False)

    def replace(self, name: str) -> None:
        """Kill and restart a worker whose CUDA context is unusable."""
        worker = self._incarnation(name)
        self._kill(worker[0], self._pid(worker))
        self._await_replacement(name, worker)

    def close(self) -> None:
        self.closed = True
        with self._available:
            self._available.notify_all()  # jobs waiting for a worker give up
        with contextlib.suppress(Exception), _client_log_muted():
            self.client.close(timeout=5)  # (absent when the pool failed to connect)
        if self._host is not None:
            with contextlib.suppress(Exception):
                assert self._host.stdin is not None and self._host.stdout is not None
                self._host.stdin.close()  # the host shuts its cluster down at EOF
                self._host.wait(timeout=15)
                self._host.stdout.close()
            if self._host.poll() is None:
                self._host.kill()
            self._host = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)  # scratch directories and the log
            self._dir = ""

    # -- internals -------------------------------------------------------------------

    def _start_host(self) -> str:
        # The workers' scratch directories and the log, all removed at close (and, should
        # this process die before, by the next pool to start).
        try:
            self._dir = make_pool_dir()
        except OSError as exc:  # a full or read-only temporary directory
            self.close()
            raise WorkersUnavailable(
                f"cannot make the workers' directory in {tempfile.gettempdir()}: {exc}"
            ) from None
        self.log_path = os.path.join(self._dir, "kernelmagic-workers.log")
        config = {
            "sim_workers": self.options.sim_workers,
            "dir": self._dir,
            "sandbox": self.options.sandbox,
        }
        self._host = start_host(config)
        import distributed  # noqa: F401  (for the client: loads while the host starts)

        line = read_line(self._host, self.options.startup_timeout_s)
        info = json.loads(line) if line else {}
        if "error" in info:
            self.close()
            raise WorkersUnavailable(f"the worker processes refused to start: {info['error']}")
        if not line:
            self._host.kill()
            raise BackendUnavailable(
                "could not start the worker processes (see "
                + self.log_path
                + "): "
                + tail(self.log_path)
            )
        self._host_workers = info["workers"]
        self._missing: list[str] = info["sandbox"]
        return str(info["address"])

    def _sandbox_warnings(self) -> tuple[str, ...]:
        if self.options.sandbox == "off":
            return (
                "kernelmagic: WARNING: the worker sandbox is off (ClusterOptions.sandbox='off'):"
                " candidate code runs unconfined; use this for diagnosis only",
            )
        if self._host is None:
            return (
                "kernelmagic: the workers of an existing Dask cluster are not confined by "
                "kernelmagic's sandbox: candidate code there can do what those workers can",
            )
        if not self._missing:
            return ()
        return (
            "kernelmagic: the worker sandbox does not enforce "
            + "; ".join(self._missing)
            + ": candidate code is less confined than docs/safety.md says",
        )

    def _workers(self) -> dict[str, dict[str, Any]]:
        if self.closed:
            raise PoolClosed("the worker pool was shut down")
        self._check_host()
        try:
            return dict(self.client.scheduler_info(n_workers=-1)["workers"])
        except Exception as exc:  # the scheduler is gone: no worker can be reached
            raise WorkersUnavailable(
                f"the Dask scheduler cannot be reached ({type(exc).__name__}: {exc})"
            ) from None

    def _check_host(self) -> None:
        """Fail at once when the cluster host has exited: nothing will restart a worker."""
        if self._host is not None and self._host.poll() is not None:
            raise WorkersUnavailable(
                f"the worker processes' host exited (status {self._host.returncode}); "
                "see " + self.log_path
            )

    def _alive(self, name: str, worker: tuple[str, str], pid: int | None) -> bool:
        """Whether `worker` is still the live incarnation of `name`."""
        if pid is not None:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
        return any(
            (address, str(info.get("local_directory"))) == worker
            for address, info in self._workers().items()
            if identity(address, info) == name
        )

    def _wait_for_workers(self, expected: list[str] | None) -> None:
        deadline = time.monotonic() + self.options.startup_timeout_s
        while time.monotonic() < deadline:
            names = {identity(a, w) for a, w in self._workers().items()}
            if names and set(expected or ()) <= names:
                return
            time.sleep(0.05)
        raise WorkersUnavailable("the worker processes did not start in time")

    def _adopt(self) -> None:
        """Take the cluster's workers the pool does not know yet, each as the kind it is."""
        known = {name for names in self._names.values() for name in names}
        new = {a: w for a, w in self._workers().items() if identity(a, w) not in known}
        kinds = (
            {a: kind_by_name(identity(a, w)) for a, w in new.items()}
            if self._host is not None
            else kinds_of(self.client, new)
        )
        for name, address in sorted((identity(a, w), a) for a, w in new.items()):
            kind = kinds[address]
            self._idle[kind].append(name)
            self._names[kind].append(name)
            self.counts[kind] += 1

    @contextlib.contextmanager
    def _worker(self, kind: WorkerKind, prefer: str | None) -> Iterator[str]:
        if not self.counts[kind] and self._host is None:
            with self._available:  # one may have joined the cluster since
                self._adopt()
        if not self.counts[kind]:
            hint = f": {MISSING_HINTS[kind]}" if self._host is None else ""
            raise BackendUnavailable(f"no {kind} workers in this cluster{hint}")
        with self._available:
            if not self._available.wait_for(
                lambda: bool(self._idle[kind]) or self.closed,
                timeout=self.options.queue_timeout_s,
            ):
                raise WorkersUnavailable(
                    f"no {kind} worker became free in {self.options.queue_timeout_s:g} s "
                    "(other jobs held all of them)"
                )
            if self.closed:
                raise PoolClosed("the worker pool was shut down")
            idle = self._idle[kind]
            name = prefer if prefer in idle else idle[0]
            idle.remove(name)
        try:
            yield name
        finally:
            with self._available:
                self._idle[kind].append(name)
                self._available.notify_all()

    def _address(self, name: str) -> str:
        return self._incarnation(name)[0]

    def _incarnation(self, name: str) -> tuple[str, str]:
        """(address, local directory) of worker `name`'s current process: a replacement
        keeps the address (the sandbox allows the pool's ports only) but not the directory."""
        deadline = time.monotonic() + self.options.startup_timeout_s
        while time.monotonic() < deadline:
            for address, info in self._workers().items():
                if identity(address, info) == name:
                    return address, str(info.get("local_directory"))
            time.sleep(0.05)
        raise WorkersUnavailable(f"worker {name} is gone and did not come back")

    def _pid(self, worker: tuple[str, str]) -> int | None:
        if self._host is None:
            return None
        with self._lock:
            if worker not in self._pids:
                pids = self.client.run(os.getpid, workers=[worker[0]])
                self._pids.update({worker: pids[worker[0]]} if worker[0] in pids else {})
            return self._pids.get(worker)

    def _kill(self, address: str, pid: int | None) -> None:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # the host sees it die and starts a new one
        else:
            self.client.restart_workers([address], timeout=60, raise_for_error=False)

    def _await_replacement(self, name: str, old: tuple[str, str] | None) -> None:
        deadline = time.monotonic() + self.options.startup_timeout_s
        while time.monotonic() < deadline:
            for address, info in self._workers().items():
                now = (address, str(info.get("local_directory")))
                if identity(address, info) == name and now != old:
                    self.generation += 1
                    return
            time.sleep(0.05)
        raise WorkersUnavailable(f"worker {name} did not come back after it was replaced")


def _listening(address: str) -> None:
    """Raise ConnectionRefusedError when nothing listens at a tcp:// address (others pass:
    Dask knows its other protocols)."""
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp" or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except ConnectionRefusedError:
        raise ConnectionRefusedError("connection refused: no scheduler listens there") from None
    except OSError:
        return  # unreachable for now (a slow network): Dask's own timeout decides


@contextlib.contextmanager
def _client_log_muted() -> Iterator[None]:
    """Dask's client logs a traceback when it is closed while reconnecting to a scheduler
    that died: a failure kernelmagic reports in its own words."""
    log = logging.getLogger("distributed.client")
    was = log.disabled
    log.disabled = True
    try:
        yield
    finally:
        log.disabled = was


_shared: dict[ClusterOptions, WorkerPool] = {}
_shared_lock = threading.Lock()


def shared_pool(options: ClusterOptions) -> WorkerPool:
    """One pool per options for the whole process, started on first use, closed at exit."""
    with _shared_lock:
        if options not in _shared:
            if not _shared:
                atexit.register(close_shared_pools)
            _shared[options] = WorkerPool(options)
        return _shared[options]


def drop_shared_pool(pool: WorkerPool) -> None:
    """Close a shared pool whose workers failed: the next `shared_pool` starts a new one."""
    with _shared_lock:
        for key, shared in list(_shared.items()):
            if shared is pool:
                del _shared[key]
    pool.close()


def close_shared_pools() -> None:
    with _shared_lock:
        for pool in _shared.values():
            pool.close()
        _shared.clear()

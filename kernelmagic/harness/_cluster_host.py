"""The process that owns the pool's worker processes, and the entry point of each of them.

The calling process starts it with a scrubbed environment (no API keys, no tokens), so
everything it starts inherits only that. It detects GPUs (in a forked probe), loads Dask,
picks the pool's TCP ports and starts a Dask scheduler and one process per worker (one
pinned worker per GPU, plus simulator workers): the scheduler and the CPU-side workers are
forked from it (`_forked`), the GPU workers start as new interpreters. Each of those
confines itself (`sandbox.confine`) at its start, before it opens a port, then serves. The
host runs no Dask server itself: Dask's servers run whatever pickle a peer sends them, and
a confined worker can reach its scheduler, so no unconfined process may be one. It restarts
a worker process that dies (on the same port, which the others' rules name) and kills one
that outgrows its memory limit, as Dask's nanny would. It prints one JSON line (the
scheduler's address, the worker names, what the sandbox does not enforce, or an error),
then waits: when its stdin closes, because the caller exited or died, it stops them all and
removes the pool's directory.
Usage: ``python -m kernelmagic.harness._cluster_host '{"sim_workers": 2, "dir": "/tmp/d"}'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from kernelmagic.harness import _sandbox as sandbox
from kernelmagic.harness._forked import Forked, probe

# Dask's settings for the scheduler and the workers, set before distributed is imported.
_DASK_CONFIG = {
    # A task whose worker died is a crashed candidate: never retry it elsewhere.
    "distributed.scheduler.allowed-failures": 0,
    # The profiler samples every thread's stack from the event loop every 10 ms; no one
    # reads the profiles.
    "distributed.worker.profile.enabled": False,
    # Each job leaves log entries in the worker and the scheduler; at Dask's defaults (1,000
    # and 10,000 entries) a long-lived worker grew by tens of KB per evaluation for hundreds
    # of evaluations. Short logs keep it flat.
    "distributed.admin.low-level-log-length": 100,
    "distributed.admin.log-length": 100,
    "logging.distributed": "error",
    # With gilknocker installed, Dask would sample the GIL every millisecond in each worker,
    # whose simulated GPU threads contend for it all the time.
    "distributed.admin.system-monitor.gil.enabled": False,
}
# One thread each until it is confined (OpenBLAS starts its pool when NumPy loads), and in
# the host, which forks its children and so must keep to one.
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
_TERMINATE_FRACTION = 0.95  # of a worker's memory limit, as Dask's nanny does by default


def gpu_ids() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries."""
    try:
        from cuda.bindings import driver

        (err,) = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return []
        err, count = driver.cuDeviceGetCount()
        if err != driver.CUresult.CUDA_SUCCESS:
            return []
    except Exception:  # no driver library at all: a CPU-only machine
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [v.strip() for v in visible.split(",") if v.strip()][:count]
    return [str(i) for i in range(count)]


def _machine() -> dict[str, Any]:
    """What the host learns in a forked probe: its GPUs (which initialises CUDA, which the
    host must not: it forks its children) and the CUDA headers its workers compile with."""
    from kernelmagic.harness import _cuda_headers

    include: list[str] | None = None
    with contextlib.suppress(Exception):  # then each worker looks for itself
        include = list(_cuda_headers.include_dirs())
    return {"gpus": gpu_ids(), "include": include}


def free_ports(count: int) -> list[int]:
    """Free ports on 127.0.0.1 below the ephemeral range: a replaced worker binds its old
    port again, which an outgoing connection's source port could otherwise take meanwhile."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            ephemeral = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    held: list[socket.socket] = []
    try:
        for port in random.sample(range(10000, max(ephemeral, 10000 + 8 * count)), 8 * count):
            if len(held) == count:
                break
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
        if len(held) < count:
            raise OSError(f"found {len(held)} free ports on 127.0.0.1, not {count}")
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def child_configs(config: dict[str, Any], gpus: list[str]) -> dict[str, dict[str, Any]]:
    """What each process the host starts is, by name: the scheduler, then the workers."""
    names = [f"sim-{i}" for i in range(int(config.get("sim_workers") or 1))]
    # What the simulator ran is compiled for a real GPU in a worker without the simulator.
    names += ["cc-0"] if names else []
    # One worker per GPU, pinned: timings of one candidate never share a device with another.
    names += [f"gpu-{i}" for i in range(len(gpus))]
    ports = free_ports(2 + 2 * len(names))  # each server's own port and its HTTP server's
    worker_ports = ports[2::2]
    children = {"scheduler": {"role": "scheduler", "port": ports[0], "http": ports[1]}}
    for i, name in enumerate(names):
        children[name] = {
            "role": "worker",
            "port": ports[2 + 2 * i],
            "http": ports[3 + 2 * i],
            "scheduler": ports[0],
            "env": _environment(name, gpus),
        }
    for name, child in children.items():
        child.update(name=name, mode=config.get("sandbox", "auto"))
        child["scratch"] = os.path.join(config["dir"], name)
        # The scheduler talks to the workers; a worker to the scheduler and its peers.
        child["connect"] = worker_ports + ([] if name == "scheduler" else [ports[0]])
    return children


def _environment(name: str, gpus: list[str]) -> dict[str, str]:
    if name.startswith("sim-"):
        return {"NUMBA_ENABLE_CUDASIM": "1"}
    if name.startswith("cc-"):
        return {"CUDA_VISIBLE_DEVICES": ""}  # compiling needs libNVVM, not a device
    return {"CUDA_VISIBLE_DEVICES": gpus[int(name[4:])]}


class Child:
    """One process the host starts, and starts again when it dies."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | Forked | None = None
        self.started = 0.0
        os.makedirs(config["scratch"], mode=0o700, exist_ok=True)

    def start(self, *, report: bool) -> None:
        """Start it; with `report`, its first line (what it does not enforce) comes on a pipe."""
        scratch = self.config["scratch"]
        env = {
            **self.config.get("env", {}),
            "TMPDIR": scratch,
            "NUMBA_CACHE_DIR": os.path.join(scratch, "numba"),
            "CUPY_CACHE_DIR": os.path.join(scratch, "cupy"),
            **_ONE_THREAD,
        }
        self.started = time.monotonic()
        if not self.config["name"].startswith("gpu-"):
            self.proc = Forked(lambda: serve(self.config), env, report=report)
            return
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kernelmagic.harness._cluster_host", json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if report else None,
            env={**os.environ, **env},
        )

    def report(self) -> dict[str, Any]:
        """Its first line: what it does not enforce, or why it refused to start."""
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.proc.stdout.close()
        if not line:  # it crashed: its traceback is in the log
            raise RuntimeError(f"{self.config['name']} exited as it started")
        reported = dict(json.loads(line))
        if reported.get("memory"):  # a worker's limit, which a restart keeps
            self.config["memory"] = reported["memory"]
        return reported

    def watch(self) -> None:
        """Start it again if it died; kill it if it outgrew its memory limit."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            if time.monotonic() - self.started > 1.0:  # not in a tight loop if it cannot start
                self.start(report=False)
        elif self.config.get("memory") and _rss(self.proc.pid) > (
            _TERMINATE_FRACTION * self.config["memory"]
        ):
            self.proc.kill()

    def stop(self) -> None:
        """Close its stdin, which makes it exit, and wait; kill it if it does not."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def host(config: dict[str, Any]) -> int:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    # Everything below, its children included, writes to the log, never to the caller's pipe.
    log = os.path.join(config["dir"], "kernelmagic-workers.log")
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.environ.update(_ONE_THREAD)  # for what it loads to fork its children from
    found = probe(_machine)
    preload()
    machine = found() or {}
    gpus = machine.get("gpus", [])
    children = {name: Child(c) for name, c in child_configs(config, gpus).items()}
    for child in children.values():
        child.config["include"] = machine.get("include")
    try:
        line = _start(children, len(gpus))
        out.write(json.dumps(line) + "\n")
        out.close()
        if "error" not in line:
            _supervise(children.values())
    except BaseException:
        _stop(children)
        raise  # the log stays, for the caller's error message to name
    _stop(children)
    shutil.rmtree(config["dir"], ignore_errors=True)  # scratch directories and the log
    return 1 if "error" in line else 0


def _start(children: dict[str, Child], gpus: int) -> dict[str, Any]:
    """Start them all; the line for the caller: where the pool is, or why it is not."""
    for child in children.values():
        child.start(report=True)
    missing: dict[str, None] = {}
    for child in children.values():
        reported = child.report()
        if "error" in reported:
            return {"error": reported["error"]}
        missing.update(dict.fromkeys(reported["missing"]))
    return {
        "address": f"tcp://127.0.0.1:{children['scheduler'].config['port']}",
        "workers": sorted(name for name in children if name != "scheduler"),
        "gpus": gpus,
        "sandbox": list(missing),
    }


def _supervise(children: Iterable[Child]) -> None:
    """Restart what dies, until stdin closes: the caller closed the pipe or died."""
    # No thread waits on stdin: the host forks its children, so it keeps to one thread.
    while True:
        ready, _, _ = select.select([0], [], [], 0.05)
        if ready and not os.read(0, 4096):
            return
        for child in children:
            child.watch()


def _stop(children: dict[str, Child]) -> None:
    for name, child in children.items():
        if name != "scheduler":
            child.stop()
    children["scheduler"].stop()


def serve(config: dict[str, Any]) -> int:
    """A scheduler's or a worker's process: confine itself, say so, serve until stdin closes."""
    preload()
    if config.get("include") is not None:
        from kernelmagic.harness import _cuda_headers

        _cuda_headers.preset(config["include"])
    if config["role"] == "worker":
        from distributed.worker_memory import parse_memory_limit

        # Dask's default for one worker (it reads the cgroup's limit), worked out in each.
        config["memory"] = parse_memory_limit("auto", 1, logger=logging.getLogger(__name__))
    plan = sandbox.Plan(
        config["mode"],
        config["scratch"],
        tuple(config["connect"]),
        bind=(config["port"], config["http"]),
        gpu=config["name"].startswith("gpu-"),
        nvrtc=config["role"] == "worker",
    )
    try:
        missing = sandbox.confine(plan)
    except sandbox.SandboxUnavailable as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return 1
    print(json.dumps({"missing": list(missing), "memory": config.get("memory")}), flush=True)
    # That line went to a pipe the host closes once read; later output (a candidate's
    # prints among it) goes where errors go, the pool's log.
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    threading.Thread(target=_exit_at_eof, daemon=True).start()
    asyncio.run(_serve(config))
    return 0


async def _serve(config: dict[str, Any]) -> None:
    from distributed import Scheduler, Worker

    common = {"host": "127.0.0.1", "port": config["port"]}
    http = f"127.0.0.1:{config['http']}"
    server: Scheduler | Worker
    if config["role"] == "scheduler":
        server = Scheduler(dashboard_address=http, **common)
    else:
        server = Worker(
            f"tcp://127.0.0.1:{config['scheduler']}",
            name=config["name"],
            nthreads=1,
            dashboard_address=http,
            local_directory=config["scratch"],
            memory_limit=config["memory"],
            **common,
        )
    async with server:
        await server.finished()


def _exit_at_eof() -> None:
    while os.read(0, 4096):  # returns b"" when the host closes the pipe (it stops the pool)
        pass  # or dies
    os._exit(0)


def preload() -> None:
    """Load Dask as its servers need it: in the host once, before it forks its children from
    itself (`_forked`), or in a child that started as a new interpreter."""
    import dask

    dask.config.set(_DASK_CONFIG)
    import distributed  # noqa: F401
    from distributed.utils import get_ip

    get_ip("127.0.0.1")  # a worker learns its address from a UDP socket, none later: cached
    platform.processor()  # Dask reports it to the scheduler; it runs `uname -p`: cached


def main(argv: list[str]) -> int:
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    if config.get("role"):
        return serve(config)
    code = host(config)
    # Its children are stopped and its directory removed; tearing down the Dask it loaded
    # for them would only keep the caller's close waiting (0.2 s on two cores).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

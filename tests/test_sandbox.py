"""Code inside a worker meets the kernel's rules (harness/sandbox.py), whatever Python let it do.

Each test runs code in a real worker through tests/worker_hook.py, as a candidate that got
past the static checks could, and shows what the operating system refuses. All of it runs
on the CPU. Probes return "refused" where the kernel said no (EPERM, EACCES).
"""

from __future__ import annotations

import errno
import os
import pathlib
import socket
import subprocess
import sys

import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from worker_hook import in_worker, on_event_loop

import kernelmagic as km
from kernelmagic.errors import BackendUnavailable, WorkersUnavailable
from kernelmagic.harness import _sandbox as sandbox
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.options import ClusterOptions

SECRET = "sk-test-sandbox-do-not-leak"
REPO = str(pathlib.Path(km.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def confined():
    pool = WorkerPool(ClusterOptions(sim_workers=1))
    yield pool
    pool.close()


def refused(fn, *args):
    """'refused' when the kernel says no, else 'allowed'."""
    try:
        fn(*args)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return "refused"
        return f"failed otherwise: {exc!r}"
    return "allowed"


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _read_shadow():
    return refused(_read, "/etc/shadow")


# -- processes -----------------------------------------------------------------------------


def _start_processes(marker):
    def fork():
        if os.fork() == 0:  # only if the sandbox failed: leave at once
            os._exit(0)

    status = os.system(f"touch {marker}")
    return {
        "subprocess.run": refused(subprocess.run, ["true"]),
        "os.system": "refused" if status != 0 and not os.path.exists(marker) else "allowed",
        "os.fork": refused(fork),
        "os.posix_spawn": refused(os.posix_spawn, "/usr/bin/true", ["true"], {}),
    }


def test_code_in_a_worker_cannot_start_a_process(confined):
    marker = os.path.join(confined._dir, "sim-0", "system-ran")
    outcome = in_worker(confined, _start_processes, marker)
    assert outcome == dict.fromkeys(outcome, "refused")
    assert len(outcome) == 4


# -- files -----------------------------------------------------------------------------------


def _write_everywhere(directories):
    def write(path):
        with open(path, "w") as fh:
            fh.write("x")
        os.unlink(path)

    name = f"kernelmagic-sandbox-probe-{os.getpid()}"
    return {key: refused(write, os.path.join(d, name)) for key, d in directories.items()}


def test_a_worker_writes_only_into_its_scratch_directory(confined):
    scratch = os.path.join(confined._dir, "sim-0")
    places = {"tmp": "/tmp", "home": os.path.expanduser("~"), "repo": REPO, "shm": "/dev/shm"}
    places |= {
        "the pool's": confined._dir,
        "the scheduler's": os.path.join(confined._dir, "scheduler"),
    }
    outcome = in_worker(confined, _write_everywhere, {**places, "scratch": scratch})
    assert outcome == {**dict.fromkeys(places, "refused"), "scratch": "allowed"}
    assert os.stat(scratch).st_mode & 0o777 == 0o700


def _where_caches_go():
    from distributed import get_worker

    keys = ("TMPDIR", "NUMBA_CACHE_DIR", "CUPY_CACHE_DIR")
    return [os.environ[k] for k in keys] + [get_worker().local_directory]


def test_temporary_files_and_caches_go_into_the_scratch_directory(confined):
    scratch = os.path.join(confined._dir, "sim-0")
    for path in in_worker(confined, _where_caches_go):
        assert path.startswith(scratch + os.sep) or path == scratch


def _read_files(log):
    return {
        "shadow": _read_shadow(),
        "passwd": refused(_read, "/etc/passwd"),
        "the pool's log": refused(_read, log),
    }


def test_a_worker_cannot_read_etc_shadow_or_the_pools_log(confined):
    outcome = in_worker(confined, _read_files, confined.log_path)
    assert outcome == {"shadow": "refused", "passwd": "allowed", "the pool's log": "refused"}


# -- other processes -------------------------------------------------------------------------


def _spy(pids):
    found = {}
    for pid in pids:
        for what in ("environ", "cmdline", "status"):
            try:
                found[f"{pid}/{what}"] = _read(f"/proc/{pid}/{what}").decode(errors="replace")
            except PermissionError:
                found[f"{pid}/{what}"] = "refused"
    ancestors, pid = [], os.getppid()  # the PPid walk stops where /proc stops answering
    while pid > 1 and len(ancestors) < 10:
        ancestors.append(pid)
        try:
            status = _read(f"/proc/{pid}/status").decode()
        except PermissionError:
            break
        pid = int(status.split("PPid:")[1].split()[0])
    return found, ancestors, _read(f"/proc/{os.getpid()}/status")[:5]


def test_a_worker_cannot_read_other_processes_environment_or_command_line(confined, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", SECRET],
        env={**os.environ, "OPENAI_API_KEY": SECRET},
    )
    try:
        assert confined._host is not None
        pids = [1, os.getpid(), confined._host.pid, holder.pid]
        found, ancestors, own = in_worker(confined, _spy, pids)
    finally:
        holder.kill()
        holder.wait()
    assert found == dict.fromkeys(found, "refused")
    assert len(found) == 12
    assert ancestors == [confined._host.pid]  # its parent; nothing above it can be seen
    assert own == b"Name:"  # its own /proc entry stays readable


def _debug_parent():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    class IoVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    def errno_of(result):
        return "refused" if result == -1 and ctypes.get_errno() == errno.EPERM else "allowed"

    parent = os.getppid()
    buffer = ctypes.create_string_buffer(8)
    local = IoVec(ctypes.cast(buffer, ctypes.c_void_p), 8)
    remote = IoVec(0x400000, 8)
    read = libc.process_vm_readv(parent, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return {
        "ptrace": errno_of(libc.ptrace(16, parent, None, None)),  # PTRACE_ATTACH
        "process_vm_readv": errno_of(read),
        "signal 0": refused(os.kill, parent, 0),
        "SIGCONT": refused(os.kill, parent, 18),
        "signal to pid 1": refused(os.kill, 1, 0),
    }


def test_a_worker_cannot_debug_or_signal_the_process_that_started_it(confined):
    outcome = in_worker(confined, _debug_parent)
    assert outcome == dict.fromkeys(outcome, "refused")


def _via_the_scheduler(pids):
    """Dask's scheduler runs what any peer sends it, and a worker is a peer."""
    from distributed import get_client

    client = get_client()
    paths = {"shadow": "/etc/shadow", "passwd": "/etc/passwd"}
    paths |= {f"{pid}/environ": f"/proc/{pid}/environ" for pid in pids}
    found = {
        k: refused(client.run_on_scheduler, pathlib.Path(p).read_bytes) for k, p in paths.items()
    }
    found["signal the host"] = refused(client.run_on_scheduler, os.kill, pids[-1], 0)
    found["scheduler's pid"] = client.run_on_scheduler(os.getpid)
    return found


def test_the_scheduler_a_worker_can_reach_through_dask_is_confined_too(confined):
    assert confined._host is not None
    pids = [os.getpid(), confined._host.pid]  # the caller, the host
    found = in_worker(confined, _via_the_scheduler, pids)
    assert found.pop("scheduler's pid") not in pids  # a process of its own
    assert found.pop("passwd") == "allowed"  # the calls did run there
    assert found == dict.fromkeys(found, "refused")
    assert len(found) == 4


def test_an_older_landlock_is_named_feature_by_feature(monkeypatch):
    """Only a ruleset is made here: the test process is not confined."""
    monkeypatch.setattr(sandbox, "_landlock_abi", lambda: (3, ""))
    landlock = sandbox._Landlock.create()
    os.close(landlock.fd)
    names = [entry.split()[0] for entry in landlock.missing]
    assert names == ["landlock-net", "landlock-ioctl", "landlock-scope"]
    assert "needs ABI 4, kernel 3" in landlock.missing[0]
    monkeypatch.setattr(sandbox, "_landlock_abi", lambda: (0, "Landlock is not in this kernel"))
    (missing,) = sandbox._Landlock.create().missing
    assert missing.startswith("landlock (") and "not in this kernel" in missing


# -- network ---------------------------------------------------------------------------------


def _network(outside, pool_port):
    def connect(port):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

    def fast_open(port):  # a connect by sendto(), which Landlock alone lets through
        with socket.socket() as sock:
            sock.sendto(b"x", socket.MSG_FASTOPEN, ("127.0.0.1", port))

    def bind():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))

    return {
        "udp": refused(socket.socket, socket.AF_INET, socket.SOCK_DGRAM),
        "unix": refused(socket.socket, socket.AF_UNIX, socket.SOCK_STREAM),
        "connect outside": refused(connect, outside),
        "fast open outside": refused(fast_open, outside),
        "bind": refused(bind),
        "connect to the scheduler": refused(connect, pool_port),
    }


def test_a_worker_connects_only_to_the_pools_own_ports(confined):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.5)
        scheduler_port = int(confined.client.scheduler.address.rsplit(":", 1)[1])
        outcome = in_worker(confined, _network, listener.getsockname()[1], scheduler_port)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing got through
    assert outcome.pop("connect to the scheduler") == "allowed"
    assert outcome == dict.fromkeys(outcome, "refused")


# -- every thread ----------------------------------------------------------------------------


def _on_offload_thread():
    from distributed.utils import _offload_executor

    return _offload_executor.submit(_read_shadow).result()


def _threads():
    return sorted(os.listdir("/proc/self/task"))


def test_every_thread_of_a_worker_is_confined(confined):
    """The process confined itself with one thread: every thread since inherits it."""
    assert confined.sandbox_warnings == ()  # it had no other thread to report
    assert on_event_loop(confined, _read_shadow) == "refused"  # the event loop's thread
    assert in_worker(confined, _read_shadow) == "refused"  # the task thread
    assert in_worker(confined, _on_offload_thread) == "refused"
    assert len(in_worker(confined, _threads)) >= 3


# -- the pool still works ----------------------------------------------------------------------


def test_a_confined_pool_still_evaluates_and_replaces_workers_confined(confined):
    problem = km.Problem(saxpy_reference, saxpy_inputs)
    harness = km.Harness(problem, backend="numba-sim", pool=confined)
    verdict = harness.evaluate(km.Candidate.from_source(NUMBA_SAXPY))
    assert verdict.status is km.Status.CORRECT, verdict.message
    before = confined._address("sim-0")
    confined.replace("sim-0")
    assert confined._address("sim-0") == before  # the same port: the rules still name it
    assert in_worker(confined, _read_shadow) == "refused"
    assert in_worker(confined, _start_processes, "/nonexistent")["os.fork"] == "refused"
    assert confined.sandbox_warnings == ()
    verdict = harness.evaluate(km.Candidate.from_source(NUMBA_SAXPY))
    assert verdict.status is km.Status.CORRECT, verdict.message


# -- where the kernel lacks a feature --------------------------------------------------------


def test_a_missing_feature_is_one_warning_and_the_log_and_scratch_go_at_shutdown(
    monkeypatch, capsys
):
    monkeypatch.setenv(sandbox.PRETEND_ENV, "landlock-net,seccomp")
    pool = WorkerPool(ClusterOptions(sim_workers=1))
    try:
        (warning,) = pool.sandbox_warnings
        assert "landlock-net" in warning and "seccomp" in warning and "\n" not in warning
        assert capsys.readouterr().err.count(warning) == 1
        with socket.create_server(("127.0.0.1", 0)) as listener:
            outcome = in_worker(pool, _network, listener.getsockname()[1], 1)
        assert outcome["connect outside"] == "allowed"  # as the warning says
        assert in_worker(pool, _read_shadow) == "refused"  # file rules still hold
        log = pathlib.Path(pool.log_path)
        assert log.name == "kernelmagic-workers.log" and log.parent == pathlib.Path(pool._dir)
        assert log.is_file() and (log.parent / "sim-0").is_dir()
        # The host's shutdown (the caller gone) removes the pool's directory by itself.
        assert pool._host is not None and pool._host.stdin is not None
        pool._host.stdin.close()
        pool._host.wait(timeout=30)
        assert not os.path.exists(pool._dir)
    finally:
        pool_dir = pool._dir
        pool.close()
    assert not os.path.exists(pool_dir)


def test_require_refuses_to_start_without_every_feature(monkeypatch, tmp_path):
    monkeypatch.setenv(sandbox.PRETEND_ENV, "landlock-scope")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(WorkersUnavailable, match="landlock-scope"):
        WorkerPool(ClusterOptions(sim_workers=1, sandbox="require"))
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    with pytest.raises(BackendUnavailable, match="require"):
        WorkerPool(ClusterOptions(scheduler_address="tcp://127.0.0.1:9", sandbox="require"))


def test_off_confines_nothing_and_says_so_loudly(capsys):
    pool = WorkerPool(ClusterOptions(sim_workers=1, sandbox="off"))
    try:
        (warning,) = pool.sandbox_warnings
        assert "WARNING" in warning and "off" in warning
        assert warning in capsys.readouterr().err
        assert in_worker(pool, _read_shadow) == "allowed"
    finally:
        pool_dir = pool._dir
        pool.close()
    assert not os.path.exists(pool_dir)


def test_the_host_kills_a_worker_over_its_memory_limit_and_restarts_it(tmp_path):
    """What Dask's nanny did (at 95% of the limit); not a real worker here, a stand-in."""
    from kernelmagic.harness._cluster_host import Child

    child = Child({"name": "sim-0", "scratch": str(tmp_path / "sim-0"), "memory": 1})
    child.proc = subprocess.Popen(["sleep", "30"])
    child.started = 0.0
    child.watch()  # over its limit: killed
    assert child.proc.wait(timeout=5) == -9
    started = []
    child.start = lambda *, report: started.append(report)
    child.watch()  # dead: started again, its report going to the log
    assert started == [False]

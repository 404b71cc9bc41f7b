"""Operating-system confinement of the processes that run candidate code.

The static checks (`safety.py`) are the first line; this is the one that holds when they are
fooled. Each worker process, and the Dask scheduler's (which runs whatever pickle any peer
sends it, workers included), confines itself at its start (`confine`), while it has one
thread and before it opens a port; every thread it starts later inherits the confinement:

- files (Landlock): reads of Python, the installed packages, system libraries, CUDA and its
  own /proc entry; writes into its own scratch directory only;
- network (Landlock, seccomp): TCP connections to the pool's own ports only, bind only to its
  own listening ports, no other socket family or type (no UDP, no UNIX sockets);
- other processes (Landlock scopes, seccomp): no signals or abstract UNIX sockets beyond
  itself, no debugging or reading their memory, no new processes;
- the machine (seccomp): no mounts, namespaces, BPF, kernel modules, keyrings, io_uring...

Where the kernel lacks a feature (an old Landlock ABI, no Landlock, gVisor, no libseccomp)
what exists is enforced and the report names the rest; the pool turns that into one warning,
or refuses to start under `sandbox="require"`. KERNELMAGIC_SANDBOX_PRETEND_MISSING (tests
only) names features to treat as absent.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import glob
import os
import platform
import sys
import threading
from collections.abc import Iterable
from typing import Any

from kernelmagic.harness.options import SandboxMode as Mode

PRETEND_ENV = "KERNELMAGIC_SANDBOX_PRETEND_MISSING"  # tests only: "landlock-net,seccomp"


class SandboxUnavailable(Exception):
    """`sandbox="require"`, and this kernel cannot enforce all of it."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one process may touch."""

    mode: Mode
    scratch: str  # the only writable directory
    connect: tuple[int, ...]  # TCP ports it may connect to: the pool's own
    bind: tuple[int, ...] = ()  # the ports it will listen on, which no one else can then bind
    gpu: bool = False  # create the CUDA context first
    nvrtc: bool = False  # find NVRTC's headers first (that may start a process)


# -- Landlock (linux/landlock.h) ---------------------------------------------------------

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on x86_64 and aarch64
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_MAKE_DIR, _MAKE_REG, _REMOVE_DIR, _REMOVE_FILE = 1 << 7, 1 << 8, 1 << 4, 1 << 5
_FILE_ONLY = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV  # rights on a file
_READ = _READ_FILE | _READ_DIR | _EXECUTE
_WRITE = _READ_FILE | _READ_DIR | _WRITE_FILE | _TRUNCATE | _REFER
_WRITE |= _MAKE_DIR | _MAKE_REG | _REMOVE_DIR | _REMOVE_FILE
_DEVICE = _READ_FILE | _WRITE_FILE | _IOCTL_DEV
_BIND_TCP, _CONNECT_TCP = 1, 2
_SCOPES = 1 | 2  # abstract UNIX sockets, signals

# Features beyond Landlock's first ABI (which has 13 file rights): the ABI that brought each,
# what it covers, and its file right if it is one.
_LANDLOCK_FEATURES = {
    "landlock-refer": (2, "renaming and linking between directories", _REFER),
    "landlock-truncate": (3, "truncating files", _TRUNCATE),
    "landlock-net": (4, "TCP bind and connect", 0),
    "landlock-ioctl": (5, "device ioctls", _IOCTL_DEV),
    "landlock-scope": (6, "signals and abstract UNIX sockets beyond the process", 0),
}


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    _fields_ = [("allowed", ctypes.c_uint64), ("port", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: Any) -> int:
    result = int(_libc.syscall(ctypes.c_long(number), *args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _no_new_privs() -> None:
    if _libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _landlock_abi() -> tuple[int, str]:
    """The kernel's Landlock ABI version (0 without it), and why it is 0."""
    if platform.machine() not in ("x86_64", "aarch64"):
        return 0, f"no Landlock system call numbers for {platform.machine()}"
    try:
        return _syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1)), ""
    except OSError as exc:
        why = "disabled at boot" if exc.errno == errno.EOPNOTSUPP else "not in this kernel"
        return 0, f"Landlock is {why} ({exc.strerror})"


def _pretended() -> set[str]:
    return {f.strip() for f in os.environ.get(PRETEND_ENV, "").split(",") if f.strip()}


@dataclasses.dataclass
class _Landlock:
    """A ruleset being built, with what it can enforce on this kernel."""

    abi: int
    missing: list[str]
    fd: int = -1
    fs: int = 0
    net: int = 0
    pinned: list[int] = dataclasses.field(default_factory=list)

    @classmethod
    def create(cls) -> _Landlock:
        abi, why = _landlock_abi()
        pretend = _pretended()
        if "landlock" in pretend:
            abi, why = 0, "pretended missing for a test"
        if abi == 0:
            return cls(0, [f"landlock (file, network and signal rules: {why})"])
        features = _LANDLOCK_FEATURES.items()
        on = {name for name, (needs, _, _) in features if abi >= needs and name not in pretend}
        missing = [
            f"{name} ({what}: "
            + ("pretended missing" if abi >= needs else f"needs ABI {needs}, kernel {abi}")
            + ")"
            for name, (needs, what, _) in features
            if name not in on
        ]
        fs = (1 << 13) - 1 | sum(bit for name, (_, _, bit) in features if name in on)
        net = _BIND_TCP | _CONNECT_TCP if "landlock-net" in on else 0
        attr = _RulesetAttr(fs, net, _SCOPES if "landlock-scope" in on else 0)
        size = 8 if abi < 4 else 16 if abi < 6 else 24
        fd = _syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
        return cls(abi, missing, fd, fs, net)

    def allow(self, paths: Iterable[str], access: int) -> None:
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # absent here: nothing to allow
            # Keep it open: a rule holds an inode, and /proc makes a new inode for an entry
            # whose dentry was evicted, which would then be refused.
            self.pinned.append(fd)
            allowed = access if os.path.isdir(path) else access & _FILE_ONLY
            rule = _PathBeneath(allowed & self.fs, fd)
            _syscall(_ADD_RULE, self.fd, 1, ctypes.byref(rule), 0)

    def allow_ports(self, ports: Iterable[int], access: int) -> None:
        if not self.net:
            return
        for port in sorted(set(ports)):
            rule = _NetPort(access, port)
            _syscall(_ADD_RULE, self.fd, 2, ctypes.byref(rule), 0)


def _unconfined_threads() -> list[str]:
    """Threads other than the caller: they would not be confined by Landlock."""
    me = threading.get_native_id()
    names = []
    for tid in sorted(int(t) for t in os.listdir("/proc/self/task") if int(t) != me):
        try:
            with open(f"/proc/self/task/{tid}/comm") as fh:
                names.append(f"{fh.read().strip()} ({tid})")
        except OSError:
            continue  # it has exited
    return names


# -- seccomp ------------------------------------------------------------------------------

_DENIED = [
    name
    for group in (
        # new programs and processes (threads are fine: clone with CLONE_THREAD, below)
        "execve execveat fork vfork",
        # other processes' memory and descriptors
        "ptrace process_vm_readv process_vm_writev kcmp pidfd_open pidfd_getfd",
        # namespaces, mounts, the machine
        "unshare setns mount umount2 pivot_root chroot move_mount open_tree fsopen fsconfig "
        "fsmount fspick mount_setattr init_module finit_module delete_module kexec_load "
        "kexec_file_load reboot swapon swapoff acct quotactl quotactl_fd settimeofday "
        "clock_settime clock_adjtime adjtimex sethostname setdomainname iopl ioperm syslog",
        # kernel surfaces with a history of exploits, and ways around the file rules
        "bpf perf_event_open keyctl add_key request_key io_uring_setup io_uring_enter "
        "io_uring_register userfaultfd open_by_handle_at name_to_handle_at fanotify_init "
        "mknod mknodat chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat setxattr "
        "lsetxattr fsetxattr setxattrat removexattr lremovexattr fremovexattr removexattrat",
    )
    for name in group.split()
]
_CLONE_THREAD = 0x10000
_CLONE_NEW = (0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
_MSG_FASTOPEN = 0x20000000  # a TCP connect that Landlock does not see (seen on Linux 6.18)
_SOCKET_FAMILIES = (2, 10)  # AF_INET, AF_INET6
_AF_MAX = 46


def _load_seccomp() -> None:
    """Deny (EPERM) what no job needs, for every thread of the process (TSYNC)."""
    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.CTL_TSYNC, 1)
    eperm = sc.ERRNO(errno.EPERM)

    def deny(name: str, *args: Any, action: int = eperm) -> None:
        if sc.resolve_syscall(sc.Arch.NATIVE, name) >= 0:  # not every call exists everywhere
            f.add_rule(action, name, *args)

    for name in _DENIED:
        deny(name)
    # clone3 takes its flags in memory, out of seccomp's sight: ENOSYS makes glibc use clone.
    deny("clone3", action=sc.ERRNO(errno.ENOSYS))
    deny("clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))  # threads only
    for flag in _CLONE_NEW:
        deny("clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    for family in (*range(_AF_MAX), _AF_MAX):
        if family not in _SOCKET_FAMILIES:
            op = sc.GE if family == _AF_MAX else sc.EQ
            deny("socket", sc.Arg(0, op, family))
    for kind in range(16):  # SOCK_STREAM only (the type less SOCK_NONBLOCK and SOCK_CLOEXEC)
        if kind != 1:
            deny("socket", sc.Arg(1, sc.MASKED_EQ, 0xF, kind))
    for protocol in range(1, 6):  # 0 (the default) or IPPROTO_TCP: no SCTP, no MPTCP
        deny("socket", sc.Arg(2, sc.EQ, protocol))
    deny("socket", sc.Arg(2, sc.GT, 6))
    for name, flags_arg in (("sendto", 3), ("sendmsg", 2), ("sendmmsg", 3)):
        deny(name, sc.Arg(flags_arg, sc.MASKED_EQ, _MSG_FASTOPEN, _MSG_FASTOPEN))
    f.load()


def _seccomp() -> list[str]:
    if "seccomp" in _pretended():
        return ["seccomp (system call filter: pretended missing for a test)"]
    try:
        _load_seccomp()
    except Exception as exc:  # no libseccomp, or a kernel without seccomp
        return [f"seccomp (system call filter: {type(exc).__name__}: {exc})"]
    return []


# -- what a process may touch -----------------------------------------------------------

_ETC = ("ld.so.cache", "localtime", "nsswitch.conf", "hosts", "passwd", "group", "resolv.conf")
_ETC_TOO = ("gai.conf", "locale.alias", "ssl/openssl.cnf", "ssl/certs")  # where present
_PROC = ("meminfo", "stat", "cpuinfo", "loadavg", "uptime", "diskstats", "sys/kernel", "sys/vm")
_READ_DIRS = ("/usr", "/lib", "/lib64", "/proc/driver/nvidia", "/sys/devices/system/cpu")


def _read_trees() -> list[str]:
    """Python, the installed packages, system libraries and CUDA: read and map, never write."""
    trees = [sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path, *_READ_DIRS]
    trees += ["/sys/bus/pci", *glob.glob("/usr/local/cuda*")]
    trees += [os.environ[k] for k in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(k)]
    return [t for t in dict.fromkeys(trees) if os.path.isabs(t)]


def _rules(landlock: _Landlock, plan: Plan) -> None:
    landlock.allow(_read_trees(), _READ)
    landlock.allow([f"/etc/{name}" for name in (*_ETC, *_ETC_TOO)], _READ_FILE | _READ_DIR)
    landlock.allow(["/dev/urandom", "/dev/random", "/dev/zero"], _READ_FILE)
    landlock.allow(["/dev/null"], _READ_FILE | _WRITE_FILE | _TRUNCATE)
    landlock.allow(glob.glob("/dev/nvidia*"), _DEVICE)
    landlock.allow([f"/proc/{os.getpid()}"], _READ_FILE | _READ_DIR)  # not /proc/self: a link
    landlock.allow([f"/proc/{name}" for name in _PROC], _READ_FILE | _READ_DIR)
    landlock.allow([plan.scratch], _WRITE)
    landlock.allow_ports(plan.connect, _CONNECT_TCP)
    landlock.allow_ports(plan.bind, _BIND_TCP)


def _prepare(plan: Plan) -> None:
    """Do what needs more than the rules allow while everything is still allowed."""
    if plan.nvrtc:
        from kernelmagic.harness import _cuda_headers

        # cuda.pathfinder may start a Python process to find the toolkit's CCCL headers
        # (unless the cluster host found them for this process already).
        with contextlib.suppress(Exception):
            _cuda_headers.include_dirs()  # kept for the life of the process
    if plan.gpu:
        # Not tested on a GPU here. Creating the context first opens /dev/nvidia* and reads
        # /proc/driver/nvidia while everything is allowed; later compiles (NVRTC, CuPy,
        # numba) read headers and libraries from site-packages and /usr/local/cuda. Threads
        # the driver starts now are reported: Landlock does not confine them.
        from numba import cuda

        cuda.current_context()


def confine(plan: Plan) -> tuple[str, ...]:
    """Confine this process by `plan`, for good; returns what is not enforced.

    Call it while the process has one thread: Landlock confines the calling thread and the
    threads it starts later, not those already running. Raises `SandboxUnavailable` when
    `plan.mode` is "require" and anything is not enforced.
    """
    if plan.mode == "off":
        return ()
    _prepare(plan)
    landlock = _Landlock.create()
    missing = landlock.missing
    if landlock.abi:
        _rules(landlock, plan)
        others = _unconfined_threads()
        if others:
            missing.append(
                "landlock-threads (started before, not confined: " + ", ".join(others) + ")"
            )
        _no_new_privs()
        _syscall(_RESTRICT_SELF, landlock.fd, 0)
        os.close(landlock.fd)
    missing += _seccomp()
    if missing and plan.mode == "require":
        raise SandboxUnavailable("the sandbox cannot enforce: " + "; ".join(missing))
    return tuple(missing)


def confine_standalone(*, scratch: str) -> tuple[str, ...]:
    """Confine a GPU process outside Dask (the one compute-sanitizer watches) as a worker,
    with no network at all; returns what is not enforced. Not tested on a GPU here: the
    tool's injected library may need more (its own threads are reported as not confined)."""
    return confine(Plan("auto", scratch, (), gpu=True, nvrtc=True))

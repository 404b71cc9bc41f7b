"""The crowned kernel's hardware counters, read with NVIDIA Nsight Compute (GPU only);
the `Profile` they fill and its wording are the value module `profile`.

A time says how fast a kernel is, not what holds it back. A few counters do: how close it
runs to the GPU's DRAM, L2 and SM peaks, how many warps stay resident, why they stall,
and whether registers spill. `ncu` reads them in a child process of its own (the tool must
start the process it watches): the driver compute-sanitizer runs (`_sanitized`), which
confines itself like a worker before it loads the candidate, with the workers' environment.

Metric names and the stall breakdown are Nsight Compute 2024-2025's (Profiling Guide,
"Metrics Reference"; the SpeedOfLight, MemoryWorkloadAnalysis, Occupancy, LaunchStats and
WarpStateStats sections, whose stall chart is warp cycles per issued instruction). The
output read is `--csv --page raw --print-units base` (CLI User Guide, "Console Output"):
ncu's ``==PROF==`` lines, a header of launch columns then metric names, a row of units,
then one row per profiled launch.
"""

from __future__ import annotations

import csv
import math
import os
import pickle
import re
import shutil
import sys
import tempfile
from pathlib import Path

from kernelmagic.harness._host_process import worker_environment
from kernelmagic.harness._watching_tool import ToolTimeout, run_tool
from kernelmagic.harness.jobs import VerifyJob
from kernelmagic.harness.profile import STALL_WORDS, Profile, printable

DEFAULT_NCU = Path("/usr/local/cuda/bin/ncu")
LAUNCH_COUNT = 12  # the first launches only: each is replayed once per counter pass

# Profile field -> metric names, the first requested, the others also read.
_FIELDS: dict[str, tuple[str, ...]] = {
    "duration_ms": ("gpu__time_duration.sum",),
    "dram_pct": (
        "dram__throughput.avg.pct_of_peak_sustained_elapsed",
        "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed",
    ),
    "l2_pct": (
        "lts__throughput.avg.pct_of_peak_sustained_elapsed",
        "lts__t_sectors.avg.pct_of_peak_sustained_elapsed",
    ),
    "sm_pct": ("sm__throughput.avg.pct_of_peak_sustained_elapsed",),
    "occupancy_pct": ("sm__warps_active.avg.pct_of_peak_sustained_active",),
    "l1_hit_pct": ("l1tex__t_sector_hit_rate.pct",),
    "l2_hit_pct": ("lts__t_sector_hit_rate.pct",),
    "registers_per_thread": ("launch__registers_per_thread",),
}
# Local memory is where spilled registers (and arrays indexed at run time) live.
_LOCAL = (
    "l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum",
    "l1tex__t_bytes_pipe_lsu_mem_local_op_st.sum",
)
_STALL = "smsp__average_warps_issue_stalled_{}_per_issue_active.ratio"
METRICS = (
    *(names[0] for names in _FIELDS.values()),
    *_LOCAL,
    *(_STALL.format(reason) for reason in STALL_WORDS),
)
# The harness's own checks after each run (red zones compared on the GPU with CuPy, in
# `_gpu_runtimes`) are profiled too; they are not the candidate's kernels.
_HARNESS_KERNELS = re.compile(r"^cupy_(?:not_equal|count_nonzero)(?:_|$)")
# Base units are asked for (--print-units base); scaled ones ("usecond", "Mbyte") read too.
_UNITS = {  # field -> (unit pattern, its unit when the row gives none, base unit in the field)
    "duration_ms": (re.compile(r"([num]?)s(?:econd)?"), "ns", 1e3),
    "local_bytes": (re.compile(r"([KMG]?)(?:byte|B)"), "byte", 1.0),
}
_PREFIX = {"": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "K": 1e3, "M": 1e6, "G": 1e9}


class ProfilerUnavailable(RuntimeError):
    """ncu could not read counters here (not installed, not permitted, a timeout...)."""


# -- reading ncu's output ----------------------------------------------------------------


def parse_csv(text: str) -> list[Profile]:
    """The profiles in `ncu --csv --page raw` output, one per kernel name in order of first
    launch, each from its last launch; [] for anything else (never raises)."""
    try:
        return _parse(text)
    except (csv.Error, ValueError, TypeError, KeyError, IndexError):
        return []


def _parse(text: str) -> list[Profile]:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID",')), None)
    if start is None:
        return []
    # ncu's own messages (==PROF==, ==WARNING==) may follow; rows are the quoted lines.
    rows = list(csv.reader(line for line in lines[start:] if line.startswith('"')))
    header, body = rows[0], rows[1:]
    units: dict[str, str] = {}
    if body and len(body[0]) == len(header) and body[0][0] == "":  # the units row
        units = dict(zip(header, body[0], strict=True))
        body = body[1:]
    last: dict[str, dict[str, str]] = {}
    launches: dict[str, int] = {}
    for row in body:
        if len(row) != len(header):
            continue  # cut short, or not ncu's
        record = dict(zip(header, row, strict=True))
        name = record.get("Kernel Name", "").strip()
        if not name or not record.get("ID", "").strip().isdigit():
            continue
        last[name] = record
        launches[name] = launches.get(name, 0) + 1
    return [_profile(name, last[name], units, launches[name]) for name in last]


def _profile(name: str, record: dict[str, str], units: dict[str, str], launches: int) -> Profile:
    def read(field: str) -> float | None:
        for metric in _FIELDS[field]:
            value = _value(record.get(metric), units.get(metric, ""), field)
            if value is not None:
                return value
        return None

    local = [_value(record.get(m), units.get(m, ""), "local_bytes") for m in _LOCAL]
    stalls = []
    for reason in STALL_WORDS:
        value = _value(record.get(_STALL.format(reason)), "", "stall")
        if value is not None and value > 0:
            stalls.append((reason, value))
    stalls.sort(key=lambda s: -s[1])
    registers = read("registers_per_thread")
    return Profile(
        kernel=name,
        duration_ms=read("duration_ms"),
        dram_pct=read("dram_pct"),
        l2_pct=read("l2_pct"),
        sm_pct=read("sm_pct"),
        occupancy_pct=read("occupancy_pct"),
        l1_hit_pct=read("l1_hit_pct"),
        l2_hit_pct=read("l2_hit_pct"),
        registers_per_thread=None if registers is None else round(registers),
        local_bytes=None if all(v is None for v in local) else sum(v or 0.0 for v in local),
        stalls=tuple(stalls[:3]),
        launches=launches,
    )


def _value(raw: str | None, unit: str, field: str) -> float | None:
    """A cell as a number in the field's unit; None for n/a, text or an unknown unit."""
    if raw is None:
        return None
    try:
        number = float(raw.strip().replace(",", ""))  # thousands separators: "1,048,576"
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if field not in _UNITS:
        return number
    pattern, default, base = _UNITS[field]
    match = pattern.fullmatch(unit.strip() or default)
    return None if match is None else number * _PREFIX[match.group(1)] * base


# -- running ncu -------------------------------------------------------------------------


def ncu_path() -> str | None:
    """ncu on PATH or in the CUDA toolkit's usual place, if installed."""
    found = shutil.which("ncu")
    if found:
        return found
    return str(DEFAULT_NCU) if DEFAULT_NCU.exists() else None


# --clock-control none: the GPU's own clocks; ncu would lock them to base, and the kernel
# would read as faster or slower against its peak than it runs.
_OPTIONS = (
    *("--csv", "--page", "raw", "--print-units", "base", "--print-kernel-base", "function"),
    *("--clock-control", "none", "--target-processes", "all"),
)


def command(exe: str, job_file: str, log_file: str) -> list[str]:
    """ncu around the sanitizer's driver: the fixed metrics, the first launches, CSV."""
    return [
        exe,
        *_OPTIONS,
        *("--launch-count", str(LAUNCH_COUNT), "--metrics", ",".join(METRICS)),
        # The report goes to a file the confined child cannot write: what the candidate
        # prints goes to stdout, where it cannot pass for a row of counters.
        *("--log-file", log_file),
        *(sys.executable, "-m", "kernelmagic.harness._sanitized", job_file),
    ]


def run(job: VerifyJob, *, timeout_s: float) -> list[Profile]:
    """Profile `job`'s runs: the candidate's kernels, the longest first (never empty).

    Raises ProfilerUnavailable, with a one-line reason, when ncu is absent, runs past
    `timeout_s`, or cannot read counters here (ERR_NVGPUCTRPERM, gVisor, a virtual GPU).
    """
    exe = ncu_path()
    if exe is None:
        raise ProfilerUnavailable("Nsight Compute (ncu) is not installed")
    with tempfile.TemporaryDirectory(prefix="kernelmagic-profiler-") as root:
        scratch = Path(root, "scratch")  # the child's only writable directory
        scratch.mkdir()
        job_file = scratch / "job.pickle"
        job_file.write_bytes(pickle.dumps(job))
        log_file = Path(root, "ncu.csv")
        out, err, code = _run(command(exe, str(job_file), str(log_file)), scratch, timeout_s)
        report = log_file.read_text(errors="replace") if log_file.exists() else ""
    # Before ncu opens its log (a bad option, say), its messages go to stdout or stderr.
    said = report if report.strip() else f"{out}\n{err}"
    if "ERR_NVGPUCTRPERM" in said:
        raise ProfilerUnavailable(
            "ncu may not read the GPU's performance counters here (ERR_NVGPUCTRPERM: "
            "they are restricted to administrators on this machine)"
        )
    found = [p for p in parse_csv(report) if not _HARNESS_KERNELS.match(p.kernel)]
    if found:
        return sorted(found, key=lambda p: -(p.duration_ms or 0.0))
    raise ProfilerUnavailable(_why_none(said, code))


def _run(command: list[str], scratch: Path, timeout_s: float) -> tuple[str, str, int]:
    env = {**worker_environment(os.environ), "TMPDIR": str(scratch)}
    try:
        return run_tool(command, cwd=scratch, env=env, timeout_s=timeout_s)
    except OSError as exc:
        raise ProfilerUnavailable(f"ncu could not start: {exc.strerror or exc}") from None
    except ToolTimeout as exc:
        raise ProfilerUnavailable(f"ncu {exc}") from None


def _why_none(said: str, code: int) -> str:
    """Why ncu gave no counters, from its own lines."""
    lines = [line.strip() for line in said.splitlines()]
    errors = [line for line in lines if line.startswith("==ERROR==")]
    for line in errors:
        if "not supported" in line or "does not support" in line:
            return f"ncu cannot profile this GPU here: {printable(line.removeprefix('==ERROR=='))}"
    if errors:
        return f"ncu failed: {printable(errors[0].removeprefix('==ERROR=='))}"
    if any("No kernels were profiled" in line for line in lines):
        return (
            "ncu profiled no kernel: it may not reach the GPU's counters here "
            "(gVisor, some virtual machines)"
        )
    return f"ncu returned no counters for the candidate's kernels (exit code {code})"

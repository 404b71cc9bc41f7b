"""The kernel a session crowns, run again under NVIDIA's compute-sanitizer (GPU only).

Races and out-of-bounds writes into a candidate's own buffers leave no trace a result
check can see: a histogram without atomics is right most of the time, a write past the
end of a buffer the candidate allocated lands in memory nobody checks. compute-sanitizer's
memcheck and racecheck tools see both. They run the verification cases once more in a
child process of their own (the tool must start the process it watches), which confines
itself like a worker before it loads the candidate; its environment is the workers'.
"""

from __future__ import annotations

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
from kernelmagic.harness.verdict import clip

TOOLS = ("memcheck", "racecheck")
_SUMMARY = re.compile(
    r"(?:ERROR SUMMARY: (?P<errors>\d+) errors?)|"
    r"(?:RACECHECK SUMMARY: \d+ hazards? displayed \((?P<races>\d+) errors?)"
)


def sanitizer_path() -> str | None:
    """compute-sanitizer on PATH or in the CUDA toolkit's usual place, if installed."""
    found = shutil.which("compute-sanitizer")
    if found:
        return found
    default = Path("/usr/local/cuda/bin/compute-sanitizer")
    return str(default) if default.exists() else None


def findings(report: str) -> str | None:
    """The tool's own lines about what it found, or None when its summary counts no error."""
    counted = 0
    for match in _SUMMARY.finditer(report):
        counted += int(match.group("errors") or match.group("races") or 0)
    if not counted:
        return None
    lines = [
        line.removeprefix("=========").strip()
        for line in report.splitlines()
        if line.startswith("=========") and line.strip("= ").strip()
    ]
    return clip("\n".join(lines[:40]))


def run(job: VerifyJob, tool: str, *, timeout_s: float) -> str | None:
    """Run `job`'s verification cases under `tool`; its findings, or None if it found none.

    Raises RuntimeError when the tool itself could not run (no sanitizer, a timeout).
    """
    exe = sanitizer_path()
    if exe is None:
        raise RuntimeError("compute-sanitizer is not installed")
    with tempfile.TemporaryDirectory(prefix="kernelmagic-sanitizer-") as scratch:
        job_file = Path(scratch, "job.pickle")
        job_file.write_bytes(pickle.dumps(job))
        command = [
            exe,
            "--tool",
            tool,
            "--print-limit",
            "20",
            sys.executable,
            "-m",
            "kernelmagic.harness._sanitized",
            str(job_file),
        ]
        env = {**worker_environment(os.environ), "TMPDIR": scratch}
        try:
            out, err, _ = run_tool(command, cwd=Path(scratch), env=env, timeout_s=timeout_s)
        except OSError as exc:
            raise RuntimeError(
                f"compute-sanitizer could not start: {exc.strerror or exc}"
            ) from None
        except ToolTimeout as exc:
            raise RuntimeError(f"compute-sanitizer --tool {tool} {exc}") from None
    return findings(out + "\n" + err)

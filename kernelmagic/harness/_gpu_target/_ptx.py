"""A kernel's resources: static shared memory from its PTX; registers and stack from ptxas."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable

from kernelmagic.harness.verdict import Resources

MAX_STATIC_SHARED_BYTES = 48 * 1024  # more must be dynamic shared memory, opted into
# a declaration such as ".align 4 .b32 name[4][8]": its bits and its dimensions
_VARIABLE = r"(?:\.align\s+\d+\s+)?\.[bsuf](\d+)\s+[\w$]+((?:\[\d+\])*)"
_SHARED = re.compile(r"^\s*(?:\.visible\s+)?\.shared\s+" + _VARIABLE, re.M)
_LOCAL = re.compile(r"^\s*\.local\s+" + _VARIABLE, re.M)
_VERSION = re.compile(r"Unsupported \.version (\d+\.\d+); current version is '(\d+\.\d+)'")
_ENTRY = re.compile(r"Compiling entry function '([^']+)'")
_PROPERTIES = re.compile(r"Function properties for '?([^':\s]+)")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_TOO_MUCH = re.compile(r"too much (?:shared|local|constant|parameter)|uses too much", re.I)


def _declared_bytes(pattern: re.Pattern[str], ptx: str) -> int:
    total = 0
    for bits, dims in pattern.findall(ptx):
        count = 1
        for dim in re.findall(r"\d+", dims):
            count *= int(dim)
        total += int(bits) // 8 * count
    return total


@dataclasses.dataclass(frozen=True)
class PtxReport:
    """What one kernel's PTX says about its resources; `error` when it breaks a GPU limit."""

    resources: Resources
    ptx_local_bytes: int
    assembler: str | None = None
    registers_note: str | None = None
    error: str | None = None


def ptx_report(ptx: str, label: str, arch: str) -> PtxReport:
    """Resources of the one kernel in `ptx`, assembled for `arch` where an assembler is found.

    Static shared memory is read from the PTX; registers, stack and spills only from an
    assembler, so they stay None (never estimated) where none can run.
    """
    shared = _declared_bytes(_SHARED, ptx)
    base = PtxReport(Resources(kernel=label, shared_bytes=shared), _declared_bytes(_LOCAL, ptx))
    if shared > MAX_STATIC_SHARED_BYTES:
        return dataclasses.replace(
            base,
            error=f"it declares {shared} bytes of static shared memory; a GPU allows "
            f"{MAX_STATIC_SHARED_BYTES} (use dynamic shared memory for more)",
        )
    assembler = _assembler()
    if assembler is None:
        return dataclasses.replace(base, registers_note="no ptxas or nvJitLink to assemble it")
    if ".extern .func" in ptx:
        note = "it calls functions (numba's float16 library) that only a GPU link adds"
        return dataclasses.replace(base, registers_note=note)
    ok, log, name = assembler.assemble(ptx, arch)
    if ok:
        return dataclasses.replace(
            base, resources=_read_report(log, base.resources), assembler=name
        )
    if _TOO_MUCH.search(log):  # the kernel's own limits, not the assembler's
        return dataclasses.replace(base, error=f"ptxas: {_first_error(log)}")
    return dataclasses.replace(base, registers_note=f"{name} failed: {_first_error(log)}")


def _first_error(log: str) -> str:
    errors = [line.strip() for line in log.splitlines() if re.search(r"error|fatal", line)]
    return "; ".join(errors[:3]) or log.strip()


def _read_report(log: str, base: Resources) -> Resources:
    entry = function = None
    values: dict[str, int] = {}
    for line in log.splitlines():
        if match := _ENTRY.search(line):
            entry = match.group(1)
        elif match := _PROPERTIES.search(line):
            function = match.group(1)
        elif (match := _FRAME.search(line)) and function == entry:
            values.update(zip(("stack", "stores", "loads"), map(int, match.groups()), strict=True))
        elif (match := _USED.search(line)) and entry is not None and "registers" not in values:
            values["registers"] = int(match.group(1))
            if barriers := re.search(r"used (\d+) barriers", line):
                values["barriers"] = int(barriers.group(1))
            if smem := re.search(r"(\d+) bytes smem", line):
                values["shared"] = int(smem.group(1))
    return dataclasses.replace(
        base,
        registers=values.get("registers"),
        stack_frame_bytes=values.get("stack"),
        spill_stores_bytes=values.get("stores"),
        spill_loads_bytes=values.get("loads"),
        barriers=values.get("barriers", 0 if "registers" in values else None),
        shared_bytes=values.get("shared", base.shared_bytes),
    )


@dataclasses.dataclass
class _Assembler:
    """ptxas as a library (nvJitLink) or a program; `isa` is learned from its first refusal.

    numba's libNVVM may write a newer PTX ISA than the assembler reads; numba's kernels
    rarely use anything new, and when one does the assembler says so.
    """

    name: str
    run: Callable[[str, str], tuple[bool, str]]
    isa: tuple[int, ...] | None = None  # the newest PTX ISA it reads, once known

    def assemble(self, ptx: str, arch: str) -> tuple[bool, str, str]:
        """(ok, log, what assembled it): the PTX ISA lowered to what it reads if need be."""
        name = self.name
        for _ in range(2):
            written = re.search(r"^\.version (\d+)\.(\d+)", ptx, re.M)
            if self.isa and written and tuple(map(int, written.groups())) > self.isa:
                isa = ".".join(map(str, self.isa))
                ptx = ptx.replace(written.group(0), f".version {isa}", 1)
                name = f"{self.name} (PTX ISA {written.group(1)}.{written.group(2)} read as {isa})"
            ok, log = self.run(ptx, arch)
            refused = _VERSION.search(log)
            if ok or not refused or self.isa:
                return ok, log, name
            self.isa = tuple(map(int, refused.group(2).split(".")))
        return ok, log, name


@functools.cache
def _assembler() -> _Assembler | None:
    """nvJitLink when its library is installed, else a CUDA toolkit's ptxas, else None."""
    try:
        from cuda.bindings import nvjitlink

        return _Assembler("nvJitLink {}.{}".format(*nvjitlink.version()), _nvjitlink)
    except Exception:
        pass
    path = shutil.which("ptxas")
    if path is None and os.path.exists("/usr/local/cuda/bin/ptxas"):
        path = "/usr/local/cuda/bin/ptxas"
    if path is None:
        with contextlib.suppress(Exception):
            from cuda.pathfinder import find_nvidia_binary_utility

            path = find_nvidia_binary_utility("ptxas")
    if path is None:
        return None
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None  # a confined worker may not start programs: no ptxas then
    release = re.search(r"release (\d+\.\d+)", version.stdout)
    name = f"ptxas {release.group(1) if release else '(unknown version)'}"
    return _Assembler(name, functools.partial(_ptxas, path))


def _nvjitlink(ptx: str, arch: str) -> tuple[bool, str]:
    from cuda.bindings import nvjitlink

    try:
        handle = nvjitlink.create(2, [f"-arch={arch}", "-verbose"])
    except nvjitlink.nvJitLinkError as exc:
        return False, f"nvJitLink cannot target {arch}: {exc}"
    try:
        data = ptx.encode()
        nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel")
        nvjitlink.complete(handle)
        ok, size, read = True, nvjitlink.get_info_log_size, nvjitlink.get_info_log
    except nvjitlink.nvJitLinkError:
        ok, size, read = False, nvjitlink.get_error_log_size, nvjitlink.get_error_log
    try:
        log = bytearray(size(handle))
        read(handle, log)
        return ok, log.decode(errors="replace").rstrip("\0")
    finally:
        nvjitlink.destroy(handle)


def _ptxas(path: str, ptx: str, arch: str) -> tuple[bool, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as file:
        file.write(ptx)
        file.flush()
        try:
            done = subprocess.run(
                [path, "-v", f"-arch={arch}", file.name, "-o", os.devnull],
                capture_output=True,
                text=True,
                timeout=120,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"error: ptxas could not run here: {exc}"
    return done.returncode == 0, done.stdout + done.stderr

"""Compile CUDA C candidates with NVRTC, through cuda-bindings, on machines with or without a GPU.

NVRTC is a library, so compiling needs neither nvcc nor a driver: compile errors and
resource usage are available on a laptop. The output is a CUBIN for the exact sm_XX, so
loading it needs no PTX JIT (whose time would otherwise land in the first timed launch),
and `ptxas -v` reports registers, spills and static shared memory, which explain
performance before the kernel ever runs. A candidate that does not compile is data
(`ok=False`, with the compiler's log), not an exception: exceptions mean the harness or
its installation is broken.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from collections.abc import Sequence
from typing import Any

from cuda.bindings import nvrtc as _nvrtc

from kernelmagic.candidate.cuda_source import find_kernels
from kernelmagic.harness._cuda_headers import include_dirs
from kernelmagic.harness.devices import normalize_arch
from kernelmagic.harness.verdict import Resources

_SUCCESS = _nvrtc.nvrtcResult.NVRTC_SUCCESS
_COMPILATION = _nvrtc.nvrtcResult.NVRTC_ERROR_COMPILATION

_ENTRY = re.compile(r"ptxas info\s*: Compiling entry function '([^']+)'")
_PROPERTIES = re.compile(r"ptxas info\s*: Function properties for (\S+)")
_FRAME = re.compile(
    r"ptxas\s+\.\s+(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads"
)
_USED = re.compile(r"ptxas info\s*: Used (\d+) registers")
_BARRIERS = re.compile(r"used (\d+) barriers")
_SMEM = re.compile(r"(\d+) bytes smem")
_ERROR = re.compile(r"^(?:\S.*?\(\d+\): (?:catastrophic )?error\b|ptxas\s*(?:error|fatal)\b)")
_SUMMARY = re.compile(r"^\d+ (?:catastrophic )?errors? detected in the compilation")


@dataclasses.dataclass(frozen=True)
class CompileOutput:
    """What one NVRTC compile produced; `resources` lists the requested kernel first."""

    ok: bool
    log: str
    first_error: str | None
    cubin: bytes | None = dataclasses.field(repr=False)
    lowered_name: str | None
    resources: tuple[Resources, ...]
    seconds: float
    arch: str
    nvrtc_version: str


def _check(result: tuple[Any, ...], call: str, detail: str = "") -> Any:
    """Unpack a cuda-bindings `(status, *values)` tuple; a failed status is a RuntimeError."""
    status, *values = result
    if status != _SUCCESS:
        _, message = _nvrtc.nvrtcGetErrorString(status)
        raise RuntimeError(f"NVRTC {call} failed: {message.decode()}: {detail or 'no details'}")
    return values[0] if len(values) == 1 else None


@functools.cache
def nvrtc_version() -> str:
    """The NVRTC library's version, e.g. "13.5"."""
    status, major, minor = _nvrtc.nvrtcVersion()
    _check((status,), "nvrtcVersion")
    return f"{major}.{minor}"


@functools.cache
def _supported_archs() -> tuple[int, ...]:
    return tuple(_check(_nvrtc.nvrtcGetSupportedArchs(), "nvrtcGetSupportedArchs"))


def _target(arch: str) -> str:
    """Normalize `arch` to sm_XX[a|f] and make sure this NVRTC can produce a CUBIN for it."""
    target = normalize_arch(str(arch))
    number = int(re.sub(r"\D", "", target))
    if number not in _supported_archs():
        supported = ", ".join(f"sm_{a}" for a in _supported_archs())
        raise ValueError(f"NVRTC {nvrtc_version()} cannot compile for {target} ({supported})")
    return target


def compile_cuda(
    source: str,
    *,
    name_expression: str,
    arch: str = "sm_90",
    options: Sequence[str] = (),
    filename: str = "candidate.cu",
) -> CompileOutput:
    """Compile `source` to a CUBIN for `arch` and look up the kernel `name_expression`.

    `name_expression` is the kernel as C++ would name it ("saxpy", "k<128>"); `options`
    are extra NVRTC options, already checked (see `cuda_directive.check_options`).
    """
    target = _target(arch)
    start = time.perf_counter()
    if "\0" in source:  # NVRTC would silently stop reading at the NUL
        return _failed("the source contains a NUL character", start, target)
    program = _check(
        _nvrtc.nvrtcCreateProgram(source.encode(), filename.encode(), 0, [], []),
        "nvrtcCreateProgram",
    )
    try:
        _check(
            _nvrtc.nvrtcAddNameExpression(program, name_expression.encode()),
            "nvrtcAddNameExpression",
        )
        flags = _flags(target, options)
        (status,) = _nvrtc.nvrtcCompileProgram(program, len(flags), flags)
        raw_log = _program_log(program)
        if status not in (_SUCCESS, _COMPILATION):
            _check((status,), "nvrtcCompileProgram", raw_log.strip())
        cubin = lowered = None
        if status == _SUCCESS:
            size = _check(_nvrtc.nvrtcGetCUBINSize(program), "nvrtcGetCUBINSize")
            cubin = b" " * size
            _check(_nvrtc.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN")
            lowered = _check(
                _nvrtc.nvrtcGetLoweredName(program, name_expression.encode()),
                "nvrtcGetLoweredName",
            ).decode()
    finally:
        _check(_nvrtc.nvrtcDestroyProgram(program), "nvrtcDestroyProgram")
    seconds = time.perf_counter() - start

    log, resources, name_missing = _read_log(raw_log)
    first_error = next((line for line in log.splitlines() if _ERROR.match(line)), None)
    if name_missing:
        kernels = sorted({kernel.name for kernel in find_kernels(source)})
        message = (
            f"{filename}: error: no kernel matches the name expression {name_expression!r}"
            f" (__global__ functions in the source: {', '.join(kernels) or 'none'})"
        )
        log = f"{log}\n\n{message}".strip()
        first_error = first_error or message
    return CompileOutput(
        ok=status == _SUCCESS,
        log=log,
        first_error=first_error,
        cubin=cubin,
        lowered_name=lowered,
        resources=_name_resources(resources, lowered, name_expression),
        seconds=seconds,
        arch=target,
        nvrtc_version=nvrtc_version(),
    )


def _failed(message: str, start: float, target: str) -> CompileOutput:
    return CompileOutput(
        ok=False,
        log=message,
        first_error=message,
        cubin=None,
        lowered_name=None,
        resources=(),
        seconds=time.perf_counter() - start,
        arch=target,
        nvrtc_version=nvrtc_version(),
    )


def _flags(target: str, options: Sequence[str]) -> list[bytes]:
    flags = [f"--gpu-architecture={target}", "--ptxas-options=-v", "-lineinfo"]
    # A user's -std replaces ours instead of following it (NVRTC warns about the pair).
    if not any(re.match(r"--?std=", option) for option in options):
        flags.append("--std=c++17")
    flags += [f"-I{directory}" for directory in include_dirs()]
    flags += options
    return [flag.encode() for flag in flags]


def _program_log(program: Any) -> str:
    size = _check(_nvrtc.nvrtcGetProgramLogSize(program), "nvrtcGetProgramLogSize")
    buffer = b" " * size
    _check(_nvrtc.nvrtcGetProgramLog(program, buffer), "nvrtcGetProgramLog")
    # ptxas messages arrive NUL-separated from the front end's, and the buffer ends in NULs.
    return buffer.decode(errors="replace").replace("\0", "")


def _read_log(raw: str) -> tuple[str, dict[str, dict[str, int]], bool]:
    """Split NVRTC's log into messages for people, ptxas resources per entry, and whether
    the name expression failed to resolve (its errors mention NVRTC's internal file)."""
    kept: list[str] = []
    entries: dict[str, dict[str, int]] = {}
    entry = function = None
    name_missing = skipping = False
    for line in raw.splitlines():
        if skipping:  # the source excerpt and caret under a name-map error
            skipping = bool(line.strip())
            continue
        if line.startswith("__nv_name_map("):
            name_missing = skipping = True
            continue
        if match := _ENTRY.match(line):
            entry = match.group(1)
            entries[entry] = {}
        elif match := _PROPERTIES.match(line):
            function = match.group(1)
        elif match := _FRAME.match(line):
            if function in entries:  # device functions report frames too; only kernels count
                stack, stores, loads = map(int, match.groups())
                entries[function].update(stack=stack, stores=stores, loads=loads)
            continue
        elif (match := _USED.match(line)) and entry is not None:
            values = entries[entry]
            values["registers"] = int(match.group(1))
            for key, pattern in (("barriers", _BARRIERS), ("shared", _SMEM)):
                if found := pattern.search(line):
                    values[key] = int(found.group(1))
        if line.startswith(("ptxas info", "Remark: The warnings can be suppressed")):
            continue
        if name_missing and _SUMMARY.match(line):
            continue  # its count would include the name-map errors dropped above
        kept.append(line)
    log = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return log, entries, name_missing


def _name_resources(
    entries: dict[str, dict[str, int]], lowered: str | None, name_expression: str
) -> tuple[Resources, ...]:
    """Resources per entry, named readably: the requested kernel first, by its expression."""
    resources = [
        Resources(
            kernel=name_expression if mangled == lowered else _short_name(mangled),
            registers=values.get("registers"),
            spill_stores_bytes=values.get("stores"),
            spill_loads_bytes=values.get("loads"),
            stack_frame_bytes=values.get("stack"),
            shared_bytes=values.get("shared", 0) if "registers" in values else None,
            barriers=values.get("barriers"),
        )
        for mangled, values in entries.items()
    ]
    return tuple(sorted(resources, key=lambda r: r.kernel != name_expression))


def _short_name(mangled: str) -> str:
    """The identifier inside a simple Itanium-mangled name (_Z5saxpy... -> saxpy)."""
    match = re.match(r"_Z(\d+)", mangled)
    if not match:
        return mangled  # extern "C" names are not mangled; nested (_ZN...) ones stay as is
    length = int(match.group(1))
    return mangled[match.end() : match.end() + length]

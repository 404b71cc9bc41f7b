"""Compiling recorded launches for a GPU target, in a worker without the simulator."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import re
import threading
import time
import traceback
import types
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np

from kernelmagic.harness._candidate_module import forget_module, load_module
from kernelmagic.harness._gpu_target._launches import (
    Arg,
    ArrayArg,
    ArrayConstant,
    CodeRef,
    Constant,
    Function,
    GpuCompile,
    KernelCompile,
    KernelLaunch,
    ModuleRef,
    NotCapturable,
    Outcome,
    ScalarArg,
    TupleArg,
    Value,
    code_ref,
)
from kernelmagic.harness._gpu_target._ptx import ptx_report

_LOCK = threading.Lock()  # compiling patches numba module attributes for its duration


def compile_launches(
    source: str,
    filename: str,
    launches: tuple[KernelLaunch, ...],
    *,
    builtins: Mapping[str, Any],
    cc: tuple[int, int] = (9, 0),
) -> GpuCompile:
    """Compile each distinct launch for sm_`cc`, in a process without the simulator.

    `source` and `filename` must be what the simulator worker loaded (code objects are
    found again by filename, qualified name, first line and bytecode); `builtins` are the
    candidate's restricted builtins. A candidate's fault is data, never an exception.
    """
    from numba.cuda.core import config

    if config.ENABLE_CUDASIM:
        raise RuntimeError("compile_launches needs a worker without NUMBA_ENABLE_CUDASIM")
    arch = f"sm_{cc[0]}{cc[1]}"
    start = time.perf_counter()
    unique = tuple(dict.fromkeys(launches))
    name = "kernelmagic_gpu_" + hashlib.blake2b(source.encode(), digest_size=6).hexdigest()
    with _LOCK, _target(cc) as declared:
        try:
            module, code = load_module(source, filename, name, builtins)
        except Exception as exc:
            return GpuCompile(
                arch,
                tuple(KernelCompile(launch, Outcome.UNCHECKED) for launch in unique),
                time.perf_counter() - start,
                load_error=f"the candidate could not be loaded to compile its kernels for {arch} "
                f"without a GPU: {_first_line(exc)}",
            )
        try:
            context = _Context(module, _index(code, filename), declared, cc, arch, source, filename)
            counts = collections.Counter(launch.name for launch in unique)
            kernels = tuple(_compile(launch, context, counts[launch.name] > 1) for launch in unique)
        finally:
            forget_module(module, filename)
    return GpuCompile(arch, kernels, time.perf_counter() - start)


@contextlib.contextmanager
def _target(cc: tuple[int, int]) -> Iterator[dict[types.CodeType, list[Any]]]:
    """Let numba compile for `cc` without a driver, and keep kernels' signatures lazy.

    numba asks the current device for its compute capability whenever a kernel calls a
    device function (np.sort's implementation is one): without a GPU that is a
    `CudaSupportError` at driver init, whatever the kernel does. A kernel declared with
    signatures would be compiled and loaded onto a device as its module executes: its
    signatures are recorded instead, by code object, and checked against the launch.
    """
    import numba.cuda
    from numba.cuda import dispatcher

    declared: dict[types.CodeType, list[Any]] = {}
    real_jit = numba.cuda.jit
    device = types.SimpleNamespace(compute_capability=cc)

    def lazy_jit(func_or_sig: Any = None, **options: Any) -> Any:
        if options.get("device") or isinstance(func_or_sig, types.FunctionType):
            return real_jit(func_or_sig, **options)

        def wrap(fn: Any) -> Any:
            if func_or_sig is not None and hasattr(fn, "__code__"):
                sigs = func_or_sig if isinstance(func_or_sig, list) else [func_or_sig]
                declared[fn.__code__] = sigs
            return real_jit(fn, **options)

        return wrap

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: device
    numba.cuda.jit = lazy_jit  # type: ignore[assignment]
    try:
        yield declared
    finally:
        dispatcher.get_current_device = saved
        numba.cuda.jit = real_jit


def _index(code: types.CodeType, filename: str) -> dict[CodeRef, types.CodeType]:
    """Every function's code object in the module, nested ones (kernel factories) included."""
    found: dict[CodeRef, types.CodeType] = {}
    stack = [code]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, types.CodeType) and const.co_filename == filename:
                found[code_ref(const)] = const
                stack.append(const)
    return found


@dataclasses.dataclass(frozen=True)
class _Context:
    module: types.ModuleType
    codes: dict[CodeRef, types.CodeType]
    declared: dict[types.CodeType, list[Any]]
    cc: tuple[int, int]
    arch: str
    source: str
    filename: str


class _Stop(Exception):
    """Why a launch cannot be compiled (`REJECTED`) or cannot be tried here (`UNCHECKED`)."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


def _compile(launch: KernelLaunch, ctx: _Context, qualify: bool) -> KernelCompile:
    from numba import cuda

    start = time.perf_counter()
    try:
        fn = _rebuild(launch.function, ctx, "it")
        argtypes = tuple(_numba_type(arg, i) for i, arg in enumerate(launch.args))
        sig = _signature(argtypes, ctx.declared.get(fn.__code__))
        spec = launch.function
        assert isinstance(spec, Function)  # _rebuild stops on anything else
        ptx, _ = cuda.compile_ptx(fn, sig, cc=ctx.cc, fastmath=spec.fastmath, debug=spec.debug)
        label = f"{launch.name}({', '.join(map(str, sig))})" if qualify else launch.name
        report = ptx_report(ptx, label, ctx.arch)
        if report.error:
            raise _Stop(Outcome.REJECTED, report.error)
    except _Stop as stop:
        outcome, message = stop.outcome, str(stop)
    except Exception as exc:
        outcome, message = _explain(exc, ctx)
    else:
        return KernelCompile(
            launch,
            Outcome.COMPILED,
            resources=report.resources,
            ptx_local_bytes=report.ptx_local_bytes,
            assembler=report.assembler,
            registers_note=report.registers_note,
            seconds=time.perf_counter() - start,
        )
    if outcome is Outcome.REJECTED:
        what = "runs on the simulator but cannot be compiled for a GPU"
    else:
        what = "could not be tried here on a GPU compiler"
    message = f"kernel '{launch.name}' {what} ({ctx.arch}): {message}"
    return KernelCompile(launch, outcome, message, seconds=time.perf_counter() - start)


def _rebuild(spec: Function | NotCapturable, ctx: _Context, what: str) -> types.FunctionType:
    """The function as the candidate module made it, with its captured cells recreated."""
    if isinstance(spec, NotCapturable):
        raise _Stop(Outcome.REJECTED, f"it is {spec.what}")
    code = ctx.codes.get(spec.code)
    if code is None:
        raise _Stop(
            Outcome.UNCHECKED,
            f"the function '{spec.code.name}' (line {spec.code.firstlineno} of "
            f"{spec.code.filename}) was not found again in the candidate's source",
        )
    cells = tuple(
        types.CellType(_recreate(v, ctx, f"{what} captures '{n}', "))
        for n, v in zip(code.co_freevars, spec.closure, strict=True)
    )
    first_default = code.co_argcount - len(spec.defaults)
    defaults = tuple(
        _recreate(v, ctx, f"the default of '{code.co_varnames[first_default + i]}' is ")
        for i, v in enumerate(spec.defaults)
    )
    return types.FunctionType(code, ctx.module.__dict__, code.co_name, defaults or None, cells)


def _recreate(value: Value, ctx: _Context, what: str) -> Any:
    from numba.cuda.decorators import jit

    if isinstance(value, Constant):
        return value.value
    if isinstance(value, ArrayConstant):
        order: Literal["C", "F"] = "F" if value.fortran else "C"
        return np.frombuffer(value.data, value.dtype).reshape(value.shape, order=order).copy(order)
    if isinstance(value, ModuleRef):
        top = ctx.module.__dict__["__builtins__"]["__import__"](value.name)
        return functools.reduce(getattr, value.name.split(".")[1:], top)
    if isinstance(value, Function):
        fn = _rebuild(value, ctx, f"the device function '{value.code.name}'")
        return jit(device=True, fastmath=value.fastmath, debug=value.debug)(fn)
    if isinstance(value, NotCapturable):
        raise _Stop(Outcome.REJECTED, f"{what}{value.what}, which a GPU kernel cannot capture")
    raise _Stop(Outcome.UNCHECKED, f"{what}{value.what}, which cannot be recreated without a GPU")


def _numba_type(arg: Arg, index: int) -> Any:
    from numba.core.types import Array, BaseTuple
    from numba.cuda.np.numpy_support import from_dtype

    if isinstance(arg, ArrayArg):
        return Array(from_dtype(arg.dtype), arg.ndim, arg.layout)
    if isinstance(arg, ScalarArg):
        return from_dtype(arg.dtype)
    if isinstance(arg, TupleArg):
        return BaseTuple.from_types([_numba_type(a, index) for a in arg.items])
    if isinstance(arg, NotCapturable):
        raise _Stop(
            Outcome.REJECTED, f"argument {index} is {arg.what}, which a GPU kernel cannot take"
        )
    raise _Stop(Outcome.UNCHECKED, f"argument {index} is {arg.what}, not recreated without a GPU")


def _signature(argtypes: tuple[Any, ...], declared: list[Any] | None) -> tuple[Any, ...]:
    """The launch's types, or the declared signature a GPU would run them with."""
    if not declared:
        return argtypes
    from numba.cuda.core import sigutils
    from numba.cuda.descriptor import cuda_target

    typing = cuda_target.typing_context
    for sig in declared:
        params, _ = sigutils.normalize_signature(sig)
        if len(params) == len(argtypes) and all(
            typing.can_convert(a, p) is not None for a, p in zip(argtypes, params, strict=True)
        ):
            return tuple(params)
    raise _Stop(
        Outcome.REJECTED,
        f"it is declared as {' or '.join(map(str, declared))} but launched with "
        f"({', '.join(map(str, argtypes))}): on a GPU these do not match its signature",
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ADDRESS = re.compile(r"<(?:built-in )?function (\S+?) at 0x[0-9a-f]+>|<built-in function (\S+?)>")
_NOISE = re.compile(
    r"Failed in |During:|raised from|Enable logging|This error may have been caused|"
    r"For more information|See https|- Resolution failure|There are \d+ candidate|"
    r"- Of which \d+ did not match|Overload (?:in function|of function)|With argument\(s\)|"
    r"Rejected as the implementation|\w+Error: Failed in"
)
_ALLOCATES = ("NRT required", "DictType[", "ListType[", "reflected list(")
_ALLOCATES_HINT = (
    " (Python lists, dicts and new arrays need memory allocation, which a GPU kernel does not "
    "have: use cuda.local.array or cuda.shared.array)"
)


def _explain(exc: Exception, ctx: _Context) -> tuple[Outcome, str]:
    """numba's error cut to what its author needs, with the candidate line it names."""
    from numba.core import errors
    from numba.cuda.core import errors as cuda_errors

    if _needs_driver(exc):
        return Outcome.UNCHECKED, f"numba needed a GPU driver: {_first_line(exc)}"
    text = _ADDRESS.sub(lambda m: m.group(1) or m.group(2), _ANSI.sub("", str(exc)))
    kept: list[str] = []
    excerpt = False  # the source excerpt under a location, up to a blank line
    for line in text.splitlines():
        stripped = line.strip().removeprefix(">>> ")
        excerpt = stripped.startswith('File "') or (excerpt and bool(stripped))
        if stripped and not excerpt and not _NOISE.match(stripped):
            kept.append(stripped)
    reason = "".join(
        line if i == 0 else (" " if kept[i - 1].endswith(":") else "; ") + line
        for i, line in enumerate(kept[:4])
    )
    reason = reason or type(exc).__name__
    if not isinstance(exc, (errors.NumbaError, cuda_errors.NumbaError)):
        reason = f"{type(exc).__name__}: {reason}"
    if len(reason) > 500:
        reason = reason[:500] + " ..."
    if any(sign in reason for sign in _ALLOCATES):
        reason += _ALLOCATES_HINT
    lines = ctx.source.splitlines()
    number = _failing_line(exc, text, ctx.filename)
    if number is not None and 0 < number <= len(lines):
        reason += f" (line {number}: {lines[number - 1].strip()})"
    return Outcome.REJECTED, reason


def _failing_line(exc: BaseException, text: str, filename: str) -> int | None:
    """The candidate line numba blames: from its message, else from its typing frames.

    numba-cuda does not always attach the location (numba-core errors raised inside its
    own typing skip its error context), but the constraint being resolved holds it.
    """
    name = re.escape(filename)
    if match := re.search(rf'File "{name}", line (\d+)|at {name} \((\d+)\)', text):
        return int(match.group(1) or match.group(2))
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        for loc in (frame.f_locals.get("loc"), getattr(frame.f_locals.get("self"), "loc", None)):
            line = getattr(loc, "line", None)
            if getattr(loc, "filename", None) == filename and isinstance(line, int):
                found = line  # the innermost one wins
    return found


def _needs_driver(exc: BaseException) -> bool:
    from numba.cuda.cudadrv.error import CudaSupportError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, CudaSupportError) or "driver library" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(exc: BaseException) -> str:
    """The exception's type and first line (two when the first only introduces the second)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[:2] if lines and lines[0].endswith(":") else lines[:1])
    return f"{type(exc).__name__}: {text}".strip()

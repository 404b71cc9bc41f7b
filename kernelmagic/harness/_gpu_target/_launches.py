"""What the simulator worker records of a launch, and what compiling it for a GPU returns.

Every value here is small, frozen and picklable: a `KernelLaunch` crosses from the
simulator worker to the compile worker, a `GpuCompile` comes back.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import types
from typing import Any, Literal

import numpy as np

from kernelmagic.harness.verdict import CompileInfo, Resources

ARRAY_CONSTANT_LIMIT_BYTES = 1 << 20  # captured arrays a kernel may freeze as constants


@dataclasses.dataclass(frozen=True)
class CodeRef:
    """Where a function's code object sits in the candidate module, to be found again."""

    filename: str
    qualname: str
    firstlineno: int
    digest: str  # of the bytecode: tells apart functions defined on one line

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


@dataclasses.dataclass(frozen=True)
class ArrayArg:
    dtype: np.dtype[Any]
    ndim: int
    layout: Literal["C", "F", "A"]  # as numba types a device array


@dataclasses.dataclass(frozen=True)
class ScalarArg:
    dtype: np.dtype[Any]


@dataclasses.dataclass(frozen=True)
class TupleArg:
    items: tuple[Arg, ...]


@dataclasses.dataclass(frozen=True)
class Constant:
    """A value a GPU kernel freezes at compile time: scalar, str, dtype, numba type, tuple."""

    value: Any


@dataclasses.dataclass(frozen=True)
class ArrayConstant:
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fortran: bool  # numba types F-ordered arrays apart from C-ordered ones
    data: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class ModuleRef:
    name: str


@dataclasses.dataclass(frozen=True)
class NotCapturable:
    """A value a GPU kernel cannot take or capture: compiling fails with `what`."""

    what: str


@dataclasses.dataclass(frozen=True)
class NotRebuildable:
    """A value a GPU may accept but the compile worker cannot recreate: left unchecked."""

    what: str


@dataclasses.dataclass(frozen=True)
class Function:
    """A kernel or device function: its code, the jit options the simulator kept, its cells."""

    code: CodeRef
    fastmath: bool
    debug: bool
    closure: tuple[Value, ...]
    defaults: tuple[Value, ...]


@dataclasses.dataclass(frozen=True)
class KernelLaunch:
    """What compiling one simulated launch for a GPU needs; equal launches compile once."""

    function: Function | NotCapturable
    args: tuple[Arg, ...]

    @property
    def name(self) -> str:
        fn = self.function
        return fn.code.name if isinstance(fn, Function) else "?"


Arg = ArrayArg | ScalarArg | TupleArg | NotCapturable | NotRebuildable
Value = Constant | ArrayConstant | ModuleRef | Function | NotCapturable | NotRebuildable


class Outcome(str, enum.Enum):
    COMPILED = "compiled"
    REJECTED = "rejected"  # a GPU target refuses it: the candidate's compile error
    UNCHECKED = "unchecked"  # could not be tried here; says nothing about the candidate


@dataclasses.dataclass(frozen=True)
class KernelCompile:
    """One launch compiled for a GPU; `resources` only when it compiled."""

    launch: KernelLaunch
    outcome: Outcome
    message: str | None = None
    resources: Resources | None = None
    ptx_local_bytes: int | None = None  # local memory the PTX declares, before ptxas
    assembler: str | None = None  # what reported registers, stack and spills
    registers_note: str | None = None  # why they are unknown, when no assembler did
    seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class GpuCompile:
    """Every distinct simulated launch of one candidate, compiled for `arch`."""

    arch: str
    kernels: tuple[KernelCompile, ...]
    seconds: float
    load_error: str | None = None  # the module could not be executed without a GPU

    @property
    def ok(self) -> bool:
        return all(k.outcome is not Outcome.REJECTED for k in self.kernels)

    @property
    def first_error(self) -> str | None:
        return next((k.message for k in self.kernels if k.outcome is Outcome.REJECTED), None)

    def compile_info(self) -> CompileInfo:
        """The verdict's view: the messages as log, and each compiled kernel's resources."""
        notes = [self.load_error or ""] + [k.message or "" for k in self.kernels]
        return CompileInfo(
            ok=self.ok,
            log="\n".join(n for n in notes if n),
            seconds=self.seconds,
            arch=self.arch,
            resources=tuple(k.resources for k in self.kernels if k.resources),
        )


# ---- simulator side ----


def describe_launch(kernel: Any, args: tuple[Any, ...]) -> KernelLaunch:
    """Describe a top-level launch of a simulator `FakeCUDAKernel` with host-side `args`."""
    return KernelLaunch(_function(kernel, frozenset()), tuple(_arg(a) for a in args))


def _function(kernel: Any, outer: frozenset[int]) -> Function | NotCapturable:
    fn = kernel.fn
    if not isinstance(fn, types.FunctionType):
        return NotCapturable(f"a jitted {type(fn).__name__} (only Python functions compile)")
    inner = outer | {id(kernel)}
    return Function(
        code=code_ref(fn.__code__),
        fastmath=bool(kernel._fastmath),
        debug=bool(kernel._debug),
        closure=tuple(_cell(cell, inner) for cell in fn.__closure__ or ()),
        defaults=tuple(_value(v, inner) for v in fn.__defaults__ or ()),
    )


def code_ref(code: types.CodeType) -> CodeRef:
    return CodeRef(
        filename=code.co_filename,
        qualname=getattr(code, "co_qualname", code.co_name),
        firstlineno=code.co_firstlineno,
        digest=hashlib.blake2b(code.co_code, digest_size=8).hexdigest(),
    )


def _arg(arg: Any) -> Arg:
    from numba.cuda.simulator.args import ArgHint
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    if isinstance(arg, ArgHint):  # cuda.In / Out / InOut
        arg = arg.value
    if isinstance(arg, FakeCUDAArray):
        arg = arg._ary
    if isinstance(arg, np.ndarray):
        if arg.dtype.hasobject:
            return NotCapturable("an array of Python objects")
        flags = arg.flags
        layout: Literal["C", "F", "A"] = (
            "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
        )
        return ArrayArg(arg.dtype, arg.ndim, layout)
    if isinstance(arg, tuple):
        return TupleArg(tuple(_arg(a) for a in arg))
    dtype = _scalar_dtype(arg)
    if dtype is not None:
        return ScalarArg(dtype)
    if hasattr(arg, "__cuda_array_interface__"):
        return NotRebuildable(f"a {type(arg).__name__} device array")
    return NotCapturable(f"a Python {type(arg).__name__}")


def _scalar_dtype(value: Any) -> np.dtype[Any] | None:
    """The numba scalar type a GPU launch gives `value`, as a dtype (int -> int64 as numba)."""
    if isinstance(value, np.generic):
        return value.dtype
    if isinstance(value, bool):
        return np.dtype(np.bool_)
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return np.dtype(np.int64)
        return np.dtype(np.uint64) if 0 <= value < 2**64 else None
    if isinstance(value, float):
        return np.dtype(np.float64)
    if isinstance(value, complex):
        return np.dtype(np.complex128)
    return None


def _cell(cell: Any, outer: frozenset[int]) -> Value:
    try:
        contents = cell.cell_contents
    except ValueError:
        return NotCapturable("a variable not yet assigned when the kernel was launched")
    return _value(contents, outer)


def _value(value: Any, outer: frozenset[int]) -> Value:
    """A captured value (closure cell or default) as a GPU kernel would freeze it."""
    from numba.core.types import Type
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
    from numba.cuda.simulator.kernel import FakeCUDAKernel

    if _is_plain(value) or isinstance(value, (np.dtype, Type)):
        return Constant(value)
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        if value.nbytes > ARRAY_CONSTANT_LIMIT_BYTES:
            return NotRebuildable(f"a {value.nbytes}-byte array")
        fortran = value.flags.f_contiguous and not value.flags.c_contiguous
        data = value.tobytes(order="F" if fortran else "C")
        return ArrayConstant(value.dtype, value.shape, fortran, data)
    if isinstance(value, FakeCUDAKernel):
        if not value._device:
            return NotCapturable(f"the kernel '{value.fn.__name__}' (a kernel cannot call one)")
        if id(value) in outer:
            return NotCapturable(f"the device function '{value.fn.__name__}' recursively")
        return _function(value, outer)
    if isinstance(value, types.ModuleType):
        return ModuleRef(value.__name__)
    if isinstance(value, FakeCUDAArray):
        return NotRebuildable("a device array")
    if isinstance(value, np.void):
        return NotRebuildable("a NumPy record")
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        return NotCapturable(
            f"the plain Python function '{value.__name__}' (a kernel can call only "
            "@cuda.jit(device=True) functions)"
        )
    return NotCapturable(f"a Python {type(value).__name__}")


def _is_plain(value: Any) -> bool:
    """Constants numba freezes and that hash (launches are deduplicated by value)."""
    if isinstance(value, tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, np.void):  # a record scalar: not hashable
        return False
    return value is None or isinstance(value, (bool, int, float, complex, str, np.generic))

"""What candidates may import, and which names of each allowed module they may use.

Allowlists, not blocklists: numba, NumPy and CuPy have hundreds of submodules and attributes,
and some of them run subprocesses, evaluate strings with full builtins or reach the CUDA
driver (``numba.misc``, ``numba.core.utils``, ``cupy.cuda.runtime``). A list of what is
forbidden always misses one, so candidates may import only `ALLOWED_MODULES` and reach through
them only the names listed here: what kernel authors use. A problem's ``allowed_imports``
adds modules, which are then fully allowed. `safety` applies these lists before a candidate
runs, and the worker's import guard applies `import_problem` again while it runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import math
from collections.abc import Collection, Iterable
from typing import Literal

import numpy as np

# Where a name is used: host code, GPU code, or a module-level constant expression.
Context = Literal["host", "device", "constant"]


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


@dataclasses.dataclass(frozen=True)
class Listing:
    """The names candidates may use from one module or namespace, and what they are, in words."""

    what: str
    names: frozenset[str]


def _members(words: str) -> Listing:
    names = _names(words)
    return Listing(", ".join(sorted(names)), names)


ALLOWED_MODULES: tuple[str, ...] = (
    "numpy",
    "math",
    "numba",
    "numba.types",
    "numba.cuda",
    "numba.cuda.random",
    "numba.cuda.libdevice",
    "numba.cuda.cg",
    "numba.cuda.fp16",
    "cupy",
    "cupy.cuda",
    "cupyx",
    "cupyx.jit",
    "cupyx.jit.cg",
)
ROOTS = frozenset(m.split(".")[0] for m in ALLOWED_MODULES)

# Elementwise math only: generalized ufuncs (matmul, vecdot...) work on whole arrays. The
# module's own dictionary, not getattr over dir(np): that loads each of NumPy's lazy
# submodules (f2py, testing...), 60 ms in every process that checks a candidate.
UFUNCS = frozenset(
    n
    for n, u in vars(np).items()
    if not n.startswith("_") and isinstance(u, np.ufunc) and u.signature is None
)
# Host code may use NumPy only for these: allocation, dtypes, constants, dtype logic.
NUMPY_HOST = _names(
    "float16 float32 float64 int8 int16 int32 int64 uint8 uint16 uint32 uint64 bool_ complex64 "
    "complex128 intp uintp int_ uint intc uintc byte ubyte short ushort longlong ulonglong bool "
    "half single double dtype empty zeros ones full "
    "empty_like zeros_like ones_like full_like inf nan pi e finfo iinfo newaxis ndarray "
    "issubdtype result_type promote_types can_cast number integer signedinteger "
    "unsignedinteger floating complexfloating"
)
# Module-level code runs before any input exists: constant tables for cuda.const.array_like.
NUMPY_CONSTANT_BUILDERS = _names("array asarray arange linspace eye identity")

SCALAR_TYPES = _names(
    "float32 float64 f4 f8 int8 int16 int32 int64 i1 i2 i4 i8 uint8 uint16 uint32 "
    "uint64 u1 u2 u4 u8 boolean b1 bool_ bool void none complex64 complex128 c8 c16 intp uintp "
    "intc uintc int_ uint size_t ssize_t byte char uchar short ushort long_ ulong longlong "
    "ulonglong double"
)
VECTOR_TYPES = frozenset(
    f"{base}{n}"
    for base in _names(
        "char uchar short ushort int uint long ulong longlong ulonglong float double"
    )
    for n in "1234"
) | frozenset(
    f"{base}x{n}"
    for base in _names("int8 int16 int32 int64 uint8 uint16 uint32 uint64 float32 float64")
    for n in "1234"
)
_NUMBA_CUDA = _names(
    "jit reduce vectorize guvectorize "
    "grid gridsize threadIdx blockIdx blockDim gridDim laneid warpsize shared local const "
    "syncthreads syncthreads_count syncthreads_and syncthreads_or syncwarp threadfence "
    "threadfence_block threadfence_system atomic "
    "shfl_sync shfl_up_sync shfl_down_sync shfl_xor_sync all_sync any_sync eq_sync ballot_sync "
    "match_any_sync match_all_sync activemask lanemask_lt "
    "fma cbrt brev clz ffs popc selp nanosleep ldca ldcg ldcs ldlu ldcv stcg stcs stwb stwt "
    "literal_unroll fp16 libdevice cg random bfloat16 "
    "to_device device_array device_array_like as_cuda_array is_cuda_array synchronize stream "
    "default_stream legacy_default_stream per_thread_default_stream event get_current_device "
    "is_float16_supported is_bfloat16_supported"
)
_XYZ = _members("x y z")
_CUPY = _names(
    "RawKernel RawModule ElementwiseKernel ReductionKernel fuse cuda asnumpy "
    "array asarray ascontiguousarray asfortranarray empty empty_like zeros zeros_like ones "
    "ones_like full full_like arange linspace eye identity copy "
    "sum prod mean var std max min amax amin argmax argmin dot vdot matmul tensordot einsum "
    "cumsum cumprod where clip concatenate stack hstack vstack reshape transpose ravel squeeze "
    "expand_dims broadcast_to swapaxes moveaxis flip take count_nonzero"
)
_CUPYX_JIT = _names(
    "rawkernel threadIdx blockIdx blockDim gridDim warpsize laneid grid gridsize range "
    "syncthreads syncwarp shared_memory atomic_add atomic_sub atomic_exch atomic_min atomic_max "
    "atomic_inc atomic_dec atomic_cas atomic_and atomic_or atomic_xor "
    "shfl_sync shfl_up_sync shfl_down_sync shfl_xor_sync cg"
)

_MATH = frozenset(n for n in dir(math) if not n.startswith("_"))
# Modules whose list depends on where a name is used. In GPU code, NumPy adds its ufuncs, and
# math loses the functions that walk a whole sequence (numba.cuda cannot compile them; the
# simulator would run them as host work).
BY_CONTEXT: dict[str, dict[Context, Listing]] = {
    "numpy": {
        "host": Listing("in host code: allocation, dtypes and constants", NUMPY_HOST),
        "device": Listing("in GPU code: dtypes, constants and NumPy ufuncs", NUMPY_HOST | UFUNCS),
        "constant": Listing(
            "dtypes, constants, NumPy ufuncs and, at module level, constant tables",
            NUMPY_HOST | UFUNCS | NUMPY_CONSTANT_BUILDERS,
        ),
    },
    "math": {
        "host": Listing("its functions and constants", _MATH),
        "device": Listing(
            "in GPU code: its scalar functions and constants", _MATH - _names("fsum prod dist")
        ),
        "constant": Listing("its functions and constants", _MATH),
    },
}

LISTINGS: dict[str, Listing] = {
    "numba": Listing(
        "cuda, types, the scalar types and signature helpers",
        SCALAR_TYPES | _names("cuda types vectorize guvectorize from_dtype typeof literal_unroll"),
    ),
    "numba.types": Listing(
        "scalar and array types", SCALAR_TYPES | _names("float16 f2 Array UniTuple Tuple")
    ),
    "numba.cuda": Listing(
        "the kernel API: launch, indexing, shared/local/const memory, synchronization, "
        "atomics, warp intrinsics, device arrays, streams and types",
        _NUMBA_CUDA | SCALAR_TYPES | VECTOR_TYPES,
    ),
    "numba.cuda.threadIdx": _XYZ,
    "numba.cuda.blockIdx": _XYZ,
    "numba.cuda.blockDim": _XYZ,
    "numba.cuda.gridDim": _XYZ,
    "numba.cuda.shared": _members("array"),
    "numba.cuda.local": _members("array"),
    "numba.cuda.const": _members("array_like"),
    "numba.cuda.atomic": _members(
        "add sub max min nanmax nanmin inc dec exch cas compare_and_swap and_ or_ xor"
    ),
    "numba.cuda.cg": _members("this_grid"),
    "numba.cuda.random": _members(
        "create_xoroshiro128p_states init_xoroshiro128p_states xoroshiro128p_uniform_float32 "
        "xoroshiro128p_uniform_float64 xoroshiro128p_normal_float32 xoroshiro128p_normal_float64 "
        "xoroshiro128p_next xoroshiro128p_jump xoroshiro128p_dtype xoroshiro128p_type"
    ),
    "numba.cuda.fp16": Listing(
        "half-precision intrinsics",
        _names(
            "habs hadd hsub hmul hdiv hneg hfma heq hne hge hgt hle hlt hmax hmin hsin hcos "
            "hexp hexp2 hexp10 hlog hlog2 hlog10 hsqrt hrsqrt hrcp hrint hceil hfloor htrunc "
            "htanh htanh_approx"
        ),
    ),
    "cupy": Listing(
        "kernels (RawKernel, RawModule, ElementwiseKernel, ReductionKernel, fuse), array "
        "creation, dtypes, constants, NumPy ufunc names and common array functions",
        _CUPY | NUMPY_HOST | UFUNCS,
    ),
    "cupy.cuda": _members("Device Stream Event get_current_stream"),
    "cupy.cuda.Stream": _members("null ptds"),
    "cupy.cuda.Stream.null": _members("synchronize"),
    "cupy.cuda.Stream.ptds": _members("synchronize"),
    "cupyx": _members("jit rsqrt scatter_add scatter_max scatter_min"),
    "cupyx.jit": Listing("the kernel API of cupyx.jit", _CUPYX_JIT),
    "cupyx.jit.threadIdx": _XYZ,
    "cupyx.jit.blockIdx": _XYZ,
    "cupyx.jit.blockDim": _XYZ,
    "cupyx.jit.gridDim": _XYZ,
    "cupyx.jit.cg": _members("this_grid this_thread_block sync wait wait_prior memcpy_async"),
}


@functools.cache
def _libdevice() -> Listing:
    # 317 math functions, all defined in the module itself; read only when a candidate uses it.
    try:
        module = importlib.import_module("numba.cuda.libdevice")
    except ImportError:
        names: frozenset[str] = frozenset()
    else:
        names = frozenset(
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        )
    return Listing("libdevice math functions", names)


def listing(container: str, context: Context = "host") -> Listing | None:
    """What candidates may use from a module or namespace object; None for anything else."""
    if container in BY_CONTEXT:
        return BY_CONTEXT[container][context]
    if container == "numba.cuda.libdevice":
        return _libdevice()
    return LISTINGS.get(container)


def unlisted(dotted: str, context: Context) -> tuple[str, str] | None:
    """Where a chain from an allowed module leaves the lists: (container, name), or None."""
    container, *parts = dotted.split(".")
    for part in parts:
        found = listing(container, context)
        if found is None or part not in found.names:
            return container, part
        container = f"{container}.{part}"
    return None


def not_listed(container: str, name: str, context: Context) -> str:
    """Why `container.name` is refused: the list it is not on, and the nearest allowed name."""
    found = listing(container, context)
    if found is None:
        return f"candidates may use no attributes of {container}"
    # Typos only: a shared start keeps 'sort' from suggesting 'short'.
    close = [
        c
        for c in difflib.get_close_matches(name, sorted(found.names), n=3, cutoff=0.75)
        if c[:3].lower() == name[:3].lower()
    ]
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"it is not on the list of what candidates may use from {container} ({found.what}){hint}"


def extra_modules(allowed_imports: Iterable[str]) -> frozenset[str]:
    """A problem's added modules; naming one already on the list changes nothing."""
    return frozenset(allowed_imports) - frozenset(ALLOWED_MODULES)


def covered(dotted: str, extras: Collection[str]) -> bool:
    """Whether a dotted name is one of the problem's extra modules or inside one."""
    return any(dotted == e or dotted.startswith(e + ".") for e in extras)


def allowed_text(extras: Collection[str] = ()) -> str:
    return ", ".join([*ALLOWED_MODULES, *sorted(extras)])


def import_problem(
    module: str, name: str | None = None, extras: Collection[str] = ()
) -> str | None:
    """Why ``import module`` (or ``from module import name``) is refused; None if allowed.

    `extras` are `extra_modules`, each allowed whole. ``from __future__ import`` is a compiler
    directive, but running it imports ``__future__`` too.
    """
    target = module if name is None else f"{module}.{name}"
    if module == "__future__" or covered(module, extras) or covered(target, extras):
        return None
    if module not in ALLOWED_MODULES:
        return f"import of '{module}' is not allowed (candidates may import {allowed_text(extras)})"
    if name is None or target in ALLOWED_MODULES:
        return None
    found = listing(module, "constant")
    if found is not None and name in found.names:
        return None
    return f"import of '{target}' is not allowed: {not_listed(module, name, 'constant')}"

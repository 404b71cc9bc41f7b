"""The vocabulary of the safety rules: builtins, and the attribute names refused on any object.

Data only; `safety` holds the checker that applies it, and `safety_allowlist` the modules and
module attributes candidates may use. Kept apart so the lists can be read (and reviewed) in
one place.
"""

from __future__ import annotations

import builtins
import re


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


SAFE_BUILTINS: dict[str, object] = {
    name: getattr(builtins, name)
    for name in sorted(
        _names(
            "range len min max abs int float bool complex tuple list dict slice enumerate zip "
            "isinstance round divmod pow print str repr Exception ValueError TypeError "
            "RuntimeError IndexError KeyError ZeroDivisionError ArithmeticError AssertionError "
            "NotImplementedError OverflowError StopIteration"
        )
        # A class statement calls it; candidates cannot name it (double-underscore rule).
        | {"__build_class__"}
    )
}
BUILTIN_NAMES = frozenset(dir(builtins))
BUILTIN_HINTS = {
    **dict.fromkeys(
        _names("eval exec compile breakpoint help input open exit quit"),
        "candidates may not run dynamic code, do I/O or stop the process",
    ),
    **dict.fromkeys(
        _names("sum map filter sorted iter next reversed any all"),
        "it computes on the host; do the work in a GPU kernel",
    ),
    **dict.fromkeys(
        _names(
            "getattr setattr delattr hasattr globals locals vars dir type object super "
            "classmethod staticmethod property memoryview id hash"
        ),
        "reflection can reach interpreter and harness internals",
    ),
}

# numba's CPU compilers: a host fallback that runs fast enough to pass for a kernel.
CPU_JIT = _names(
    "jit njit generated_jit cfunc stencil prange pndindex jit_module objmode carray farray "
    "vectorize guvectorize"
)
DEVICE_DECORATORS = frozenset(
    {
        "numba.cuda.jit",
        "numba.cuda.reduce",
        "numba.cuda.vectorize",
        "numba.cuda.guvectorize",
        "cupyx.jit.rawkernel",
    }
)
CUDA_TARGET_DECORATORS = frozenset({"numba.vectorize", "numba.guvectorize"})

# Frames, code and classes; py_func hands back the Python function behind a kernel, which
# would run its body on the host.
INTROSPECTION = _names(
    "mro f_globals f_locals f_back f_builtins f_code f_trace py_func pyfunc targetctx "
    "typingctx targetdescr"
)
INTROSPECTION_PREFIX = re.compile(r"(?:gi|cr|ag|tb|co|func|im)_")
FILE_ACCESS = _names(
    "genfromtxt memmap fromregex DataSource environ getenv putenv system popen fork forkpty "
    "kill killpg remove unlink rmdir listdir scandir mkdir makedirs rename chdir chmod ctypes "
    "ctypeslib cudadrv driver runtime nvrtc compiler close select_device reset detect "
    "enable_caching profile_start profile_stop profile set_allocator set_pinned_memory_allocator "
    "using_allocator set_memory_manager memory get_default_memory_pool "
    "get_default_pinned_memory_pool current_context from_cuda_array_interface"
)
FILE_ACCESS_PATTERN = re.compile(r"^(?:load|save|dump|open|spawn|exec[lv])|file|hook")
# Modules that numpy 2, numba-cuda and CuPy 14 expose as attributes (their internals and
# the stdlib modules they import), plus other stdlib modules that reach the OS or the
# interpreter. Through a module the allowlists refuse them anyway (these names only give the
# reason); on the objects those libraries hand back, these names are the rule.
INTERNAL = _names(
    "core lib testing f2py distutils misc simulator cloudpickle config cpython llvmlite np "
    "numpy numba parfors stencils typed experimental extending platform api api_util cext "
    "cgutils codegen cuda_paths datamodel debuginfo decorators descriptor device_init "
    "devicearray devices deviceufunc dispatcher initialize itanium_mangler kernels launchconfig "
    "locks lowering mathimpl memory_management models nvvm nvvmutils serialize stubs target "
    "typeconv ufuncs utils vectorizers common function graph pinned_memory nvtx time os sys "
    "subprocess shutil builtins importlib importlib_metadata inspect pickle copyreg marshal io "
    "gc tempfile threading multiprocessing weakref pytypes operator logging traceback "
    "linecache atexit asyncio contextlib warnings zipfile pathlib path posixpath yaml ll llvm "
    "binding pathfinder codecs fileinput sysconfig tokenize timeit dataclasses posix signal "
    "socket mmap resource runpy pkgutil site glob"
)
REASONS = {
    "private": "names starting with '_' reach interpreter and library internals; "
    "use public attributes only",
    "introspection": "it exposes frames, code, class hierarchies or the Python function "
    "behind a kernel, which reach beyond the candidate",
    "file-access": "it reaches files, processes, the environment or the CUDA driver; "
    "candidates may only compute on the GPU",
    "internal": "it is a library internal or another module, outside the kernel API; use "
    "numba.cuda, cupy, cupyx.jit, numpy dtypes and math",
}
ATTRIBUTE_RULES = {"private": "dunder", "file-access": "file-access"}

HOST_TRANSFER = frozenset({"tolist", "to_host", "tobytes"})
# CuPy kernel settings a candidate may need (dynamic shared memory above 48 KiB).
SETTABLE = frozenset({"max_dynamic_shared_size_bytes", "preferred_shared_memory_carveout"})
# Other dunder hooks (pickling, attribute access, array interfaces, comparisons) would run
# candidate code inside the harness when it inspects a returned object.
DEFINABLE_DUNDERS = _names(
    "__init__ __call__ __getitem__ __setitem__ __len__ __iter__ __repr__ __str__ __enter__ __exit__"
)
PATH_KEYWORDS = frozenset({"link", "path", "cache_dir"})
# `cuda.jit`'s fifth and `cuda.declare_device`'s third parameter is the link list.
MAX_POSITIONAL = {"numba.cuda.jit": 1, "numba.cuda.declare_device": 2}
# NVRTC / NVCC options that read or write files by path, or run what they build.
PATH_OPTIONS = _names(
    "--include-path --pre-include --output-file --output-directory -odir -keep --keep "
    "-keep-dir --keep-dir -ccbin --compiler-bindir -optf --options-file --library "
    "--library-path -MF --dependency-output -Xlinker --linker-options -Xcompiler "
    "--compiler-options -time --time --fdevice-time-trace -pch --create-pch --use-pch "
    "--pch-dir -o -run --run --run-args -save-temps --save-temps"
)
PATH_OPTION_PREFIXES = ("-I", "-L", "-isystem", "-include")

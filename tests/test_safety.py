"""The static checker: legitimate kernels pass untouched, exploits are named precisely."""

from __future__ import annotations

import builtins
import keyword
import subprocess
import sys
import textwrap

import pytest

from kernelmagic.safety import (
    DEFAULT_ALLOWED_IMPORTS,
    SAFE_BUILTINS,
    Violation,
    check_python,
)

HEADER = "import numpy as np\nimport cupy as cp\nimport numba\nfrom numba import cuda\n"


def rules(source: str, **kwargs: object) -> list[str]:
    return [v.rule for v in check_python(textwrap.dedent(source), **kwargs)]


def assert_rejected(source: str, rule: str, mentions: str, **kwargs: object) -> None:
    found = check_python(HEADER + textwrap.dedent(source), **kwargs)
    assert any(v.rule == rule and mentions in v.message for v in found), found


# -- legitimate candidates ---------------------------------------------------------------

SAXPY = """
import numpy as np
from numba import cuda

THREADS = 256

def cdiv(n, d):
    return (n + d - 1) // d

@cuda.jit
def saxpy(a, x, y, out, n):
    i = cuda.grid(1)
    if i < n:
        out[i] = a * x[i] + y[i]

def entry(a, x, y):
    (n,) = x.shape
    out = cuda.device_array_like(x)
    saxpy[cdiv(n, THREADS), THREADS](np.float32(a), x, y, out, n)
    return out
"""

REDUCTION = """
import numba
from numba import cuda
import numpy as np

@cuda.jit
def block_sum(x, out, n):
    buf = cuda.shared.array(256, numba.float32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * cuda.blockDim.x + t
    buf[t] = x[i] if i < n else numba.float32(0)
    cuda.syncthreads()
    s = 128
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        cuda.atomic.add(out, 0, buf[0])

def entry(x):
    out = cuda.to_device(np.zeros(1, dtype=np.float32))
    block_sum[(x.size + 255) // 256, 256](x, out, x.size)
    return out.copy_to_host()
"""

MATMUL = """
import math
import numpy as np
from numba import cuda, float32

TILE = 16

@cuda.jit(device=True)
def gelu(v):
    return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)))

@cuda.jit("void(float32[:, :], float32[:, :], float32[:, :])")
def matmul(a, b, c):
    sa = cuda.shared.array((TILE, TILE), float32)
    acc = cuda.local.array(1, float32)
    acc[0] = np.float32(0)
    row, col = cuda.grid(2)
    for k in range(a.shape[1]):
        acc[0] += a[row, k] * b[k, col] * math.exp(np.float32(0.0))
    sa[0, 0] = acc[0]
    c[row, col] = gelu(np.sqrt(acc[0]))

def entry(a, b):
    m, k = a.shape
    _, n = b.shape
    c = cuda.device_array((m, n), dtype=np.float32)
    matmul[((m + TILE - 1) // TILE, (n + TILE - 1) // TILE), (TILE, TILE)](a, b, c)
    return c.copy_to_host()
"""

CUPY_RAW = '''
import cupy as cp
import numpy as np

SOURCE = r"""
#include <cuda_fp16.h>
#include <cuda/std/cmath>
#include<cooperative_groups.h>  // no space, trailing comment
extern "C" __global__ void scale(const float* x, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = 2.0f * x[i];
}
"""
kernel = cp.RawKernel(SOURCE, "scale", options=("-O3", "--use_fast_math", "-std=c++17"))
kernel.max_dynamic_shared_size_bytes = 65536

def entry(x):
    n = x.size
    y = cp.empty_like(x)
    block = 256
    grid = (n + block - 1) // block
    kernel((grid,), (block,), (x, y, np.int32(n)))
    return y
'''

CUPY_ELEMENTWISE = """
import cupy as cp

axpy = cp.ElementwiseKernel("float32 a, float32 x, float32 y", "float32 z", "z = a * x + y", "axpy")

def entry(a, x, y):
    return axpy(cp.float32(a), x, y)
"""

CUPY_ARRAY_MATH = """
import cupy as cp

def entry(a, x, y):
    out = cp.empty_like(x)
    out[...] = x * a + y
    return cp.asnumpy(out)
"""

HOUSEKEEPING = """
from __future__ import annotations

import numpy as np
from numba import cuda

BLOCK = 256
LIMITS = {"max_n": 1 << 20}

def blocks(n):
    return (n + BLOCK - 1) // BLOCK

@cuda.jit
def fill(out, value, n):
    i = cuda.grid(1)
    if i < n:
        out[i] = value

class Launcher:
    def __init__(self, block):
        self.block = block

    def __call__(self, out, value):
        fill[blocks(out.size), self.block](out, value, out.size)
        return out

def entry(a, x):
    rows, cols = x.shape
    if not isinstance(a, float):
        raise ValueError(f"a must be a float, got {a!r}")
    n = min(rows * cols, LIMITS.get("max_n", 0))
    n = max(n, 1)
    eps = np.finfo(np.float32).eps
    if a < eps or a == np.inf:
        raise ValueError("scale {} out of range [{lo}, inf)".format(a, lo=eps))
    out = cuda.device_array(n, dtype=np.float32)
    return Launcher(BLOCK)(out, np.float32(a))
"""

MORE_DEVICE_FORMS = """
import numpy as np
import numba
import numba.cuda
from numba import cuda, vectorize
from numba.cuda import jit as cjit
from cupyx import jit

@numba.cuda.jit
def a(x):
    x[0] = np.sqrt(x[0])

@cjit
def b(x):
    x[0] = np.exp(x[0])

@jit.rawkernel()
def c(x, n):
    i = jit.blockIdx.x * jit.blockDim.x + jit.threadIdx.x
    if i < n:
        x[i] = np.float32(np.sin(x[i]))

@vectorize(["float32(float32)"], target="cuda")
def d(v):
    return np.abs(v)

@cuda.reduce
def add(p, q):
    return np.add(p, q)

def plain(x, input, id):
    x[id] = np.cos(x[input])

plain_kernel = cuda.jit("void(float32[:], int32, int32)")(plain)
"""

NUMBA_STREAMS = """
import math
import numpy as np
from numba import cuda, float32, int32
from numba.cuda.random import create_xoroshiro128p_states, xoroshiro128p_uniform_float32

@cuda.jit(fastmath=True)
def scale(x, out, a):
    start = cuda.grid(1)
    for i in range(start, x.shape[0], cuda.gridsize(1)):
        out[i] = x[i] * a

def entry(x, a):
    if isinstance(x, np.ndarray):
        x = cuda.to_device(x)
    elif not cuda.is_cuda_array(x):
        raise TypeError("x must be a device array")
    if x.dtype != np.float32:
        raise TypeError(f"expected float32, got {x.dtype}")
    blocks = min(math.ceil(x.size / 256), cuda.get_current_device().MAX_GRID_DIM_X)
    stream = cuda.stream()
    out = cuda.device_array(shape=x.shape, dtype=x.dtype, stream=stream)
    scale[blocks, 256, stream, 0](x, out, float32(a))
    stream.synchronize()
    print(int32(blocks))
    return out
"""

CUPY_MODULE = '''
import cupy as cp
import numpy as np

SRC = r"""
template<typename T>
__global__ void copy(const T* __restrict__ x, T* y, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        y[i] = x[i];
}
"""
module = cp.RawModule(code=SRC, options=("-std=c++17",), name_expressions=["copy<float>"])

def entry(x: cp.ndarray) -> cp.ndarray:
    x = cp.ascontiguousarray(cp.asarray(x, dtype=cp.float32))
    assert x.flags.c_contiguous
    sms = cp.cuda.Device().attributes["MultiProcessorCount"]
    y = cp.empty_like(x)
    with cp.cuda.get_current_stream():
        module.get_function("copy<float>")((sms * 4,), (256,), (x, y, np.int32(x.size)))
    cp.cuda.Device().synchronize()
    return y
'''

LEGIT = {
    "saxpy": SAXPY,
    "reduction": REDUCTION,
    "matmul": MATMUL,
    "cupy-raw": CUPY_RAW,
    "cupy-elementwise": CUPY_ELEMENTWISE,
    "cupy-array-math": CUPY_ARRAY_MATH,
    "housekeeping": HOUSEKEEPING,
    "device-forms": MORE_DEVICE_FORMS,
    "numba-streams": NUMBA_STREAMS,
    "cupy-module": CUPY_MODULE,
}


@pytest.mark.parametrize("source", LEGIT.values(), ids=LEGIT.keys())
def test_legitimate_candidates_pass(source: str) -> None:
    assert check_python(source) == []


# -- exploits ---------------------------------------------------------------------------

EXPLOITS = [
    # imports
    ("import os", "import", "'os'"),
    ("import subprocess", "import", "'subprocess'"),
    ("from os import environ", "import", "'os'"),
    ("import ctypes", "import", "'ctypes'"),
    ("__import__('os')", "import", "__import__"),
    ("import numpy.ctypeslib", "import", "ctypeslib"),
    ("from numba.cuda.cudadrv import driver", "import", "cudadrv"),
    ("import numba.cuda.simulator", "import", "simulator"),
    ("from numpy import load", "import", "numpy.load"),
    ("from cupy import _core", "import", "_core"),
    ("from . import x", "import", "relative"),
    ("from numba import *", "import", "import *"),
    ("from numba import cuda as __builtins__", "dunder", "__builtins__"),
    # dunder, private and introspection
    ("x = 1\nx.__class__.__mro__", "dunder", "__mro__"),
    ("().__class__.__bases__[0].__subclasses__()", "dunder", "__subclasses__"),
    ("def f(): pass\nf.__globals__", "dunder", "__globals__"),
    ("(lambda: 0).__code__", "dunder", "__code__"),
    ("__builtins__['open']", "dunder", "__builtins__"),
    ("if __name__ == '__main__':\n    pass", "dunder", "__main__"),
    ("obj = cuda\nobj._private", "dunder", "_private"),
    ("def g():\n    yield 1\ng().gi_frame.f_globals", "attribute", "gi_frame"),
    ("def g():\n    yield 1\ng().gi_frame.f_globals", "attribute", "f_globals"),
    ("def f(): pass\nf.func_globals", "attribute", "func_globals"),
    ("try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    e.tb_frame", "attribute", "tb_frame"),
    ("int.mro()", "attribute", "mro"),
    ("match 1:\n    case int(__class__=c):\n        pass", "dunder", "__class__"),
    ("class A:\n    def __reduce__(self):\n        return ()", "dunder", "__reduce__"),
    ("def __getattr__(name):\n    return name", "dunder", "__getattr__"),
    # builtins
    ("getattr(np, 'lo' + 'ad')", "builtin", "getattr"),
    ("open('/etc/passwd')", "builtin", "open"),
    ("eval('1')", "builtin", "eval"),
    ("exec('x = 1')", "builtin", "exec"),
    ("compile('1', 'f', 'eval')", "builtin", "compile"),
    ("globals()", "builtin", "globals"),
    ("vars()", "builtin", "vars"),
    ("sum([1, 2])", "builtin", "sum"),
    ("sorted([2, 1])", "builtin", "sorted"),
    ("map(abs, [1])", "builtin", "map"),
    ("type(1)", "builtin", "type"),
    ("object()", "builtin", "object"),
    ("\uff45val('1')", "builtin", "eval"),  # identifiers are NFKC-normalized by the parser
    # file, process and driver access through allowed packages
    ("np.load('f.npy')", "file-access", "np.load"),
    ("np.fromfile('f.bin')", "file-access", "np.fromfile"),
    ("cp.fromfile('f.bin')", "file-access", "cp.fromfile"),
    ("cp.save('f.npy', cp.zeros(1))", "file-access", "cp.save"),
    ("x = cp.zeros(1)\nx.dump('f.pkl')", "file-access", "x.dump"),
    ("np.ctypeslib", "file-access", "np.ctypeslib"),
    ("cuda.cudadrv.driver", "file-access", "cuda.cudadrv"),
    ("cp.cuda.runtime.memcpy(0, 0, 8, 0)", "file-access", "cp.cuda.runtime"),
    ("cp.get_default_memory_pool().free_all_blocks()", "file-access", "get_default_memory_pool"),
    ("cuda.close()", "file-access", "cuda.close"),
    ("cuda.open_ipc_array(h, 4, np.float32)", "file-access", "open_ipc_array"),
    ("cuda.jit(link=['/etc/passwd'])", "file-access", "link="),
    ("cuda.jit(None, False, 'never', False, ['/etc/passwd'])", "file-access", "positional"),
    ("cuda.declare_device('f', 'int32()', ['/tmp/f.cu'])", "file-access", "positional"),
    ("opts = {}\ncuda.jit(**opts)", "file-access", "unpacking"),
    ("cp.RawModule(path='/tmp/x.cubin')", "file-access", "path="),
    ("cp.RawKernel('#include \"/etc/passwd\"', 'k')", "file-access", "/etc/passwd"),
    ("cp.RawKernel('#include </etc/shadow>', 'k')", "file-access", "/etc/shadow"),
    ("cp.RawKernel('#include <../../etc/shadow>', 'k')", "file-access", "../"),
    ("cp.RawKernel('#  include \"x.h\"', 'k')", "file-access", "x.h"),
    ("cp.RawKernel('%:include \"x.h\"', 'k')", "file-access", "x.h"),
    ("cp.RawKernel('#/* c */include \"x.h\"', 'k')", "file-access", "x.h"),
    ("cp.RawKernel('#inc\\\\\\nlude \"x.h\"', 'k')", "file-access", "x.h"),
    ("cp.RawKernel('#define P \"/etc/passwd\"\\n#include P', 'k')", "file-access", "include P"),
    ("cp.RawKernel(b'#include \"x.h\"'.decode(), 'k')", "file-access", "x.h"),
    ("src = ''\ncp.RawKernel(src, 'k', options=('-I/etc',))", "file-access", "-I/etc"),
    ("src = ''\ncp.RawKernel(src, 'k', ('-O3', '--include-path=/etc'))", "file-access", "include"),
    ("src = ''\ncp.RawKernel(src, 'k', ('--pre-include=/etc/passwd',))", "file-access", "pre"),
    ("src = ''\ncp.RawKernel(src, 'k', ('-O3 --run',), 'nvcc')", "file-access", "--run"),
    # internals one attribute away from the OS or the interpreter
    ("cuda.os.system('id')", "attribute", "cuda.os"),
    ("numba.config", "attribute", "numba.config"),
    ("cp.cuda.graph.os", "attribute", "graph"),
    ("np.testing", "attribute", "np.testing"),
    ("cuda.np.sum(x)", "attribute", "cuda.np"),
    # str.format reaching into objects
    ('"{0.__class__}".format(1)', "format", "0.__class__"),
    ('"{0[0]}".format([1])', "format", "0[0]"),
    ('"{0:{1.real}}".format(1, 2)', "format", "1.real"),
    ('str.format("{0.real}", 1)', "format", "0.real"),
    ("fmt = '{}'\nfmt.format(1)", "format", "fmt.format"),
    ('"{x.y}".format_map({})', "format", "x.y"),
    # patching libraries or results, passing modules around
    ("np.allclose = lambda *a, **k: True", "attribute", "np.allclose"),
    ("cuda.event = None", "attribute", "cuda.event"),
    ("out = cuda.device_array(1)\nout.copy_to_host = len", "attribute", "out.copy_to_host"),
    ("del cp.asnumpy", "attribute", "cp.asnumpy"),
    ("xp = cp", "import", "cp"),
    ("class A:\n    def m(self, v):\n        self.copy_to_host = v", "attribute", "self.copy_to"),
    ("class A:\n    def __init__(s, v):\n        s = v\n        s.n = 1", "attribute", "s.n"),
    ("class Fake(cp.ndarray):\n    pass", "attribute", "cp.ndarray"),
    ("def patch(m):\n    pass\npatch(cuda)", "import", "cuda"),
    # host-side work
    ("def entry(x, y):\n    return np.add(x, y)", "host-numpy", "np.add"),
    ("def entry(x):\n    return np.sum(x.copy_to_host())", "host-numpy", "np.sum"),
    ("def entry(x):\n    return np.asarray(x)", "host-numpy", "np.asarray"),
    ("def entry(a, b):\n    return np.dot(a, b)", "host-numpy", "np.dot"),
    ("import numpy\ndef entry(a, b):\n    return numpy.matmul(a, b)", "host-numpy", "matmul"),
    ("from numpy import sum as s\ndef entry(x):\n    return s(x)", "host-numpy", "numpy.sum"),
    ("from numpy.linalg import norm\nnorm(1)", "host-numpy", "numpy.linalg.norm"),
    ("np.linalg.norm(1)", "host-numpy", "np.linalg"),
    ("np.ndarray.sum(np.zeros(3))", "host-numpy", "np.ndarray.sum"),
    ("f = np.sum", "host-numpy", "np.sum"),
    ("xp = cp.get_array_module(1)", "host-numpy", "get_array_module"),
    ("@numba.njit\ndef f(x):\n    return x", "host-jit", "numba.njit"),
    ("from numba import prange\nfor i in prange(3):\n    pass", "host-jit", "numba.prange"),
    ("@numba.vectorize(['float32(float32)'])\ndef f(v):\n    return v", "host-jit", "vectorize"),
    ("def entry(x):\n    return x.get()", "host-transfer", "x.get()"),
    ("def entry(x, s):\n    return x.get(stream=s)", "host-transfer", "x.get("),
    ("def entry(x):\n    return x.tolist()", "host-transfer", "x.tolist"),
    ("def entry(x):\n    return x.to_host()", "host-transfer", "x.to_host"),
    ("def entry(x):\n    return x.tobytes()", "host-transfer", "x.tobytes"),
]


@pytest.mark.parametrize(("source", "rule", "mentions"), EXPLOITS, ids=[e[0] for e in EXPLOITS])
def test_exploits_are_rejected(source: str, rule: str, mentions: str) -> None:
    assert_rejected(source, rule, mentions)


def test_numpy_in_a_plain_helper_is_host_code_even_when_a_kernel_calls_numpy() -> None:
    found = check_python(
        HEADER
        + textwrap.dedent("""
            @cuda.jit
            def k(x):
                x[0] = np.sqrt(x[0])

            def helper(x):
                return np.sqrt(x)
            """)
    )
    assert [(v.line, v.rule) for v in found] == [(11, "host-numpy")]


KERNEL_BODY_ON_THE_HOST = {
    "called-directly": """
        def body(x):
            x[0] = np.sum(x)
        k = cuda.jit(body)
        def entry(x):
            body(x)
        """,
    "host-decorator-keeps-it": """
        kept = []
        def keep(f):
            kept.append(f)
            return f
        @cuda.jit
        @keep
        def k(x):
            x[0] = np.sum(x)
        """,
    "py_func": """
        @cuda.jit
        def k(x):
            x[0] = np.sum(x)
        def entry(x):
            return k.py_func(x)
        """,
    "device-function-from-host": """
        @cuda.jit(device=True)
        def total(x):
            return np.sum(x)
        def entry(x):
            return total(x)
        """,
}


@pytest.mark.parametrize(
    "source", KERNEL_BODY_ON_THE_HOST.values(), ids=KERNEL_BODY_ON_THE_HOST.keys()
)
def test_a_kernel_body_cannot_be_run_on_the_host(source: str) -> None:
    assert {"host-numpy", "host-jit", "attribute"} & set(rules(HEADER + textwrap.dedent(source)))


def test_every_builtin_outside_the_safe_set_is_rejected() -> None:
    # A fresh interpreter's builtins: an IPython shell made by another test adds its own.
    fresh = subprocess.run(
        [sys.executable, "-c", "import builtins; print(' '.join(dir(builtins)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    names = [
        n
        for n in fresh
        if not n.startswith("_") and n not in SAFE_BUILTINS and not keyword.iskeyword(n)
    ]
    assert "getattr" in names
    for name in names:
        assert rules(f"{name}\n") == ["builtin"], name


def test_a_candidate_may_use_builtin_names_for_its_own_variables() -> None:
    source = """
        def kernel_args(input, id, type):
            sum = input + id
            return [sum for next in range(type)]
        """
    assert rules(source) == []


def test_violations_come_in_line_order() -> None:
    source = "import os\nx = 1\neval('1')\nx.__dict__\nimport sys, subprocess\n"
    found = check_python(source)
    assert [(v.line, v.rule) for v in found] == [
        (1, "import"),
        (3, "builtin"),
        (4, "dunder"),
        (5, "import"),
        (5, "import"),
    ]
    assert all(isinstance(v, Violation) for v in found)
    assert found[0].message == (
        "import of 'os' is not allowed (candidates may import numba, cupy, cupyx, numpy, math)"
    )


def test_one_violation_per_node_and_shorter_chains_first() -> None:
    found = check_python("x = 1\nx.__class__.__base__\nimport numpy as np\nnp.linalg.norm(1)\n")
    assert [v.rule for v in found] == ["dunder", "dunder", "host-numpy"]
    assert "'x.__class__'" in found[0].message
    assert "'x.__class__.__base__'" in found[1].message


def test_numpy_host_allowlist() -> None:
    source = """
        import numpy as np

        def entry(x, n):
            out = np.empty((n,), dtype=np.float32)
            z = np.zeros_like(out) + np.full(3, np.pi, dtype=np.float64)
            big = np.finfo(np.float32).max + np.iinfo(np.int32).max
            ok = isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)
            return out, z, big, ok, np.nan, np.newaxis, np.dtype("float16")
        """
    assert rules(source) == []


def test_extra_allowed_modules_are_fully_allowed() -> None:
    assert rules("import os\nos._exit(1)\n", allowed_imports={"os"}) == []
    assert rules("import ctypes\nctypes.string_at(0)\n", allowed_imports={"ctypes"}) == []
    assert rules("from os import _exit, environ\n", allowed_imports=["os"]) == []
    assert rules("import os\nos.environ['X'] = '1'\nos.sep = '/'\n", allowed_imports={"os"}) == []
    assert rules("import ctypes\nctypes.string_at(0)\n") == ["import"]


def test_extra_modules_relax_nothing_else() -> None:
    source = "import os\nos.__dict__\nx = 1\nx.__class__\nopen('f')\n"
    assert rules(source, allowed_imports={"os"}) == ["dunder", "dunder", "builtin"]


def test_default_allowed_imports() -> None:
    assert frozenset({"numba", "cupy", "cupyx", "numpy", "math"}) == DEFAULT_ALLOWED_IMPORTS
    assert rules("import math\nimport numba.cuda\nfrom cupyx import jit\n") == []


@pytest.mark.parametrize("source", ["def f(:\n", "x = 1\0\n", "-" * 100_000 + "1\n"])
def test_unparsable_source_raises_syntax_error(source: str) -> None:
    with pytest.raises(SyntaxError):
        check_python(source)


def test_safe_builtins_contents() -> None:
    for name in ("open", "eval", "exec", "__import__", "getattr", "type", "vars", "sum"):
        assert name not in SAFE_BUILTINS
    for name in ("range", "len", "min", "max", "abs", "int", "float", "round", "pow", "ValueError"):
        assert SAFE_BUILTINS[name] is getattr(builtins, name)


def test_safe_builtins_run_a_candidate_and_refuse_the_rest() -> None:
    code = "class A:\n    def __init__(self):\n        self.n = len(range(3))\nresult = A().n\n"
    namespace: dict[str, object] = {"__builtins__": SAFE_BUILTINS, "__name__": "candidate"}
    exec(code, namespace)
    assert namespace["result"] == 3
    with pytest.raises(NameError):
        exec("open('/etc/passwd')", {"__builtins__": SAFE_BUILTINS})

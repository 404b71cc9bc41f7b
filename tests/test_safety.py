"""The static checker: legitimate kernels pass untouched, exploits are named precisely."""

from __future__ import annotations

import ast
import builtins
import json
import keyword
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kernelmagic.candidate.safety import SAFE_BUILTINS, Violation, check_python
from kernelmagic.candidate.safety._rules import CPU_JIT
from kernelmagic.candidate.safety.allowlist import ALLOWED_MODULES, BY_CONTEXT, LISTINGS, listing

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

TILED_2D = """
import numpy as np
from numba import cuda, float32

TILE = 16


@cuda.jit
def matmul(a, b, c):
    sa = cuda.shared.array(shape=(TILE, TILE), dtype=float32)
    sb = cuda.shared.array(shape=(TILE, TILE), dtype=float32)
    x, y = cuda.grid(2)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    acc = float32(0.0)
    for t in range((a.shape[1] + TILE - 1) // TILE):
        sa[ty, tx] = a[y, t * TILE + tx] if y < a.shape[0] and t * TILE + tx < a.shape[1] else 0
        sb[ty, tx] = b[t * TILE + ty, x] if x < b.shape[1] and t * TILE + ty < b.shape[0] else 0
        cuda.syncthreads()
        for k in range(TILE):
            acc += sa[ty, k] * sb[k, tx]
        cuda.syncthreads()
    if y < c.shape[0] and x < c.shape[1]:
        c[y, x] = acc


def entry(a, b):
    c = cuda.device_array((a.shape[0], b.shape[1]), dtype=np.float32)
    grid = ((b.shape[1] + TILE - 1) // TILE, (a.shape[0] + TILE - 1) // TILE)
    matmul[grid, (TILE, TILE)](a, b, c)
    return c
"""

WARP_INTRINSICS = """
import numba
import numpy as np
from numba import cuda

FULL = 0xFFFFFFFF


@cuda.jit(device=True, inline=True)
def warp_sum(v):
    offset = cuda.warpsize // 2
    while offset > 0:
        v += cuda.shfl_down_sync(FULL, v, offset)
        offset //= 2
    return v


@cuda.jit
def total(x, out, hist):
    i = cuda.grid(1)
    v = x[i] if i < x.size else numba.float32(0)
    s = warp_sum(v)
    if cuda.laneid == 0:
        cuda.atomic.add(out, 0, s)
    positive = cuda.ballot_sync(cuda.activemask(), v > 0)
    if cuda.laneid == 0:
        cuda.atomic.add(hist, 0, cuda.popc(positive))
    cuda.syncwarp()
    cuda.atomic.max(out, 1, v)
    cuda.threadfence()


def entry(x):
    out = cuda.device_array(2, dtype=np.float32)
    hist = cuda.device_array(1, dtype=np.int32)
    zero[1, 2](out)
    zero[1, 1](hist)
    total[(x.size + 255) // 256, 256](x, out, hist)
    return out, hist


@cuda.jit
def zero(a):
    a[cuda.threadIdx.x] = 0
"""

CONSTANT_TABLES = """
import math

import numpy as np
from numba import cuda, float32, int32

TAPS = 8
WEIGHTS = np.array([0.1, 0.2, 0.4, 0.2, 0.1], dtype=np.float32)
TWIDDLE = np.array([math.cos(2 * math.pi * k / TAPS) for k in range(TAPS)]).astype(np.float32)
RAMP = np.arange(TAPS, dtype=np.int32).reshape(2, 4)
GRID = np.linspace(0.0, 1.0, 5, dtype=np.float32)
IDENT = np.eye(4, dtype=np.float32)
BIAS = np.full(4, 0.5, dtype=np.float32) + np.zeros(4, np.float32)
HALF = np.asarray([1, 2, 3], dtype=np.float16) * np.float16(0.5)
SIN = np.sin(np.linspace(0, np.pi, TAPS)).astype(np.float32)


@cuda.jit
def smooth(x, out):
    w = cuda.const.array_like(WEIGHTS)
    t = cuda.const.array_like(TWIDDLE)
    scratch = cuda.local.array(5, float32)
    i = cuda.grid(1)
    if i < x.size:
        acc = float32(0)
        for k in range(5):
            j = min(max(i + k - 2, 0), x.size - 1)
            scratch[k] = x[j] * w[k]
            acc += scratch[k]
        out[i] = acc + t[int32(i % TAPS)] * 0


def entry(x):
    out = cuda.device_array_like(x)
    smooth[(x.size + 127) // 128, 128](x, out)
    return out
"""

RNG_AND_MIXED_PRECISION = """
import math

import numba.cuda.random
import numpy as np
from numba import cuda, float64, int32, types
from numba.cuda import libdevice
from numba.cuda.random import create_xoroshiro128p_states, xoroshiro128p_uniform_float32

SEED = 1234


@cuda.jit(device=True)
def clamp(v, lo, hi):
    return max(lo, min(v, hi))


@cuda.jit("void(float32[:], float64[:], int32[:], float16[:])")
def convert(x, wide, ints, half):
    i = cuda.grid(1)
    if i < x.size:
        wide[i] = float64(x[i]) * 2.0
        ints[i] = int32(clamp(x[i], -8.0, 8.0))
        half[i] = np.float16(x[i])


@cuda.jit
def jitter(states, x, out):
    i = cuda.grid(1)
    if i < x.size:
        r = xoroshiro128p_uniform_float32(states, i)
        out[i] = x[i] + 0 * r + 0 * libdevice.fast_expf(0.0) + 0 * math.sqrt(1.0)
        out[i] += 0 * numba.cuda.random.xoroshiro128p_normal_float32(states, i)


def entry(x):
    n = x.size
    threads = 128
    blocks = (n + threads - 1) // threads
    states = create_xoroshiro128p_states(blocks * threads, seed=SEED)
    wide = cuda.device_array(n, dtype=np.float64)
    ints = cuda.device_array(n, dtype=np.int32)
    half = cuda.device_array(n, dtype=np.float16)
    out = cuda.device_array(n, dtype=np.float32)
    convert[blocks, threads](x, wide, ints, half)
    jitter[blocks, threads](states, x, out)
    cuda.synchronize()
    return out, wide, ints, half
"""

FP16_AND_COOPERATIVE_GROUPS = """
from numba import cuda
from numba.cuda import cg, fp16


@cuda.jit
def halve(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = fp16.hmul(x[i], x[i])
    cg.this_grid().sync()


def entry(x):
    out = cuda.device_array_like(x)
    halve[(x.size + 127) // 128, 128](x, out)
    return out
"""

CUPYX_JIT = """
import cupy as cp
from cupyx import jit


@jit.rawkernel()
def block_sum(x, out, n):
    tile = jit.shared_memory(cp.float32, 256)
    t = jit.threadIdx.x
    i = jit.blockIdx.x * jit.blockDim.x + t
    tile[t] = x[i] if i < n else cp.float32(0)
    jit.syncthreads()
    s = 128
    while s > 0:
        if t < s:
            tile[t] += tile[t + s]
        jit.syncthreads()
        s //= 2
    if t == 0:
        jit.atomic_add(out, 0, tile[0])


def entry(x):
    out = cp.zeros(1, dtype=cp.float32)
    block_sum[(x.size + 255) // 256, 256](x, out, cp.int32(x.size))
    return out
"""

CUPY_KERNELS = """
import cupy as cp
import cupyx.jit

squared_sum = cp.ReductionKernel("T x", "T y", "x * x", "a + b", "y = a", "0", "squared_sum")
scale = cp.ElementwiseKernel("T x, T a", "T y", "y = x * a", "scale")


@cp.fuse()
def shift(x, b):
    return cp.sqrt(x * x) + b


@cupyx.jit.rawkernel()
def copy(x, y, n):
    i = cupyx.jit.grid(1)
    if i < n:
        y[i] = x[i]


def entry(x):
    y = cp.empty_like(x)
    copy[(x.size + 127) // 128, 128](x, y, cp.int32(x.size))
    total = squared_sum(scale(y, cp.float32(2.0)))
    out = cp.where(y > 0, shift(y, total), cp.zeros_like(y)).astype(cp.float32)
    cp.cuda.Stream.null.synchronize()
    return cp.ascontiguousarray(cp.clip(out, -1.0, cp.inf))
"""

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
    "tiled-2d": TILED_2D,
    "warp-intrinsics": WARP_INTRINSICS,
    "constant-tables": CONSTANT_TABLES,
    "rng-and-mixed-precision": RNG_AND_MIXED_PRECISION,
    "fp16-and-cooperative-groups": FP16_AND_COOPERATIVE_GROUPS,
    "cupyx-jit": CUPYX_JIT,
    "cupy-kernels": CUPY_KERNELS,
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
    assert found[0].message.startswith(
        "import of 'os' is not allowed (candidates may import numpy, math, numba, numba.types, "
        "numba.cuda, "
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
    assert {"numba", "numba.cuda", "cupy", "cupyx.jit", "numpy", "math"} <= set(ALLOWED_MODULES)
    assert rules("import math\nimport numba.cuda\nfrom cupyx import jit\n") == []
    assert not any(
        m.split(".")[-1] in ("misc", "core", "cudadrv", "testing") for m in ALLOWED_MODULES
    )


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


# -- allowlists: exact modules, and the names of each ------------------------------------

UNLISTED_IMPORTS = [
    "import numba.misc",
    "import numba.misc.numba_sysinfo",
    "from numba.misc import numba_sysinfo",
    "from numba.misc.numba_sysinfo import get_sysinfo",
    "from numba import misc",
    "from numba import core",
    "from numba import config",
    "from numba.core import utils",
    "import numba.core.utils",
    "import numba.np.npyimpl",
    "from numba.np import numpy_support",
    "import numba.cuda.cudadrv",
    "import numba.cuda.cudadrv.nvvm",
    "from numba.cuda.cudadrv import nvvm",
    "from numba.cuda import cudadrv",
    "import numba.cuda.simulator",
    "from numba.cuda import simulator",
    "from numba.cuda import compiler",
    "from numba.cuda import compile_ptx",
    "from numba.cuda import testing",
    "import numba.cuda.core.config",
    "from numba.cuda.random import np",
    "import numpy.distutils",
    "from numpy import f2py",
    "import numpy.testing",
    "from numpy import ctypeslib",
    "import numpy.lib.npyio",
    "from numpy.lib import format",
    "import numpy.random",
    "from numpy import load",
    "from numpy import sort",
    "import cupy.cuda.runtime",
    "from cupy.cuda import runtime",
    "from cupy.cuda import nvrtc",
    "from cupy.cuda import compiler",
    "import cupy.testing",
    "from cupy import fromfile",
    "import cupyx.tools",
    "from cupyx import profiler",
    "import cupyx.jit._interface",
    "from cupyx.jit import cub",
]


@pytest.mark.parametrize("source", UNLISTED_IMPORTS)
def test_modules_and_names_not_on_the_list_cannot_be_imported(source: str) -> None:
    found = check_python(source)
    assert [v.rule for v in found] == ["import"], found
    assert "is not allowed" in found[0].message


UNLISTED_CHAINS = [
    ("numba.core", "attribute", "'numba.core'"),
    ("numba.core.utils.get_nargs(1)", "attribute", "'numba.core'"),
    ("numba.misc.numba_sysinfo.get_sysinfo()", "attribute", "'numba.misc'"),
    ("np.lib.format.open_memmap('x')", "attribute", "'np.lib'"),
    ("cuda.cudadrv", "file-access", "'cuda.cudadrv'"),
    ("np.testing", "attribute", "'np.testing'"),
    ("math.__loader__", "dunder", "'math.__loader__'"),
    ("math.__spec__", "dunder", "'math.__spec__'"),
    ("cuda.compile_ptx('', '')", "attribute", "not on the list of what candidates may use"),
    ("cuda.compile('')", "attribute", "from numba.cuda (the kernel API"),
    ("cuda.declare_device('f', 'int32()')", "attribute", "'cuda.declare_device'"),
    ("cuda.gpus", "attribute", "'cuda.gpus'"),
    ("cuda.list_devices()", "attribute", "'cuda.list_devices'"),
    ("cuda.random.np", "attribute", "'cuda.random.np'"),
    ("cuda.libdevice.math", "attribute", "numba.cuda.libdevice (libdevice math functions)"),
    ("cuda.fp16.sys", "attribute", "'cuda.fp16.sys'"),
    ("cuda.threadIdx.w", "attribute", "from numba.cuda.threadIdx (x, y, z)"),
    ("cuda.syncthread()", "attribute", "did you mean 'syncthreads'?"),
    ("cuda.jit.options", "attribute", "no attributes of numba.cuda.jit"),
    ("cuda.shared.array.__globals__", "dunder", "__globals__"),
    ("np.float32.mro()", "attribute", "'np.float32.mro'"),
    ("np.random.rand(3)", "host-numpy", "np.random"),
    ("cp.cuda.runtime.free(0)", "file-access", "'cp.cuda.runtime'"),
    ("cp.cuda.compiler", "file-access", "'cp.cuda.compiler'"),
    ("cp.cuda.Device.__init__", "dunder", "__init__"),
    ("cp.testing", "attribute", "'cp.testing'"),
    ("cp.lib.stride_tricks.as_strided(1)", "attribute", "'cp.lib'"),
    ("cp.show_config()", "attribute", "from cupy (kernels"),
    ("import cupyx\ncupyx.profiler.benchmark(len)", "file-access", "'cupyx.profiler'"),
    ("import cupyx\ncupyx.time", "attribute", "'cupyx.time'"),
    ("numba.typed.List()", "attribute", "'numba.typed'"),
]


@pytest.mark.parametrize(
    ("source", "rule", "mentions"), UNLISTED_CHAINS, ids=[c[0] for c in UNLISTED_CHAINS]
)
def test_names_reached_through_a_module_must_be_on_its_list(
    source: str, rule: str, mentions: str
) -> None:
    assert_rejected(source, rule, mentions)


ALIAS_ROUTES = [
    "c = numba.cuda\nc.cudadrv.driver",
    "from numba import cuda as c\nc.core.utils",
    "import numba.cuda as nc\nnc.cudadrv",
    "from numba.cuda import random as r\nr.np.load('f')",
    "from numba.cuda import libdevice as ld\nld.os",
    "from numba.cuda import atomic\natomic.add.__wrapped__",
    "sysinfo = numba.misc.numba_sysinfo\nsysinfo.get_sysinfo()",
    "from numpy import lib\nlib.format.open_memmap('x')",
    "from numba import core\ncore.utils",
    "jit = cuda.jit\njit.__globals__",
    "idx = cuda.threadIdx\nidx.mro()",
    "from cupy import cuda as cc\ncc.runtime.free(0)",
]


@pytest.mark.parametrize("source", ALIAS_ROUTES)
def test_an_alias_reaches_no_further_than_the_name_it_stands_for(source: str) -> None:
    found = check_python(HEADER + source)
    last = HEADER.count("\n") + source.count("\n") + 1
    assert any(v.line == last for v in found), found


ALLOWED_SNIPPETS = [
    "import numba.cuda.random\nimport numba.cuda.libdevice\nimport numba.cuda.cg",
    "import numba.types\nfrom numba import types",
    "import numba.cuda.fp16\nimport cupy.cuda\nimport cupyx.jit\nimport cupyx.jit.cg",
    "from numba.cuda.random import create_xoroshiro128p_states, xoroshiro128p_uniform_float64",
    "from numba.cuda import jit, grid, shared, local, const, atomic, syncthreads, libdevice, cg",
    "from numba import cuda, float32, int32, float64, void, types, vectorize",
    "from numba.types import float16, Array",
    "from cupyx.jit import rawkernel, threadIdx, shared_memory, atomic_add",
    "from cupy import RawKernel, ElementwiseKernel, float32, sqrt, asnumpy",
    "from numpy import float32, pi, sin, array",
    "sig = numba.void(numba.types.float32[:, ::1], numba.int32)",
    "s = cp.cuda.Stream(non_blocking=True)\ncp.cuda.Stream.null.synchronize()",
    "n = cuda.get_current_device().MULTIPROCESSOR_COUNT\ncuda.synchronize()",
    "from numba.cuda import atomic\nf = atomic.compare_and_swap",
    "x = cuda.float32x4\ny = cuda.int2\nz = cuda.bfloat16",
    "r = math.gamma(0.5) + math.tau + math.isqrt(9)",
    "y = cp.sum(cp.sqrt(cp.arange(4, dtype=cp.float32)))",
]


@pytest.mark.parametrize("source", ALLOWED_SNIPPETS)
def test_what_kernel_authors_use_is_on_the_lists(source: str) -> None:
    assert check_python(HEADER + source) == []


def test_gpu_code_may_use_numpy_ufuncs_and_scalar_math_only() -> None:
    kernel = """
        import math

        @cuda.jit
        def k(x, y):
            i = cuda.grid(1)
            y[i] = np.sqrt(np.abs(x[i])) + np.minimum(x[i], np.float32(1)) + np.pi
            y[i] += np.float32(np.isnan(x[i])) + np.exp(x[i]) + np.fmod(x[i], 2.0)
            y[i] += {}
        """
    assert rules(HEADER + textwrap.dedent(kernel.format("0"))) == []
    for call, rule in [
        ("np.sort(x)[0]", "attribute"),
        ("np.sum(x)", "attribute"),
        ("np.matmul(x, y)[0]", "attribute"),
        ("np.load('f')[0]", "file-access"),
        ("math.fsum(x)", "attribute"),
    ]:
        found = check_python(HEADER + textwrap.dedent(kernel.format(call)))
        assert [v.rule for v in found] == [rule], (call, found)
        assert "in GPU code" in found[0].message or rule == "file-access"
    assert rules("import math\ndef entry(x):\n    return math.prod(x.shape)\n") == []


def test_a_problem_extends_the_list_by_exact_module() -> None:
    source = "import numba.misc\nfrom numba import misc\nnumba.misc.numba_sysinfo.get_sysinfo()\n"
    assert rules(source, allowed_imports=["numba.misc"]) == []
    assert rules(source + "numba.core\n", allowed_imports=["numba.misc"]) == ["attribute"]
    # Naming a module already on the list changes nothing: numba stays limited to its list.
    assert rules("import numba\nnumba.core\n", allowed_imports=["numba"]) == ["attribute"]
    assert rules("import numba.misc\n", allowed_imports=["numba"]) == ["import"]


# -- module-level constant tables ---------------------------------------------------------


def test_module_level_constant_tables_may_use_numpy() -> None:
    source = """
        import math
        import numpy as np
        from numpy import arange, float32
        from numba import cuda

        N = 8
        SCALE: float = 0.5
        LUT = np.array([[1, 2], [3, 4]], dtype=np.int32)
        COS = np.array([math.cos(2 * math.pi * k / N) for k in range(N)], dtype=np.float32)
        EVEN = np.array([k * SCALE for k in range(N) if k % 2 == 0]).astype(np.float32)
        STEPS = arange(N, dtype=float32).reshape(2, -1).T.copy()
        PAIRS = np.asarray((1, 2)) if N > 4 else np.asarray((0,))
        MIXED = np.linspace(-1.0, 1.0, N) * np.float64(2) + np.eye(N)[0] + LUT.size
        AGAIN = np.array(COS[1:3]) + np.identity(2)[0]
        DEVICE = cuda.to_device(np.arange(N, dtype=np.float32))

        @cuda.jit
        def k(x):
            t = cuda.const.array_like(COS)
            x[0] = t[0]
        """
    assert rules(source) == []


HOST_NUMPY_OUTSIDE_CONSTANT_TABLES = {
    "in-the-entry": "def entry(x):\n    return x, np.array([1.0, 2.0])",
    "in-a-helper": "def table():\n    return np.arange(4)",
    "in-a-class-body": "class Tables:\n    T = np.arange(4)",
    "in-a-lambda": "table = lambda: np.arange(4)",
    "of-a-call": "def f():\n    return [1.0]\nT = np.array(f())",
    "of-a-device-array": "D = cuda.device_array(4)\nT = np.array(D)",
    "of-a-rebound-name": "T0 = [1.0]\nT0 = cuda.device_array(4)\nT = np.array(T0)",
    "of-a-name-rebound-by-a-function": "N = 4\ndef grow():\n    global N\nT = np.arange(N)",
    "of-a-shadowed-builtin": "def range(n):\n    return [n]\nT = np.array(range(4))",
    "of-an-unlisted-function": "T = np.sort(np.array([3, 1, 2]))",
    "of-random-numbers": "T = np.random.default_rng(0).standard_normal(8)",
    "of-a-comprehension-over-a-function": "def f():\n    pass\nT = np.array([v for v in f])",
}


@pytest.mark.parametrize(
    "source",
    HOST_NUMPY_OUTSIDE_CONSTANT_TABLES.values(),
    ids=HOST_NUMPY_OUTSIDE_CONSTANT_TABLES.keys(),
)
def test_numpy_outside_module_level_constant_tables_is_host_work(source: str) -> None:
    assert "host-numpy" in rules(HEADER + source)


# -- the lists themselves ------------------------------------------------------------------


def test_every_listed_name_passes_the_checker() -> None:
    """The name rules (private, file access, internals) never contradict the lists."""
    uses = []
    for container in [*LISTINGS, *BY_CONTEXT, "numba.cuda.libdevice"]:
        found = listing(container, "device")
        assert found is not None and found.names, container
        for name in sorted(found.names):
            dotted = f"{container}.{name}"
            if dotted in ALLOWED_MODULES or (container == "numba" and name in CPU_JIT):
                continue  # a module object may not be stored; CPU compilers need target="cuda"
            uses.append(f"    v = {dotted}\n")
    imports = "".join(f"import {m}\n" for m in ALLOWED_MODULES)
    source = f"{imports}\n@numba.cuda.jit\ndef k():\n{''.join(uses)}"
    assert check_python(source) == []
    assert len(uses) > 1000


def test_listed_names_exist_in_the_installed_libraries() -> None:
    """A typo in a list would refuse nothing and allow nothing; compare with the real modules."""
    script = textwrap.dedent("""
        import importlib
        from kernelmagic.candidate.safety.allowlist import (
            ALLOWED_MODULES, BY_CONTEXT, LISTINGS, listing,
        )
        for module in ALLOWED_MODULES:  # a submodule is an attribute once imported
            try:
                importlib.import_module(module)
            except ImportError:
                pass
        missing = []
        for container in [*LISTINGS, *BY_CONTEXT, "numba.cuda.libdevice"]:
            module = max((m for m in ALLOWED_MODULES if container.startswith(m)), key=len)
            try:
                obj = importlib.import_module(module)
            except ImportError:  # CuPy needs a CUDA install; where it has one, it is checked
                continue
            for part in container[len(module) :].split(".")[1:]:
                obj = getattr(obj, part)
            names = listing(container, "constant").names
            missing += [f"{container}.{n}" for n in sorted(names) if not hasattr(obj, n)]
        print(" ".join(missing))
        """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_the_run_time_import_guard_applies_the_same_lists() -> None:
    from kernelmagic.harness._candidate_module import _guarded_import

    namespace = {"__builtins__": {**SAFE_BUILTINS, "__import__": _guarded_import(("json",))}}
    for allowed in [
        "from __future__ import annotations",
        "import math",
        "import numpy as np",
        "import numba.cuda",
        "from numba import cuda, float32",
        "from numba.cuda.random import create_xoroshiro128p_states",
        "from numba.cuda import libdevice",
        "import json.decoder",
    ]:
        exec(allowed, namespace)
    sysinfo_loaded = "numba.misc.numba_sysinfo" in sys.modules
    for refused in [
        "import numba.misc.numba_sysinfo",
        "from numba.misc import numba_sysinfo",
        "from numba import misc",
        "from numba.core import utils",
        "import numba.cuda.cudadrv.nvvm",
        "from numba.cuda import cudadrv",
        "import numpy.testing",
        "from numpy import load",
        "from numpy import *",
        "import os",
    ]:
        with pytest.raises(ImportError, match="is not allowed"):
            exec(refused, namespace)
    with pytest.raises(ImportError, match="relative"):
        exec("from . import x", namespace)
    assert ("numba.misc.numba_sysinfo" in sys.modules) == sysinfo_loaded  # refused before loading


# -- every candidate the repository ships or tests as correct ------------------------------

ROOT = Path(__file__).resolve().parent.parent
_KERNEL_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:numba|cupy|cupyx)\b", re.MULTILINE)
_MAGIC = "%%cuda_optimize"


def _candidate(source: str) -> bool:
    """Python that imports numba or CuPy and nothing outside the candidate modules: scripts
    that drive the harness (importing sys, pickle or kernelmagic) are not candidates."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a CUDA C candidate
        return False
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    roots = {m.split(".")[0] for m in imported} - {"__future__"}
    return bool(_KERNEL_IMPORT.search(source)) and roots <= {
        m.split(".")[0] for m in ALLOWED_MODULES
    }


def repository_candidates() -> dict[str, str]:
    """Examples, `%%cuda_optimize` cells of notebooks and docs, and module-level candidate
    strings of the tests (the tests keep their exploits in lists, not in such constants)."""
    found = {str(p.relative_to(ROOT)): p.read_text() for p in sorted(ROOT.glob("examples/**/*.py"))}
    for p in sorted([*ROOT.glob("examples/*.ipynb"), *ROOT.glob("docs/*.ipynb")]):
        for i, cell in enumerate(json.loads(p.read_text())["cells"]):
            text = "".join(cell["source"])
            if cell["cell_type"] == "code" and text.startswith(_MAGIC):
                found[f"{p.relative_to(ROOT)}:cell{i}"] = text.partition("\n")[2]
    for p in sorted(ROOT.glob("docs/*.md")):
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", p.read_text(), re.DOTALL)):
            if block.startswith(_MAGIC):
                found[f"{p.relative_to(ROOT)}:block{i}"] = block.partition("\n")[2]
    for p in sorted(ROOT.glob("tests/*.py")):
        for node in ast.parse(p.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                found[f"{p.name}:{node.targets[0].id}"] = node.value.value
    return {name: source for name, source in found.items() if _candidate(source)}


CANDIDATES = repository_candidates()


def test_the_repository_has_candidates_of_every_kind() -> None:
    joined = "\n".join(CANDIDATES.values())
    assert len(CANDIDATES) >= 25
    for kind in ("@cuda.jit", "RawKernel", "ElementwiseKernel", "rawkernel", "cuda.const"):
        assert kind in joined, kind
    assert any(name.startswith("examples/") for name in CANDIDATES)
    assert any(".ipynb:" in name for name in CANDIDATES)


@pytest.mark.parametrize("source", CANDIDATES.values(), ids=CANDIDATES.keys())
def test_every_candidate_in_the_repository_passes(source: str) -> None:
    assert check_python(source) == []


# -- signature strings, which numba evaluates with full builtins ---------------------------

SIGNATURE_EXPLOITS = {
    "code-in-a-signature": "@cuda.jit(\"void(float32[:]) if __import__('os').system('id') else 0\")"
    "\ndef k(x):\n    pass",
    "code-in-a-list-of-signatures": "@cuda.jit(['void(float32[:])', 'open(\"/etc/passwd\")'])"
    "\ndef k(x):\n    pass",
    "assembled-at-run-time": "s = 'void(' + 'float32[:])'\nk = cuda.jit(s)",
    "a-list-that-can-grow": "SIGS = ['void(float32[:])']\nSIGS.append('x')\nk = cuda.jit(SIGS)",
    "a-name-bound-twice": "SIG = 'void(float32[:])'\nSIG = 'x'\nk = cuda.jit(SIG)",
    "an-argument": "@cuda.jit\ndef k(x):\n    pass\ndef entry(x, sig):\n    k.compile(sig)",
    "walrus-into-numba-types": "T = '(float32 := float64)'\nk = cuda.jit(T)",
    "vectorize": "@numba.vectorize([\"float32(float32) or exec('1')\"], target='cuda')\n"
    "def f(v):\n    return v",
}


@pytest.mark.parametrize("source", SIGNATURE_EXPLOITS.values(), ids=SIGNATURE_EXPLOITS.keys())
def test_strings_numba_would_evaluate_are_signatures_of_numba_types(source: str) -> None:
    assert "signature" in rules(HEADER + source)


def test_strings_that_never_reach_numba_are_left_alone() -> None:
    # A string is code only where numba evaluates it; in the workers numba's own parser
    # refuses anything but plain signatures (test_verdict_integrity), so a string kept
    # for later, or an expression a CuPy kernel is built from, is no rule's business.
    source = """
        HOOK = "__import__('subprocess').run(['id'])"
        MAP = "abs(x)"
        print("f(x)")
        """
    assert rules(HEADER + textwrap.dedent(source)) == []


def test_signatures_kernel_authors_write_pass() -> None:
    source = """
        import cupy as cp
        import numba
        from numba import cuda, float32, int32, void

        SIG = "void(float32[:, ::1], int32)"
        SIGS = ("float32(float32)", "float64(float64)")

        @cuda.jit(SIG)
        def a(x, n):
            pass

        @cuda.jit(void(float32[:], int32), fastmath=True)
        def b(x, n):
            pass

        @cuda.jit("Tuple((float32, int32))(float32)", device=True)
        def c(v):
            return v, 1

        @numba.vectorize(SIGS, target="cuda")
        def d(v):
            return v

        def body(x):
            pass

        e = cuda.jit(body)
        e.compile("void(float32[:])")
        largest = cp.ReductionKernel("T x", "T y", "abs(x)", "max(a, b)", "y = a", "0", "amax")

        def entry(x):
            '''entry(x) -> max(abs(x))'''
            return largest(x)
        """
    assert rules(source) == []

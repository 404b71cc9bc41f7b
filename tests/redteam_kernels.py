"""Held-out-style problems and correct kernels for tests/test_redteam.py.

The problems keep the simulator busy for a second or two at most (it runs ~10k threads/s):
sizes vary with the seed, are odd (so never a multiple of a block size), and stay small.
The kernels are written the way CUDA programmers write numba.cuda code; every one of them
must be `correct`.
"""

from __future__ import annotations

import numpy as np

# -- problems: references and input generators -----------------------------------------------


def _odd(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi)) | 1


def matrix_inputs(seed):
    rng = np.random.default_rng(seed)
    m, n = _odd(rng, 5, 30), _odd(rng, 5, 30)
    return {
        "a": rng.standard_normal((m, n), dtype=np.float32),
        "b": rng.standard_normal((m, n), dtype=np.float32),
    }


def small_matrix_inputs(seed):
    """Up to 2x1 tiles of 16x16: enough for a tile edge, cheap for the simulator's barriers."""
    rng = np.random.default_rng(seed)
    m, n = _odd(rng, 5, 24), _odd(rng, 5, 12)
    return {
        "a": rng.standard_normal((m, n), dtype=np.float32),
        "b": rng.standard_normal((m, n), dtype=np.float32),
    }


def matadd_reference(a, b):
    return a + b


def transpose_reference(a):
    return np.ascontiguousarray(a.T)


def matmul_inputs(seed):
    rng = np.random.default_rng(seed)
    m, k, n = _odd(rng, 5, 24), _odd(rng, 5, 24), _odd(rng, 5, 12)
    return {
        "a": rng.standard_normal((m, k), dtype=np.float32),
        "b": rng.standard_normal((k, n), dtype=np.float32),
    }


def matmul_reference(a, b):
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)


def vector_inputs(seed):
    rng = np.random.default_rng(seed)
    n = _odd(rng, 150, 600)
    return {
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
    }


def small_vector_inputs(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal(_odd(rng, 70, 260), dtype=np.float32)}


def sum_reference(x):
    return np.asarray(x.sum(dtype=np.float64), dtype=np.float32).reshape(1)


def sort_reference(x):
    return np.sort(x)


def minmax_reference(x, y):
    return np.minimum(x, y), np.maximum(x, y)


def rows_inputs(seed):
    rng = np.random.default_rng(seed)
    return {"a": rng.standard_normal((_odd(rng, 150, 500), 5), dtype=np.float32)}


def sort_rows_reference(a):
    return np.sort(a, axis=1)


def half_inputs(seed):
    rng = np.random.default_rng(seed)
    n = _odd(rng, 150, 600)
    return {
        "x": rng.uniform(-2, 2, n).astype(np.float16),
        "y": rng.uniform(-2, 2, n).astype(np.float16),
    }


def half_fma_reference(x, y):
    return x * y + x


def double_inputs(seed):
    rng = np.random.default_rng(seed)
    n = _odd(rng, 150, 600)
    return {"x": rng.standard_normal(n), "y": rng.standard_normal(n)}


def hypot_reference(x, y):
    return np.sqrt(x * x + y * y)


def int_inputs(seed):
    rng = np.random.default_rng(seed)
    n = _odd(rng, 150, 600)
    return {
        "x": rng.integers(0, 1 << 20, n).astype(np.int32),
        "y": rng.integers(0, 1 << 20, n).astype(np.int32),
    }


def mix_reference(x, y):
    return (x * 3 + (y ^ x)) >> 1


def affine_reference(x):
    return x * np.float32(2.5) + np.float32(-1.0)


def smoothstep_reference(x):
    t = np.clip((x + np.float32(1)) * np.float32(0.5), 0, 1)
    return t * t * (3 - 2 * t)


POLY = np.array([0.5, -1.25, 0.75, 0.125], dtype=np.float32)


def poly_reference(x):
    return ((POLY[3] * x + POLY[2]) * x + POLY[1]) * x + POLY[0]


def weighted_reference(x):
    return x * np.arange(16, dtype=np.float32)[np.arange(x.size) % 16]


# -- correct kernels (part B) ------------------------------------------------------------------

MATADD_2D = """
import numpy as np
from numba import cuda

@cuda.jit
def add2d(a, b, c):
    i, j = cuda.grid(2)
    if i < c.shape[0] and j < c.shape[1]:
        c[i, j] = a[i, j] + b[i, j]

def matadd(a, b):
    c = cuda.device_array_like(a)
    threads = (16, 16)
    blocks = ((a.shape[0] + 15) // 16, (a.shape[1] + 15) // 16)
    add2d[blocks, threads](a, b, c)
    return c
"""

TRANSPOSE_NAIVE = """
import numpy as np
from numba import cuda

@cuda.jit
def transpose_kernel(a, out):
    i, j = cuda.grid(2)
    if i < a.shape[0] and j < a.shape[1]:
        out[j, i] = a[i, j]

def transpose(a):
    out = cuda.device_array((a.shape[1], a.shape[0]), dtype=a.dtype)
    blocks = ((a.shape[0] + 15) // 16, (a.shape[1] + 15) // 16)
    transpose_kernel[blocks, (16, 16)](a, out)
    return out
"""

TRANSPOSE_SHARED = """
import numba
import numpy as np
from numba import cuda

TILE = 16
TILE_PADDED = TILE + 1  # a shared array's shape must be constants numba can read

@cuda.jit
def transpose_tiled(a, out):
    # +1 column of padding avoids shared-memory bank conflicts on the transposed read
    tile = cuda.shared.array((TILE, TILE_PADDED), numba.float32)
    x, y = cuda.grid(2)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m, n = a.shape
    if x < m and y < n:
        tile[tx, ty] = a[x, y]
    cuda.syncthreads()
    ox = cuda.blockIdx.y * TILE + tx
    oy = cuda.blockIdx.x * TILE + ty
    if ox < n and oy < m:
        out[ox, oy] = tile[ty, tx]

def transpose(a):
    out = cuda.device_array((a.shape[1], a.shape[0]), dtype=np.float32)
    blocks = ((a.shape[0] + TILE - 1) // TILE, (a.shape[1] + TILE - 1) // TILE)
    transpose_tiled[blocks, (TILE, TILE)](a, out)
    return out
"""

MATMUL_TILED = """
import numba
import numpy as np
from numba import cuda

TPB = 16

@cuda.jit
def matmul_tiled(a, b, c):
    sa = cuda.shared.array((TPB, TPB), numba.float32)
    sb = cuda.shared.array((TPB, TPB), numba.float32)
    row, col = cuda.grid(2)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m = a.shape[0]
    k = a.shape[1]
    n = b.shape[1]
    acc = numba.float32(0.0)
    for t in range((k + TPB - 1) // TPB):
        ka = t * TPB + ty
        kb = t * TPB + tx
        sa[tx, ty] = a[row, ka] if row < m and ka < k else numba.float32(0.0)
        sb[tx, ty] = b[kb, col] if kb < k and col < n else numba.float32(0.0)
        cuda.syncthreads()
        for j in range(TPB):
            acc += sa[tx, j] * sb[j, ty]
        cuda.syncthreads()
    if row < m and col < n:
        c[row, col] = acc

def matmul(a, b):
    m, n = a.shape[0], b.shape[1]
    c = cuda.device_array((m, n), dtype=np.float32)
    blocks = ((m + TPB - 1) // TPB, (n + TPB - 1) // TPB)
    matmul_tiled[blocks, (TPB, TPB)](a, b, c)
    return c
"""

WARP_SHUFFLE_SUM = """
import numba
import numpy as np
from numba import cuda

@cuda.jit
def warp_sum(x, out):
    i = cuda.grid(1)
    v = x[i] if i < x.size else numba.float32(0.0)
    offset = 16
    while offset > 0:
        v += cuda.shfl_down_sync(0xFFFFFFFF, v, offset)
        offset //= 2
    if cuda.laneid == 0:
        cuda.atomic.add(out, 0, v)

def total(x):
    out = cuda.to_device(np.zeros(1, dtype=np.float32))
    warp_sum[(x.size + 127) // 128, 128](x, out)
    return out
"""

HISTOGRAM_ATOMIC = """
import numba
import numpy as np
from numba import cuda

@cuda.jit
def hist_kernel(values, bins, hist):
    # a per-block histogram in shared memory, merged into the global one with atomics
    local = cuda.shared.array(64, numba.int32)
    t = cuda.threadIdx.x
    if t < bins:
        local[t] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < values.size:
        cuda.atomic.add(local, values[i], 1)
        i += stride
    cuda.syncthreads()
    if t < bins:
        cuda.atomic.add(hist, t, local[t])

def histogram(values, bins):
    hist = cuda.to_device(np.zeros(bins, dtype=np.int32))
    hist_kernel[3, 64](values, bins, hist)
    return hist
"""

ATOMIC_SUM = """
import numba
import numpy as np
from numba import cuda

@cuda.jit
def atomic_sum(x, out):
    i = cuda.grid(1)
    s = numba.float32(0.0)
    while i < x.size:
        s += x[i]
        i += cuda.gridsize(1)
    cuda.atomic.add(out, 0, s)

def total(x):
    out = cuda.to_device(np.zeros(1, dtype=np.float32))
    atomic_sum[2, 64](x, out)
    return out
"""

TWO_PASS_SUM = """
import numba
import numpy as np
from numba import cuda

BLOCK = 64

@cuda.jit
def partial_sums(x, partial):
    tile = cuda.shared.array(BLOCK, numba.float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    tile[t] = x[i] if i < x.size else numba.float32(0.0)
    cuda.syncthreads()
    step = BLOCK // 2
    while step > 0:
        if t < step:
            tile[t] += tile[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = tile[0]

@cuda.jit
def finish(partial, out):
    tile = cuda.shared.array(32, numba.float32)
    t = cuda.threadIdx.x
    s = numba.float32(0.0)
    j = t
    while j < partial.size:
        s += partial[j]
        j += 32
    tile[t] = s
    cuda.syncthreads()
    step = 16
    while step > 0:
        if t < step:
            tile[t] += tile[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        out[0] = tile[0]

def total(x):
    blocks = (x.size + BLOCK - 1) // BLOCK
    partial = cuda.device_array(blocks, dtype=np.float32)
    partial_sums[blocks, BLOCK](x, partial)
    out = cuda.device_array(1, dtype=np.float32)
    finish[1, 32](partial, out)
    return out
"""

DEVICE_FUNCTION = """
import numpy as np
from numba import cuda

@cuda.jit(device=True)
def smoothstep(v):
    t = (v + 1.0) * 0.5
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)

@cuda.jit
def smooth_kernel(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = smoothstep(x[i])

def smooth(x):
    out = cuda.device_array_like(x)
    smooth_kernel[(x.size + 127) // 128, 128](x, out)
    return out
"""

LOCAL_ARRAY_SORT = """
import numba
import numpy as np
from numba import cuda

WIDTH = 5

@cuda.jit
def sort_rows_kernel(a, out):
    r = cuda.grid(1)
    if r < a.shape[0]:
        buf = cuda.local.array(WIDTH, numba.float32)
        for j in range(WIDTH):
            buf[j] = a[r, j]
        for j in range(1, WIDTH):
            v = buf[j]
            k = j - 1
            while k >= 0 and buf[k] > v:
                buf[k + 1] = buf[k]
                k -= 1
            buf[k + 1] = v
        for j in range(WIDTH):
            out[r, j] = buf[j]

def sort_rows(a):
    out = cuda.device_array_like(a)
    sort_rows_kernel[(a.shape[0] + 63) // 64, 64](a, out)
    return out
"""

CONST_ARRAY_NP_ARRAY = """
import numpy as np
from numba import cuda

COEFFS = np.array([0.5, -1.25, 0.75, 0.125], dtype=np.float32)

@cuda.jit
def poly_kernel(x, out):
    c = cuda.const.array_like(COEFFS)
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        out[i] = ((c[3] * v + c[2]) * v + c[1]) * v + c[0]

def poly(x):
    out = cuda.device_array_like(x)
    poly_kernel[(x.size + 127) // 128, 128](x, out)
    return out
"""

CONST_ARRAY_NP_ARANGE = """
import numpy as np
from numba import cuda

WEIGHTS = np.arange(16, dtype=np.float32)

@cuda.jit
def weighted_kernel(x, out):
    w = cuda.const.array_like(WEIGHTS)
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] * w[i % 16]

def weighted(x):
    out = cuda.device_array_like(x)
    weighted_kernel[(x.size + 127) // 128, 128](x, out)
    return out
"""

TUPLE_OUTPUTS = """
from numba import cuda

@cuda.jit
def minmax_kernel(x, y, lo, hi):
    i = cuda.grid(1)
    if i < x.size:
        a = x[i]
        b = y[i]
        if a < b:
            lo[i] = a
            hi[i] = b
        else:
            lo[i] = b
            hi[i] = a

def minmax(x, y):
    lo = cuda.device_array_like(x)
    hi = cuda.device_array_like(x)
    minmax_kernel[(x.size + 127) // 128, 128](x, y, lo, hi)
    return lo, hi
"""

FLOAT16 = """
import numpy as np
from numba import cuda

@cuda.jit
def half_fma(x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] * y[i] + x[i]

def half(x, y):
    out = cuda.device_array(x.shape, dtype=np.float16)
    half_fma[(x.size + 127) // 128, 128](x, y, out)
    return out
"""

FLOAT64 = """
import math
import numpy as np
from numba import cuda

@cuda.jit
def hypot_kernel(x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = math.sqrt(x[i] * x[i] + y[i] * y[i])

def hypot(x, y):
    out = cuda.device_array(x.shape, dtype=np.float64)
    hypot_kernel[(x.size + 127) // 128, 128](x, y, out)
    return out
"""

INT32 = """
import numpy as np
from numba import cuda

@cuda.jit
def mix_kernel(x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = (x[i] * 3 + (y[i] ^ x[i])) >> 1

def mix(x, y):
    out = cuda.device_array(x.shape, dtype=np.int32)
    mix_kernel[(x.size + 127) // 128, 128](x, y, out)
    return out
"""

GRID_STRIDE = """
from numba import cuda

@cuda.jit
def saxpy_kernel(a, x, y, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.size, stride):
        out[i] = a * x[i] + y[i]

def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    saxpy_kernel[2, 64](a, x, y, out)
    return out
"""

KERNEL_FACTORY = """
import numpy as np
from numba import cuda

def make_affine(scale, shift):
    @cuda.jit
    def affine(x, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = x[i] * scale + shift
    return affine

AFFINE = make_affine(np.float32(2.5), np.float32(-1.0))

def affine(x):
    out = cuda.device_array_like(x)
    AFFINE[(x.size + 127) // 128, 128](x, out)
    return out
"""


def dct_inputs(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal(_odd(rng, 17, 40), dtype=np.float32)}


def dct_reference(x):
    n = x.size
    k = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    table = np.cos(np.pi / n * (j + 0.5) * k)
    return (table @ x.astype(np.float64)).astype(np.float32)


# A plan cache, as cuFFT-style code keeps one: the cosine table depends only on the size, so
# it is built on the device once per size and reused; every call still reads all of x.
DCT_PLAN_CACHE = """
import math
import numba
import numpy as np
from numba import cuda

@cuda.jit
def build_table(table, n):
    k, j = cuda.grid(2)
    if k < n and j < n:
        table[k, j] = math.cos(math.pi / n * (j + 0.5) * k)

@cuda.jit
def apply_table(table, x, out):
    k = cuda.grid(1)
    if k < x.size:
        acc = numba.float32(0.0)
        for j in range(x.size):
            acc += table[k, j] * x[j]
        out[k] = acc

plans = {}

def dct(x):
    n = x.size
    table = plans.get(n)
    if table is None:
        table = cuda.device_array((n, n), dtype=np.float32)
        build_table[((n + 15) // 16, (n + 15) // 16), (16, 16)](table, n)
        plans[n] = table
    out = cuda.device_array_like(x)
    apply_table[(n + 63) // 64, 64](table, x, out)
    return out
"""

# numba's own reduction idiom: on a GPU it launches its reduction kernels.
CUDA_REDUCE = """
import numpy as np
from numba import cuda

@cuda.reduce
def add(a, b):
    return a + b

def total(x):
    out = cuda.device_array(1, dtype=np.float32)
    add(x, res=out)
    return out
"""

# numba's elementwise-ufunc idiom for the GPU.
CUDA_VECTORIZE = """
import numpy as np
from numba import cuda

@cuda.vectorize(["float32(float32, float32, float32)"])
def saxpy_ufunc(a, x, y):
    return a * x + y

def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    saxpy_ufunc(a, x, y, out=out)
    return out
"""

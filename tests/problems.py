"""Small problems for tests: sizes vary by seed, stay small for the simulator (~10k threads/s)."""

from __future__ import annotations

import numpy as np


def saxpy_reference(a, x, y):
    return a * x + y


def saxpy_inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(150, 600))
    if n % 32 == 0:
        n += 1
    return {
        "a": np.float32(rng.uniform(0.5, 2.0)),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }


def fixed_saxpy_inputs(seed):
    """Every seed has the same size: what a shape-keyed cache would need."""
    rng = np.random.default_rng(seed)
    n = 257
    return {
        "a": np.float32(rng.uniform(0.5, 2.0)),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }


def sum_diff_reference(x, y):
    return x + y, x - y


def sum_reference(x):
    return np.asarray(x.sum(dtype=np.float64), dtype=np.float32).reshape(1)


def vector_inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(150, 600)) | 1
    return {
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }


def histogram_reference(values, bins):
    return np.bincount(values, minlength=bins).astype(np.int32)


def histogram_inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(150, 600)) | 1
    return {"values": rng.integers(0, 16, n).astype(np.int32), "bins": 16}


# A correct numba candidate for the saxpy problems, shared by several test files.
NUMBA_SAXPY = """
from numba import cuda

@cuda.jit
def kernel(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]

def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    return out
"""

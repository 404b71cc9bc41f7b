"""SAXPY: out = a * x + y. The reference, and generators of the inputs it is checked on."""

import numpy as np


def reference(a, x, y):
    """The right answer, in NumPy."""
    return a * x + y


def inputs(seed):
    """A small case for verification: sizes vary with the seed and are not multiples of 256."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(500, 2000))
    return {
        "a": np.float32(rng.uniform(-2.0, 2.0)),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }


def timing_inputs(seed, size=1 << 24):
    """A size worth timing on a GPU: 16M elements, 192 MiB moved per call (`--sizes` names
    others, to compare the best kernel with yours at each)."""
    rng = np.random.default_rng(seed)
    n = size
    return {
        "a": np.float32(rng.uniform(-2.0, 2.0)),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }

"""compute-sanitizer before a kernel is crowned: reading its reports, and running it on a GPU."""

from __future__ import annotations

import numpy as np
import pytest

import kernelmagic as km
from kernelmagic import Status
from kernelmagic.harness import _sanitizer as sanitizer

# The layout compute-sanitizer 2024-2025 prints (NVIDIA's documentation shows the same lines).
RACE_REPORT = """\
========= COMPUTE-SANITIZER
========= Error: Race reported between Write access at hist_kernel(int *, int *, int)+0x90
=========     and Read access at hist_kernel(int *, int *, int)+0x70 [512 hazards]
=========
========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)
"""
MEMCHECK_REPORT = """\
========= COMPUTE-SANITIZER
========= Invalid __global__ write of size 4 bytes
=========     at saxpy+0x1c0
=========     by thread (255,0,0) in block (3,0,0)
=========     Address 0x7f3a2e000ffc is out of bounds
=========
========= ERROR SUMMARY: 1 error
"""
CLEAN_REPORT = """\
========= COMPUTE-SANITIZER
========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)
========= ERROR SUMMARY: 0 errors
"""


def test_a_race_report_is_a_finding_with_the_tools_own_lines():
    found = sanitizer.findings(RACE_REPORT)
    assert found is not None
    assert "Race reported between Write access" in found
    assert "=========" not in found


def test_an_out_of_bounds_write_is_a_finding():
    found = sanitizer.findings(MEMCHECK_REPORT)
    assert found is not None and "out of bounds" in found


def test_a_clean_report_is_no_finding():
    assert sanitizer.findings(CLEAN_REPORT) is None
    assert sanitizer.findings("") is None


def test_the_simulator_says_races_are_not_checked(pool):
    from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference

    harness = km.Harness(km.Problem(saxpy_reference, saxpy_inputs), pool=pool)
    if pool.gpus:
        pytest.skip("this machine has a GPU: the GPU test below covers it")
    assert harness.sanitize(km.Candidate(NUMBA_SAXPY)) is None
    assert harness.sanitizer_note and "simulator" in harness.sanitizer_note


# Each thread reads what another thread wrote to shared memory, with no barrier between.
RACY_BLOCK_SUMS = """
extern "C" __global__ void block_sums(const float* x, float* out, int n) {
    // kernelmagic: grid=cdiv(n, 256); block=256
    __shared__ float s[256];
    int t = threadIdx.x;
    int i = blockIdx.x * 256 + t;
    s[t] = i < n ? x[i] : 0.0f;
    for (int k = 128; k > 0; k >>= 1) {
        if (t < k) s[t] += s[t + k];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}
"""


def block_sums_reference(x, n):
    padded = np.zeros(-(-n // 256) * 256, np.float32)
    padded[:n] = x
    return padded.reshape(-1, 256).sum(axis=1, dtype=np.float32)


def block_sums_inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5000, 9000)) | 1
    return {"x": rng.standard_normal(n, dtype=np.float32), "n": n}


@pytest.mark.gpu
def test_a_shared_memory_race_is_rejected_by_racecheck_on_a_gpu(pool):
    if sanitizer.sanitizer_path() is None:
        pytest.skip("compute-sanitizer is not installed on this GPU machine")
    problem = km.Problem(block_sums_reference, block_sums_inputs, atol=1e-3, rtol=1e-3)
    harness = km.Harness(problem, pool=pool)
    verdict = harness.sanitize(km.Candidate(RACY_BLOCK_SUMS, kind="cuda_c", kernel="block_sums"))
    assert verdict is not None and verdict.status is Status.REJECTED, harness.sanitizer_note
    assert "racecheck" in verdict.message

"""GPU paths: real timing, CUDA errors, hangs, and the exploits that only a GPU can show.

Marked `gpu`: skipped (with the reason) where there is no NVIDIA GPU, run where there is.
"""

from __future__ import annotations

import numpy as np
import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic import Status

pytestmark = pytest.mark.gpu


def big_saxpy(seed):
    rng = np.random.default_rng(seed)
    n = (1 << 22) + 17
    return {
        "a": np.float32(rng.uniform(0.5, 2.0)),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }


SAXPY = km.Problem(saxpy_reference, saxpy_inputs, timing_inputs=big_saxpy, bytes_moved="3 * n * 4")
FAST = {"timing": km.TimingOptions(budget_ms=300)}

NUMBA = NUMBA_SAXPY

CUDA_C = """
// kernelmagic: grid=cdiv(n, 256); block=256
extern "C" __global__ void saxpy(float a, const float* __restrict__ x,
                                 const float* __restrict__ y, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a * x[i] + y[i];
}
"""

CUPY_RAW = """
import cupy as cp

_k = cp.RawKernel(r'''
extern "C" __global__ void saxpy(float a, const float* x, const float* y, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a * x[i] + y[i];
}''', "saxpy")

def saxpy(a, x, y, n):
    out = cp.empty_like(x)
    _k(((n + 255) // 256,), (256,), (cp.float32(a), x, y, out, cp.int32(n)))
    return out
"""

CUPY_ARRAY = """
import cupy as cp

def saxpy(a, x, y):
    return a * x + y
"""


@pytest.mark.parametrize(
    "source",
    [NUMBA, CUDA_C, CUPY_RAW, CUPY_ARRAY],
    ids=["numba", "cuda-c", "cupy-rawkernel", "cupy-arrays"],
)
def test_correct_kernels_are_timed_on_the_gpu(evaluate, source):
    verdict = evaluate(source, SAXPY, **FAST)
    assert verdict.status is Status.CORRECT, verdict.message
    assert verdict.timing is not None and not verdict.timing.simulated
    assert verdict.timing.method == "CUDA events"
    assert 0 < verdict.latency_ms < 50
    assert verdict.roofline is not None
    assert 0.01 < verdict.roofline.bandwidth_fraction < 1.05
    assert "NVIDIA" in verdict.device


def test_cuda_c_reports_resources_on_the_gpu(evaluate):
    verdict = evaluate(CUDA_C, SAXPY, **FAST)
    assert verdict.compile is not None and verdict.compile.resources, verdict
    assert verdict.compile.resources[0].registers > 0
    assert verdict.compile.arch.startswith("sm_")


def test_more_than_48_kib_of_dynamic_shared_memory_is_opted_into(evaluate):
    staged = """
// kernelmagic: grid=cdiv(n, 256); block=256; shared=64 * 1024
extern "C" __global__ void saxpy(float a, const float* x, const float* y, float* out, int n) {
    extern __shared__ float stage[];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    stage[threadIdx.x + 16000] = (i < n) ? x[i] : 0.0f;
    __syncthreads();
    if (i < n) out[i] = a * stage[threadIdx.x + 16000] + y[i];
}
"""
    verdict = evaluate(staged, SAXPY, **FAST)
    assert verdict.status is Status.CORRECT, verdict.message


def test_numba_kernels_report_their_resources_on_the_gpu(evaluate):
    verdict = evaluate(NUMBA, SAXPY, **FAST)
    assert verdict.compile is not None, verdict
    (res,) = verdict.compile.resources
    assert res.kernel == "kernel" and res.registers > 0


def test_an_illegal_address_crashes_only_the_worker(evaluate):
    bad = CUDA_C.replace("out[i] = a", "out[i + (1LL << 38)] = a")  # 1 TiB past the end
    verdict = evaluate(bad, SAXPY, **FAST)
    assert verdict.status is Status.CRASHED, verdict.message
    assert "illegal" in verdict.message.lower() or "launch failure" in verdict.message.lower()
    assert evaluate(CUDA_C, SAXPY, **FAST).status is Status.CORRECT


def test_a_missing_bounds_check_is_caught_by_the_red_zone(evaluate):
    unchecked = CUDA_C.replace("if (i < n) out[i]", "out[i]")
    verdict = evaluate(unchecked, SAXPY, **FAST)
    assert verdict.status is Status.RUNTIME_ERROR, verdict.message
    assert "past the end of output 0" in verdict.message


def test_a_hung_kernel_times_out_and_its_worker_is_replaced(evaluate):
    hang = CUDA_C.replace("if (i < n) out[i]", "while (n > 0) { out[0] = 0; } out[i]")
    verdict = evaluate(hang, SAXPY, timeout_s=5.0, **FAST)
    assert verdict.status is Status.TIMEOUT
    assert evaluate(NUMBA, SAXPY, **FAST).status is Status.CORRECT


def test_a_bad_launch_configuration_is_a_runtime_error(evaluate):
    bad = CUDA_C.replace("block=256", "block=4096")
    verdict = evaluate(bad, SAXPY, **FAST)
    assert verdict.status is Status.RUNTIME_ERROR, verdict.message


def test_a_result_cached_by_pointer_is_caught_while_timing(evaluate):
    cached = CUPY_RAW.replace(
        "def saxpy(a, x, y, n):\n    out = cp.empty_like(x)\n",
        """
cache = {}

def saxpy(a, x, y, n):
    key = (x.data.ptr, x.size)
    if key in cache:
        _k((1,), (1,), (cp.float32(a), x, y, cp.empty(1, cp.float32), cp.int32(1)))
        return cache[key]
    out = cp.empty_like(x)
    cache[key] = out
""",
    )
    verdict = evaluate(cached, SAXPY, **FAST)
    assert verdict.status is Status.WRONG_RESULT, verdict.message
    # Caught either by a timing set's first output or by a later timed run.
    assert "timing set" in verdict.message, verdict.message


def test_a_kernel_that_goes_lazy_after_many_calls_is_caught(evaluate):
    lazy = CUPY_RAW.replace(
        "def saxpy(a, x, y, n):\n    out = cp.empty_like(x)\n",
        """
state = {"calls": 0, "last": None}

def saxpy(a, x, y, n):
    state["calls"] += 1
    if state["calls"] > 40 and state["last"] is not None and state["last"].size == x.size:
        _k((1,), (1,), (cp.float32(a), x, y, cp.empty(1, cp.float32), cp.int32(1)))
        return state["last"]
    out = cp.empty_like(x)
    state["last"] = out
""",
    )
    verdict = evaluate(lazy, SAXPY, **FAST)
    assert verdict.status is Status.WRONG_RESULT, verdict.message


def test_work_hidden_on_a_side_stream_is_timed_with_the_host_clock(evaluate):
    slow = """
import cupy as cp

_k = cp.RawKernel(r'''
extern "C" __global__ void saxpy(float a, const float* x, const float* y, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = x[i];
        for (int r = 0; r < 2000; ++r) v = v * 0.999999f + 1e-7f;
        out[i] = a * x[i] + y[i] + (v - v);
    }
}''', "saxpy")

side = cp.cuda.Stream(non_blocking=True)

def saxpy(a, x, y, n):
    out = cp.empty_like(x)
    with side:
        _k(((n + 255) // 256,), (256,), (cp.float32(a), x, y, out, cp.int32(n)))
    return out
"""
    verdict = evaluate(slow, SAXPY, **FAST)
    assert verdict.status is Status.CORRECT, verdict.message
    assert verdict.timing is not None and verdict.timing.method == "host clock"
    assert any("outside the timed stream" in f for f in verdict.flags)


@pytest.mark.parametrize(
    "entry",
    [
        """
def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[1, 1](a, x, y, out)
    return a * x.copy_to_host() + y.copy_to_host()
""",
        """
def saxpy(a, x, y):
    return cuda.to_device(a * x.copy_to_host() + y.copy_to_host())
""",
    ],
)
def test_host_computation_is_rejected_on_the_gpu(evaluate, entry):
    source = NUMBA.split("def saxpy")[0] + entry
    verdict = evaluate(source, SAXPY, **FAST)
    assert verdict.status is Status.REJECTED, verdict.message


def test_cupy_asnumpy_host_computation_is_rejected(evaluate):
    source = CUPY_ARRAY.replace(
        "return a * x + y", "return cp.asarray(a * cp.asnumpy(x) + cp.asnumpy(y))"
    )
    verdict = evaluate(source, SAXPY, **FAST)
    assert verdict.status is Status.REJECTED, verdict.message


def test_interleaved_comparison_tells_noise_from_a_real_difference(pool):
    harness = km.Harness(SAXPY, pool=pool, options=km.HarnessOptions(**FAST))
    fast = km.Candidate.from_source(CUDA_C)
    same = harness.compare(fast, fast)
    assert same.estimate.outcome == "no clear difference", same.message
    assert 0.95 < same.speedup < 1.05
    slow_source = CUDA_C.replace(
        "if (i < n) out[i] = a * x[i] + y[i];",
        "if (i < n) { float v = x[i]; for (int r = 0; r < 200; ++r) v = v * 0.9999f + 1e-6f;"
        " out[i] = a * x[i] + y[i] + (v - v); }",
    )
    slower = harness.compare(fast, km.Candidate.from_source(slow_source))
    assert slower.estimate.outcome == "slower", slower.message
    assert slower.speedup < 1.0

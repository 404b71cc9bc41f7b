"""A launch a GPU refuses fails on the simulator too: numba-cuda's simulator runs an empty
grid or a block of 2048 threads, so a kernel verified there failed on the first GPU it met."""

from __future__ import annotations

import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic import Status
from kernelmagic.candidate.launch import rejected

SAXPY = km.Problem(saxpy_reference, saxpy_inputs)

LAUNCH = "kernel[(x.size + 127) // 128, 128]"
assert LAUNCH in NUMBA_SAXPY
NUMBA = NUMBA_SAXPY.replace(LAUNCH, "kernel[GRID, BLOCK]")

CUDA_C = """
// kernelmagic: grid=cdiv(n, 2048); block=BLOCK
extern "C" __global__ void saxpy(float a, const float* x, const float* y, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a * x[i] + y[i];
}
"""


@pytest.mark.parametrize(
    ("grid", "block", "reason"),
    [
        ((0, 1, 1), (128, 1, 1), "each grid dimension needs at least one block"),
        ((4,), (0,), "each block dimension needs at least one thread"),
        ((4,), (2048,), "a block of 2048 threads; a GPU allows at most 1024"),
        ((4,), (32, 32, 2), "a block of 2048 threads"),
        ((4,), (1, 1, 128), "block dimension z is 128; a GPU allows at most 64"),
        ((1, 70000), (32,), "grid dimension y is 70000; a GPU allows at most 65535"),
        ((2**31,), (32,), "grid dimension x is 2147483648"),
    ],
)
def test_a_gpu_refuses_these_launches(grid, block, reason):
    assert reason in rejected(grid, block)


@pytest.mark.parametrize(
    ("grid", "block"),
    [((1,), (1,)), ((2**31 - 1, 65535, 65535), (1024,)), ((1,), (1024, 1, 1)), ((1,), (4, 4, 64))],
)
def test_a_gpu_accepts_these(grid, block):
    assert rejected(grid, block) is None


def _empty_now_and_then(seed: int) -> dict:
    case = saxpy_inputs(seed)
    if seed % 2 == 0:
        case["x"], case["y"] = case["x"][:0], case["y"][:0]
        case["n"] = 0
    return case


@pytest.mark.slow
@pytest.mark.parametrize(
    ("grid", "block", "problem", "expect"),
    [
        (
            "(x.size + 127) // 128",
            "128",
            km.Problem(saxpy_reference, _empty_now_and_then, seeds=(2, 3, 4)),
            "kernel[0, 128] fails on a GPU: each grid dimension needs at least one block",
        ),
        ("(x.size + 2047) // 2048", "2048", SAXPY, "a block of 2048 threads"),
        ("x.size", "(1, 1, 128)", SAXPY, "block dimension z is 128"),
    ],
    ids=["empty grid", "too many threads", "block z"],
)
def test_the_simulator_refuses_what_a_gpu_refuses_and_names_the_launch(
    evaluate, grid, block, problem, expect
):
    source = NUMBA.replace("GRID", grid).replace("BLOCK", block)
    verdict = evaluate(source, problem, backend="numba-sim")
    assert verdict.status is Status.RUNTIME_ERROR, verdict.message
    assert expect in verdict.message
    assert "kernel[GRID" not in verdict.message and f"kernel[{grid}, {block}]" in verdict.message


def test_an_empty_case_the_launch_skips_is_correct(evaluate):
    # The way CUDA programmers write it: no launch when there is nothing to do.
    source = NUMBA_SAXPY.replace(f"    {LAUNCH}", f"    if x.size:\n        {LAUNCH}")
    problem = km.Problem(saxpy_reference, _empty_now_and_then, seeds=(2, 3, 4))
    verdict = evaluate(source, problem, backend="numba-sim")
    assert verdict.status is Status.CORRECT, verdict.message


def test_cuda_c_with_a_block_a_gpu_refuses_fails_without_a_gpu(evaluate):
    verdict = evaluate(CUDA_C.replace("BLOCK", "2048"), SAXPY, backend="cuda")
    assert verdict.status is Status.COMPILE_ERROR, verdict.message
    assert "block=(2048,): a block of 2048 threads; a GPU allows at most 1024" in verdict.message

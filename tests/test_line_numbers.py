"""Messages name the line the user sees: in a `%%cuda_optimize` cell the kernel starts on
line 2, so each kind of error (syntax, safety rule, traceback, include, directive, NVRTC)
is reported by the cell's numbering, while the cache key stays the same."""

from __future__ import annotations

import dataclasses

import pytest
from problems import saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic.loop.fingerprint import candidate_key

SAXPY = km.Problem(saxpy_reference, saxpy_inputs)

# The failing statement is the body's line 6: the cell's line 7.
RAISES = """from numba import cuda


def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    raise ValueError("boom")
"""

CUDA_TYPO = """extern "C" __global__ void saxpy(float a, const float* x, const float* y,
                                 float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a * x[i] + y[i]
}
"""


def judge(pool, source: str, first_line: int) -> km.Verdict:
    candidate = km.Candidate.from_source(source, first_line=first_line)
    return km.Harness(SAXPY, pool=pool).evaluate(candidate)


@pytest.mark.parametrize(
    ("source", "body_line"),
    [
        ("def saxpy(a, x, y):\n    return (\n", 2),  # a syntax error
        ("def saxpy(a, x, y):\n    import os\n    return x\n", 2),  # a safety rule
        ('extern "C" __global__ void k(float* o) {}\n#include "mine.h"\n', 2),
        ('extern "C" __global__ void k(float* o) {}\n// kernelmagic: grid\n', 2),
    ],
)
def test_static_messages_use_the_cells_numbering(pool, source, body_line):
    alone, in_cell = (judge(pool, source, first_line=n).message for n in (1, 2))
    assert f"line {body_line}:" in alone, alone
    assert in_cell == alone.replace(f"line {body_line}:", f"line {body_line + 1}:"), in_cell


def test_a_traceback_names_the_cells_line(pool):
    verdict = judge(pool, RAISES, first_line=2)
    assert verdict.status is km.Status.RUNTIME_ERROR, verdict
    assert 'line 7, in saxpy: raise ValueError("boom")' in verdict.message
    assert "line 6, in saxpy" in judge(pool, RAISES, first_line=1).message


def test_an_nvrtc_error_names_the_cells_line(pool):
    verdict = judge(pool, CUDA_TYPO, first_line=2)
    assert verdict.status is km.Status.COMPILE_ERROR, verdict
    assert "(6): error" in verdict.message, verdict.message  # the missing ';' before line 5


def test_where_a_kernel_sits_is_kept_but_is_not_part_of_its_key():
    candidate = km.Candidate.from_source(RAISES, first_line=2)
    assert km.Candidate.from_dict(candidate.to_dict()) == candidate
    assert km.Candidate.from_dict({"source": RAISES}).first_line == 1  # stored before it existed
    moved = dataclasses.replace(candidate, first_line=1)
    assert candidate_key(candidate) == candidate_key(moved)
    assert candidate.sha256 != moved.sha256  # a worker's loaded copy numbers lines its own way


def test_a_session_file_cannot_ask_for_a_padding_that_exhausts_memory():
    import pytest

    from kernelmagic.candidate import Candidate
    from kernelmagic.errors import CandidateError

    with pytest.raises(CandidateError, match="first_line counts from 1"):
        Candidate.from_dict({"source": "def k(): pass", "kind": "python", "first_line": 10**9})
    with pytest.raises(CandidateError, match="first_line counts from 1"):
        Candidate("def k(): pass", first_line=0)

"""Verdicts a candidate cannot fake: fresh seeds and twins, work skipped on seen inputs,
objects that are not the runtime's arrays, and messages it cannot flood or hang.

All on numba-cuda's CPU simulator, so they run everywhere.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from problems import (
    fixed_saxpy_inputs,
    histogram_inputs,
    histogram_reference,
    saxpy_inputs,
    saxpy_reference,
)

import kernelmagic as km
from kernelmagic import Status
from kernelmagic.problem import make_case
from kernelmagic.problem.twins import twin_case

SAXPY = km.Problem(saxpy_reference, saxpy_inputs)
FIXED = km.Problem(saxpy_reference, fixed_saxpy_inputs)

HEADER = """
import math
import numpy as np
from numba import cuda


@cuda.jit
def kernel(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]
"""


def candidate(entry: str) -> str:
    return HEADER + "\n" + entry


# -- seeds and twins ---------------------------------------------------------------------


def test_every_evaluation_draws_its_own_seeds_and_records_them(evaluate):
    correct = candidate(
        """
def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    return out
"""
    )
    first, second = evaluate(correct, SAXPY), evaluate(correct, SAXPY)
    assert first.status is second.status is Status.CORRECT, first.message
    assert len(first.seeds) == len(second.seeds) == 3
    assert first.seeds != second.seeds  # 1 in ~160,000 to collide by chance
    assert "twins of theirs" in first.message
    assert km.Verdict.from_dict(first.to_dict()).seeds == first.seeds


def test_stated_seeds_reproduce_a_verdict(evaluate):
    wrong_for_seed_5 = candidate(
        f"""
def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    if x.size == {saxpy_inputs(5)["n"]}:
        kernel[1, 1](a, x, y, out)
        return out
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    return out
"""
    )
    fixed = km.Problem(saxpy_reference, saxpy_inputs, seeds=(5, 6, 7))
    verdict = evaluate(wrong_for_seed_5, fixed)
    assert verdict.status is Status.WRONG_RESULT
    assert verdict.seeds == (5, 6, 7)
    assert "case 1 of 3, seed 5" in verdict.message


def test_a_twin_has_the_same_shapes_and_other_values():
    for problem in (SAXPY, FIXED):
        case = make_case(problem, 3)
        twin = twin_case(problem, case)
        assert twin is not None and twin.twin
        assert twin.inputs["x"].shape == case.inputs["x"].shape
        assert twin.inputs["n"] == case.inputs["n"]
        assert not np.array_equal(twin.inputs["x"], case.inputs["x"])
        assert twin_case(problem, case).inputs["x"].tobytes() == twin.inputs["x"].tobytes()


def test_a_twin_changes_the_answer_even_of_an_order_blind_reduction():
    # Shuffling the values of a histogram's input leaves its answer as it was; the twin
    # then takes another seed's values laid out in the case's shape.
    problem = km.Problem(histogram_reference, histogram_inputs)
    case = make_case(problem, 4)
    twin = twin_case(problem, case)
    assert twin is not None and twin.inputs["values"].shape == case.inputs["values"].shape
    assert not np.array_equal(twin.expected[0], case.expected[0])
    assert twin_case(km.Problem(histogram_reference, histogram_inputs, twins=False), case) is None


def test_a_table_of_answers_by_size_fails_on_the_twin(evaluate):
    # Answers computed once per size (the first call of each size is honest): right for
    # every case's two runs, wrong for its twin, which has the case's size.
    by_size = candidate(
        """
seen = {}

def saxpy(a, x, y):
    if x.size in seen:
        kernel[1, 1](a, x, y, cuda.device_array(1, np.float32))  # a launch, for show
        return seen[x.size]
    out = cuda.device_array_like(x)
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    seen[x.size] = out
    return out
"""
    )
    verdict = evaluate(by_size, SAXPY)
    assert verdict.status is Status.WRONG_RESULT, verdict.message
    sizes = [saxpy_inputs(seed)["n"] for seed in verdict.seeds]
    caught = re.match(r"case (\d+) of", verdict.message)
    if caught and "twin of case" not in verdict.message:  # about 1 draw in 150
        k = int(caught[1])
        assert sizes[k - 1] in sizes[: k - 1], (
            "a case of a size of its own was given a stale answer"
        )
    else:  # only the twins share the cases' sizes
        assert "twin of case" in verdict.message or "timing set" in verdict.message
    assert evaluate(by_size, FIXED).status is Status.WRONG_RESULT


# -- work skipped on inputs seen before --------------------------------------------------

FINGERPRINT_CACHE = candidate(
    """
@cuda.jit
def first_values(x, into):
    i = cuda.grid(1)
    if i < into.size:
        into[i] = x[i]


cache = {}


def saxpy(a, x, y):
    probe = cuda.device_array(4, np.float32)
    first_values[1, 4](x, probe)
    seen = probe.copy_to_host()
    key = (float(a), x.size, float(seen[0]), float(seen[1]), float(seen[2]), float(seen[3]))
    if key in cache:
        return cache[key]
    out = cuda.device_array_like(x)
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    cache[key] = out
    return out
"""
)


def test_a_cache_keyed_on_input_contents_is_rejected(evaluate):
    verdict = evaluate(FINGERPRINT_CACHE, km.Problem(saxpy_reference, big_saxpy_inputs))
    assert verdict.status is Status.REJECTED, verdict.message
    assert "skips work on inputs it has seen before" in verdict.message


def big_saxpy_inputs(seed):
    """Enough threads that a simulated kernel costs far more than replaying a cached answer."""
    rng = np.random.default_rng(seed)
    n = 1500 + int(rng.integers(0, 100))
    return {
        "a": np.float32(rng.uniform(0.5, 2.0)),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }


def test_the_skipped_work_rule_spares_honest_noise():
    from kernelmagic.harness._judge import skipped_work

    assert skipped_work([1.1, 0.9, 1.3], [1.0, 1.2, 0.8], simulated=True) is None
    assert skipped_work([2.9, 0.5, 3.0], [1.0, 1.1, 1.0], simulated=True) is None  # one hiccup
    assert skipped_work([0.011, 0.012], [0.010] * 50, simulated=False) is None
    assert skipped_work([40.0, 41.0, 39.0], [1.0, 1.1, 0.9], simulated=True)
    assert skipped_work([0.03, 0.031], [0.01] * 50, simulated=False)


# -- what comes back must be the runtime's own arrays -----------------------------------


@pytest.mark.parametrize(
    "returned",
    [
        "Lookalike(out)",
        "(out, out)",
        "out.shape",
    ],
)
def test_objects_that_are_not_the_runtimes_arrays_are_not_judged(evaluate, returned):
    source = candidate(
        f"""
class Lookalike:
    def __init__(self, inner):
        self.shape = inner.shape
        self.dtype = inner.dtype
        self.inner = inner

    def copy_to_host(self):
        return self.inner.copy_to_host()


def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    return {returned}
"""
    )
    verdict = evaluate(source, SAXPY)
    assert verdict.status is Status.WRONG_RESULT, verdict.message


def test_an_unwritten_element_of_a_fresh_allocation_is_poison_not_the_last_answer(evaluate):
    # The last element is never written; on the simulator a freed buffer used to come back
    # holding the previous run's answer, so the second run of a case passed.
    lazy = candidate(
        """
@cuda.jit
def all_but_last(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size - 1:
        out[i] = a * x[i] + y[i]


def saxpy(a, x, y):
    out = cuda.device_array(x.size, np.float32)
    all_but_last[(x.size + 127) // 128, 128](a, x, y, out)
    return out
"""
    )
    verdict = evaluate(lazy, SAXPY)
    assert verdict.status is Status.WRONG_RESULT, verdict.message
    assert "elements differ" in verdict.message or "mismatch" in verdict.message


@pytest.mark.parametrize("expression", ["x * a + y", "x + y", "-x", "x == y"])
def test_simulator_arrays_do_no_host_arithmetic(evaluate, expression):
    source = candidate(
        f"""
def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[1, 1](a, x, y, out)
    return {expression}
"""
    )
    verdict = evaluate(source, SAXPY)
    assert verdict.status is not Status.CORRECT, verdict.message
    assert "host-side arithmetic" in verdict.message or "rejected" in verdict.status.value


# -- messages a candidate cannot flood or hang --------------------------------------------


def test_an_exception_that_never_formats_does_not_hang_the_harness(evaluate):
    source = candidate(
        """
class Stubborn(Exception):
    def __str__(self):
        while True:
            pass


def saxpy(a, x, y):
    raise Stubborn("no")
"""
    )
    verdict = evaluate(source, SAXPY, timeout_s=30)
    assert verdict.status is Status.RUNTIME_ERROR, verdict.message
    assert "Stubborn" in verdict.message


def test_a_huge_exception_message_is_clipped(evaluate):
    source = candidate(
        """
def saxpy(a, x, y):
    raise ValueError("x" * 16_000_000)
"""
    )
    verdict = evaluate(source, SAXPY)
    assert verdict.status is Status.RUNTIME_ERROR
    assert len(verdict.message) <= 4200
    assert "characters cut" in verdict.message


def test_printing_is_capped_per_job(evaluate):
    source = candidate(
        """
def saxpy(a, x, y):
    for _ in range(2000):
        print("y" * 100_000)
    out = cuda.device_array_like(x)
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    return out
"""
    )
    verdict = evaluate(source, SAXPY)
    assert verdict.status is Status.CORRECT, verdict.message


def test_verdict_text_is_bounded_wherever_it_goes():
    verdict = km.Verdict(
        status=Status.RUNTIME_ERROR,
        message="m" * 100_000,
        backend="numba-sim",
        device="cpu",
        source_sha256="0" * 64,
        flags=("f" * 100_000,),
    )
    assert len(verdict.message) < 4200 and len(verdict.flags[0]) < 4200
    assert len(str(verdict.to_dict())) < 10_000


# -- the simulator is no more permissive than a GPU --------------------------------------


def test_a_kernel_only_the_simulator_can_run_is_a_compile_error(evaluate):
    # A Python list inside a kernel: the simulator runs it, a GPU has no heap for it.
    sorted_in_a_kernel = candidate(
        """
@cuda.jit
def host_work_inside(a, x, y, out):
    i = cuda.grid(1)
    if i == 0:
        pending = [a]
        for k in range(x.size):
            out[k] = pending[0] * x[k] + y[k]


def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    host_work_inside[1, 1](a, x, y, out)
    return out
"""
    )
    verdict = evaluate(sorted_in_a_kernel, SAXPY)
    assert verdict.status is Status.COMPILE_ERROR, verdict.message
    assert "cannot be compiled for a GPU" in verdict.message
    assert "pending = [a]" in verdict.message  # the candidate's own line


def test_simulated_kernels_carry_their_ptx_resources(evaluate):
    verdict = evaluate(
        candidate(
            """
def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    return out
"""
        ),
        SAXPY,
    )
    assert verdict.status is Status.CORRECT, verdict.message
    assert verdict.compile is not None and verdict.compile.arch == "sm_90"
    assert [r.kernel for r in verdict.compile.resources] == ["kernel"]


def test_signature_strings_built_at_run_time_cannot_run_code():
    # numba evaluates signature strings with full builtins; workers parse plain ones only.
    from numba.cuda.core import sigutils

    from kernelmagic.harness import _guard as guard

    guard.install_signature_guard()
    args, _ = sigutils.normalize_signature("void(float32[:, ::1], int32)")
    assert len(args) == 2
    for code in (
        "__import__('os').system('touch /tmp/pwned')",
        "float32.__class__.__mro__",
        "(lambda: 0)()",
        "[x for x in ().__class__.__base__.__subclasses__()]",
    ):
        with pytest.raises(TypeError, match="signature"):
            sigutils.normalize_signature(code)


WARP_SUM = """
import numpy as np
from numba import cuda, float32


@cuda.jit
def block_sums(x, out):
    # Each warp sums its 32 values with shuffles; lane 0 adds the warp's total.
    i = cuda.grid(1)
    v = x[i] if i < x.size else float32(0.0)
    offset = 16
    while offset > 0:
        v += cuda.shfl_down_sync(0xFFFFFFFF, v, offset)
        offset //= 2
    if cuda.laneid == 0:
        cuda.atomic.add(out, 0, v)
    if cuda.all_sync(0xFFFFFFFF, True) and cuda.ballot_sync(0xFFFFFFFF, True) == 0:
        out[0] = -1.0  # never: every lane votes


def total(x):
    out = cuda.to_device(np.zeros(1, np.float32))
    block_sums[(x.size + 127) // 128, 128](x, out)
    return out
"""


def sum_reference(x):
    return np.asarray([x.sum(dtype=np.float64)], dtype=np.float32)


def sum_inputs(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal(int(rng.integers(200, 500)), dtype=np.float32)}


def test_a_warp_shuffle_reduction_runs_on_the_simulator(evaluate):
    verdict = evaluate(WARP_SUM, km.Problem(sum_reference, sum_inputs, atol=1e-3, rtol=1e-4))
    assert verdict.status is Status.CORRECT, verdict.message

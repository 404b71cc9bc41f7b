"""Problems and tolerances: what counts as the right answer, and bad problems said clearly."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import kernelmagic as km
from kernelmagic.problem import make_case, problem_warnings
from kernelmagic.problem.tolerance import Tolerance, compare


def test_float32_tolerance_is_tight_and_relative_to_the_output():
    expected = np.linspace(-10, 10, 1000, dtype=np.float32)
    assert compare(expected * (1 + 1e-6), expected) is None
    bad = compare(expected * (1 + 1e-3), expected)
    assert bad is not None and bad.count > 900


def test_zeros_cannot_pass_for_tiny_outputs():
    # softmax over 400k columns: every value is ~2.5e-6; an absolute 1e-4 would pass zeros
    expected = np.full(4096, 2.5e-6, np.float32) * np.linspace(0.5, 1.5, 4096, dtype=np.float32)
    mismatch = compare(np.zeros_like(expected), expected)
    assert mismatch is not None and mismatch.count == expected.size


def test_half_precision_is_looser_and_integers_are_exact():
    expected = np.linspace(1, 2, 100).astype(np.float16)
    assert compare((expected.astype(np.float32) * 1.004).astype(np.float16), expected) is None
    ints = np.arange(100, dtype=np.int32)
    off = ints.copy()
    off[57] += 1
    mismatch = compare(off, ints)
    assert mismatch is not None and mismatch.index == (57,) and mismatch.count == 1


def test_nan_never_matches_and_infinities_match_only_themselves():
    expected = np.array([1.0, np.inf, -np.inf], np.float32)
    assert compare(expected.copy(), expected) is None
    nan = compare(np.array([np.nan, np.inf, -np.inf], np.float32), expected)
    assert nan is not None and "got nan" in nan.describe()
    flipped = compare(np.array([1.0, -np.inf, -np.inf], np.float32), expected)
    assert flipped is not None and flipped.index == (1,)
    assert compare(np.array([np.nan]), np.array([np.nan])) is not None


def test_mismatch_names_a_multidimensional_index():
    expected = np.zeros((4, 5), np.float32)
    got = expected.copy()
    got[2, 3] = 1.0
    mismatch = compare(got, expected, Tolerance(0, 0))
    assert mismatch is not None
    assert "index [2, 3]" in mismatch.describe()


def whole_array_mismatches(got: np.ndarray, expected: np.ndarray, tol: Tolerance) -> np.ndarray:
    """The rule written out over whole arrays, as the check made it before it sliced them."""
    wide = np.complex128 if expected.dtype.kind == "c" else np.float64
    g, e = got.astype(wide), expected.astype(wide)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.isfinite(e) & (np.abs(g - e) <= tol.atol + tol.rtol * np.abs(e))
    same_inf = np.isinf(e) & (g == e)
    return ~(close | same_inf) | np.isnan(g) | np.isnan(e)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.complex64])
@pytest.mark.parametrize("shape", [(), (0,), (7,), (70_001,), (300, 517)])
@pytest.mark.parametrize("specials", [False, True])
def test_the_sliced_check_finds_what_the_whole_array_rule_finds(dtype, shape, specials):
    # Large outputs are checked in cache-sized slices, with a shortcut where every expected
    # value is finite: the same elements must differ, the first one named, wherever they lie.
    rng = np.random.default_rng(abs(hash((np.dtype(dtype).name, shape, specials))) % 2**32)
    expected = (rng.standard_normal(shape) * 10).astype(dtype)
    got = expected.copy()
    if got.size:
        flat = got.reshape(-1)
        spots = rng.choice(flat.size, size=min(5, flat.size), replace=False)
        flat[spots[: len(spots) // 2 + 1]] += dtype(3)  # beyond any default tolerance
        if specials:
            e_flat = expected.reshape(-1)
            e_flat[spots[-1]] = np.inf  # an infinity expected, a finite value got
            e_flat[-1] = flat[-1] = -np.inf  # matching infinities are equal
            flat[0] = np.nan  # NaN never matches
    tol = Tolerance.default_for(expected.dtype, expected)
    bad = whole_array_mismatches(got, expected, tol)
    mismatch = compare(got, expected, tol)
    if not bad.any():
        assert mismatch is None
        return
    assert mismatch is not None and mismatch.count == int(bad.sum())
    first = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
    assert mismatch.index == tuple(int(i) for i in first)


def test_a_twins_tolerance_is_scaled_to_the_larger_of_its_answer_and_its_cases():
    small, large = np.full(70_000, 0.01, np.float32), np.full(3, 50.0, np.float32)
    large[1] = np.inf  # an infinity does not set the scale
    tol = Tolerance.default_for(small.dtype, small, large)
    assert tol.atol == pytest.approx(1e-5 * 50.0)
    assert Tolerance.default_for(small.dtype, small).atol == pytest.approx(1e-5 * 0.01)


def test_a_big_endian_answer_is_kept_in_the_machines_byte_order():
    # Kernels write native floats: a '>f4' answer made every candidate's dtype "wrong".
    case = make_case(km.Problem(lambda x: x.astype(">f4"), gen), 0)
    assert case.expected[0].dtype == np.dtype("float32") and case.expected[0].dtype.isnative
    assert np.array_equal(case.expected[0], gen(0)["x"])


def test_user_tolerances_override_the_defaults():
    problem = km.Problem(lambda x: x, lambda s: {"x": np.ones(3)}, atol=0.5, rtol=0.0)
    tol = problem.tolerance(np.ones(3, np.float32))
    assert (tol.atol, tol.rtol) == (0.5, 0.0)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def _raises_unprintable(x):
    raise Unprintable


def gen(seed):
    rng = np.random.default_rng(seed)
    n = 10 + seed
    return {"x": rng.standard_normal(n).astype(np.float32), "k": 3}


@pytest.mark.parametrize(
    ("reference", "inputs", "expect"),
    [
        (lambda x: x, lambda s: [1, 2], "must return a dict"),
        (lambda x: x, lambda s: {"x": "text"}, "is a str"),
        (lambda x: x, lambda s: {"x": np.array(["a"])}, "numeric arrays"),
        (lambda x: x, lambda s: {}, "no inputs"),
        (lambda x: x, lambda s: 1 / 0, "ZeroDivisionError"),
        (lambda x: x[1000], gen, "IndexError"),
        (lambda x: "done", gen, "returned a str as output 0: outputs must be numeric NumPy arrays"),
        (lambda x: x * np.nan, gen, "NaN"),
        (lambda y: y, gen, "takes 'y'"),
        (lambda *args: args, gen, "by name"),
        (lambda x: sys.exit(0), gen, "raised SystemExit: 0 on seed 0"),
        (lambda x: x, lambda s: sys.exit("bye"), r"raised SystemExit: bye"),
        (_raises_unprintable, gen, r"raised Unprintable: \(its message could not be shown"),
        (lambda x: [float(v) for v in x], gen, "returned a list of 10 values"),
        (lambda x: x.astype(str), gen, "an array of dtype <U"),
        (lambda x: x.astype(object), gen, "an array of dtype object"),
    ],
    ids=[
        "not a dict",
        "string input",
        "string array",
        "empty",
        "generator raises",
        "reference raises",
        "reference returns text",
        "reference NaN",
        "missing input",
        "positional reference",
        "reference calls sys.exit",
        "generator calls sys.exit",
        "an exception that cannot be printed",
        "a list of numbers",
        "text output",
        "object output",
    ],
)
def test_bad_problems_are_reported_clearly(reference, inputs, expect):
    with pytest.raises(km.ProblemError, match=expect):
        make_case(km.Problem(reference, inputs), 0)


def test_the_reference_gets_only_the_inputs_it_names_and_cannot_change_them():
    def in_place(x):
        x += 1
        return x

    case = make_case(km.Problem(in_place, gen), 0)
    np.testing.assert_array_equal(case.expected[0], gen(0)["x"] + 1)
    np.testing.assert_array_equal(case.inputs["x"], gen(0)["x"])
    assert not case.inputs["x"].flags.writeable
    assert case.inputs["k"] == 3


def test_constant_outputs_are_refused_and_weak_cases_are_warned_about():
    problem = km.Problem(lambda x: np.zeros_like(x), gen)
    cases = [make_case(problem, s) for s in range(3)]
    with pytest.raises(km.ProblemError, match="everywhere in every case"):
        problem_warnings(problem, cases)
    fixed = km.Problem(lambda x: x, lambda s: {"x": np.arange(64, dtype=np.float32) + s})
    warnings = problem_warnings(fixed, [make_case(fixed, s) for s in range(3)])
    assert any("same input shapes" in w for w in warnings)
    assert any("multiple of 32" in w for w in warnings)


def test_problem_options_are_validated():
    with pytest.raises(km.ProblemError):
        km.Problem("not a function", gen)  # type: ignore[arg-type]
    with pytest.raises(km.ProblemError):
        km.Problem(lambda x: x, gen, cases=0)
    with pytest.raises(km.OptionError, match="not a CUDA architecture"):
        km.Harness(km.Problem(lambda x: x, gen), options=km.HarnessOptions(arch="sm_banana"))


def test_device_profiles_and_arch_names():
    assert km.profile("h100").arch == "sm_90"
    assert km.profile("sm_80").arch == "sm_80"
    assert km.profile("90").arch == "sm_90"
    with pytest.raises(ValueError):
        km.profile("gtx")


def test_a_comparison_far_beyond_the_threshold_is_flagged():
    from kernelmagic.harness.comparison import from_samples as _comparison
    from kernelmagic.harness.jobs import TimeReport

    def report(a_ms: float, b_ms: float) -> TimeReport:
        return TimeReport(
            samples_ms=((a_ms,) * 40, (b_ms,) * 40),
            host_ms=((), ()),
            first_outputs=((), ()),
            failure=None,
        )

    huge = _comparison(report(1.0, 0.05), too_good=10.0)
    assert huge.faster and huge.suspicious and "human look" in huge.message
    fair = _comparison(report(1.0, 0.5), too_good=10.0)
    assert fair.faster and not fair.suspicious
    same = _comparison(report(1.0, 1.0), too_good=10.0)
    assert not same.faster and same.estimate.outcome == "no clear difference"


def test_a_comparison_that_could_not_be_made_claims_nothing():
    from kernelmagic.harness.comparison import no_comparison

    none = no_comparison("no GPU to run these candidates")
    assert none.speedup is None and none.estimate is None and not none.faster
    assert none.a_ms is None and none.b_ms is None and "no GPU" in none.message


def sized(seed, size=None):
    """Verification draws grow with the seed; a stated size is drawn as asked."""
    n = size or 40 + 3 * seed
    return {"x": np.random.default_rng(seed).standard_normal(n).astype(np.float32)}


@pytest.mark.parametrize(
    "inputs, sizes, expect",
    [
        (gen, (256,), r"gen\(seed, size=n\), and gen takes no 'size'"),
        (sized, (256, 256), "must differ"),
        (sized, (0, 8), "positive whole numbers"),
        (sized, (True,), "positive whole numbers"),
        (sized, (2.5,), "positive whole numbers"),
    ],
    ids=["no size parameter", "repeated", "zero", "a bool", "a fraction"],
)
def test_stated_sizes_are_checked_when_the_problem_is_made(inputs, sizes, expect):
    with pytest.raises(km.ProblemError, match=expect):
        km.Problem(lambda x: x, inputs, sizes=sizes)


def test_stated_sizes_are_drawn_by_the_timing_generator_and_a_failure_names_the_call():
    def timing(seed, size):
        if size > 1000:
            raise MemoryError("too large")
        return sized(seed, size)

    problem = km.Problem(lambda x: x * 2, sized, timing_inputs=timing, sizes=(512, 4096))
    assert problem.timing_set_count == 2
    case = make_case(problem, 7, size=512)
    assert case.size == 512 and case.inputs["x"].shape == (512,)
    assert make_case(problem, 7).inputs["x"].shape == (61,)  # verification: inputs(seed)
    with pytest.raises(km.ProblemError, match=r"timing\(7, size=4096\) raised MemoryError"):
        make_case(problem, 7, size=4096)


@pytest.mark.parametrize(
    ("work", "expect"),
    [
        ({"bytes_moved": "n / 0"}, "division by zero"),
        ({"flops": "m * 2"}, "unknown name 'm'"),
        ({"bytes_moved": '__import__("os")'}, "not allowed"),
    ],
)
def test_a_roofline_expression_that_cannot_be_worked_out_is_a_problem_error(work, expect):
    # The simulator never works it out, and a GPU's roofline left it out without a word.
    from kernelmagic.harness._draws import Draws

    problem = km.Problem(lambda x, k: x, lambda s: {**gen(s), "n": 10 + s}, **work)
    with pytest.raises(km.ProblemError, match=expect):
        Draws(problem).draw()

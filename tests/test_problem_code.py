"""The problem written out as source: what a tutorial defines again on a reader's machine."""

from __future__ import annotations

import inspect
import math
import textwrap
from math import sqrt

import numpy as np
import pytest
from problems import saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic.problem.source import ProblemCode, capture

SCALE = 1.5
OFFSET = np.float32(0.25)
SIZES = (301, 517, 777)
TAPS = np.array([0.25, 0.5, 0.25], dtype=np.float32)
BIG = np.zeros(5000)


def _scaled(x):
    return x * SCALE + OFFSET


def smooth_reference(x):
    """A 3-tap filter, then a scale through a helper and a from-import."""
    return _scaled(np.convolve(x, TAPS, mode="same")) + sqrt(4.0) * math.cos(0.0)


def smooth_inputs(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal(SIZES[seed % len(SIZES)]).astype(np.float32)}


def _defined(code: ProblemCode) -> dict:
    """Run the captured source in an empty namespace, as a fresh kernel would."""
    ns: dict = {}
    exec(compile(code.source, "<captured>", "exec"), ns)
    return ns


@pytest.mark.parametrize(
    "reference, inputs",
    [(saxpy_reference, saxpy_inputs), (smooth_reference, smooth_inputs)],
)
def test_the_captured_source_defines_the_same_problem(reference, inputs):
    code = capture(km.Problem(reference, inputs, cases=4, rtol=1e-3))
    assert code.missing == () and code.cases == 4 and code.rtol == 1e-3
    ns = _defined(code)
    for seed in range(3):
        ours, theirs = inputs(seed), ns[code.inputs](seed)
        assert ours.keys() == theirs.keys()
        for name in ours:
            np.testing.assert_array_equal(ours[name], theirs[name])
        wanted = inspect.signature(reference).parameters  # the harness binds inputs by name
        np.testing.assert_array_equal(
            reference(**{k: ours[k] for k in wanted}),
            ns[code.reference](**{k: theirs[k] for k in wanted}),
        )


def test_helpers_come_before_their_users_and_imports_use_the_public_name():
    source = capture(km.Problem(smooth_reference, smooth_inputs)).source
    assert source.index("def _scaled") < source.index("def smooth_reference")
    assert "from math import sqrt" in source and "import math" in source
    assert "TAPS = numpy.array([0.25, 0.5, 0.25], dtype=numpy.float32)" in source
    assert "OFFSET = numpy.float32(0.25)" in source and "SIZES = (301, 517, 777)" in source


def test_what_cannot_be_written_out_is_named():
    def uses_big(x):
        return x + BIG[: x.size]

    lam = lambda seed: {"x": np.ones(3)}  # noqa: E731 (the case under test)
    code = capture(km.Problem(uses_big, lam))
    assert "BIG" in code.missing and "<lambda>" in code.missing
    assert "def uses_big" in code.source


def test_a_function_from_a_file_is_captured_with_its_module_globals(tmp_path, monkeypatch):
    (tmp_path / "myproblem.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            N = 257

            def ref(x):
                return np.cumsum(x)

            def gen(seed):
                return {"x": np.arange(N + seed, dtype=np.float64)}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import myproblem

    code = capture(km.Problem(myproblem.ref, myproblem.gen))
    ns = _defined(code)
    np.testing.assert_array_equal(ns["ref"](**ns["gen"](1)), np.cumsum(np.arange(258.0)))
    assert ProblemCode.from_dict(code.to_dict()) == code

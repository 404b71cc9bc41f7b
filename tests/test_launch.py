"""Launch expressions: what evaluates, and everything that must not."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kernelmagic.candidate.launch import LaunchError, cdiv, evaluate, evaluate_number

NAMES = {
    "x": np.zeros((6, 40), dtype=np.float32),
    "n": np.int64(1000),
    "m": 33,
    "k": 2.5,
    "flag": True,
    "label": "abc",
}


def test_cdiv():
    assert cdiv(1000, 256) == 4
    assert cdiv(1024, 256) == 4
    assert cdiv(1, 256) == 1
    assert cdiv(0, 256) == 0


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("cdiv(n, 256)", 4),
        ("(cdiv(m, 16), cdiv(n, 16))", (3, 63)),
        ("(cdiv(m, 16), cdiv(n, 16), 2)", (3, 63, 2)),
        ("(256,)", (256,)),
        ("x.size // 4", 60),
        ("min(1024, n)", 1000),
        ("max(32, m, 64)", 64),
        ("256 * 4 * 2", 2048),
        ("2 ** 10", 1024),
        ("n % 7 + 1", 1000 % 7 + 1),
        ("-(-n // 3)", 334),
        ("x.shape[0]", 6),
        ("x.shape[-1]", 40),
        ("x.shape", (6, 40)),
        ("len(x)", 6),
        ("len(x.shape)", 2),
        ("x.ndim", 2),
        ("x.nbytes", 960),
        ("x.itemsize * 8", 32),
        ("int(k * 4)", 10),
        ("round(k * 3)", 8),
        (" ( n ) ", 1000),
    ],
)
def test_evaluate_accepts(expr, expected):
    value = evaluate(expr, NAMES)
    assert value == expected
    assert type(value) is type(expected)


def test_numpy_scalars_become_python_ints():
    value = evaluate("n * n * n", {"n": np.int32(2_000_000)})  # would wrap in int32
    assert value == 8 * 10**18
    assert type(value) is int


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("x.__class__", "attribute"),
        ("x.dtype", "attribute"),
        ("__import__('os')", "call"),
        ("(lambda: 1)()", "call"),
        ("lambda: 1", "Lambda"),
        ("[i for i in range(10)]", "ListComp"),
        ("open('/etc/passwd')", "call"),
        ("x.size.bit_length()", "call"),
        ("cdiv(n=1, b=2)", "call"),
        ("max(*x.shape)", "unpacking"),
        ("2**10**10", "exponent"),
        ("10**100", "exponent"),
        ("2**63 * 2**63 * 2", "absurdly large"),
        ("n / 2", "'/'"),
        ("n // 0", "division by zero"),
        ("cdiv(n, 0)", "division by zero"),
        ("cdiv(k, 2)", "integers"),
        ("n - 1000", "positive"),
        ("-1", "positive"),
        ("k", "not an integer"),
        ("k * 2", "not an integer"),
        ("(1, 2, 3, 4)", "1 to 3"),
        ("()", "1 to 3"),
        ("x", "not a number"),
        ("x + 1", "not a number"),
        ("flag", "not a number"),
        ("label", "not a number"),
        ("True", "constant"),
        ("'abc'", "constant"),
        ("undefined_name", "unknown name"),
        ("x.shape[2]", "out of range"),
        ("x.shape[n]", "subscript"),
        ("x[0]", "subscript"),
        ("n if n else 1", "IfExp"),
        ("n < 5", "Compare"),
        ("n and 5", "BoolOp"),
        ("n << 2", "operator"),
        ("(n := 5)", "NamedExpr"),
        ("", "empty"),
        ("cdiv(n,", "not a valid expression"),
        ("1" * 600, "longer than"),
    ],
)
def test_evaluate_rejects(expr, reason):
    with pytest.raises(LaunchError, match="launch expression") as info:
        evaluate(expr, NAMES)
    assert reason in str(info.value)


def test_launch_error_is_a_value_error():
    assert issubclass(LaunchError, ValueError)


def test_huge_exponent_fails_fast():
    start = time.perf_counter()
    with pytest.raises(LaunchError):
        evaluate("9**64**64", NAMES)
    assert time.perf_counter() - start < 0.5


def test_error_names_the_expression_and_inputs():
    with pytest.raises(LaunchError) as info:
        evaluate("cdiv(size, 256)", {"n": 4, "x": NAMES["x"]})
    message = str(info.value)
    assert "'cdiv(size, 256)'" in message
    assert "inputs: n, x" in message


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("3 * n * 4", 12000.0),
        ("2 * m * n * k", 2 * 33 * 1000 * 2.5),
        ("x.nbytes * 2", 1920.0),
        ("n / 4", 250.0),
        ("n ** 1.5", 1000**1.5),
        ("1e9", 1e9),
        ("0", 0.0),
    ],
)
def test_evaluate_number(expr, expected):
    value = evaluate_number(expr, NAMES)
    assert value == pytest.approx(expected)
    assert type(value) is float


@pytest.mark.parametrize(
    "expr", ["(n, m)", "n - 2000", "1 / 0", "x.__class__", "1e300 * 1e300", "2.0**1000"]
)
def test_evaluate_number_rejects(expr):
    with pytest.raises(LaunchError):
        evaluate_number(expr, NAMES)

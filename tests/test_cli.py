"""The `kernelmagic check` contract: exit codes, one JSON object, clear usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import gpu_available

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "saxpy"
PROBLEM = [
    "--reference",
    f"{EXAMPLE}/problem.py:reference",
    "--inputs",
    f"{EXAMPLE}/problem.py:inputs",
]


def kernelmagic(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kernelmagic", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def small_problem(tmp_path_factory) -> Path:
    """The example problem at simulator-friendly sizes."""
    path = tmp_path_factory.mktemp("problem") / "small.py"
    path.write_text(
        "import numpy as np\n"
        "def reference(a, x, y):\n    return a * x + y\n"
        "def inputs(seed):\n"
        "    rng = np.random.default_rng(seed)\n"
        "    n = int(rng.integers(100, 300)) | 1\n"
        "    return {'a': np.float32(1.5), 'x': rng.standard_normal(n, dtype=np.float32),\n"
        "            'y': rng.standard_normal(n, dtype=np.float32), 'n': n}\n"
        "def broken(seed):\n    raise RuntimeError('generator is broken')\n"
        "def nan_reference(a, x, y):\n    return x * np.nan\n"
    )
    return path


def test_a_correct_candidate_exits_0_with_one_json_object(small_problem):
    result = kernelmagic(
        "check",
        str(EXAMPLE / "saxpy_numba.py"),
        "--reference",
        f"{small_problem}:reference",
        "--inputs",
        f"{small_problem}:inputs",
        "--backend",
        "numba-sim",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "correct"
    assert verdict["latency_ms"] > 0
    assert verdict["simulated"] is True
    assert set(verdict) >= {"status", "message", "latency_ms"}


def test_a_wrong_candidate_exits_1_and_says_where(small_problem, tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text((EXAMPLE / "saxpy_numba.py").read_text().replace("a * x[i]", "2 * x[i]"))
    result = kernelmagic(
        "check",
        str(wrong),
        "--reference",
        f"{small_problem}:reference",
        "--inputs",
        f"{small_problem}:inputs",
    )
    assert result.returncode == 1
    assert result.stdout.startswith("wrong_result: case 1 of 3")
    assert "first mismatch" in result.stdout


def test_cuda_c_exits_0_only_when_it_ran_correct():
    result = kernelmagic("check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--json")
    verdict = json.loads(result.stdout)
    assert verdict["compile"]["resources"][0]["registers"] > 0
    if gpu_available():
        assert (result.returncode, verdict["status"]) == (0, "correct"), verdict["message"]
        assert verdict["latency_ms"] > 0
    else:
        assert (result.returncode, verdict["status"]) == (1, "unverified")
        assert verdict["latency_ms"] is None


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["check", "missing.py", *PROBLEM], "candidate file not found: missing.py"),
        (
            [
                "check",
                str(EXAMPLE / "saxpy.cu"),
                "--reference",
                "nofile.py:reference",
                "--inputs",
                f"{EXAMPLE}/problem.py:inputs",
            ],
            "no such file: nofile.py",
        ),
        (
            [
                "check",
                str(EXAMPLE / "saxpy.cu"),
                "--reference",
                f"{EXAMPLE}/problem.py:nothing",
                "--inputs",
                f"{EXAMPLE}/problem.py:inputs",
            ],
            "has no 'nothing'",
        ),
        (
            [
                "check",
                str(EXAMPLE / "saxpy.cu"),
                "--reference",
                f"{EXAMPLE}/problem.py",
                "--inputs",
                f"{EXAMPLE}/problem.py:inputs",
            ],
            "FILE.py:NAME",
        ),
        (["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--backend", "numba-sim"], "backend cuda"),
        (
            ["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--arch", "banana"],
            "not a CUDA architecture",
        ),
        (
            ["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--sizes", "1k,64k"],
            "'1k,64k' is not a list of sizes",
        ),
        (
            ["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--sizes", "1024"],
            "takes no 'size'",
        ),
        (["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--timeout", "nan"], "not nan"),
        (["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--timeout", "1e300"], "at most"),
        (["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--cases", "101"], "at most 100"),
        (["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--atol", "-1"], "at least 0"),
        (
            ["check", str(EXAMPLE / "saxpy.cu"), *PROBLEM, "--scheduler", "not a url"],
            "is not a Dask scheduler address",
        ),
        (["sessions", "--limit", "0"], "--limit must be at least 1"),
    ],
    ids=[
        "missing candidate",
        "missing reference file",
        "missing name",
        "no name",
        "backend mismatch",
        "bad arch",
        "sizes not numbers",
        "sizes the generator cannot take",
        "timeout not a number",
        "timeout past what clocks hold",
        "more cases than seeds",
        "negative tolerance",
        "scheduler address not an address",
        "a limit of no sessions",
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(args, expect):
    result = kernelmagic(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert expect in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_broken_problem_is_a_usage_error(small_problem):
    for ref, gen, expect in [
        ("reference", "broken", "generator is broken"),
        ("nan_reference", "inputs", "NaN"),
    ]:
        result = kernelmagic(
            "check",
            str(EXAMPLE / "saxpy_numba.py"),
            "--reference",
            f"{small_problem}:{ref}",
            "--inputs",
            f"{small_problem}:{gen}",
            "--json",
        )
        assert result.returncode == 2
        assert json.loads(result.stdout)["status"] == "usage_error"
        assert expect in result.stderr
        assert "Traceback" not in result.stderr


def test_unknown_options_are_usage_errors():
    result = kernelmagic(
        "check", "x.py", "--reference", "a.py:b", "--inputs", "a.py:c", "--frobnicate", "--json"
    )
    assert result.returncode == 2
    assert json.loads(result.stdout.splitlines()[0])["status"] == "usage_error"


@pytest.mark.parametrize("top", ["import sys\nsys.exit(0)\n", "raise RuntimeError('no')\n"])
def test_a_problem_file_that_exits_or_raises_as_it_loads_is_a_usage_error(tmp_path, top):
    # sys.exit(0) while loading used to end the command with status 0, which says "correct".
    from kernelmagic.cli._loading import load_object
    from kernelmagic.errors import LoadError

    problem = tmp_path / "exiting.py"
    problem.write_text(top + "def reference(x):\n    return x\n")
    with pytest.raises(LoadError, match=r"exiting\.py failed to load: (SystemExit: 0|Runtime)"):
        load_object(f"{problem}:reference", what="--reference")


def test_json_output_stays_one_object_when_the_problem_prints(tmp_path, small_problem):
    chatty = tmp_path / "chatty.py"
    chatty.write_text(
        f"import sys\nsys.path.insert(0, {str(small_problem.parent)!r})\n"
        "from small import inputs as _inputs, reference as _reference\n"
        "print('loading the problem')\n"
        "def reference(a, x, y):\n    print('reference called')\n    return _reference(a, x, y)\n"
        "def inputs(seed):\n    print('drawing', seed)\n    return _inputs(seed)\n"
    )
    result = kernelmagic(
        "check", str(EXAMPLE / "saxpy_numba.py"), "--reference", f"{chatty}:reference",
        "--inputs", f"{chatty}:inputs", "--backend", "numba-sim", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "correct"  # one object, nothing else
    assert "reference called" in result.stderr and "loading the problem" in result.stderr

"""The prepared GPU check: everything that needs an NVIDIA GPU, in one run, one JSON report.

On a machine with a GPU (and `ncu`, `compute-sanitizer` where installed) it runs, each
step with its own time limit so the whole stays under 8 minutes:
1. the GPU tests (`pytest -m gpu`: timing, resources, crashes, the sanitizer and the
   profiler paths among them), with their pass/fail/skip counts;
2. a search session on each example kernel (numba, CuPy, CUDA C), 2 rounds of 4;
3. an LLM session through the tests' scripted OpenAI-compatible server on loopback, then
   the same session replayed from the store (proposer "replay");
4. the harness's cost per new candidate on the GPU: `evaluate()` wall time against the
   compile, verification runs and timing budget it reports.
Without a GPU it writes a report saying so and exits with status 2; `--cpu` runs steps 2-4
on the simulator anyway, to check the script itself where no GPU is lent.

Run: python bench/gpu_check.py [--out report.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the scripted OpenAI server and the test problems

import kernelmagic as km  # noqa: E402
from kernelmagic.cli._loading import load_object  # noqa: E402
from kernelmagic.harness.cluster import WorkerPool  # noqa: E402
from kernelmagic.harness.options import ClusterOptions  # noqa: E402

SAXPY = ROOT / "examples" / "saxpy"
LIMIT_S = 8 * 60


def gpu_name() -> str | None:
    """The first GPU's name, or None without a driver or device."""
    try:
        from cuda.bindings import driver

        (err,) = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return None
        err, dev = driver.cuDeviceGet(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return None
        err, name = driver.cuDeviceGetName(256, dev)
        return name.split(b"\0", 1)[0].decode() if err == driver.CUresult.CUDA_SUCCESS else None
    except Exception:
        return None


def gpu_tests(timeout_s: float) -> dict[str, Any]:
    report = Path(tempfile.mkdtemp()) / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    import xml.etree.ElementTree as ET

    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    failures = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    return {
        "returncode": done.returncode,
        "tests": int(suite.get("tests", 0)),
        "failures": int(suite.get("failures", 0)) + int(suite.get("errors", 0)),
        "skipped": int(suite.get("skipped", 0)),
        "failed": failures,
        "tail": done.stdout[-2000:],
    }


def _problem() -> km.Problem:
    def named(name: str) -> Any:
        return load_object(f"{SAXPY / 'problem.py'}:{name}", what=name)

    return km.Problem(
        named("reference"), named("inputs"), timing_inputs=named("timing_inputs"),
        bytes_moved="3 * n * 4",
    )  # fmt: skip


def _summary(session: km.Session, seconds: float) -> dict[str, Any]:
    best = session.best
    return {
        "state": session.state,
        "stop_reason": session.stop_reason,
        "seconds": round(seconds, 2),
        "candidates": len(session.candidates),
        "statuses": [c.status.value if c.status else None for c in session.candidates],
        "best_ms": best.latency_ms if best else None,
        "speedup": best.estimate.to_dict() if best and best.estimate else None,
        "device": session.candidates[0].verdict.device if session.candidates[0].verdict else None,
    }


def search_sessions(pool: WorkerPool, db: Path) -> dict[str, Any]:
    out = {}
    for kernel, extra in (
        ("saxpy_numba.py", {}),
        ("saxpy_cupy.py", {}),
        ("saxpy.cu", {"kernel": "saxpy"}),
    ):
        t = time.perf_counter()
        candidate = km.Candidate.from_file(SAXPY / kernel, **extra)
        session = km.optimize(
            candidate, _problem(), proposer="search", session_db=db, pool=pool,
            options=km.OptimizeOptions(rounds=2, candidates=4, patience=None),
        )  # fmt: skip
        out[kernel] = _summary(session, time.perf_counter() - t)
    return out


def llm_and_replay(pool: WorkerPool, db: Path) -> dict[str, Any]:
    from openai_server import Reply, serve
    from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
    from test_loop import RENAMED, SLOW_SAXPY, WRONG

    problem = km.Problem(saxpy_reference, saxpy_inputs)
    with serve() as server:
        server.script(
            *(Reply(f"Try this.\n\n```python\n{s}```\n") for s in (WRONG, RENAMED, NUMBA_SAXPY))
        )
        llm = km.LLMOptions(
            model="scripted", base_url=server.url, api_key=server.api_key, max_retries=1
        )
        t = time.perf_counter()
        first = km.optimize(
            SLOW_SAXPY, problem, proposer="llm", llm=llm, session_db=db, pool=pool,
            options=km.OptimizeOptions(rounds=1, candidates=3, patience=None),
        )  # fmt: skip
        llm_s = time.perf_counter() - t
    t = time.perf_counter()
    again = km.optimize(
        SLOW_SAXPY, problem, proposer="replay", replay=first.id, session_db=db, pool=pool
    )
    return {
        "llm": _summary(first, llm_s),
        "replay": _summary(again, time.perf_counter() - t),
        "replay_matches": [c.status for c in again.candidates]
        == [c.status for c in first.candidates],
    }


def candidate_overhead(pool: WorkerPool) -> dict[str, Any]:
    """evaluate() of new candidates on the GPU, against the parts it reports."""
    harness = km.Harness(_problem(), pool=pool)
    source = (SAXPY / "saxpy.cu").read_text()
    rows = []
    for i in range(5):
        candidate = km.Candidate(source + f"\n// variant {i}\n", kind="cuda_c", kernel="saxpy")
        t = time.perf_counter()
        verdict = harness.evaluate(candidate)
        wall_ms = (time.perf_counter() - t) * 1e3
        compile_ms = (verdict.compile.seconds or 0.0) * 1e3 if verdict.compile else 0.0
        # Timing stops at its budget (or sooner, once the median is precise enough): the
        # budget and warm-up bound what it may take; the rest is compile and overhead.
        timed = verdict.timing is not None and not verdict.timing.simulated
        budget_ms = harness.options.timing.budget_ms + harness.options.timing.warmup_ms
        rows.append(
            {
                "status": verdict.status.value,
                "wall_ms": round(wall_ms, 1),
                "compile_ms": round(compile_ms, 1),
                "timing_budget_ms": budget_ms if timed else 0.0,
                "beyond_compile_and_budget_ms": round(
                    wall_ms - compile_ms - (budget_ms if timed else 0.0), 1
                ),
            }
        )
    return {"candidates": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--cpu", action="store_true", help="without a GPU: steps 2-4 only")
    args = parser.parse_args()
    started = time.monotonic()
    report: dict[str, Any] = {"gpu": gpu_name(), "steps": {}}
    if report["gpu"] is None and not args.cpu:
        report["error"] = "no NVIDIA GPU with a working driver here: nothing to check"
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(report["error"], file=sys.stderr)
        return 2

    def step(name: str, fn: Callable[[], Any]) -> None:
        t = time.monotonic()
        try:
            report["steps"][name] = {"result": fn()}
        except Exception:
            report["steps"][name] = {"error": traceback.format_exc(limit=5)}
        report["steps"][name]["seconds"] = round(time.monotonic() - t, 1)
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))

    if report["gpu"] is not None:
        step("gpu_tests", lambda: gpu_tests(timeout_s=LIMIT_S / 2))
    with tempfile.TemporaryDirectory() as d:
        pool = WorkerPool(ClusterOptions(sim_workers=1))
        try:
            step("search_sessions", lambda: search_sessions(pool, Path(d) / "s.sqlite"))
            step("llm_and_replay", lambda: llm_and_replay(pool, Path(d) / "s.sqlite"))
            step("candidate_overhead", lambda: candidate_overhead(pool))
        finally:
            pool.close()
    report["seconds"] = round(time.monotonic() - started, 1)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    failed = [n for n, s in report["steps"].items() if "error" in s]
    tests = report["steps"].get("gpu_tests", {}).get("result", {})
    print(json.dumps({"gpu": report["gpu"], "seconds": report["seconds"], "failed": failed,
                      "gpu_test_failures": tests.get("failed")}, indent=1))  # fmt: skip
    return 1 if failed or tests.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())

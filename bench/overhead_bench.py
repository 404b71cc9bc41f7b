"""The harness's own cost, against the bare work it stands on, measured in the same run.

Reports (Markdown, or JSON with --json):
- bare: the example saxpy's verification runs (the demo's cases: each case twice, each twin
  once) made directly in numba-cuda's simulator, in a fresh process that imports only
  NumPy and numba; per call and in all, and that process's import time;
- per simulated call: the same runs inside a worker (`verify`, the guard and the poisoned
  outputs included), as the ratio of harness call to bare call, and to a bare call made
  with the garbage collector's thresholds the worker sets for a launch;
- per evaluation: `evaluate()` of the same kernel on a warm pool, against the bare runs;
- the worker pool's start-up (1 simulator worker), and how much of it an early start hides;
- the README demo (`kernelmagic check examples/saxpy/saxpy_numba.py ...`), whole process,
  median of 3, each run against 2x the bare runs of its own draw plus 1 s (the target).

Run: python bench/overhead_bench.py [--json] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import emit

import kernelmagic as km
from kernelmagic.cli._loading import load_object
from kernelmagic.harness._sim_guard import LAUNCH_GC_THRESHOLDS
from kernelmagic.harness._worker import verify
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.jobs import RunSpec, VerifyJob
from kernelmagic.harness.options import ClusterOptions

ROOT = Path(__file__).resolve().parents[1]
SAXPY = ROOT / "examples" / "saxpy"
KERNEL = SAXPY / "saxpy_numba.py"
PROBLEM = km.Problem(
    load_object(f"{SAXPY / 'problem.py'}:reference", what="reference"),
    load_object(f"{SAXPY / 'problem.py'}:inputs", what="inputs"),
)
DEMO = [
    sys.executable, "-m", "kernelmagic", "check", str(KERNEL),
    "--reference", f"{SAXPY / 'problem.py'}:reference",
    "--inputs", f"{SAXPY / 'problem.py'}:inputs", "--json",
]  # fmt: skip

# The bare process: the same calls, straight into the simulator (no kernelmagic).
BARE = """
import gc, sys, time
t0 = time.perf_counter()
import numpy as np
from numba import cuda
imported = time.perf_counter() - t0
if len(sys.argv) > 3:  # the collection thresholds the harness sets for a launch
    gc.set_threshold(*map(int, sys.argv[3].split(",")))
ns = {}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), ns)
data = np.load(sys.argv[2])
calls = []
for k in range(int(data["cases"])):
    a, x, y, reps = data[f"a{k}"], data[f"x{k}"], data[f"y{k}"], int(data[f"r{k}"])
    dx, dy = cuda.to_device(x), cuda.to_device(y)
    for _ in range(reps):
        t = time.perf_counter()
        ns["saxpy"](a, dx, dy).copy_to_host()
        calls.append(time.perf_counter() - t)
print(imported, *calls)
"""


def bare_runs(
    job: VerifyJob, scratch: Path, thresholds: tuple[int, ...] = ()
) -> tuple[float, list[float]]:
    """(import seconds, each call's seconds) of the job's runs made directly (with the
    garbage collector's `thresholds`, if given)."""
    arrays: dict[str, np.ndarray] = {"cases": np.array(len(job.cases))}
    for k, case in enumerate(job.cases):
        arrays.update(
            {f"a{k}": np.asarray(case.inputs["a"]), f"x{k}": case.inputs["x"],
             f"y{k}": case.inputs["y"], f"r{k}": np.array(case.repeats or job.repeats)}
        )  # fmt: skip
    data = scratch / "cases.npz"
    np.savez(data, **arrays)
    script = scratch / "bare.py"
    script.write_text(BARE)
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run(
        [sys.executable, str(script), str(KERNEL), str(data)]
        + ([",".join(map(str, thresholds))] if thresholds else []),
        capture_output=True, text=True, env=env, check=True,
    ).stdout.split()  # fmt: skip
    return float(out[0]), [float(v) for v in out[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        scratch = Path(d)
        t = time.perf_counter()
        pool = WorkerPool(ClusterOptions(sim_workers=1))
        results["pool_start_s"] = time.perf_counter() - t
        try:
            harness = km.Harness(PROBLEM, backend="numba-sim", pool=pool)
            candidate = km.Candidate.from_file(KERNEL)
            spec = RunSpec(harness._prepare(candidate), "numba-sim", None, ())
            job = VerifyJob(spec, harness.draw().worker_cases)
            run = functools.partial(verify, run=True)
            pool.run("sim", run, job, timeout_s=300)  # loads the program, as a session would
            harness_calls, job_walls, bare_calls, imports, same_gc = [], [], [], [], []
            for _ in range(args.repeats):  # interleaved, so load hits all alike
                imported, calls = bare_runs(job, scratch)
                imports.append(imported)
                bare_calls.append(sum(calls))
                same_gc.append(sum(bare_runs(job, scratch, LAUNCH_GC_THRESHOLDS)[1]))
                t = time.perf_counter()
                report, _ = pool.run("sim", run, job, timeout_s=300)
                job_walls.append(time.perf_counter() - t)
                harness_calls.append(sum(r.seconds for r in report.runs))
            runs = len(report.runs)
            bare = statistics.median(bare_calls)
            results["runs_per_verification"] = runs
            results["bare_import_s"] = statistics.median(imports)
            results["bare_call_ms"] = bare / runs * 1e3
            results["harness_call_ms"] = statistics.median(harness_calls) / runs * 1e3
            results["per_call_overhead_ratio"] = statistics.median(harness_calls) / bare
            # The harness collects garbage less often during a launch; the same in the
            # bare process, to tell that gain from the harness's own cost.
            results["bare_call_same_gc_ms"] = statistics.median(same_gc) / runs * 1e3
            results["per_call_overhead_same_gc_ratio"] = statistics.median(
                harness_calls
            ) / statistics.median(same_gc)
            results["verify_job_over_bare"] = statistics.median(job_walls) / bare
            walls = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                verdict = harness.evaluate(candidate)
                walls.append(time.perf_counter() - t)
            assert verdict.status is km.Status.CORRECT, verdict.message
            results["evaluate_s"] = statistics.median(walls)
            results["evaluate_over_bare"] = statistics.median(walls) / bare
        finally:
            pool.close()
        # Each demo run draws its own cases (n = 500-2000 per case): its bare runs are made
        # on the cases of its own seeds, so that a lucky draw counts for neither side.
        demo, targets, over, met = [], [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = subprocess.run(DEMO, check=True, capture_output=True, cwd=ROOT, text=True)
            demo.append(time.perf_counter() - t)
            seeds = tuple(json.loads(out.stdout)["seeds"])
            own = sum(bare_runs(VerifyJob(spec, harness.draw(seeds).worker_cases), scratch)[1])
            targets.append(2 * own + 1)
            over.append(demo[-1] / own)
            met.append(demo[-1] / targets[-1])
        results["demo_s"] = statistics.median(demo)
        results["demo_target_s"] = statistics.median(targets)
        results["demo_over_target"] = statistics.median(met)
        results["demo_over_bare"] = statistics.median(over)
    emit(results, as_json=args.json)


if __name__ == "__main__":
    main()

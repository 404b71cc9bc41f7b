"""Harness benchmark: where an evaluation's time goes, and how repeatable a GPU timing is.

Reports (as a Markdown table, and as JSON with --json):
- worker pool start-up, and a Dask round trip to a warm worker;
- NVRTC compile latency: cold (first compile in a fresh process, library load included),
  warm (new sources in a warm process), cached (the same candidate again: the worker's
  program cache);
- per-candidate harness overhead on the simulator: a whole `evaluate` minus the time
  the candidate itself ran;
- on a GPU: the same kernel timed twice (ratio of medians, each spread), and an
  interleaved comparison of a kernel with itself.

Run: python bench/harness_bench.py [--json] [--gpu-only]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import kernelmagic as km
from kernelmagic.cli._loading import load_object
from kernelmagic.harness import _judge as judge
from kernelmagic.harness import _nvrtc as nvrtc
from kernelmagic.harness._worker import verify
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.jobs import RunSpec, VerifyJob
from kernelmagic.harness.options import ClusterOptions

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "saxpy" / "problem.py"
reference = load_object(f"{EXAMPLE}:reference", what="reference")
small_inputs = load_object(f"{EXAMPLE}:inputs", what="inputs")
timing_inputs = load_object(f"{EXAMPLE}:timing_inputs", what="timing inputs")

SAXPY_CU = """
extern "C" __global__ void saxpy(float a, const float* __restrict__ x,
                                 const float* __restrict__ y, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a * x[i] + y[i];  // variant VARIANT
}
"""

NUMBA_SAXPY = """
from numba import cuda

@cuda.jit
def kernel(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]  # variant VARIANT

def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[(x.size + 255) // 256, 256](a, x, y, out)
    return out
"""


def tiny_inputs(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 120)) | 1
    return {
        "a": np.float32(1.5),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 2)


def cold_compile_ms() -> tuple[float, float]:
    """(import of the NVRTC module, first compile in the process) in a fresh process, ms."""
    code = (
        "import time; t0=time.perf_counter(); from kernelmagic.harness import _nvrtc as nvrtc; "
        "t1=time.perf_counter(); "
        f"nvrtc.compile_cuda({SAXPY_CU!r}, name_expression='saxpy'); "
        "print((t1-t0)*1e3, (time.perf_counter()-t1)*1e3)"
    )
    runs = [
        tuple(
            map(
                float,
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                ).stdout.split(),
            )
        )
        for _ in range(3)
    ]
    return (
        round(statistics.median(r[0] for r in runs), 1),
        round(statistics.median(r[1] for r in runs), 1),
    )


def compile_numbers(pool: WorkerPool) -> dict[str, float]:
    warm = []
    for k in range(10):
        out = nvrtc.compile_cuda(SAXPY_CU.replace("VARIANT", str(k)), name_expression="saxpy")
        warm.append(out.seconds)
    cand = km.Candidate.from_source(
        SAXPY_CU.replace("VARIANT", "cached"),
        kind="cuda_c",
        kernel="saxpy",
        grid="cdiv(n, 256)",
        block="256",
    )
    job = VerifyJob(RunSpec(cand, "cuda", "sm_90"), ())
    pool.run("sim", verify, job, run=False, timeout_s=60)  # fills the worker's cache
    cached = []
    for _ in range(10):
        t0 = time.perf_counter()
        pool.run("sim", verify, job, run=False, timeout_s=60)
        cached.append(time.perf_counter() - t0)
    imported, cold = cold_compile_ms()
    return {
        "import kernelmagic.harness._nvrtc in a fresh process ms": imported,
        "nvrtc cold: first compile in a process (loads libnvrtc) ms": cold,
        "nvrtc warm (new source) ms": ms(statistics.median(warm)),
        "cached candidate, whole verify job round trip ms": ms(statistics.median(cached)),
    }


def pool_numbers() -> tuple[WorkerPool, dict[str, float]]:
    t0 = time.perf_counter()
    pool = WorkerPool(ClusterOptions(sim_workers=1))
    start = time.perf_counter() - t0
    pool.run("sim", int, "1", timeout_s=30)
    trips = []
    for _ in range(20):
        t0 = time.perf_counter()
        pool.run("sim", int, "1", timeout_s=30)
        trips.append(time.perf_counter() - t0)
    return pool, {
        "worker pool start-up ms": ms(start),
        "Dask round trip to a warm worker ms": ms(statistics.median(trips)),
    }


def overhead_numbers(pool: WorkerPool) -> dict[str, float]:
    """Whole evaluate() on the simulator, minus the candidate's own run time."""
    problem = km.Problem(reference, tiny_inputs)
    harness = km.Harness(problem, backend="numba-sim", pool=pool)
    harness.evaluate(km.Candidate.from_source(NUMBA_SAXPY.replace("VARIANT", "warm")))
    totals, own = [], []
    for k in range(5):
        t0 = time.perf_counter()
        verdict = harness.evaluate(km.Candidate.from_source(NUMBA_SAXPY.replace("VARIANT", str(k))))
        totals.append(time.perf_counter() - t0)
        assert verdict.ok, verdict.message
        # 6 verification runs and 3 timed runs, each about the reported median
        own.append(9 * verdict.latency_ms / 1e3)
    total = statistics.median(totals)
    return {
        "simulator evaluate(), whole ms": ms(total),
        "simulator evaluate(), harness overhead ms": ms(total - statistics.median(own)),
    }


def host_side_numbers(pool: WorkerPool) -> dict[str, float]:
    """What a GPU evaluation of a new CUDA C candidate (the example's 16M-element SAXPY)
    costs beyond its compile, its runs and the timing budget, from the parts that need no
    GPU: the caller's draw and static checks, bringing the timing job's first outputs (each
    timing set's and each twin's) back from a worker, and judging them against the
    reference. Add two Dask round trips (the verification job and the timing job)."""
    problem = km.Problem(reference, small_inputs, timing_inputs=timing_inputs)
    harness = km.Harness(problem, pool=pool)
    draws = harness._draws
    sets = draws.timing_cases(simulated=False)
    judged = [*sets, *(twin for _, twin in draws.timing_twins(simulated=False))]
    size = sum(case.expected[0].nbytes for case in judged) // 4
    prepared, brought, checked = [], [], []
    for k in range(5):
        cand = km.Candidate.from_source(
            SAXPY_CU.replace("VARIANT", f"host {k}"), grid="cdiv(n, 256)", block="256"
        )
        t0 = time.perf_counter()
        harness.draw()
        harness._prepare(cand)
        prepared.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        outputs, _ = pool.run("sim", np.full, size, 1.0, np.float32, timeout_s=120)
        brought.append(time.perf_counter() - t0)
        del outputs
        got = [[case.expected[0].copy()] for case in judged]  # what a correct kernel returns
        t0 = time.perf_counter()
        for case, outputs in zip(judged, got, strict=True):
            assert judge.first_wrong(problem, case, outputs, "bench") is None
        checked.append(time.perf_counter() - t0)
    n = len(judged)
    return {
        "host side of a GPU evaluation: a new CUDA C candidate's draw and static checks ms": ms(
            statistics.median(prepared)
        ),
        f"host side: the timing job's first outputs from a worker ({n} x 16M float32) ms": ms(
            statistics.median(brought)
        ),
        f"host side: judging them against the reference ({n} x 16M) ms": ms(
            statistics.median(checked)
        ),
    }


def gpu_numbers(pool: WorkerPool) -> dict[str, float | str]:
    problem = km.Problem(
        reference, small_inputs, timing_inputs=timing_inputs, bytes_moved="3 * n * 4"
    )
    harness = km.Harness(problem, pool=pool)
    out: dict[str, float | str] = {}
    for label, source in (
        ("CUDA C", SAXPY_CU.replace("VARIANT", "gpu")),
        ("numba", NUMBA_SAXPY.replace("VARIANT", "gpu")),
    ):
        cand = km.Candidate.from_source(source, grid="cdiv(n, 256)", block="256")
        t0 = time.perf_counter()
        first = harness.evaluate(cand)
        wall = time.perf_counter() - t0
        second = harness.evaluate(cand)
        assert first.ok and second.ok, (first.message, second.message)
        assert first.timing and second.timing and first.roofline
        out[f"device ({label})"] = first.device
        out[f"{label} saxpy 16M: evaluate() wall ms, first candidate"] = ms(wall)
        out[f"{label} saxpy 16M: median ms (1st, 2nd)"] = (
            f"{first.timing.median_ms:.4f}, {second.timing.median_ms:.4f}"
        )
        out[f"{label} saxpy 16M: ratio of medians"] = round(
            second.timing.median_ms / first.timing.median_ms, 4
        )
        out[f"{label} saxpy 16M: spread (IQR/median) 1st, 2nd"] = (
            f"{first.timing.spread * 100:.2f}%, {second.timing.spread * 100:.2f}%"
        )
        out[f"{label} saxpy 16M: samples"] = f"{first.timing.samples}, {second.timing.samples}"
        out[f"{label} saxpy 16M: bandwidth GB/s (fraction of peak)"] = (
            f"{first.roofline.achieved_gbps:.0f} ({first.roofline.bandwidth_fraction:.2f})"
        )
        other = km.Candidate.from_source(
            source.replace("variant gpu", "variant other"), grid="cdiv(n, 256)", block="256"
        )
        t0 = time.perf_counter()
        assert harness.evaluate(other).ok
        out[f"{label} saxpy 16M: evaluate() wall ms, next new candidate"] = ms(
            time.perf_counter() - t0
        )
        same = harness.compare(cand, cand)
        out[f"{label} self-comparison (A vs A)"] = same.message
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--gpu-only", action="store_true")
    args = parser.parse_args()
    pool, results = pool_numbers()
    try:
        if not args.gpu_only:
            results.update(compile_numbers(pool))
            results.update(overhead_numbers(pool))
            results.update(host_side_numbers(pool))
        if pool.gpus:
            results.update(gpu_numbers(pool))
        else:
            results["GPU"] = "none on this machine: GPU timing rows skipped"
    finally:
        pool.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("| measurement | value |\n|---|---|")
        for key, value in results.items():
            print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()

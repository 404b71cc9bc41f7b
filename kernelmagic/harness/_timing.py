"""The timing stage of an evaluation: timing sets sent to the workers once, the job, and
the verdict on what the timed runs returned and how long they took.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from kernelmagic.candidate.launch import LaunchError, evaluate_number
from kernelmagic.harness import _judge as judge
from kernelmagic.harness._draws import SIM_SLOW_ELEMENTS, Draw, Draws, worker_case
from kernelmagic.harness._measure import time_job
from kernelmagic.harness._verdict_base import VerdictBase
from kernelmagic.harness._workers import Workers
from kernelmagic.harness.backends import Plan
from kernelmagic.harness.cluster import WorkerKind
from kernelmagic.harness.devices import DeviceInfo
from kernelmagic.harness.jobs import RunRecord, RunSpec, TimeJob, TimeReport, TimingSets, merged
from kernelmagic.harness.options import HarnessOptions, TimingOptions
from kernelmagic.harness.verdict import Roofline, Status, Timing, Verdict
from kernelmagic.problem import Problem

# Enough pairs for a 95% interval that a few reversed pairs do not widen past 1.10x (the
# simulator's margin): its host clock picks up every hiccup of a loaded machine.
SIM_COMPARE_PAIRS = 24


class TimingStage:
    """Times candidates of one problem; holds the timing sets the workers were sent."""

    def __init__(
        self, problem: Problem, options: HarnessOptions, draws: Draws, workers: Workers
    ) -> None:
        self.problem = problem
        self._options = options
        self._draws = draws
        self._workers = workers
        self._scattered: dict[WorkerKind, tuple[int, Any]] = {}
        self._sending = threading.Lock()

    def forget(self) -> None:
        """The pool was replaced: its workers hold none of the sets sent before."""
        self._scattered.clear()

    def compared(
        self, specs: tuple[RunSpec, ...], kind: WorkerKind, *, timeout_s: float
    ) -> tuple[TimeReport, str]:
        """Two programs timed interleaved: (the report, the worker of its first failure).

        On a GPU in one worker. On the simulator the pairs are shared out among the
        simulator workers, each timing its share interleaved (a pair's two runs always
        share a worker and its moment), so a comparison takes a fraction of the time.
        Raises JobTimeout or WorkerDied as a single job does.
        """
        simulated = kind == "sim"
        shares: list[int | None] = (
            [*self._pair_shares(self._workers.pool.counts["sim"])] if simulated else [None]
        )

        def one(reps: int | None) -> tuple[TimeReport, str]:
            return self._workers.submit(
                kind,
                "the comparison",
                time_job,
                lambda: self.job(specs, simulated=simulated, pairs=True, reps=reps),
                timeout_s=timeout_s,
            )

        if len(shares) == 1:
            return one(shares[0])
        with ThreadPoolExecutor(len(shares), thread_name_prefix="kernelmagic-compare") as threads:
            done = list(threads.map(lambda r: contextvars.copy_context().run(one, r), shares))
        failed = next(((r, w) for r, w in done if r.failure), done[0])
        return merged([r for r, _ in done]), failed[1]

    def _pair_shares(self, workers: int) -> list[int]:
        """Each simulator worker's pairs: whole rounds of the timing sets (so samples still
        split by set), together at least the pairs one worker would time."""
        sets = len(self._draws.timing_cases(simulated=True))
        total = self._sim_pairs()
        per = math.ceil(total / max(1, workers) / sets) * sets
        return [per] * max(1, min(workers, math.ceil(total / per)))

    def _sim_pairs(self) -> int:
        """Pairs of a simulator comparison: enough for its interval, and every set once."""
        return max(SIM_COMPARE_PAIRS, len(self._draws.timing_cases(simulated=True)))

    def job(
        self,
        specs: tuple[RunSpec, ...],
        *,
        simulated: bool = False,
        pairs: bool = False,
        reps: int | None = None,
    ) -> tuple[TimeJob, Any]:
        """The job, and the timing sets as data already held by the workers."""
        # A verdict's timing also times each set's first call, on data the candidate has
        # never seen; a comparison only ranks two candidates already judged.
        fresh = not pairs
        sets = self._sets(simulated)
        if simulated:
            # Only comparisons time on the simulator (verdicts use their verification runs):
            # a fixed number of pairs, each call checked against its set's first output.
            n = reps or self._sim_pairs()
            options = TimingOptions(
                warmup_ms=0.0, min_reps=n, max_reps=n, budget_ms=math.inf, check_every=1
            )
            return TimeJob(specs, options, fresh_check=fresh), sets
        return TimeJob(specs, self._options.timing, fresh_check=fresh), sets

    def _sets(self, simulated: bool) -> Any:
        # Timing sets can be hundreds of MB: send them once, not with every candidate, and
        # again only after a worker was replaced (its copy died with it).
        kind: WorkerKind = "sim" if simulated else "gpu"
        pool = self._workers.pool
        with self._sending:  # parallel evaluations: the sets are sent once
            held = self._scattered.get(kind)
            if held is None or held[0] != pool.generation:
                cases = self._draws.timing_cases(simulated=simulated)
                twins = self._draws.timing_twins(simulated=simulated)
                sets = TimingSets(
                    tuple(worker_case(i, c, self.problem) for i, c in enumerate(cases)),
                    token=uuid.uuid4().hex,
                    twins=tuple(
                        dataclasses.replace(worker_case(len(cases) + j, t, self.problem), of=k)
                        for j, (k, t) in enumerate(twins)
                    ),
                )
                self._scattered[kind] = (pool.generation, pool.scatter(sets, kind))
            return self._scattered[kind][1]

    def sizes(self, *, simulated: bool) -> list[tuple[str, int]]:
        """Each timing set's array shapes and element count (see `comparison.by_size`)."""
        return [_size(case.inputs) for case in self._draws.timing_cases(simulated=simulated)]

    def from_verification(
        self, base: VerdictBase, runs: tuple[RunRecord, ...], drawn: Draw, checked: str
    ) -> Verdict:
        """The verdict on a candidate verified on the simulator, timed by those same runs.

        Cases differ in size from one evaluation to the next (fresh seeds), so each run's
        time is scaled by its elements to the simulator timing sets' size, which is the
        same for every candidate of the harness: elementwise work scales so exactly,
        other work roughly, which is all a ranking on the simulator needs. A run on inputs
        the call has seen (a case's second run) much faster than every run on new ones (a
        case's first, its twin) is work skipped on a cache, as in GPU timing.
        """
        n = drawn.originals
        sets = self._draws.timing_cases(simulated=True)
        reference = int(np.median([_size(c.inputs)[1] for c in sets]))
        scaled = [
            (run, run.seconds * 1e3 * reference / max(_size(drawn.cases[run.case].inputs)[1], 1))
            for run in runs
        ]
        skipped = judge.skipped_work(
            [ms for run, ms in scaled if not run.repeat],
            [ms for run, ms in scaled if run.repeat],
            simulated=True,
        )
        if skipped:
            return base.make(Status.REJECTED, skipped, cases=n)
        originals = [ms for run, ms in scaled if run.case < n]
        timing = judge.summarize(
            originals,
            simulated=True,
            method=f"host clock on the CPU simulator: the verification runs, scaled to "
            f"{reference:,} input elements",
        )
        note = (
            ["timing_inputs are for a GPU: the simulator's figure comes from the verification runs"]
            if self.problem.timing_inputs is not None
            else []
        )
        note += self._sizes_note()
        return dataclasses.replace(base, warnings=(*base.warnings, *note)).make(
            Status.CORRECT,
            checked + "; timing is simulated (its verification runs), not a GPU timing",
            cases=n,
            timing=timing,
        )

    def _sizes_note(self) -> list[str]:
        """What the simulator left out of the stated sizes, and what it compares on instead."""
        left = self._draws.sizes_left_out()
        if not left:
            return []
        sizes = ", ".join(f"{n:,}" for n in left)
        instead = "" if len(left) < len(self.problem.sizes) else ", so on draws of inputs(seed)"
        return [
            f"sizes {sizes} are for a GPU: the CPU simulator compares kernels only on inputs "
            f"of at most {SIM_SLOW_ELEMENTS:,} elements{instead}"
        ]

    def verdict(
        self,
        spec: RunSpec,
        route: Plan,
        base: VerdictBase,
        device: DeviceInfo,
        checked: str,
        n_cases: int,
        worker: str,
    ) -> Verdict:
        """The verdict on a candidate verified on a GPU, timed: what its timed runs returned
        is judged first, then skipped work, then its timing and roofline (the simulator's
        verdicts come from `from_verification`)."""
        outcome = self._workers.run(
            route,
            base,
            "timing",
            time_job,
            lambda: self.job((spec,), simulated=False),
            prefer=worker,
        )
        if isinstance(outcome, Verdict):
            return outcome
        report, worker = outcome
        timing_cases = self._draws.timing_cases(simulated=False)
        # A first output that differs from the reference says more than a later run that
        # differs from the first, so it is judged before the worker's own failure.
        wrong = next(
            (
                found
                for k, (case, outputs) in enumerate(
                    zip(timing_cases, report.first_outputs[0], strict=False)
                )
                if (
                    found := judge.first_wrong(
                        self.problem, case, outputs, f"timing set {k + 1}, {case.describe()}"
                    )
                )
            ),
            None,
        )
        if report.failure and wrong is None:
            return self._workers.failed(report.failure, worker, base)
        if report.failure and report.failure.replace_worker:
            self._workers.pool.replace(worker)
        if wrong:
            return base.make(Status.WRONG_RESULT, wrong, cases=n_cases)
        twins = self._draws.timing_twins(simulated=False)
        outputs = report.twin_outputs[0] if report.twin_outputs else ()
        wrong = next(
            (
                found
                for (k, twin), got in zip(twins, outputs, strict=False)
                if (
                    found := judge.first_wrong(
                        self.problem,
                        twin,
                        got,
                        f"the twin of timing set {k + 1}, {twin.describe()}",
                    )
                )
            ),
            None,
        )
        if wrong:
            return base.make(Status.WRONG_RESULT, wrong, cases=n_cases)
        skipped = judge.skipped_work(
            report.fresh_ms[0] if report.fresh_ms else (), report.samples_ms[0], simulated=False
        )
        if skipped:
            return base.make(Status.REJECTED, skipped, cases=n_cases)
        message = (
            f"{checked} and {len(timing_cases)} timing sets; "
            f"{report.checked_runs} timed runs re-checked"
        )
        flags: list[str] = []
        samples, method = report.samples_ms[0], "CUDA events"
        if judge.escaped_stream(report.samples_ms[0], report.host_ms[0]):
            samples, method = report.host_ms[0], "host clock"
            flags.append(
                "the host waited much longer than the device events measured: work ran "
                "outside the timed stream, so the host clock is reported"
            )
        timing = judge.summarize(samples, simulated=False, method=method)
        roofline = self._roofline(timing, device)
        if roofline and (roofline.bandwidth_fraction or 0) > 1.05:
            flags.append(
                "faster than the device's peak memory bandwidth: check the stated bytes moved"
            )
        if roofline and (roofline.compute_fraction or 0) > 1.05:
            flags.append("faster than the device's peak FP32 rate: check the stated flops")
        return base.make(
            Status.CORRECT,
            message,
            cases=n_cases,
            timing=timing,
            roofline=roofline,
            flags=tuple(flags),
        )

    def _roofline(self, timing: Timing, device: DeviceInfo) -> Roofline | None:
        if self.problem.bytes_moved is None and self.problem.flops is None:
            return None
        inputs = dict(self._draws.timing_cases(simulated=False)[0].inputs)
        seconds = timing.median_ms / 1e3
        gbps = _work(self.problem.bytes_moved, inputs)
        gflops = _work(self.problem.flops, inputs)
        return Roofline(
            achieved_gbps=gbps / seconds / 1e9 if gbps is not None else None,
            peak_gbps=device.peak_gbps,
            achieved_gflops=gflops / seconds / 1e9 if gflops is not None else None,
            peak_gflops=device.peak_fp32_gflops,
        )


def _size(inputs: Mapping[str, Any]) -> tuple[str, int]:
    arrays = [v for v in inputs.values() if isinstance(v, np.ndarray)]
    shapes = dict.fromkeys("x".join(map(str, a.shape)) or "scalar" for a in arrays)
    return ", ".join(shapes) or "scalars only", sum(int(a.size) for a in arrays)


def _work(spec: Any, inputs: dict[str, Any]) -> float | None:
    if spec is None:
        return None
    if callable(spec):
        return float(spec(inputs))
    if isinstance(spec, str):
        try:
            return evaluate_number(spec, inputs)
        except LaunchError:
            return None
    return float(spec)

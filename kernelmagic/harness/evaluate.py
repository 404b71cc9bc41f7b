"""The harness as the rest of kernelmagic sees it: candidate in, verdict out.

A `Harness` holds one problem (its cases and expected answers, computed once) and a
pool of worker processes. `evaluate` runs the pipeline: static checks, compile and
verification runs in a worker, comparison here, then timing in a worker on the GPU.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from kernelmagic.candidate import Candidate
from kernelmagic.candidate.launch import LaunchError, evaluate_number
from kernelmagic.errors import KernelmagicError, OptionError, PoolClosed, WorkersUnavailable
from kernelmagic.harness import _judge as judge
from kernelmagic.harness import _sanitizer as sanitizer
from kernelmagic.harness._measure import time_job
from kernelmagic.harness._prepare import StaticFailure, prepare
from kernelmagic.harness._worker import describe_device, gpu_compile, verify
from kernelmagic.harness.backends import Plan, plan
from kernelmagic.harness.cluster import (
    ClusterOptions,
    JobTimeout,
    LostData,
    WorkerDied,
    WorkerKind,
    WorkerPool,
    drop_shared_pool,
    shared_pool,
)
from kernelmagic.harness.comparison import Comparison, from_samples, no_comparison
from kernelmagic.harness.devices import DeviceInfo, normalize_arch
from kernelmagic.harness.jobs import (
    Failure,
    RunSpec,
    TimeJob,
    TimingOptions,
    TimingSets,
    VerifyJob,
    WorkerCase,
)
from kernelmagic.harness.verdict import CompileInfo, Roofline, Status, Timing, Verdict
from kernelmagic.problem import Case, Problem, make_case, problem_warnings, twin_case

# Enough pairs for the sign test to reach p < 0.01 with five pairs reversed: the simulator's
# host clock picks up every hiccup of a loaded machine.
SIM_COMPARE_PAIRS = 24


@dataclasses.dataclass(frozen=True)
class HarnessOptions:
    """`timeout_s` bounds each stage in a worker; `arch` names the target without a GPU."""

    timeout_s: float = 60.0
    arch: str | None = None
    timing: TimingOptions = dataclasses.field(default_factory=TimingOptions)
    cluster: ClusterOptions = dataclasses.field(default_factory=ClusterOptions)
    too_good_speedup: float = 10.0  # beyond this, a comparison is flagged for a human look


# Inputs from this many elements keep the simulator busy for seconds per run.
SIM_SLOW_ELEMENTS = 20_000


class Harness:
    """Evaluates candidates for one problem on one backend."""

    def __init__(
        self,
        problem: Problem,
        *,
        backend: str = "auto",
        options: HarnessOptions = HarnessOptions(),
        pool: WorkerPool | None = None,
    ) -> None:
        if options.arch is not None:
            try:
                options = dataclasses.replace(options, arch=normalize_arch(options.arch))
            except ValueError as exc:
                raise OptionError(str(exc)) from None
        if options.timeout_s <= 0:
            raise OptionError(f"the timeout must be positive, not {options.timeout_s:g} s")
        self.problem = problem
        self.backend = backend
        self.options = options
        self._pool = pool
        self._own_pool = pool is not None  # the caller's pool: not ours to restart
        self._pool_restarted = False
        self.workers_failed: str | None = None  # why the workers could not be restored
        self._cases: list[Case] | None = None
        self._unused_draw: Draw | None = None
        self._timing_cases: dict[str, list[Case]] = {}
        self._twins: dict[str, list[tuple[int, Case]]] = {}
        self._scattered: dict[WorkerKind, tuple[int, Any]] = {}
        self._built_on: dict[str, str] = {}  # candidate hash -> worker name
        self._devices: dict[WorkerKind, DeviceInfo] = {}
        self.warnings: tuple[str, ...] = ()
        self.sanitizer_note: str | None = None

    # -- the problem's side ------------------------------------------------------------

    @property
    def cases(self) -> list[Case]:
        """A first draw of verification cases (raises ProblemError for an unusable problem).

        It names the inputs and gives the problem's warnings; every evaluation then draws
        its own seeds (see `draw`), starting with this draw.
        """
        if self._cases is None:
            cases = [make_case(self.problem, s) for s in self.problem.verification_seeds()]
            self.warnings = problem_warnings(self.problem, cases)
            self._cases = cases
            self._unused_draw = self._with_twins(cases)
        return self._cases

    @functools.cached_property
    def identity_cases(self) -> list[Case]:
        """Cases of the fixed seeds 0, 1, ...: what identifies the problem across sessions
        (the store's key), never what a candidate is judged on."""
        return [make_case(self.problem, s) for s in range(self.problem.cases)]

    def draw(self, seeds: tuple[int, ...] | None = None) -> Draw:
        """Verification cases for one evaluation: fresh seeds (or `seeds`, to reproduce a
        verdict), and a twin for each case."""
        self.cases  # noqa: B018 - the first draw also checks the problem
        if seeds is None and self._unused_draw is not None:
            drawn, self._unused_draw = self._unused_draw, None
            return drawn
        seeds = seeds or self.problem.verification_seeds()
        return self._with_twins([make_case(self.problem, s) for s in seeds])

    def _with_twins(self, cases: list[Case]) -> Draw:
        twins = [(k, t) for k, c in enumerate(cases) if (t := twin_case(self.problem, c))]
        n = len(cases)
        labels = [f"case {k + 1} of {n}" for k in range(n)]
        labels += [f"the twin of case {k + 1}" for k, _ in twins]
        everything = [*cases, *(t for _, t in twins)]
        # A twin runs once: its job is to differ from its case, not to catch unwritten
        # elements, which the case's two runs on different poison already do.
        worker = tuple(
            _worker_case(i, c, self.problem, label=labels[i], repeats=2 if i < n else 1)
            for i, c in enumerate(everything)
        )
        return Draw(tuple(everything), tuple(labels), worker, n)

    def timing_twins(self, *, simulated: bool) -> list[tuple[int, Case]]:
        """(set index, twin) per timing set that has one: what 'inputs never seen' are."""
        key = "sim" if simulated else "gpu"
        if key not in self._twins:
            twins = [
                (k, twin_case(self.problem, c, timing=not simulated, for_timing=True))
                for k, c in enumerate(self.timing_cases(simulated=simulated))
            ]
            self._twins[key] = [(k, t) for k, t in twins if t is not None]
        return self._twins[key]

    def timing_cases(self, *, simulated: bool) -> list[Case]:
        """Inputs to time on: `timing_inputs` on a GPU; small `inputs` draws on the simulator.

        Their seeds are drawn once per harness (the sets are sent to the workers once).
        """
        key = "sim" if simulated else "gpu"
        if key not in self._timing_cases:
            self._timing_cases[key] = [
                make_case(self.problem, s, timing=not simulated)
                for s in self.problem.timing_seeds(small=simulated)
            ]
        return self._timing_cases[key]

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = shared_pool(self.options.cluster)
        return self._pool

    def _restart_pool(self) -> bool:
        """After the workers failed, start a new pool (once per harness); False if not ours."""
        if self._own_pool or self._pool_restarted:
            return False
        self._pool_restarted = True
        if self._pool is not None:
            drop_shared_pool(self._pool)
        self._pool = None
        self._scattered.clear()
        self._built_on.clear()
        return True

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(self, candidate: Candidate, *, seeds: tuple[int, ...] | None = None) -> Verdict:
        """The verdict on `candidate`: never raises for anything the candidate does.

        `seeds` (a verdict's `seeds`) reproduces that verdict's cases and twins. When the
        worker processes fail (not the candidate's doing), a new pool is started once and
        the candidate judged again; if that fails too the verdict is `crashed`, saying it is
        not the kernel's fault, and `workers_failed` says why.
        """
        drawn = self.draw(seeds)
        while True:
            try:
                return self._evaluate(candidate, drawn)
            except PoolClosed:
                raise  # the process is quitting: there is no verdict to give
            except WorkersUnavailable as exc:
                if self._restart_pool():
                    continue
                self.workers_failed = str(exc)
                return _VerdictBase(candidate.sha256, self.warnings, seeds=drawn.seeds).make(
                    Status.CRASHED,
                    f"not evaluated: the worker processes failed ({exc}); not the kernel's fault",
                    backend=self.backend,
                    device="no worker",
                )

    def _evaluate(self, candidate: Candidate, drawn: Draw) -> Verdict:
        warnings = (*self.warnings, *self.pool.sandbox_warnings)
        base = _VerdictBase(candidate.sha256, warnings, seeds=drawn.seeds)
        try:
            resolved = self._prepare(candidate)
        except StaticFailure as exc:
            return base.make(exc.status, exc.message, backend=self.backend, device="not run")
        route = plan(self.backend, resolved.flavor, gpus=self.pool.gpus)
        if route.worker is None:
            return base.make(
                Status.UNVERIFIED,
                "CuPy candidates need an NVIDIA GPU and none is available: it passed the "
                "static checks only",
                backend=route.backend,
                device="no GPU",
            )
        # Until the worker reports its device, verdicts (a timeout, say) name the route's.
        base = dataclasses.replace(base, backend=route.backend, device=self._route_device(route))
        spec = RunSpec(resolved, route.backend, self.options.arch, self.problem.allowed_imports)
        job = VerifyJob(spec, drawn.worker_cases)
        # The worker that built this exact candidate before still has it compiled.
        outcome = self._run(
            route,
            base,
            "verification",
            functools.partial(verify, run=route.run),
            lambda: (job,),
            prefer=self._built_on.get(candidate.sha256),
        )
        if isinstance(outcome, Verdict):
            return outcome
        report, worker = outcome
        self._built_on[candidate.sha256] = worker
        device = (
            report.device.describe() if route.run else f"no GPU (compiled for {report.device.arch})"
        )
        if route.run and self.options.arch and self.options.arch != report.device.arch:
            base = dataclasses.replace(
                base,
                warnings=(
                    *base.warnings,
                    f"arch {self.options.arch} was not used: on a GPU, kernels are built for "
                    f"the GPU ({report.device.arch})",
                ),
            )
        base = dataclasses.replace(
            base, backend=route.backend, device=device, compile=report.compile
        )
        if report.launches:
            compiled = self._compile_for_gpu(spec, report.launches, base)
            if isinstance(compiled, Verdict):
                return compiled
            base = compiled
        if report.failure:
            return self._failed(report.failure, worker, base)
        if not report.can_run:
            return base.make(
                Status.UNVERIFIED,
                f"compiled for {report.device.arch} with NVRTC; no GPU here to run it, "
                "so its results are not verified",
            )
        wrong = judge.judge_runs(self.problem, drawn.cases, drawn.labels, report.runs)
        n = drawn.originals
        if wrong:
            return base.make(Status.WRONG_RESULT, wrong, cases=n)
        twins = len(drawn.cases) - n
        checked = (
            f"matches the reference on {n} cases "
            + (f"and {twins} twins of theirs (same shapes, fresh values) " if twins else "")
            + f"({len(report.runs)} runs on poisoned outputs)"
        )
        # Timing runs in the process that verified: state a candidate keeps across calls
        # carries on, and the compiled program is already there.
        return self._timed(spec, route, base, report.device, checked, n, worker)

    def compare(self, a: Candidate, b: Candidate) -> Comparison:
        """Time A and B interleaved (A B B A ...) in one worker; both should be correct first.

        On the CPU simulator the pairs are simulator time: they rank candidates for the
        simulator, not for a GPU, and the comparison says so.
        """
        specs = []
        for label, cand in (("A", a), ("B", b)):
            try:
                resolved = self._prepare(cand)
            except StaticFailure as exc:
                return no_comparison(f"candidate {label} cannot run ({exc.status}): {exc}")
            route = plan(self.backend, resolved.flavor, gpus=self.pool.gpus)
            specs.append(
                RunSpec(resolved, route.backend, self.options.arch, self.problem.allowed_imports)
            )
        if route.worker is None or not route.run:
            return no_comparison("no GPU to run these candidates: they cannot be timed here")
        simulated = route.worker == "sim"
        timeout = 4 * self.options.timeout_s if simulated else self._timing_timeout()
        try:
            report, worker = self._submit(
                route.worker,
                "the comparison",
                time_job,
                lambda: self._time_job(tuple(specs), simulated=simulated, pairs=True),
                timeout_s=timeout,
            )
        except (JobTimeout, WorkerDied) as exc:
            return no_comparison(f"the comparison did not finish: {exc}; the worker was replaced")
        if report.failure:
            if report.failure.replace_worker:
                self.pool.replace(worker)
            which = "AB"[report.failed_program or 0]
            return no_comparison(f"candidate {which} failed while timed: {report.failure.message}")
        return from_samples(report, self.options.too_good_speedup, simulated=simulated)

    def sanitize(self, candidate: Candidate) -> Verdict | None:
        """On a GPU, the candidate's cases once more under compute-sanitizer's memcheck and
        racecheck: a `rejected` verdict with the tool's report when it finds anything.

        None where it cannot run (the simulator, no sanitizer installed, CUDA C without a
        GPU); the reason is kept in `sanitizer_note`.
        """
        try:
            resolved = self._prepare(candidate)
        except StaticFailure:
            return None
        route = plan(self.backend, resolved.flavor, gpus=self.pool.gpus)
        if route.worker != "gpu" or not route.run:
            self.sanitizer_note = "races are not checked on the simulator (see docs/safety.md)"
            return None
        drawn = self.draw()
        spec = RunSpec(resolved, route.backend, self.options.arch, self.problem.allowed_imports)
        job = VerifyJob(spec, drawn.worker_cases, repeats=1)
        for tool in sanitizer.TOOLS:
            try:
                found = sanitizer.run(job, tool, timeout_s=4 * self.options.timeout_s)
            except RuntimeError as exc:
                self.sanitizer_note = f"not checked for races and memory errors: {exc}"
                return None
            if found:
                base = _VerdictBase(candidate.sha256, self.warnings, seeds=drawn.seeds)
                return base.make(
                    Status.REJECTED,
                    f"compute-sanitizer {tool} found errors in it:\n{found}",
                    backend=route.backend,
                    device="GPU",
                )
        return None

    def device_info(self, candidate: Candidate) -> DeviceInfo | None:
        """The device `candidate` would run on here (the simulator's too); None if none can."""
        route = plan(self.backend, candidate.flavor, gpus=self.pool.gpus)
        if route.worker is None or not route.run:
            return None
        if route.worker not in self._devices:
            self._devices[route.worker], _ = self.pool.run(
                route.worker, describe_device, route.backend, timeout_s=self.options.timeout_s
            )
        return self._devices[route.worker]

    # -- internals -----------------------------------------------------------------------

    def _prepare(self, candidate: Candidate) -> Candidate:
        """The static checks and the resolved entry or kernel (raises StaticFailure)."""
        return prepare(
            candidate,
            input_names=self.cases[0].inputs,
            reference_params=_params(self.problem.reference),
            allowed_imports=self.problem.allowed_imports,
        )

    def _run(
        self,
        route: Plan,
        base: _VerdictBase,
        stage: str,
        fn: Any,
        make_args: Callable[[], tuple[Any, ...]],
        *,
        prefer: str | None = None,
    ) -> tuple[Any, str] | Verdict:
        """`fn(*make_args())` on a worker of the route's kind, failures made verdicts.

        The arguments are made again for each try: a retry after a worker was replaced
        needs data scattered again (the copy held by the killed worker is gone).
        """
        assert route.worker is not None
        timeout = self.options.timeout_s if stage == "verification" else self._timing_timeout()
        # numba-cuda's simulator now and then stalls while starting a block's threads (seen
        # on a loaded 2-core machine, with no kernelmagic code involved): on the simulator a
        # timeout gets one more try on a fresh worker; a real endless loop times out again.
        retries = 1 if route.worker == "sim" else 0
        while True:
            try:
                return self._submit(
                    route.worker, stage, fn, make_args, timeout_s=timeout, prefer=prefer
                )
            except JobTimeout:
                if retries:
                    retries -= 1
                    continue
                tries = " (twice)" if route.worker == "sim" else ""
                return base.make(
                    Status.TIMEOUT,
                    f"{stage} did not finish within {timeout:g} s{tries} (an endless loop or a "
                    "hung kernel?); its worker was killed and replaced"
                    + (self._simulator_hint() if route.worker == "sim" else ""),
                    backend=route.backend,
                )
            except WorkerDied:
                return base.make(
                    Status.CRASHED,
                    f"the worker process died during {stage} (a segfault, os._exit or running "
                    "out of memory); a new worker replaced it",
                    backend=route.backend,
                )
            except KernelmagicError:
                raise
            except Exception as exc:  # a bug in kernelmagic's worker code, not the candidate's
                return base.make(
                    Status.RUNTIME_ERROR,
                    f"kernelmagic failed in the worker during {stage} "
                    f"({type(exc).__name__}: {exc}); please report this",
                    backend=route.backend,
                )

    def _submit(
        self,
        kind: WorkerKind,
        stage: str,
        fn: Any,
        make_args: Callable[[], tuple[Any, ...]],
        *,
        timeout_s: float,
        prefer: str | None = None,
    ) -> tuple[Any, str]:
        """`pool.run` with the arguments made again, once, when the data they name was lost
        with a worker that died earlier (scattered timing sets live on the workers)."""
        try:
            return self.pool.run(kind, fn, *make_args(), timeout_s=timeout_s, prefer=prefer)
        except LostData:
            pass
        try:
            return self.pool.run(kind, fn, *make_args(), timeout_s=timeout_s, prefer=prefer)
        except LostData:
            raise WorkersUnavailable(
                f"{stage}: the data it needs was lost twice with its workers"
            ) from None

    def _compile_for_gpu(
        self, spec: RunSpec, launches: tuple[Any, ...], base: _VerdictBase
    ) -> _VerdictBase | Verdict:
        """What the simulator ran, compiled for a real GPU: a kernel only the simulator can
        run is a compile error; the PTX's resources go on the verdict."""
        if not self.pool.counts.get("cc"):
            note = "its kernels were not compiled for a GPU target (no compile worker in this pool)"
            return dataclasses.replace(base, warnings=(*base.warnings, note))
        route = Plan(backend=spec.backend, worker="cc", run=True)
        outcome = self._run(
            route, base, "compiling for a GPU target", gpu_compile, lambda: (spec, launches)
        )
        if isinstance(outcome, Verdict):
            return outcome
        compiled, _ = outcome
        info = compiled.compile_info()
        if not compiled.ok:
            message = compiled.first_error or "a kernel cannot be compiled for a GPU"
            return dataclasses.replace(base, compile=info).make(Status.COMPILE_ERROR, message)
        notes = [k.message for k in compiled.kernels if k.outcome.name == "UNCHECKED" and k.message]
        if compiled.load_error:
            notes.append(compiled.load_error)
        merged = dataclasses.replace(base.compile or info, resources=info.resources, arch=info.arch)
        return dataclasses.replace(
            base,
            compile=merged,
            warnings=(*base.warnings, *(f"not checked for a GPU: {n}" for n in notes)),
        )

    def _simulator_hint(self) -> str:
        """What a simulator timeout may owe to the problem's sizes rather than the kernel."""
        largest = max(
            (v.size for c in self.cases for v in c.inputs.values() if isinstance(v, np.ndarray)),
            default=0,
        )
        if largest < SIM_SLOW_ELEMENTS:
            return ""
        return (
            f". The CPU simulator runs about 10,000 GPU threads a second and the inputs have "
            f"up to {largest:,} elements: a slow but correct kernel can time out too; give "
            "inputs(seed) smaller sizes (time large ones on a GPU) or a larger --timeout"
        )

    def _route_device(self, route: Plan) -> str:
        assert route.worker is not None
        known = self._devices.get(route.worker)
        if known is not None:
            return known.describe()
        if route.worker == "sim":
            return "CPU simulator (numba-cuda)"
        if not route.run:
            return f"no GPU (compiled for {self.options.arch or 'sm_90'})"
        return "a GPU worker"

    def _failed(self, failure: Failure, worker: str, base: _VerdictBase) -> Verdict:
        if failure.replace_worker:
            self.pool.replace(worker)
        return base.make(failure.status, failure.message)

    def _timing_timeout(self) -> float:
        return self.options.timeout_s + 3 * self.options.timing.budget_ms / 1e3

    def _time_job(
        self, specs: tuple[RunSpec, ...], *, simulated: bool = False, pairs: bool = False
    ) -> tuple[TimeJob, Any]:
        """The job, and the timing sets as data already held by the workers."""
        # A verdict's timing also times each set's first call, on data the candidate has
        # never seen; a comparison only ranks two candidates already judged.
        fresh = not pairs
        sets = self._scattered_sets(simulated)
        if simulated:
            # The simulator is slow and its clock means little: one checked call per set,
            # enough to catch results cached from an earlier call.
            n = (
                max(SIM_COMPARE_PAIRS, self.problem.timing_sets)
                if pairs
                else (self.problem.timing_sets)
            )
            options = TimingOptions(
                warmup_ms=0.0, min_reps=n, max_reps=n, budget_ms=math.inf, check_every=1
            )
            return TimeJob(specs, options, fresh_check=fresh), sets
        return TimeJob(specs, self.options.timing, fresh_check=fresh), sets

    def _scattered_sets(self, simulated: bool) -> Any:
        # Timing sets can be hundreds of MB: send them once, not with every candidate, and
        # again only after a worker was replaced (its copy died with it).
        kind: WorkerKind = "sim" if simulated else "gpu"
        held = self._scattered.get(kind)
        if held is None or held[0] != self.pool.generation:
            cases = self.timing_cases(simulated=simulated)
            twins = self.timing_twins(simulated=simulated)
            sets = TimingSets(
                tuple(_worker_case(i, c, self.problem) for i, c in enumerate(cases)),
                token=uuid.uuid4().hex,
                twins=tuple(
                    dataclasses.replace(_worker_case(len(cases) + j, t, self.problem), of=k)
                    for j, (k, t) in enumerate(twins)
                ),
            )
            self._scattered[kind] = (self.pool.generation, self.pool.scatter(sets, kind))
        return self._scattered[kind][1]

    def _timed(
        self,
        spec: RunSpec,
        route: Plan,
        base: _VerdictBase,
        device: DeviceInfo,
        checked: str,
        n_cases: int,
        worker: str,
    ) -> Verdict:
        simulated = device.simulated
        if simulated and self.problem.timing_inputs is not None:
            note = (
                "timing_inputs are for a GPU: the simulator timed on draws of inputs(seed), "
                "the verification cases' sizes"
            )
            base = dataclasses.replace(base, warnings=(*base.warnings, note))
        outcome = self._run(
            route,
            base,
            "timing",
            time_job,
            lambda: self._time_job((spec,), simulated=simulated),
            prefer=worker,
        )
        if isinstance(outcome, Verdict):
            return outcome
        report, worker = outcome
        timing_cases = self.timing_cases(simulated=simulated)
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
            return self._failed(report.failure, worker, base)
        if report.failure and report.failure.replace_worker:
            self.pool.replace(worker)
        if wrong:
            return base.make(Status.WRONG_RESULT, wrong, cases=n_cases)
        twins = self.timing_twins(simulated=simulated)
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
            report.fresh_ms[0] if report.fresh_ms else (), report.samples_ms[0], simulated
        )
        if skipped:
            return base.make(Status.REJECTED, skipped, cases=n_cases)
        message = (
            f"{checked} and {len(timing_cases)} timing sets; "
            f"{report.checked_runs} timed runs re-checked"
        )
        if simulated:
            timing = judge.summarize(
                report.samples_ms[0], simulated=True, method="host clock on the CPU simulator"
            )
            return base.make(
                Status.CORRECT,
                message + "; timing is simulated, not a GPU timing",
                cases=n_cases,
                timing=timing,
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
        inputs = dict(self.timing_cases(simulated=False)[0].inputs)
        seconds = timing.median_ms / 1e3
        gbps = _work(self.problem.bytes_moved, inputs)
        gflops = _work(self.problem.flops, inputs)
        return Roofline(
            achieved_gbps=gbps / seconds / 1e9 if gbps is not None else None,
            peak_gbps=device.peak_gbps,
            achieved_gflops=gflops / seconds / 1e9 if gflops is not None else None,
            peak_gflops=device.peak_fp32_gflops,
        )


@dataclasses.dataclass(frozen=True)
class _VerdictBase:
    """What every verdict of one evaluation shares, filled in as the evaluation learns it."""

    sha256: str
    warnings: tuple[str, ...]
    seeds: tuple[int, ...] = ()
    backend: str = ""
    device: str = ""
    compile: CompileInfo | None = None

    def make(
        self,
        status: Status,
        message: str,
        *,
        backend: str | None = None,
        device: str | None = None,
        cases: int = 0,
        timing: Timing | None = None,
        roofline: Roofline | None = None,
        flags: tuple[str, ...] = (),
    ) -> Verdict:
        return Verdict(
            status=status,
            message=message,
            backend=backend or self.backend,
            device=device or self.device,
            source_sha256=self.sha256,
            timing=timing,
            compile=self.compile,
            roofline=roofline,
            cases_checked=cases,
            flags=flags,
            warnings=self.warnings,
            seeds=self.seeds,
        )


def _params(fn: Any) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


@dataclasses.dataclass(frozen=True)
class Draw:
    """One evaluation's verification cases: the first `originals`, then their twins."""

    cases: tuple[Case, ...]
    labels: tuple[str, ...]
    worker_cases: tuple[WorkerCase, ...]
    originals: int

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds that reproduce this draw (twins derive from them)."""
        return tuple(c.seed for c in self.cases[: self.originals])


def _worker_case(
    index: int, case: Case, problem: Problem, *, label: str = "", repeats: int = 0
) -> WorkerCase:
    tols = [problem.tolerance(case.tolerance_basis(i)) for i in range(len(case.expected))]
    return WorkerCase(
        index,
        dict(case.inputs),
        case.output_specs,
        rtol=tuple(t.rtol for t in tols),
        atol=tuple(t.atol for t in tols),
        label=label or f"case {index + 1}",
        repeats=repeats,
    )


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

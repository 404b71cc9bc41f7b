"""The harness as the rest of kernelmagic sees it: candidate in, verdict out.

A `Harness` holds one problem (its cases and expected answers, computed once, in
`_draws`) and a pool of worker processes (`_workers`). `evaluate` runs the pipeline:
static checks, compile and verification runs in a worker, comparison here, then timing
in a worker on the GPU (`_timing`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

from kernelmagic.candidate import Candidate
from kernelmagic.errors import OptionError, PoolClosed, WorkersUnavailable
from kernelmagic.harness import _judge as judge
from kernelmagic.harness import _profiler as profiler
from kernelmagic.harness import _sanitizer as sanitizer
from kernelmagic.harness._draws import Draw, Draws, worker_case
from kernelmagic.harness._job_failures import JobTimeout, WorkerDied
from kernelmagic.harness._prepare import StaticFailure, prepare
from kernelmagic.harness._timing import TimingStage
from kernelmagic.harness._verdict_base import VerdictBase
from kernelmagic.harness._worker import describe_device, gpu_compile, verify
from kernelmagic.harness._workers import Workers
from kernelmagic.harness.backends import Plan, plan
from kernelmagic.harness.cluster import WorkerKind, WorkerPool
from kernelmagic.harness.comparison import Comparison, by_size, from_samples, no_comparison
from kernelmagic.harness.devices import DeviceInfo, normalize_arch
from kernelmagic.harness.jobs import RunSpec, VerifyJob
from kernelmagic.harness.options import HarnessOptions
from kernelmagic.harness.profile import Profile
from kernelmagic.harness.verdict import Status, Verdict
from kernelmagic.problem import Case, Problem


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
        self.problem = problem
        self.backend = backend
        self.options = options
        self.workers_failed: str | None = None  # why the workers could not be restored
        self._draws = Draws(problem)
        self._workers = Workers(options, pool, self._draws)
        self._timing = TimingStage(problem, options, self._draws, self._workers)
        self._built_on: dict[str, str] = {}  # candidate hash -> worker name
        self._devices: dict[WorkerKind, DeviceInfo] = {}
        self.sanitizer_note: str | None = None
        self.profiler_note: str | None = None  # why `profile` read no counters

    # -- the problem's side ------------------------------------------------------------

    @property
    def cases(self) -> list[Case]:
        """A first draw of verification cases (raises ProblemError for an unusable problem).

        It names the inputs and gives the problem's warnings; every evaluation then draws
        its own seeds (see `draw`), starting with this draw.
        """
        return self._draws.cases

    @property
    def identity_cases(self) -> list[Case]:
        """Cases of the fixed seeds 0, 1, ...: what identifies the problem across sessions
        (the store's key), never what a candidate is judged on."""
        return self._draws.identity_cases

    @property
    def warnings(self) -> tuple[str, ...]:
        """The problem's warnings, known once `cases` was drawn."""
        return self._draws.warnings

    def draw(self, seeds: tuple[int, ...] | None = None) -> Draw:
        """Verification cases for one evaluation: fresh seeds (or `seeds`, to reproduce a
        verdict), and a twin for each case."""
        return self._draws.draw(seeds)

    @property
    def pool(self) -> WorkerPool:
        return self._workers.pool

    def start_workers(self, width: int = 1) -> None:
        """Size a pool left to its default for `width` evaluations at once, and start it in
        the background while the caller prepares (see `Workers.start_early`)."""
        self._workers.width = width
        self._workers.start_early()

    def slots(self, candidate: Candidate) -> int:
        """How many evaluations of candidates like this one can run at once: the workers of
        its kind (simulator workers, or one per GPU)."""
        route = plan(self.backend, candidate.flavor, gpus=self.pool.gpus)
        return max(1, self.pool.counts[route.worker]) if route.worker else 1

    def _restart_pool(self, seen: int) -> bool:
        """After the workers failed, start a new pool (once per harness); False if not ours."""
        if not self._workers.restart(seen):
            return False
        self._timing.forget()
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
            seen = self._workers.restarts
            try:
                return self._evaluate(candidate, drawn)
            except PoolClosed:
                if self._workers.restarts != seen:
                    continue  # a parallel evaluation replaced the failed pool under this one
                raise  # the process is quitting: there is no verdict to give
            except WorkersUnavailable as exc:
                if self._restart_pool(seen):
                    continue
                self.workers_failed = str(exc)
                return VerdictBase(candidate.sha256, self.warnings, seeds=drawn.seeds).make(
                    Status.CRASHED,
                    f"not evaluated: the worker processes failed ({exc}); not the kernel's fault",
                    backend=self.backend,
                    device="no worker",
                )

    def _evaluate(self, candidate: Candidate, drawn: Draw) -> Verdict:
        warnings = (*self.warnings, *self.pool.sandbox_warnings)
        base = VerdictBase(candidate.sha256, warnings, seeds=drawn.seeds)
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
        outcome = self._workers.run(
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
            return self._workers.failed(report.failure, worker, base)
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
        if report.device.simulated:
            # The simulator's clock says nothing about a GPU: its figure, which only ranks
            # candidates, comes from the runs just made rather than from more of them.
            return self._timing.from_verification(base, report.runs, drawn, checked)
        # Timing runs in the process that verified: state a candidate keeps across calls
        # carries on, and the compiled program is already there.
        return self._timing.verdict(spec, route, base, report.device, checked, n, worker)

    def compare(self, a: Candidate, b: Candidate) -> Comparison:
        """Time A and B interleaved (A B B A ...) in one worker (on the simulator, shares of
        the pairs in each simulator worker); both should be correct first.

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
        timeout = 4 * self.options.timeout_s if simulated else self._workers.timing_timeout()
        try:
            report, worker = self._timing.compared(tuple(specs), route.worker, timeout_s=timeout)
        except (JobTimeout, WorkerDied) as exc:
            return no_comparison(f"the comparison did not finish: {exc}; the worker was replaced")
        if report.failure:
            if report.failure.replace_worker:
                self.pool.replace(worker)
            which = "AB"[report.failed_program or 0]
            return no_comparison(f"candidate {which} failed while timed: {report.failure.message}")
        found = from_samples(report, self.options.too_good_speedup, simulated=simulated)
        if found.estimate is None:
            return found
        sizes = by_size(report, self._timing.sizes(simulated=simulated))
        return dataclasses.replace(found, estimate=dataclasses.replace(found.estimate, sizes=sizes))

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
                base = VerdictBase(candidate.sha256, self.warnings, seeds=drawn.seeds)
                return base.make(
                    Status.REJECTED,
                    f"compute-sanitizer {tool} found errors in it:\n{found}",
                    backend=route.backend,
                    device="GPU",
                )
        return None

    def profile(self, candidate: Candidate) -> Profile | None:
        """On a GPU, Nsight Compute's counters for the candidate's longest kernel, run on the
        largest timing set (verification cases are too small to load a GPU).

        None where they cannot be read (the simulator, no ncu, counters not permitted);
        the reason is kept in `profiler_note`.
        """
        try:
            resolved = self._prepare(candidate)
        except StaticFailure as exc:
            self.profiler_note = f"not profiled: it fails the static checks ({exc.status})"
            return None
        route = plan(self.backend, resolved.flavor, gpus=self.pool.gpus)
        if route.worker != "gpu" or not route.run:
            self.profiler_note = "hardware counters are read on a GPU only"
            return None
        cases = self._draws.timing_cases(simulated=False)
        largest = max(cases, key=lambda c: sum(getattr(v, "nbytes", 0) for v in c.inputs.values()))
        spec = RunSpec(resolved, route.backend, self.options.arch, self.problem.allowed_imports)
        case = worker_case(0, largest, self.problem, label="the largest timing set", repeats=1)
        try:
            found = profiler.run(
                VerifyJob(spec, (case,), repeats=1), timeout_s=4 * self.options.timeout_s
            )
        except profiler.ProfilerUnavailable as exc:
            self.profiler_note = f"no hardware counters: {exc}"
            return None
        self.profiler_note = None
        return found[0]

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

    def _compile_for_gpu(
        self, spec: RunSpec, launches: tuple[Any, ...], base: VerdictBase
    ) -> VerdictBase | Verdict:
        """What the simulator ran, compiled for a real GPU: a kernel only the simulator can
        run is a compile error; the PTX's resources go on the verdict."""
        if not self.pool.counts.get("cc"):
            note = "its kernels were not compiled for a GPU target (no compile worker in this pool)"
            return dataclasses.replace(base, warnings=(*base.warnings, note))
        route = Plan(backend=spec.backend, worker="cc", run=True)
        outcome = self._workers.run(
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


def _params(fn: Any) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []

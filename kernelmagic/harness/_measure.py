"""Timing on the GPU, in a worker: one program, or two interleaved for a fair comparison.

Each repetition refills its input buffers from one of several timing sets, so the same
buffer holds different data from one call to the next: a kernel that caches results by
pointer, by shape or by call count returns stale outputs, and a sample of the timed
runs' outputs is compared with that set's first output (which the calling process checks
against the reference). L2 is flushed before each call, the whole device is synchronized
after it, and a host clock runs beside the device events to catch work on side streams.
Samples are kept raw; the caller summarizes them.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from kernelmagic.harness._candidate_module import CandidateFailure, candidate_print
from kernelmagic.harness._runtime_base import Runtime
from kernelmagic.harness._worker import (
    Program,
    check_inputs,
    classify,
    load,
    runtime,
    to_host,
    upload,
)
from kernelmagic.harness.jobs import (
    POISON_BYTES,
    TimeJob,
    TimeReport,
    TimingOptions,
    TimingSets,
    WorkerCase,
)
from kernelmagic.harness.verdict import Status
from kernelmagic.problem.tolerance import Tolerance, compare


def time_job(job: TimeJob, timing_sets: TimingSets) -> TimeReport:
    """Time `job.specs` (one, or two interleaved) on rotating input sets."""
    sets = timing_sets.sets
    candidate_print.reset()
    rt = runtime(job.specs[0].backend)
    n = len(job.specs)
    failure, failed = None, None
    samples: list[list[float]] = [[] for _ in range(n)]
    host: list[list[float]] = [[] for _ in range(n)]
    fresh: list[list[float]] = [[] for _ in range(n)]
    twin_outs: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(n)]
    firsts: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(n)]
    checked = 0
    current = 0
    try:
        programs: list[Program] = []
        for spec in job.specs:
            current = len(programs)  # named in the failure if loading it fails
            program = load(spec, rt)
            if job.fresh_check and timing_sets.token in program.seen_sets:
                program = load(spec, rt, fresh=True)  # the sets must be new to what is timed
            program.seen_sets.add(timing_sets.token)
            programs.append(program)
        twins = timing_sets.twins if job.fresh_check else ()
        bench = _Bench(rt, (*sets, *twins), len(sets))
        kept: list[list[Any]] = [[] for _ in range(n)]
        for current, program in enumerate(programs):
            for k in range(len(sets)):
                host_out, device_out, _ = bench.first_output(program, k)
                firsts[current].append(host_out)
                kept[current].append(device_out)
            bench.warm_up(program, job.options.warmup_ms)

        # Every shape is warm now (a plan or a memory pool built per size is honest): a
        # twin's call differs from a set's only in values the program never saw. The twins'
        # calls are spread among the repeated ones, so a burst of load on the machine slows
        # both kinds alike instead of passing for skipped work.
        pending = list(range(len(twins)))

        def fresh_call() -> None:
            j = pending.pop(0)
            for current, program in enumerate(programs):
                host_out, _, ms = bench.first_output(program, len(sets) + j)
                twin_outs[current].append(host_out)
                fresh[current].append(ms)

        rng = random.Random()  # unseeded: which runs get checked is not predictable
        deadline = time.perf_counter() + job.options.budget_ms / 1e3
        for rep in range(job.options.max_reps):
            if pending:
                fresh_call()
            k = rep % len(sets)
            order = range(n) if rep % 2 == 0 else reversed(range(n))
            for current in order:
                check = rng.random() < 1.0 / job.options.check_every
                ms, host_ms, check_s = bench.timed_call(
                    programs[current], k, kept[current][k] if check else None
                )
                deadline += check_s  # re-checking is not timing: it does not use the budget
                samples[current].append(ms)
                host[current].append(host_ms)
                checked += check
            if _done(samples, job.options) or time.perf_counter() > deadline:
                break
        while pending:
            fresh_call()
        if job.options.check_every > 1:
            for current, program in enumerate(programs):
                for k in range(len(sets)):  # every set's last word is checked
                    bench.timed_call(program, k, kept[current][k])
                    checked += 1
    except CandidateFailure as exc:
        failure, failed = exc.failure, current
    except BaseException as exc:  # the runtime exists (made above): this is the candidate's
        failure, failed = classify(exc, None, "timing"), current
    finally:
        rt.release()
    return TimeReport(
        samples_ms=tuple(tuple(s) for s in samples),
        host_ms=tuple(tuple(h) for h in host),
        first_outputs=tuple(tuple(f) for f in firsts),
        failure=failure,
        failed_program=failed,
        checked_runs=checked,
        fresh_ms=tuple(tuple(f) for f in fresh) if job.fresh_check else (),
        twin_outputs=tuple(tuple(t) for t in twin_outs) if job.fresh_check else (),
    )


class _Bench:
    """Device copies of the timing sets and the rotating buffers the calls read from.

    Timed calls rotate over the first `rotating` sets; the rest (twins) are first calls only.
    """

    def __init__(self, rt: Runtime, sets: Sequence[WorkerCase], rotating: int) -> None:
        self.rt = rt
        self.sets = sets
        self.rotating = rotating
        self.pristine = [upload(rt, s.inputs) for s in sets]
        # Sets of equal shapes share buffers; the number of buffers is coprime with the
        # number of rotating sets, so every buffer sees every set's data in turn.
        groups: dict[tuple[Any, ...], list[int]] = {}
        for k, s in enumerate(sets[:rotating]):
            groups.setdefault(_shape_key(s), []).append(k)
        for k, s in enumerate(sets[rotating:], start=rotating):
            groups.setdefault(_shape_key(s), [k])  # a twin reads its set's buffers
        self.group_of = {k: _shape_key(s) for k, s in enumerate(sets)}
        self.slots = {
            key: [self._buffers(ks[0]) for _ in range(_coprime_above_one(len(ks)))]
            for key, ks in groups.items()
        }
        self.turn = dict.fromkeys(groups, 0)

    def _buffers(self, k: int) -> dict[str, Any]:
        return {
            name: self.rt.empty(v.shape, v.dtype)
            for name, v in self.sets[k].inputs.items()
            if isinstance(v, np.ndarray)
        }

    def _fill(self, k: int) -> dict[str, Any]:
        key = self.group_of[k]
        slot = self.slots[key][self.turn[key] % len(self.slots[key])]
        self.turn[key] += 1
        for name, buf in slot.items():
            self.rt.copy(buf, self.pristine[k][name])
        return {**self.sets[k].inputs, **slot}

    def first_output(self, program: Program, k: int) -> tuple[tuple[np.ndarray, ...], Any, float]:
        """The set's first result: host copies for the caller, device copies to check
        against, and its latency, timed as every timed call is (a call on data the program
        has not seen: a cache keyed on input contents cannot serve it)."""
        dev = self._fill(k)
        call = program.bind(self.rt, dev, self.sets[k].inputs, self.sets[k].output_specs)
        call.poison(POISON_BYTES[0])
        self.rt.flush_l2()
        self.rt.synchronize()
        timer = self.rt.timer()
        timer.start()
        call.run()
        ms = timer.stop()
        outputs = call.outputs()
        host = tuple(to_host(self.rt, v, i) for i, v in enumerate(outputs))
        self._check_inputs(dev, k)
        kept = tuple(self.rt.keep(v) for v in outputs)
        self.rt.release()
        return host, kept, ms

    def warm_up(self, program: Program, warmup_ms: float) -> None:
        if warmup_ms <= 0:
            return
        end = time.perf_counter() + warmup_ms / 1e3
        for rep in range(1000):
            self.timed_call(program, rep % self.rotating, None)
            if rep >= 1 and time.perf_counter() > end:
                break

    def timed_call(
        self, program: Program, k: int, kept: tuple[Any, ...] | None
    ) -> tuple[float, float, float]:
        """One timed call: (event ms, host ms, seconds spent re-checking it)."""
        case = self.sets[k]
        dev = self._fill(k)
        call = program.bind(self.rt, dev, case.inputs, case.output_specs)
        call.poison(POISON_BYTES[1])
        self.rt.flush_l2()
        self.rt.synchronize()
        timer = self.rt.timer()
        timer.start()
        call.run()
        ms = timer.stop()
        host_ms = getattr(timer, "host_ms", ms)
        t0 = time.perf_counter()
        if kept is not None:
            self._check(call.outputs(), kept, case, k)
            self._check_inputs(dev, k)
        self.rt.release()  # this call's outputs need no red-zone bookkeeping after it
        return ms, host_ms, time.perf_counter() - t0

    def _check(
        self, outputs: tuple[Any, ...], kept: tuple[Any, ...], case: WorkerCase, k: int
    ) -> None:
        for i, (value, ref) in enumerate(zip(outputs, kept, strict=True)):
            if _layout(value) != _layout(ref):
                detail = "a different shape or dtype"
            elif not self.rt.mismatches(value, ref, 2 * case.rtol[i], 2 * case.atol[i]):
                continue
            else:
                found = compare(
                    to_host(self.rt, value, i),
                    to_host(self.rt, ref, i),
                    Tolerance(2 * case.rtol[i], 2 * case.atol[i]),
                )
                detail = found.describe() if found else "a different result"
            raise CandidateFailure(
                Status.WRONG_RESULT,
                f"a timed run on timing set {k + 1} returned {detail} compared with that set's "
                "first run: its output changes from call to call (stale or cached results, "
                "elements it never writes, or a race)",
            )

    def _check_inputs(self, dev: dict[str, Any], k: int) -> None:
        for name, pristine in self.pristine[k].items():
            if isinstance(self.sets[k].inputs[name], np.ndarray) and self.rt.changed(
                dev[name], pristine
            ):
                check_inputs(self.rt, dev, self.sets[k].inputs)  # raises, saying where


def _layout(value: Any) -> tuple[tuple[int, ...], np.dtype]:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return tuple(value.shape), np.dtype(value.dtype)
    arr = np.asarray(value)
    return arr.shape, arr.dtype


def _done(samples: list[list[float]], options: TimingOptions) -> bool:
    return all(
        len(s) >= options.min_reps and relative_error(s) < options.target_rel_error for s in samples
    )


def relative_error(samples: Sequence[float]) -> float:
    """Standard error of the median over the median, from a robust spread (IQR)."""
    if len(samples) < 4:
        return math.inf
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    if med <= 0:
        return math.inf
    sigma = (q3 - q1) / 1.349
    return float(1.2533 * sigma / math.sqrt(len(samples)) / med)


def _shape_key(case: WorkerCase) -> tuple[Any, ...]:
    return tuple(
        sorted(
            (n, v.shape, v.dtype.str) for n, v in case.inputs.items() if isinstance(v, np.ndarray)
        )
    )


def _coprime_above_one(n: int) -> int:
    if n == 1:
        return 1
    p = 2
    while math.gcd(p, n) != 1:
        p += 1
    return p

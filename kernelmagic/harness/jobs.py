"""Values sent to worker processes and back.

A job carries inputs and the shapes/dtypes of the outputs, never the expected values:
the answer stays in the calling process, which does the comparing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kernelmagic.candidate import Candidate
from kernelmagic.harness.devices import DeviceInfo
from kernelmagic.harness.options import TimingOptions
from kernelmagic.harness.verdict import CompileInfo, Status, clip

OutputSpec = tuple[tuple[int, ...], str]  # shape, dtype.str

# Poison written over outputs before each run: the first is NaN in every float type,
# the second an absurd but finite value, so an element left unwritten fails one run.
POISON_BYTES = (0xFF, 0x7B)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to build the same program from a candidate."""

    candidate: Candidate
    backend: str  # "numba-sim" | "numba" | "cuda"
    arch: str | None
    allowed_imports: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class WorkerCase:
    index: int
    inputs: dict[str, Any]
    output_specs: tuple[OutputSpec, ...]
    rtol: tuple[float, ...] = ()  # per output, for comparing timed runs with the first run
    atol: tuple[float, ...] = ()
    label: str = ""  # how messages name it: "case 2 of 3", "the twin of case 2"
    of: int | None = None  # a twin: the case (or timing set) whose shapes and buffers it has
    repeats: int = 0  # runs of this case (0: the job's default)


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why a worker stopped early. `replace_worker`: the CUDA context is unusable."""

    status: Status
    message: str
    replace_worker: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", clip(self.message))


@dataclasses.dataclass(frozen=True)
class VerifyJob:
    spec: RunSpec
    cases: tuple[WorkerCase, ...]
    repeats: int = len(POISON_BYTES)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    case: int
    repeat: int
    outputs: tuple[np.ndarray, ...]
    seconds: float


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    device: DeviceInfo
    compile: CompileInfo | None
    runs: tuple[RunRecord, ...]
    failure: Failure | None
    can_run: bool
    launches: tuple[Any, ...] = ()  # simulator only: gpu_target.KernelLaunch of each kernel


@dataclasses.dataclass(frozen=True)
class TimeJob:
    """`fresh_check`: time each set's first call too, on a program that never saw the sets."""

    specs: tuple[RunSpec, ...]  # one to time, two to compare (interleaved A B B A ...)
    options: TimingOptions
    fresh_check: bool = False


@dataclasses.dataclass(frozen=True)
class TimingSets:
    """The timing inputs, sent to the workers once per problem (they can be large)."""

    sets: tuple[WorkerCase, ...]
    token: str = ""  # names this problem's sets, so a worker knows which programs saw them
    # Per set, when one could be made: the same shapes, other values (index `of` the set).
    twins: tuple[WorkerCase, ...] = ()


@dataclasses.dataclass(frozen=True)
class TimeReport:
    """Per program: event-timed samples, host-clock samples, and each set's first outputs."""

    samples_ms: tuple[tuple[float, ...], ...]
    host_ms: tuple[tuple[float, ...], ...]
    first_outputs: tuple[tuple[tuple[np.ndarray, ...], ...], ...]  # [program][set] -> outputs
    failure: Failure | None
    failed_program: int | None = None
    checked_runs: int = 0
    # [program] -> latencies of calls on twins: shapes it has seen, values it has not
    fresh_ms: tuple[tuple[float, ...], ...] = ()
    twin_outputs: tuple[tuple[tuple[np.ndarray, ...], ...], ...] = ()  # [program][twin]


def merged(reports: list[TimeReport]) -> TimeReport:
    """The shares of one comparison timed in several workers, as one report: the samples in
    turn (each share starts at the first timing set), the first failure, the first outputs."""
    first = reports[0]
    failed = next((r for r in reports if r.failure), None)
    return TimeReport(
        samples_ms=tuple(sum((r.samples_ms[p] for r in reports), ()) for p in range(2)),
        host_ms=tuple(sum((r.host_ms[p] for r in reports), ()) for p in range(2)),
        first_outputs=first.first_outputs,
        failure=failed.failure if failed else None,
        failed_program=failed.failed_program if failed else None,
        checked_runs=sum(r.checked_runs for r in reports),
    )

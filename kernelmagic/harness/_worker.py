"""Tasks that run inside worker processes: load a candidate, run it, report what it did.

Nothing here decides whether a result is right: outputs go back to the calling process,
which holds the expected values. What is decided here is what only the worker can see:
compile errors, exceptions, CUDA errors, host-side work, writes into inputs.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from kernelmagic.errors import BackendUnavailable
from kernelmagic.harness import _guard as guard
from kernelmagic.harness._candidate_module import (
    CandidateFailure,
    candidate_builtins,
    candidate_filename,
    candidate_print,
    exception_text,
)
from kernelmagic.harness._cuda_c_program import CudaCProgram
from kernelmagic.harness._python_program import PythonProgram
from kernelmagic.harness._runtime_base import Runtime
from kernelmagic.harness._runtimes import make_runtime
from kernelmagic.harness.devices import DeviceInfo, normalize_arch, profile
from kernelmagic.harness.jobs import (
    POISON_BYTES,
    Failure,
    RunRecord,
    RunSpec,
    VerifyJob,
    VerifyReport,
    WorkerCase,
)
from kernelmagic.harness.verdict import Status

Program = PythonProgram | CudaCProgram

_runtimes: dict[str, Runtime] = {}
_programs: collections.OrderedDict[tuple[str, str, str], Program] = collections.OrderedDict()
_PROGRAM_CACHE = 16

# CUDA errors after which the context cannot be used again: the worker must be replaced.
_STICKY = (
    "ILLEGAL_ADDRESS",
    "IllegalAddress",
    "LAUNCH_FAILED",
    "LaunchFailure",
    "MISALIGNED_ADDRESS",
    "MisalignedAddress",
    "ILLEGAL_INSTRUCTION",
    "IllegalInstruction",
    "HARDWARE_STACK_ERROR",
    "HardwareStackError",
    "INVALID_PC",
    "InvalidPc",
    "LAUNCH_TIMEOUT",
    "LaunchTimeout",
    "ERROR_ASSERT",
    "cudaErrorAssert",
    "illegal memory access",
    "unspecified launch failure",
)
_OOM = ("OUT_OF_MEMORY", "MemoryAllocation", "OutOfMemory", "out of memory")


def runtime(backend: str) -> Runtime:
    if backend not in _runtimes:
        _runtimes[backend] = make_runtime(backend)
    return _runtimes[backend]


def gpu_compile(spec: RunSpec, launches: tuple[Any, ...]) -> Any:
    """In a worker without the simulator: compile what the simulator launched for a GPU.

    Returns a `gpu_target.GpuCompile`; the candidate's module runs here too (its top level
    builds the kernels), so this worker is confined like the simulator's.
    """
    from kernelmagic.harness._gpu_target import compile_launches

    guard.install_signature_guard()
    digits = normalize_arch(spec.arch or "sm_90")[3:].rstrip("af")
    cc = (int(digits[:-1]), int(digits[-1]))
    candidate = spec.candidate
    return compile_launches(
        candidate.placed_source,  # what the simulator worker loaded
        candidate_filename(candidate),
        launches,
        builtins=candidate_builtins(spec.allowed_imports),
        cc=cc,
    )


def describe_device(backend: str) -> DeviceInfo:
    """The device this worker runs `backend` on (a small job: no candidate involved)."""
    return runtime(backend).device_info()


def load(spec: RunSpec, rt: Runtime | None, *, fresh: bool = False) -> Program:
    """Compile/load a candidate, reusing this worker's copy unless `fresh` asks for a new one."""
    # On a GPU the target is the GPU; a named architecture is for compiling without one.
    arch = rt.device_info().arch if rt and not rt.simulated else (spec.arch or "sm_90")
    key = (spec.candidate.sha256, spec.backend, arch if rt is not None else arch + ":compile")
    if key in _programs and not fresh:
        _programs.move_to_end(key)
        cached = _programs[key]
        cached.compile = dataclasses.replace(cached.compile, cached=True)
        return cached
    program: Program
    if spec.candidate.kind == "cuda_c":
        program = CudaCProgram(spec, arch, load=rt is not None)
    else:
        program = PythonProgram(spec)
    _programs[key] = program
    while len(_programs) > _PROGRAM_CACHE:
        _, evicted = _programs.popitem(last=False)
        if isinstance(evicted, PythonProgram):
            evicted.forget()
    return program


def verify(job: VerifyJob, *, run: bool) -> VerifyReport:
    """Compile the candidate and, when `run`, run every case `job.repeats` times."""
    spec = job.spec
    device = profile(spec.arch or "sm_90")
    candidate_print.reset()
    try:
        rt = runtime(spec.backend) if run else None
        device = rt.device_info() if rt else device
        program = load(spec, rt)
    except CandidateFailure as exc:
        return VerifyReport(device, exc.compile_info, (), exc.failure, can_run=run)
    except BackendUnavailable:
        raise  # a missing extra (CuPy): the machine's setup, never the candidate's failure
    except BaseException as exc:
        return VerifyReport(device, None, (), classify(exc, None, "loading"), can_run=run)
    if rt is None:
        return VerifyReport(device, program.compile, (), _dry_run(program, job), can_run=False)
    runs: list[RunRecord] = []
    launched: dict[Any, None] = {}
    failure = None
    context = "uploading inputs"
    buffers: dict[int, dict[str, Any]] = {}
    try:
        for case in job.cases:
            dev = refill(rt, None if case.of is None else buffers.get(case.of), case.inputs)
            buffers.setdefault(case.index, dev)
            for rep in range(case.repeats or job.repeats):
                context = f"{case.label}, run {rep + 1}"
                runs.append(run_once(program, rt, dev, case, rep, launched))
    except CandidateFailure as exc:
        failure = _with_context(exc.failure, context)
    except BaseException as exc:  # the runtime exists by now: whatever is raised is the run's
        failure = classify(exc, program, context)
    finally:
        rt.release()
    compiled = program.compile
    if isinstance(program, PythonProgram) and not rt.simulated:
        # numba compiles on first launch: its kernels' resources exist only now.
        compiled = dataclasses.replace(compiled, resources=program.resources())
    return VerifyReport(
        device, compiled, tuple(runs), failure, can_run=True, launches=tuple(launched)
    )


def _dry_run(program: Program, job: VerifyJob) -> Failure | None:
    """Without a device: check that a CUDA C kernel binds and launches for every case."""
    if not isinstance(program, CudaCProgram):
        return None
    for case in job.cases:
        try:
            program.plan(case.inputs, case.output_specs)
        except CandidateFailure as exc:
            return _with_context(exc.failure, case.label)
    return None


def upload(rt: Runtime, inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: rt.upload(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}


def refill(
    rt: Runtime, held: Mapping[str, Any] | None, inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """`inputs` on the device, in the buffers `held` (a twin's case's) where the shapes match:
    the same pointers with other values; new buffers otherwise."""
    if held is None:
        return upload(rt, inputs)
    dev = {}
    for name, value in inputs.items():
        buf = held.get(name)
        same = isinstance(value, np.ndarray) and _same_layout(buf, value)
        if same:
            rt.copy(buf, rt.upload(value))
        dev[name] = buf if same else rt.upload(value) if isinstance(value, np.ndarray) else value
    return dev


def _same_layout(buf: Any, value: np.ndarray) -> bool:
    shape, dtype = getattr(buf, "shape", None), getattr(buf, "dtype", None)
    return shape is not None and tuple(shape) == value.shape and np.dtype(dtype) == value.dtype


def run_once(
    program: Program,
    rt: Runtime,
    dev: Mapping[str, Any],
    case: WorkerCase,
    rep: int,
    launched: dict[Any, None],
) -> RunRecord:
    """One call on poisoned outputs, watched for host-side work; inputs checked after.

    The simulator's kernel launches are added to `launched`, to be compiled for a GPU."""
    call = program.bind(rt, dev, case.inputs, case.output_specs)
    poison = POISON_BYTES[rep % len(POISON_BYTES)]
    call.poison(poison)
    rt.synchronize()
    t0 = time.perf_counter()
    with guard.watching(poison) as rec:
        call.run()
        rt.synchronize()
        outputs = call.outputs()
    seconds = time.perf_counter() - t0
    launched.update(rec.described)
    if isinstance(program, PythonProgram):
        # Outputs with no elements need no launch (a GPU refuses an empty grid): decided by
        # the reference's shapes, never by reading the candidate's objects before their type.
        specs = case.output_specs
        work = not specs or any(int(np.prod(shape)) for shape, _ in specs)
        problem = guard.verdict_on_host_work(
            rec, outputs, launches_counted=rt.counts_launches and work
        )
        if problem:
            raise CandidateFailure(Status.REJECTED, problem)
    check_overruns(rt, dev, outputs)
    host = tuple(to_host(rt, value, i) for i, value in enumerate(outputs))
    check_inputs(rt, dev, case.inputs)
    return RunRecord(case.index, rep, host, seconds)


def check_overruns(rt: Runtime, dev: Mapping[str, Any], outputs: tuple[Any, ...]) -> None:
    """A write past the end of a buffer the harness allocated is a missing bounds check."""
    named = [(f"input '{name}'", value) for name, value in dev.items()]
    named += [(f"output {i}", value) for i, value in enumerate(outputs)]
    for what, value in named:
        if rt.overrun(value):
            raise CandidateFailure(
                Status.RUNTIME_ERROR,
                f"the kernel wrote past the end of {what} (a missing bounds check?)",
            )


def to_host(rt: Runtime, value: Any, index: int) -> np.ndarray:
    try:
        return rt.download(value)
    except TypeError:
        raise CandidateFailure(
            Status.WRONG_RESULT, f"output {index} is a {type(value).__name__}, not an array"
        ) from None


def check_inputs(rt: Runtime, dev: Mapping[str, Any], pristine: Mapping[str, Any]) -> None:
    """Inputs are read-only: compare each with its pristine copy, bit for bit."""
    for name, original in pristine.items():
        if not isinstance(original, np.ndarray):
            continue
        after = rt.download(dev[name])
        changed = _changed_elements(after, original)
        if changed.size:
            first = tuple(int(i) for i in np.unravel_index(int(changed[0]), original.shape))
            raise CandidateFailure(
                Status.REJECTED,
                f"the kernel wrote into input '{name}' (first change at index {list(first)}: "
                f"{original[first]!r} -> {after[first]!r}; {changed.size} of {original.size} "
                "elements changed): inputs are read-only, write results to an output",
            )


def _changed_elements(after: np.ndarray, original: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(after).view(np.uint8).reshape(-1, max(original.itemsize, 1))
    b = np.ascontiguousarray(original).view(np.uint8).reshape(-1, max(original.itemsize, 1))
    if a.shape != b.shape:
        return np.arange(original.size)
    return np.flatnonzero((a != b).any(axis=1))


def classify(exc: BaseException, program: Program | None, context: str) -> Failure:
    """Turn an exception from candidate code or the CUDA runtime into a failure."""
    text = exception_text(exc)
    if any(s in text for s in _STICKY):
        return Failure(
            Status.CRASHED,
            f"CUDA error during {context}: {_first_line(text)}; the CUDA context is "
            "unusable after this, so the worker was replaced",
            replace_worker=True,
        )
    if any(s in text for s in _OOM):
        return Failure(
            Status.CRASHED,
            f"out of device memory during {context}: {_first_line(text)}",
            replace_worker=True,
        )
    detail = text
    if isinstance(program, PythonProgram):
        try:
            detail = program.explain(exc)
        except Exception:
            detail = text
    if any(cls.__name__ == "NumbaError" for cls in type(exc).__mro__):
        return Failure(
            Status.COMPILE_ERROR, f"numba could not compile a kernel ({context}): {detail}"
        )
    return Failure(Status.RUNTIME_ERROR, f"{context}: {detail}")


def _with_context(failure: Failure, context: str) -> Failure:
    return Failure(failure.status, f"{context}: {failure.message}", failure.replace_worker)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text

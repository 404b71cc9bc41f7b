"""Turning a candidate into something callable, in a worker.

A Python candidate is executed as a fresh module with restricted builtins (it passed the
static safety rules before it got here) and called through its entry function. A CUDA C
candidate is compiled with NVRTC and, on a GPU, loaded through CuPy; its parameters are
bound to inputs by name and its outputs are allocated here. Problems are raised as
`CandidateFailure` carrying the status to report.
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import linecache
import sys
import time
import traceback
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from kernelmagic.candidate import CUDA_SUFFIXES, Candidate, cuda_source, launch
from kernelmagic.candidate.safety import SAFE_BUILTINS
from kernelmagic.candidate.safety.allowlist import extra_modules, import_problem
from kernelmagic.harness import _nvrtc as nvrtc
from kernelmagic.harness._runtimes import Runtime
from kernelmagic.harness.jobs import Failure, OutputSpec, RunSpec
from kernelmagic.harness.verdict import CompileInfo, Resources, Status, clip

CANDIDATE_MODULE_PREFIX = "kernelmagic_candidate_"


class CandidateFailure(Exception):
    """A candidate-caused stop, carried up to the job as a `Failure`."""

    def __init__(
        self,
        status: Status,
        message: str,
        *,
        replace_worker: bool = False,
        compile_info: CompileInfo | None = None,
    ) -> None:
        super().__init__(message)
        self.failure = Failure(status, message, replace_worker)
        self.compile_info = compile_info


class PythonProgram:
    """A Python candidate module and its entry function."""

    def __init__(self, spec: RunSpec) -> None:
        cand = spec.candidate
        self.filename = candidate_filename(cand)
        t0 = time.perf_counter()
        try:
            module, _ = load_module(
                cand.source,
                self.filename,
                f"{CANDIDATE_MODULE_PREFIX}{cand.sha256[:12]}",
                candidate_builtins(spec.allowed_imports),
            )
        except Exception as exc:
            why = self.explain(exc)
            if "FakeOverload" in why:  # numba-cuda's simulator cannot build GPU ufuncs
                why += (
                    "\n(numba-cuda's CPU simulator cannot run @cuda.vectorize or "
                    "@cuda.guvectorize kernels: write a @cuda.jit kernel, or check it on a GPU)"
                )
            raise CandidateFailure(
                Status.COMPILE_ERROR, "the candidate failed while loading: " + why
            ) from None
        self.compile = CompileInfo(ok=True, seconds=time.perf_counter() - t0)
        self.seen_sets: set[str] = set()  # timing sets this instance has been called on
        if cand.entry is None or not callable(module.__dict__.get(cand.entry)):
            raise CandidateFailure(Status.COMPILE_ERROR, f"entry function {cand.entry!r} not found")
        self.module = module
        self.entry = module.__dict__[cand.entry]
        self.params = [
            p.name
            for p in inspect.signature(self.entry).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]

    def resources(self) -> tuple[Resources, ...]:
        """Registers, shared and local memory of each numba kernel compiled so far (GPU only)."""
        found = []
        for name, obj in vars(self.module).items():
            overloads = getattr(obj, "overloads", None)
            for kernel in overloads.values() if isinstance(overloads, dict) else ():
                if hasattr(kernel, "regs_per_thread"):  # a compiled kernel, one per signature
                    found.append(
                        Resources(
                            kernel=name,
                            registers=kernel.regs_per_thread,
                            stack_frame_bytes=kernel.local_mem_per_thread,
                            shared_bytes=kernel.shared_mem_per_block,
                        )
                    )
        return tuple(found)

    def forget(self) -> None:
        """Drop what loading registered process-wide, when the worker evicts this program."""
        forget_module(self.module, self.filename)

    def bind(
        self,
        rt: Runtime,
        dev_inputs: Mapping[str, Any],
        host_inputs: Mapping[str, Any],
        specs: tuple[OutputSpec, ...],
    ) -> PythonCall:
        kwargs = {p: dev_inputs[p] for p in self.params if p in dev_inputs}
        scratch = 2 * sum(int(np.prod(shape)) * np.dtype(dt).itemsize for shape, dt in specs)
        return PythonCall(self, rt, kwargs, len(specs), scratch)

    def explain(self, exc: BaseException) -> str:
        """The exception with only the candidate's own frames: where in *its* code it failed."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == self.filename]
        where = "".join(
            f"\n  line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames[-3:]
        )
        lines = exception_text(exc).splitlines()
        if len(lines) > 15:
            lines = [*lines[:15], f"... ({len(lines) - 15} more lines)"]
        return "\n".join(lines) + where


class _BoundedPrint:
    """`print` as candidates get it: at most `limit` characters per job reach the worker's log.

    Debug prints are welcome; a candidate printing gigabytes (from every simulated thread)
    must not fill the disk or stall the job on its own output.
    """

    limit = 64 * 1024

    def __init__(self) -> None:
        self.left = self.limit

    def reset(self) -> None:
        self.left = self.limit

    def __call__(self, *args: Any, sep: Any = " ", end: Any = "\n", **_ignored: Any) -> None:
        if self.left <= 0:
            return
        text = str(sep).join(str(a) for a in args) + str(end)
        if len(text) > self.left:
            text = text[: self.left] + f"\n[kernelmagic: output cut at {self.limit} characters]\n"
        self.left -= len(text)
        sys.stdout.write(text)


candidate_print = _BoundedPrint()

_PLAIN = (str, int, float, bool, type(None))


def exception_text(exc: BaseException) -> str:
    """`Type: message`, built without running any code the candidate wrote.

    A candidate's exception class (or an argument object of its own) could define a
    `__str__` that never returns or returns megabytes; such exceptions are described
    from their plain arguments only, and every text is clipped.
    """
    kind = type(exc)
    args = vars(BaseException)["args"].__get__(exc)  # not a class attribute it shadowed
    own_class = any(
        str(vars(c).get("__module__", "")).startswith(CANDIDATE_MODULE_PREFIX) for c in kind.__mro__
    )
    if own_class or not all(type(a) in _PLAIN for a in args):
        shown = [
            clip(a) if type(a) is str else repr(a) if type(a) in _PLAIN else f"<{type(a).__name__}>"
            for a in args[:8]
        ]
        text = ", ".join(shown)
    else:
        try:
            text = clip(str(exc))
        except Exception:  # a library exception whose own formatting fails
            text = ", ".join(clip(str(a)) for a in args[:8])
    return f"{kind.__name__}: {text}".strip() if text else kind.__name__


def load_module(
    source: str, filename: str, name: str, builtins: Mapping[str, Any]
) -> tuple[types.ModuleType, types.CodeType]:
    """Execute candidate `source` as a fresh module `name` with `builtins`.

    Registered in `linecache` (so tracebacks and numba's messages quote the candidate's
    lines, even when loading fails) and in `sys.modules` (numba resolves globals through
    it); `forget_module` undoes both. Returns the module and its top-level code object,
    whose constants hold every function it defines.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = dict(builtins)
    sys.modules[name] = module
    try:
        code = compile(source, filename, "exec")
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module, code


def forget_module(module: types.ModuleType, filename: str) -> None:
    sys.modules.pop(module.__name__, None)
    linecache.cache.pop(filename, None)


def candidate_filename(candidate: Candidate) -> str:
    """The name candidate code is compiled under: tracebacks are told apart from ours by it."""
    return f"<candidate {candidate.sha256[:12]}>"


def candidate_builtins(allowed_imports: tuple[str, ...]) -> dict[str, Any]:
    """The builtins candidate modules run with: the safe set, a bounded print, a guarded import."""
    return {
        **SAFE_BUILTINS,
        "print": candidate_print,
        "__import__": _guarded_import(allowed_imports),
    }


class PythonCall:
    """One bound invocation: `poison` before, `run` is what gets timed, then `outputs`."""

    def __init__(
        self,
        program: PythonProgram,
        rt: Runtime,
        kwargs: dict[str, Any],
        n_outputs: int,
        scratch_bytes: int,
    ) -> None:
        self._program = program
        self._rt = rt
        self._kwargs = kwargs
        self._n = n_outputs
        self._scratch = scratch_bytes
        self.result: Any = None

    def poison(self, byte: int) -> None:
        # The entry allocates its own outputs; leave poison where those allocations land.
        self._rt.scrub(self._scratch, byte)

    def run(self) -> None:
        self.result = self._program.entry(**self._kwargs)

    def outputs(self) -> tuple[Any, ...]:
        """What the entry returned, as arrays of exactly the runtime's (or NumPy's) own types.

        Exact type checks only: nothing the candidate defined (a subclass, an object with
        the right attributes, a `__len__`) gets to run while the harness reads its result.
        """
        result = self.result
        single = self._n == 1 and type(result) not in (tuple, list)
        values = (result,) if single else result
        if type(values) not in (tuple, list):
            raise CandidateFailure(
                Status.WRONG_RESULT,
                f"the entry function returned one {type(result).__name__}; the reference returns "
                f"{self._n} arrays",
            )
        if len(values) != self._n:
            raise CandidateFailure(
                Status.WRONG_RESULT,
                f"the entry function returned {len(values)} values; "
                f"the reference returns {self._n}",
            )
        for i, value in enumerate(values):
            if not self._rt.own(value):
                raise CandidateFailure(
                    Status.WRONG_RESULT,
                    f"output {i} is a {type(value).__name__}, not an array the runtime made: "
                    "return the device array your kernel wrote (or a NumPy array copied from it)",
                )
        return tuple(values)


class CudaCProgram:
    """A CUDA C kernel compiled by NVRTC; loaded through CuPy when there is a GPU."""

    def __init__(self, spec: RunSpec, arch: str, *, load: bool) -> None:
        cand = spec.candidate
        self.kernel_name = cand.kernel or ""
        sigs = [
            k
            for k in cuda_source.find_kernels(cand.source)
            if k.name == self.kernel_name.split("<")[0].strip()
        ]
        # A definition carries parameter names; explicit instantiations do not.
        sigs = [k for k in sigs if k.defined] or sigs
        if not sigs:
            raise CandidateFailure(
                Status.COMPILE_ERROR, f"no __global__ kernel named {self.kernel_name!r}"
            )
        self.signature = sigs[-1]
        self.seen_sets: set[str] = set()
        self.grid, self.block, self.shared = cand.grid, cand.block or "256", cand.shared
        try:
            out = nvrtc.compile_cuda(
                cand.source,
                name_expression=self.kernel_name,
                arch=arch,
                options=cand.compile_options,
                filename=_cuda_filename(cand.name),  # messages name the user's file
            )
        except ValueError as exc:  # a target this NVRTC cannot build for
            raise CandidateFailure(Status.COMPILE_ERROR, str(exc)) from None
        self.compile = CompileInfo(
            ok=out.ok, log=out.log, seconds=out.seconds, arch=out.arch, resources=out.resources
        )
        if not out.ok:
            raise CandidateFailure(
                Status.COMPILE_ERROR,
                out.first_error or out.log or "compilation failed",
                compile_info=self.compile,
            )
        self.function: Any = None
        if load:
            import cupy

            module = cupy.cuda.function.Module()
            module.load(out.cubin)
            self._module = module  # the function is only valid while its module lives
            self.function = module.get_function(out.lowered_name)
            if not self.compile.resources:
                # ptxas's report was missing from NVRTC's log once on an H100 (NVRTC 13.0);
                # the loaded function's own attributes say the same, minus spills.
                self.compile = dataclasses.replace(
                    self.compile, resources=(_function_resources(self.function, self.kernel_name),)
                )

    def bind(
        self,
        rt: Runtime,
        dev_inputs: Mapping[str, Any],
        host_inputs: Mapping[str, Any],
        specs: tuple[OutputSpec, ...],
    ) -> CudaCall:
        plan = self.plan(host_inputs, specs)
        outputs = tuple(rt.empty(shape, np.dtype(dtype)) for shape, dtype in specs)
        args = [
            dev_inputs[value] if kind == "input" else outputs[value] if kind == "output" else value
            for kind, value in plan.args
        ]
        return CudaCall(self, rt, args, outputs, plan.grid, plan.block, plan.shared)

    def plan(self, host_inputs: Mapping[str, Any], specs: tuple[OutputSpec, ...]) -> LaunchPlan:
        """How the kernel's parameters bind to inputs and outputs, and its launch shape.

        Needs no device, so a CPU-only machine still checks it for every case.
        """
        args: list[tuple[str, Any]] = []
        n_out = 0
        for param in self.signature.params:
            if param.name in host_inputs:
                args.append(self._bind_input(param, host_inputs[param.name]))
            elif param.pointer and not param.const:
                if n_out >= len(specs):
                    raise CandidateFailure(
                        Status.COMPILE_ERROR,
                        f"parameter '{param.name}' is not an input, and the reference has only "
                        f"{len(specs)} output(s) for the non-const pointers",
                    )
                dtype = np.dtype(specs[n_out][1])
                _check_pointee(param, dtype, f"output {n_out}", Status.WRONG_RESULT)
                args.append(("output", n_out))
                n_out += 1
            else:
                raise CandidateFailure(
                    Status.COMPILE_ERROR,
                    f"parameter '{param.name}' ({param.c_type}) is not an input (inputs: "
                    f"{', '.join(host_inputs)}); outputs must be non-const pointers",
                )
        if n_out != len(specs):
            raise CandidateFailure(
                Status.WRONG_RESULT,
                f"the kernel has {n_out} output pointer(s); "
                f"the reference returns {len(specs)} array(s)",
            )
        return LaunchPlan(tuple(args), *self._launch(host_inputs, specs))

    def _bind_input(self, param: cuda_source.Param, host: Any) -> tuple[str, Any]:
        if isinstance(host, np.ndarray):
            if not param.pointer:
                raise CandidateFailure(
                    Status.COMPILE_ERROR,
                    f"parameter '{param.name}' is a scalar but input '{param.name}' is an array",
                )
            _check_pointee(param, host.dtype, f"input '{param.name}'", Status.COMPILE_ERROR)
            return ("input", param.name)
        if param.pointer:
            raise CandidateFailure(
                Status.COMPILE_ERROR,
                f"parameter '{param.name}' is a pointer but input '{param.name}' is a scalar",
            )
        scalar_type = cuda_source.scalar_numpy_type(param.base)
        if scalar_type is None:
            raise CandidateFailure(
                Status.COMPILE_ERROR,
                f"cannot pass a scalar as parameter '{param.name}' of type {param.c_type}",
            )
        return ("scalar", scalar_type(host))

    def _launch(
        self, host_inputs: Mapping[str, Any], specs: tuple[OutputSpec, ...]
    ) -> tuple[tuple[int, ...], tuple[int, ...], int]:
        try:
            block = _dims(launch.evaluate(self.block, host_inputs))
            if self.grid is None:
                # Default: one thread per element of the first output.
                elements = int(np.prod(specs[0][0])) if specs else 1
                grid: tuple[int, ...] = (launch.cdiv(max(elements, 1), int(np.prod(block))),)
            else:
                grid = _dims(launch.evaluate(self.grid, host_inputs))
            shared = int(launch.evaluate_number(self.shared, host_inputs)) if self.shared else 0
        except launch.LaunchError as exc:
            raise CandidateFailure(Status.COMPILE_ERROR, f"launch configuration: {exc}") from None
        return grid, block, shared


@dataclasses.dataclass(frozen=True)
class LaunchPlan:
    """Each argument as ("input", name), ("output", index) or ("scalar", value)."""

    args: tuple[tuple[str, Any], ...]
    grid: tuple[int, ...]
    block: tuple[int, ...]
    shared: int


class CudaCall:
    """One bound launch with harness-owned outputs; same shape as `PythonCall`."""

    def __init__(
        self,
        program: CudaCProgram,
        rt: Runtime,
        args: list[Any],
        outputs: tuple[Any, ...],
        grid: tuple[int, ...],
        block: tuple[int, ...],
        shared: int,
    ) -> None:
        self._fn = program.function
        self._rt = rt
        self._args = tuple(args)
        self._outputs = outputs
        self._grid, self._block, self._shared = grid, block, shared
        if shared > 48 * 1024:
            # Above 48 KiB a kernel must opt in to dynamic shared memory.
            from cupy_backends.cuda.api import driver

            driver.funcSetAttribute(
                self._fn.ptr, driver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared
            )

    def poison(self, byte: int) -> None:
        for arr in self._outputs:
            self._rt.fill_bytes(arr, byte)

    def run(self) -> None:
        self._fn(self._grid, self._block, self._args, shared_mem=self._shared)

    def outputs(self) -> tuple[Any, ...]:
        return self._outputs


def _function_resources(function: Any, name: str) -> Resources:
    from cupy_backends.cuda.api import driver

    def attribute(which: int) -> int:
        return int(driver.funcGetAttribute(which, function.ptr))

    return Resources(
        kernel=name,
        registers=attribute(driver.CU_FUNC_ATTRIBUTE_NUM_REGS),
        stack_frame_bytes=attribute(driver.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES),
        shared_bytes=attribute(driver.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES),
    )


def _guarded_import(extra: tuple[str, ...]) -> Any:
    """`import` inside candidate modules: the static rules' module and name lists, applied
    again (``from numba import cuda`` arrives as "numba" with fromlist ("cuda",))."""
    extras = extra_modules(extra)

    def guarded(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        problems = [import_problem(name, item, extras) for item in fromlist or (None,)]
        if level or any(problems):
            raise ImportError(
                "candidates may not use relative imports"
                if level
                else next(p for p in problems if p)
            )
        return builtins.__import__(name, globals, locals, fromlist, level)

    return guarded


def _dims(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,)


def _check_pointee(param: cuda_source.Param, dtype: np.dtype, what: str, status: Status) -> None:
    if param.dtype is None or param.dtype == dtype.name:
        return
    raise CandidateFailure(
        status,
        f"parameter '{param.name}' points to {param.base} ({param.dtype}) "
        f"but {what} is {dtype.name}",
    )


def _cuda_filename(name: str) -> str:
    return name if name.endswith(CUDA_SUFFIXES) else f"{name}.cu"

"""A Python candidate (numba.cuda or CuPy), made callable in a worker.

It is executed as a fresh module with restricted builtins (it passed the static safety
rules before it got here) and called through its entry function, which allocates its own
outputs; what it returns is accepted only as exactly the runtime's (or NumPy's) arrays.
"""

from __future__ import annotations

import inspect
import time
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from kernelmagic.harness._candidate_module import (
    CANDIDATE_MODULE_PREFIX,
    CandidateFailure,
    candidate_builtins,
    candidate_filename,
    exception_text,
    forget_module,
    load_module,
)
from kernelmagic.harness._runtime_base import Runtime
from kernelmagic.harness.jobs import OutputSpec, RunSpec
from kernelmagic.harness.verdict import CompileInfo, Resources, Status


class PythonProgram:
    """A Python candidate module and its entry function."""

    def __init__(self, spec: RunSpec) -> None:
        cand = spec.candidate
        self.filename = candidate_filename(cand)
        t0 = time.perf_counter()
        try:
            module, _ = load_module(
                cand.placed_source,  # tracebacks and numba's messages number the user's lines
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

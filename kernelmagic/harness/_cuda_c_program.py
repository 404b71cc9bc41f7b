"""A CUDA C candidate, made callable in a worker.

The kernel is compiled with NVRTC and, on a GPU, loaded through CuPy; its parameters are
bound to inputs by name and its outputs are allocated here, by the harness. Problems are
raised as `CandidateFailure` carrying the status to report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from kernelmagic import _extras as extras
from kernelmagic.candidate import CUDA_SUFFIXES, cuda_source, launch
from kernelmagic.harness import _nvrtc as nvrtc
from kernelmagic.harness._candidate_module import CandidateFailure
from kernelmagic.harness._runtime_base import Runtime
from kernelmagic.harness.jobs import OutputSpec, RunSpec
from kernelmagic.harness.verdict import CompileInfo, Resources, Status


class CudaCProgram:
    """A CUDA C kernel compiled by NVRTC; loaded through CuPy when there is a GPU."""

    def __init__(self, spec: RunSpec, arch: str, *, load: bool) -> None:
        cand = spec.candidate
        self.kernel_name = cand.kernel or ""
        sigs = [
            k
            for k in cuda_source.find_kernels(cand.source)
            if k.name == cuda_source.kernel_base_name(self.kernel_name)
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
                cand.placed_source,  # NVRTC's and ptxas's line numbers are the user's
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
            cupy = extras.require("cupy")
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
        if (reason := launch.rejected(grid, block)) is not None:
            raise CandidateFailure(
                Status.COMPILE_ERROR, f"launch configuration grid={grid}, block={block}: {reason}"
            )
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
            driver = extras.require("cupy_backends.cuda.api.driver")
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
    driver = extras.require("cupy_backends.cuda.api.driver")

    def attribute(which: int) -> int:
        return int(driver.funcGetAttribute(which, function.ptr))

    return Resources(
        kernel=name,
        registers=attribute(driver.CU_FUNC_ATTRIBUTE_NUM_REGS),
        stack_frame_bytes=attribute(driver.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES),
        shared_bytes=attribute(driver.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES),
    )


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

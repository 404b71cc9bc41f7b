"""Compiling what the simulator ran for a real GPU, on a machine without one.

The CPU simulator runs any Python inside a @cuda.jit body (NumPy calls, lists, plain
helpers), so a kernel that only the simulator can run would pass. Each launch is
therefore described in the simulator worker (`describe_launch`: the kernel's code
identity in the candidate module, its argument types, options and captured cells, as
small picklable values), and compiled in a worker without the simulator
(`compile_launches`: numba to PTX for a named sm_XX, which needs libNVVM but no GPU).
A kernel a GPU target rejects is a compile error; the PTX gives static shared memory,
and ptxas (nvJitLink's or a CUDA toolkit's) registers, stack and spills when present.
"""

from kernelmagic.harness._gpu_target._compile import compile_launches, forget_module, load_module
from kernelmagic.harness._gpu_target._launches import (
    ARRAY_CONSTANT_LIMIT_BYTES,
    Arg,
    ArrayArg,
    ArrayConstant,
    CodeRef,
    Constant,
    Function,
    GpuCompile,
    KernelCompile,
    KernelLaunch,
    ModuleRef,
    NotCapturable,
    NotRebuildable,
    Outcome,
    ScalarArg,
    TupleArg,
    Value,
    describe_launch,
)
from kernelmagic.harness._gpu_target._ptx import MAX_STATIC_SHARED_BYTES, PtxReport, ptx_report

__all__ = [
    "ARRAY_CONSTANT_LIMIT_BYTES",
    "MAX_STATIC_SHARED_BYTES",
    "Arg",
    "ArrayArg",
    "ArrayConstant",
    "CodeRef",
    "Constant",
    "Function",
    "GpuCompile",
    "KernelCompile",
    "KernelLaunch",
    "ModuleRef",
    "NotCapturable",
    "NotRebuildable",
    "Outcome",
    "PtxReport",
    "ScalarArg",
    "TupleArg",
    "Value",
    "compile_launches",
    "describe_launch",
    "forget_module",
    "load_module",
    "ptx_report",
]

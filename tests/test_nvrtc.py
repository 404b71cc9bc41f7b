"""Real NVRTC compiles (no GPU needed): CUBINs, compile errors as data, ptxas resources."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("cuda.bindings.nvrtc", reason="cuda-bindings (NVRTC) is not installed")

from kernelmagic.harness import _nvrtc as nvrtc
from kernelmagic.harness._nvrtc import compile_cuda

SAXPY = """
extern "C" __global__ void saxpy(const float* __restrict__ x, float* y, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}
"""

TEMPLATE = """
template <int BLOCK>
__global__ void k(const float* x, float* y, int n) {
    __shared__ float tile[BLOCK];
    int i = blockIdx.x * BLOCK + threadIdx.x;
    tile[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    if (i < n) y[i] = tile[BLOCK - 1 - threadIdx.x];
}
"""

# 24 live accumulators in a loop: spills once ptxas may use only 24 registers.
SPILLING = """
__global__ void spill(float* x, int n) {
  float a0=x[0],a1=x[n],a2=x[2*n],a3=x[3*n],a4=x[4*n],a5=x[5*n],a6=x[6*n],a7=x[7*n];
  float b0=x[8*n],b1=x[9*n],b2=x[10*n],b3=x[11*n],b4=x[12*n],b5=x[13*n],b6=x[14*n],b7=x[15*n];
  float c0=x[16*n],c1=x[17*n],c2=x[18*n],c3=x[19*n],c4=x[20*n],c5=x[21*n],c6=x[22*n],c7=x[23*n];
  for (int i = 0; i < n; i++) {
    a0=a0*b1+c2; a1=a1*b2+c3; a2=a2*b3+c4; a3=a3*b4+c5; a4=a4*b5+c6; a5=a5*b6+c7;
    a6=a6*b7+c0; a7=a7*b0+c1; b0=b0*c1+a2; b1=b1*c2+a3; b2=b2*c3+a4; b3=b3*c4+a5;
    b4=b4*c5+a6; b5=b5*c6+a7; b6=b6*c7+a0; b7=b7*c0+a1; c0=c0*a1+b2; c1=c1*a2+b3;
    c2=c2*a3+b4; c3=c3*a4+b5; c4=c4*a5+b6; c5=c5*a6+b7; c6=c6*a7+b0; c7=c7*a0+b1;
  }
  x[0] = a0+a1+a2+a3+a4+a5+a6+a7+b0+b1+b2+b3+b4+b5+b6+b7+c0+c1+c2+c3+c4+c5+c6+c7;
}
"""


@pytest.fixture(scope="module")
def saxpy():
    return compile_cuda(SAXPY, name_expression="saxpy")


def test_saxpy_compiles_to_a_cubin(saxpy):
    assert saxpy.ok
    assert saxpy.cubin is not None and saxpy.cubin.startswith(b"\x7fELF")
    assert saxpy.lowered_name == "saxpy"  # extern "C": not mangled
    assert saxpy.log == ""
    assert saxpy.first_error is None
    assert saxpy.arch == "sm_90"
    assert saxpy.nvrtc_version == nvrtc.nvrtc_version()
    assert 0 < saxpy.seconds < 30


def test_saxpy_resources(saxpy):
    (res,) = saxpy.resources
    assert res.kernel == "saxpy"
    assert res.registers and res.registers > 0
    assert res.spill_stores_bytes == 0 and res.spill_loads_bytes == 0
    assert res.stack_frame_bytes == 0
    assert res.shared_bytes == 0
    assert res.barriers == 0
    assert "no spills" in res.summary()


def test_cubin_is_not_in_the_repr(saxpy):
    assert "ELF" not in repr(saxpy)


def test_syntax_error_is_data():
    source = "__global__ void k(float* x) {\n    x[0] = 1.0f +;\n}\n"
    out = compile_cuda(source, name_expression="k")
    assert not out.ok
    assert out.cubin is None and out.lowered_name is None and out.resources == ()
    assert out.first_error is not None
    assert out.first_error.startswith("candidate.cu(2): error: expected an expression")
    assert "ptxas" not in out.log


def test_undefined_identifier():
    source = "__global__ void k(float* x) {\n\n    x[0] = q;\n}\n"
    out = compile_cuda(source, name_expression="k", filename="mine.cu")
    assert not out.ok
    assert out.first_error == 'mine.cu(3): error: identifier "q" is undefined'
    assert out.first_error in out.log


def test_template_kernel_with_shared_memory():
    out = compile_cuda(TEMPLATE, name_expression="k<128>")
    assert out.ok, out.log
    assert out.lowered_name == "_Z1kILi128EEvPKfPfi"
    (res,) = out.resources
    assert res.kernel == "k<128>"
    assert res.shared_bytes == 128 * 4
    assert res.barriers == 1


def test_spills_are_reported_and_warnings_kept():
    out = compile_cuda(SPILLING, name_expression="spill", options=["-maxrregcount=16"])
    assert out.ok, out.log
    (res,) = out.resources
    assert res.spill_stores_bytes and res.spill_stores_bytes > 0
    assert res.spill_loads_bytes and res.spill_loads_bytes > 0
    assert res.stack_frame_bytes and res.stack_frame_bytes > 0
    assert res.registers is not None and res.registers <= 32
    # ptxas raises the cap to its minimum and says so: a warning, kept in the log.
    assert "ptxas warning" in out.log
    assert "ptxas info" not in out.log


def test_ptxas_errors_are_compile_errors():
    source = (
        "__global__ void k(float* x) {\n"
        "    __shared__ float s[65536];\n"
        "    s[threadIdx.x] = x[0];\n"
        "    __syncthreads();\n"
        "    x[1] = s[x[2] > 0 ? 5 : 7];\n"
        "}\n"
    )
    out = compile_cuda(source, name_expression="k")
    assert not out.ok
    assert out.first_error is not None
    assert out.first_error.startswith("ptxas error")
    assert "too much shared data" in out.first_error
    assert "\0" not in out.log
    assert out.resources[0].shared_bytes == 65536 * 4  # still says why


def test_error_in_a_warning_is_not_an_error():
    out = compile_cuda("__global__ void k() { int error = 0; }", name_expression="k")
    assert out.ok
    assert '"error"' in out.log
    assert out.first_error is None


def test_missing_header():
    out = compile_cuda("#include <no_such_header.h>\n__global__ void k() {}", name_expression="k")
    assert not out.ok
    assert out.first_error == (
        'candidate.cu(1): catastrophic error: cannot open source file "no_such_header.h"'
    )


def test_several_kernels_requested_one_first():
    source = SAXPY + "\n__global__ void other(int* p) { p[0] = 1; }\n"
    out = compile_cuda(source, name_expression="other")
    assert out.ok
    assert [r.kernel for r in out.resources] == ["other", "saxpy"]


def test_use_fast_math_passes_through():
    source = "__global__ void k(float* x) { x[0] = sinf(x[0]) / x[1]; }"
    precise = compile_cuda(source, name_expression="k")
    fast = compile_cuda(source, name_expression="k", options=["-use_fast_math"])
    assert precise.ok and fast.ok
    assert fast.cubin != precise.cubin


def test_cuda_headers_are_found():
    source = (
        "#include <cuda_fp16.h>\n"
        "#include <cuda_bf16.h>\n"
        "__global__ void h(__half* x, const __nv_bfloat16* y) {\n"
        "    x[0] = __float2half(__bfloat162float(y[0]));\n"
        "}\n"
    )
    out = compile_cuda(source, name_expression="h")
    assert out.ok, out.log
    assert out.resources[0].kernel == "h"


def test_include_dirs():
    dirs = nvrtc.include_dirs()
    assert dirs and all(os.path.isdir(d) for d in dirs)
    assert any(os.path.isfile(os.path.join(d, "cuda_fp16.h")) for d in dirs)
    assert nvrtc.include_dirs() is dirs  # cached


def test_warnings_are_kept_without_the_remark_noise():
    source = "__global__ void k(float* x) { int unused; x[0] = 1.0f; }"
    out = compile_cuda(source, name_expression="k")
    assert out.ok
    assert 'warning #177-D: variable "unused" was declared but never referenced' in out.log
    assert "Remark" not in out.log
    assert out.first_error is None


def test_wrong_name_expression():
    out = compile_cuda(SAXPY, name_expression="sxapy")
    assert not out.ok
    assert out.first_error is not None
    assert "no kernel matches the name expression 'sxapy'" in out.first_error
    assert "saxpy" in out.first_error  # names the kernels that do exist
    assert "__nv_name_map" not in out.log
    assert "2 errors detected" not in out.log


def test_wrong_name_expression_and_a_real_error():
    out = compile_cuda("__global__ void k(float* x) { x[0] = q; }", name_expression="j")
    assert not out.ok
    assert out.first_error == 'candidate.cu(1): error: identifier "q" is undefined'
    assert "no kernel matches the name expression 'j'" in out.log


def test_nul_in_source_is_refused():
    out = compile_cuda(SAXPY + "\0#include </etc/passwd>", name_expression="saxpy")
    assert not out.ok
    assert out.first_error is not None and "NUL" in out.first_error


@pytest.mark.parametrize(
    ("arch", "expected"),
    [("sm_90", "sm_90"), ("90", "sm_90"), ("9.0", "sm_90"), ("compute_90", "sm_90"),
     ("sm_90a", "sm_90a"), ("SM_80", "sm_80"), ("8.6", "sm_86"), ("sm_120", "sm_120")],
)  # fmt: skip
def test_arch_normalization(saxpy, arch, expected):
    out = compile_cuda(SAXPY, name_expression="saxpy", arch=arch)
    assert out.ok
    assert out.arch == expected


@pytest.mark.parametrize("arch", ["sm_50", "sm_999", "gpu", "", "sm_", "9"])
def test_bad_arch_raises(arch):
    with pytest.raises(ValueError):
        compile_cuda(SAXPY, name_expression="saxpy", arch=arch)


def test_invalid_option_is_a_harness_error():
    # Options are checked before compiling (cuda_directive.check_options); one that slips
    # through is a bug in the harness, not the candidate's fault.
    with pytest.raises(RuntimeError, match=r"NVRTC_ERROR_INVALID_OPTION.*unrecognized option"):
        compile_cuda(SAXPY, name_expression="saxpy", options=["-O3"])


def test_user_std_replaces_the_default():
    source = "__global__ void k(int* x) { if constexpr (true) { x[0] = 1; } }"
    out = compile_cuda(source, name_expression="k", options=["-std=c++20"])
    assert out.ok
    assert out.log == ""  # no "--std=c++17 followed by --std=c++20" warning


def test_nvrtc_version():
    major, minor = nvrtc.nvrtc_version().split(".")
    assert int(major) >= 12 and int(minor) >= 0

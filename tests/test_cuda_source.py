"""Reading CUDA C without compiling: kernels, parameters, directives, includes, options."""

from __future__ import annotations

import numpy as np
import pytest

from kernelmagic.candidate.cuda_directive import (
    Directive,
    DirectiveError,
    check_options,
    parse_directive,
)
from kernelmagic.candidate.cuda_source import (
    SCALAR_DTYPES,
    VECTOR_TYPES,
    check_includes,
    find_kernels,
    scalar_numpy_type,
)


def only_kernel(source: str):
    kernels = find_kernels(source)
    assert len(kernels) == 1, kernels
    return kernels[0]


def test_saxpy_signature():
    kernel = only_kernel(
        "__global__ void saxpy(const float* __restrict__ x, float* y, float a, int n) {}"
    )
    assert kernel.name == "saxpy"
    assert kernel.line == 1
    assert kernel.defined
    assert kernel.template_params == ()
    x, y, a, n = kernel.params
    assert (x.name, x.c_type, x.pointer, x.const, x.base, x.dtype) == (
        "x", "const float* __restrict__", True, True, "float", "float32"
    )  # fmt: skip
    assert (y.name, y.c_type, y.pointer, y.const) == ("y", "float*", True, False)
    assert (a.name, a.pointer, a.dtype) == ("a", False, "float32")
    assert (n.name, n.base, n.dtype, n.vector_width) == ("n", "int", "int32", 1)
    assert not any(p.unnamed for p in kernel.params)


@pytest.mark.parametrize(
    "declaration",
    [
        'extern "C" __global__ void k(float *x, int n) {}',
        "__global__ void __launch_bounds__(256) k(float* x, int n) {}",
        "__global__ void __launch_bounds__(256, 2) k(float* x, int n) {}",
        "__launch_bounds__(128) __global__ void k(float * x, int n) {}",
        '__launch_bounds__(128) extern "C" __global__ void k(float* x, int n) {}',
        "static __global__ void k(float* x, int n) {}",
        "__global__ static inline void k(float* x, int n) {}",
        "__global__ void __maxnreg__(64) k(float* x, int n) {}",
        "__global__ void [[maybe_unused]] k(float* x, int n) {}",
        "__global__\nvoid\nk(\n    float* x,   // the data\n    int n /* count */\n)\n{\n}",
        "__global__ void k(float* x, int n = 4) {}",
        "__global__ void k(float* x, int n);",
    ],
)
def test_declaration_styles(declaration):
    kernel = only_kernel(declaration)
    assert kernel.name == "k"
    assert [p.name for p in kernel.params] == ["x", "n"]
    assert [p.c_type for p in kernel.params] == ["float*", "int"]
    assert kernel.defined == declaration.endswith("}")


def test_template_kernel():
    source = (
        "template <int BLOCK, typename T = float>\n"
        "__global__ void reduce(const T* __restrict__ in, T* out, int n) {}\n"
    )
    kernel = only_kernel(source)
    assert kernel.name == "reduce"
    assert kernel.template_params == ("BLOCK", "T")
    assert kernel.line == 2
    assert kernel.params[0].base == "T"
    assert kernel.params[0].dtype is None
    assert kernel.params[0].const


def test_explicit_instantiation_is_a_declaration():
    source = (
        "template <int B> __global__ void k(float* x) {}\n"
        "template __global__ void k<128>(float*);\n"
    )
    first, second = find_kernels(source)
    assert (first.name, first.defined, first.template_params) == ("k", True, ("B",))
    assert (second.name, second.defined, second.line) == ("k", False, 2)
    assert second.params[0].unnamed


def test_two_kernels_and_a_device_helper():
    source = """
__device__ float helper(float v) { return v * 2.0f; }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }

__global__ void first(float* a) { a[0] = helper(a[0]); }

__global__ void second(const double* b, double* c, unsigned n) { c[0] = b[0]; }
"""
    kernels = find_kernels(source)
    assert [(k.name, k.line) for k in kernels] == [("first", 5), ("second", 7)]
    assert kernels[1].params[2].base == "unsigned int"


def test_names_in_comments_strings_and_macros_are_not_kernels():
    source = r"""
// __global__ void commented(float* x) {}
/* __global__ void block_commented(float* x) {}
   __global__ void still_commented(float* x) {} */
const char* text = "__global__ void in_string(float* x) {}";
const char* raw = R"cu(__global__ void in_raw_string(float* x) {})cu";
const char quote = '"';
#define DECLARE __global__ void in_macro(float* x)
int big = 1'000'000; // a digit separator is not a character literal
__global__ void real(float* x) { const char* s = "}"; x[0] = '}'; }
"""
    assert [k.name for k in find_kernels(source)] == ["real"]


def test_no_params():
    assert only_kernel("__global__ void k(void) {}").params == ()
    assert only_kernel("__global__ void k() {}").params == ()


def test_unnamed_params():
    kernel = only_kernel(
        "__global__ void k(float*, const int, unsigned int, float4, const T, float* __restrict__);"
    )
    assert [p.name for p in kernel.params] == [f"arg{i}" for i in range(6)]
    assert all(p.unnamed for p in kernel.params)
    assert [p.base for p in kernel.params] == [
        "float", "int", "unsigned int", "float4", "T", "float"
    ]  # fmt: skip
    assert [p.pointer for p in kernel.params] == [True, False, False, False, False, True]


@pytest.mark.parametrize(
    ("param", "c_type", "pointer", "const"),
    [
        ("const float* x", "const float*", True, True),
        ("float const* x", "float const*", True, True),
        ("const float* const x", "const float* const", True, True),
        ("float* const x", "float* const", True, False),
        ("float *x", "float*", True, False),
        ("float * __restrict__ x", "float* __restrict__", True, False),
        ("const float *__restrict__ x", "const float* __restrict__", True, True),
        ("const int x", "const int", False, True),
        ("int x", "int", False, False),
        ("float x[]", "float[]", True, False),
        ("const __grid_constant__ Params x", "const __grid_constant__ Params", False, True),
    ],
)
def test_const_and_pointer(param, c_type, pointer, const):
    (parsed,) = only_kernel(f"__global__ void k({param}) {{}}").params
    assert (parsed.name, parsed.c_type, parsed.pointer, parsed.const) == (
        "x", c_type, pointer, const
    )  # fmt: skip


@pytest.mark.parametrize(
    ("c_type", "base", "dtype", "width"),
    [
        ("float4*", "float4", "float32", 4),
        ("const float2*", "float2", "float32", 2),
        ("int2", "int2", "int32", 2),
        ("uint4*", "uint4", "uint32", 4),
        ("double2*", "double2", "float64", 2),
        ("half2*", "half2", "float16", 2),
        ("__half2*", "__half2", "float16", 2),
        ("__nv_bfloat162*", "__nv_bfloat162", "bfloat16", 2),
        ("char4*", "char4", "int8", 4),
        ("__half*", "__half", "float16", 1),
        ("half*", "half", "float16", 1),
        ("__nv_bfloat16*", "__nv_bfloat16", "bfloat16", 1),
        ("unsigned", "unsigned int", "uint32", 1),
        ("unsigned long long int", "unsigned long long", "uint64", 1),
        ("long long", "long long", "int64", 1),
        ("long int", "long", "int64", 1),
        ("signed char*", "signed char", "int8", 1),
        ("unsigned char*", "unsigned char", "uint8", 1),
        ("short", "short", "int16", 1),
        ("unsigned short*", "unsigned short", "uint16", 1),
        ("int64_t", "int64_t", "int64", 1),
        ("std::int64_t", "int64_t", "int64", 1),
        ("uint8_t*", "uint8_t", "uint8", 1),
        ("size_t", "size_t", "uint64", 1),
        ("bool*", "bool", "bool", 1),
        ("double", "double", "float64", 1),
        ("struct Params", "Params", None, 1),
        ("Tile<float, 16>", "Tile<float, 16>", None, 1),
    ],
)
def test_types(c_type, base, dtype, width):
    (param,) = only_kernel(f"__global__ void k({c_type} v) {{}}").params
    assert (param.base, param.dtype, param.vector_width) == (base, dtype, width)


def test_dtype_tables_name_numpy_dtypes():
    for name in {*SCALAR_DTYPES.values(), *(dtype for dtype, _ in VECTOR_TYPES.values())}:
        if name != "bfloat16":  # needs ml_dtypes
            np.dtype(name)
    assert scalar_numpy_type("int") is np.int32
    assert scalar_numpy_type("unsigned int") is np.uint32
    assert scalar_numpy_type("long long") is np.int64
    assert scalar_numpy_type("size_t") is np.uint64
    assert scalar_numpy_type("float") is np.float32
    assert scalar_numpy_type("__half") is np.float16
    assert scalar_numpy_type("bool") is np.bool_
    assert scalar_numpy_type("Params") is None


def test_parse_directive():
    source = """
// kernelmagic: grid=(cdiv(m, 16), cdiv(n, 16)); block=(16, 16)
//kernelmagic:shared=1024; kernel=saxpy<256>;
  //  kernelmagic: options=-use_fast_math -maxrregcount=64
__global__ void saxpy() {}
"""
    assert parse_directive(source) == Directive(
        grid="(cdiv(m, 16), cdiv(n, 16))",
        block="(16, 16)",
        shared="1024",
        kernel="saxpy<256>",
        options=("-use_fast_math", "-maxrregcount=64"),
    )


def test_parse_directive_later_keys_win_and_default():
    source = "// kernelmagic: block=128\n// kernelmagic: block=256; grid=4\n"
    assert parse_directive(source) == Directive(grid="4", block="256")
    assert parse_directive("__global__ void k() {} // kernelmagic mentioned") == Directive()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("\n// kernelmagic: grid=4; threads=256", "line 2: unknown key 'threads'"),
        ("// kernelmagic: grid", "line 1: 'grid' in the kernelmagic directive has no '='"),
        ("// kernelmagic: grid=4; block", "line 1: 'block'"),
        ("// kernelmagic: block=", "line 1: 'block' has an empty value"),
    ],
)
def test_parse_directive_errors(source, message):
    with pytest.raises(DirectiveError, match=message):
        parse_directive(source)
    assert issubclass(DirectiveError, ValueError)


def test_check_includes_accepts_system_headers():
    source = """
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#  include   <cuda/std/cstdint>
// #include "commented.h"
/* #include "/etc/passwd" */
const char* text = "#include \\"not a directive\\"";
#if __has_include(<cuda_fp8.h>)
#endif
"""
    assert check_includes(source) == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('#include "local.h"', "only <header> form"),
        ("#include </etc/passwd>", "absolute"),
        ("#include <~/secrets.h>", "absolute"),
        ("#include <../../../etc/passwd>", "'..'"),
        ("#include <cuda/../../../../etc/hostname>", "'..'"),
        ('%:include "local.h"', "only <header> form"),
        ('??=include "local.h"', "only <header> form"),
        ('#include \\\n"local.h"', "only <header> form"),
        ('#inc\\\nlude "local.h"', "only <header> form"),
        ('#inc\\\r\nlude "local.h"', "only <header> form"),
        ('#include "local.h"\r__global__ void j() {}', "only <header> form"),
        ('# /* hidden */ include "local.h"', "only <header> form"),
        ("#include_next <cuda_fp16.h>", "#include_next"),
        ('#import "local.h"', "#import"),
        ('#embed "/etc/passwd"', "#embed"),
        ('#if __has_include("/etc/passwd")\n#endif', "only <header> form"),
    ],
)
def test_check_includes_rejects(line, reason):
    source = f"__device__ int a;\n{line}\n__global__ void k() {{}}\n"
    problems = check_includes(source)
    assert len(problems) == 1, problems
    assert problems[0].startswith("line 2: ")
    assert reason in problems[0]


def test_check_includes_rejects_computed_includes():
    (problem,) = check_includes("#define HEADER </etc/passwd>\n#include HEADER\n")
    assert problem.startswith("line 2: '#include HEADER': only <header> form")


def test_check_includes_reports_each_line():
    problems = check_includes('#include "a.h"\n#include <ok.h>\n#include "b.h"\n')
    assert [p.split(":")[0] for p in problems] == ["line 1", "line 3"]


@pytest.mark.parametrize(
    "option",
    [
        "-use_fast_math",
        "--use_fast_math",
        "-maxrregcount=64",
        "--maxrregcount=128",
        "-ftz=true",
        "--ftz=false",
        "-prec-div=false",
        "-prec-sqrt=true",
        "-fmad=false",
        "--extra-device-vectorization",
        "-lineinfo",
        "--generate-line-info",
        "-DTILE",
        "-DTILE=32",
        "-DSCALE=1.5f",
        "-DNEG=-1",
        "--define-macro=TILE=16",
        "-std=c++17",
        "--std=c++20",
        "-default-device",
        "--restrict",
        "-Xptxas=-O3",
        "--ptxas-options=-O0",
    ],
)
def test_check_options_accepts(option):
    assert check_options([option]) == []


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        ("-I/etc", "read files"),
        ("--include-path=/home", "read files"),
        ("-include", "read files"),
        ("--pre-include=/etc/passwd", "read files"),
        ("-isystem/usr/include", "read files"),
        ("-arch=sm_80", "architecture"),
        ("--gpu-architecture=sm_80", "architecture"),
        ("-O3", "NVRTC has no -O option"),
        ("-G", "debug"),
        ("--device-debug", "debug"),
        ("-D FOO", "only code-generation options"),
        ("-DFOO=a b", "only code-generation options"),
        ('-DFOO="x"', "only code-generation options"),
        ("-D1BAD", "only code-generation options"),
        ("-std=c++11", "only code-generation options"),
        ("-Xptxas=-O3,-v", "only code-generation options"),
        ("-Xptxas -O3", "only code-generation options"),
        ("-maxrregcount=lots", "only code-generation options"),
        ("-rdc=true", "only code-generation options"),
        ("--fdevice-time-trace=/tmp/x", "only code-generation options"),
        ("", "only code-generation options"),
    ],
)
def test_check_options_rejects(option, reason):
    (problem,) = check_options([option])
    assert repr(option) in problem
    assert reason in problem


def test_check_options_reports_each_bad_option():
    assert len(check_options(["-use_fast_math", "-I.", "-G", "-lineinfo"])) == 2

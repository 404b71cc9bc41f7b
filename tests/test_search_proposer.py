"""The offline search proposer: tunables found and rewritten, Optuna rebuilt from history."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic.candidate.cuda_directive import check_options
from kernelmagic.errors import CandidateError
from kernelmagic.harness._prepare import prepare
from kernelmagic.harness.devices import DeviceInfo
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.loop.proposal import Attempt, ProblemBrief, RoundRequest
from kernelmagic.loop.proposers import _tunables as tunables
from kernelmagic.loop.proposers._search import SearchProposer
from kernelmagic.start import optimize

EXAMPLES = Path(__file__).parent.parent / "examples" / "saxpy"
SAXPY = km.Problem(saxpy_reference, saxpy_inputs)
SIZES = (32, 64, 128, 256, 512, 1024)

MARKED_PY = """\
from numba import cuda

SCALE = 1.0  # kernelmagic: tune [0.5, 2]
π = 3; UNROLL = -2  # kernelmagic: tune -1, -2, 4

@cuda.jit
def kernel(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]

def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    threads: int = 128  # kernelmagic: tune 64, 128, 256
    fast = True  # kernelmagic: tune False
    kernel[(x.size + threads - 1) // threads, threads](a, x, y, out)
    return out
"""

MARKED_CU = """\
#define TILE 16u // kernelmagic: tune 8, 16, 32
static constexpr float SCALE = 0.5f; // kernelmagic: tune [0.25, 1]
const int UNROLL = 2;  // kernelmagic: tune 1, 2, 4
constexpr bool GUARD = true; // kernelmagic: tune false
// kernelmagic: grid=cdiv(n, 256); block=256
extern "C" __global__ void saxpy(float a, const float* x, const float* y, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    #pragma unroll UNROLL
    for (int j = 0; j < 1; j++) {
        if (!GUARD || i < n) out[i] = a * x[i] * SCALE * (TILE / 16) + y[i];
    }
}
"""

PLAIN_CU = EXAMPLES.joinpath("saxpy.cu").read_text().split("\n", 1)[1]  # no directive


def numba_example() -> km.Candidate:
    return km.Candidate.from_file(EXAMPLES / "saxpy_numba.py")


def by_name(candidate: km.Candidate) -> dict[str, tunables.Tunable]:
    return {t.name: t for t in tunables.find(candidate)}


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    """(old, new) of each line that differs; the rest must be identical."""
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]


# -- tunables ----------------------------------------------------------------------------


def test_numba_launch_block_is_found_through_its_name_and_rewritten_in_place():
    candidate = numba_example()
    (threads,) = tunables.find(candidate)
    assert (threads.name, threads.values, threads.original) == ("threads", SIZES, 256)
    assert "saxpy_kernel" in threads.where
    rewritten = tunables.apply(candidate, {"threads": 128})
    assert changed_lines(candidate.source, rewritten.source) == [
        ("    threads = 256", "    threads = 128")
    ]
    ast.parse(rewritten.source)


def test_a_literal_numba_block_moves_its_grid_along():
    candidate = km.Candidate.from_source(NUMBA_SAXPY)
    (block,) = tunables.find(candidate)
    assert (block.name, block.original) == ("block", 128)
    rewritten = tunables.apply(candidate, {"block": 32})
    assert changed_lines(candidate.source, rewritten.source) == [
        (
            "    kernel[(x.size + 127) // 128, 128](a, x, y, out)",
            "    kernel[(x.size + 31) // 32, 32](a, x, y, out)",
        )
    ]


def test_a_grid_name_bound_once_follows_the_block_too():
    source = NUMBA_SAXPY.replace(
        "    kernel[(x.size + 127) // 128, 128]",
        "    blocks = (x.size + 127) // 128\n    kernel[blocks, 128]",
    )
    rewritten = tunables.apply(km.Candidate.from_source(source), {"block": 512})
    assert "blocks = (x.size + 511) // 512\n    kernel[blocks, 512]" in rewritten.source


def test_a_block_bound_more_than_once_or_passed_in_is_not_searched():
    twice = numba_example().source.replace(
        "    threads = 256\n", "    threads = 256\n    threads = threads * 2\n"
    )
    assert tunables.find(km.Candidate.from_source(twice)) == ()
    passed = NUMBA_SAXPY.replace("def saxpy(a, x, y):", "def saxpy(a, x, y, t=128):").replace(
        ", 128](", ", t]("
    )
    assert tunables.find(km.Candidate.from_source(passed)) == ()


def test_python_markers_of_each_form_are_found_with_their_original_values():
    candidate = km.Candidate.from_source(MARKED_PY)
    found = by_name(candidate)
    assert list(found) == ["SCALE", "UNROLL", "threads", "fast"]  # threads: the marker wins
    assert found["SCALE"].values == (0.5, 2.0, 1.0) and found["SCALE"].original == 1.0
    assert found["UNROLL"].values == (-1, -2, 4) and found["UNROLL"].where == "line 4"
    assert found["threads"].values == (64, 128, 256)
    assert found["fast"].values == (False, True) and found["fast"].original is True


def test_python_markers_are_rewritten_exactly_and_still_parse():
    candidate = km.Candidate.from_source(MARKED_PY)
    params = {"SCALE": 2.0, "UNROLL": 4, "threads": 64, "fast": False}
    rewritten = tunables.apply(candidate, params)
    assert [new for _, new in changed_lines(candidate.source, rewritten.source)] == [
        "SCALE = 2.0  # kernelmagic: tune [0.5, 2]",
        "π = 3; UNROLL = 4  # kernelmagic: tune -1, -2, 4",  # columns are UTF-8 bytes in ast
        "    threads: int = 64  # kernelmagic: tune 64, 128, 256",
        "    fast = False  # kernelmagic: tune False",
    ]
    ast.parse(rewritten.source)
    assert by_name(rewritten)["threads"].original == 64  # the marker still works


@pytest.mark.parametrize("source", [MARKED_PY, NUMBA_SAXPY, MARKED_CU, PLAIN_CU])
def test_the_original_values_reproduce_the_candidate_exactly(source):
    candidate = km.Candidate.from_source(source, grid="cdiv(n, 256)", block="256")
    original = {t.name: t.original for t in tunables.find(candidate)}
    assert original
    assert tunables.apply(candidate, original) is candidate
    assert tunables.apply(candidate, {}) is candidate


def test_cuda_c_markers_keep_their_literal_suffixes_and_still_compile():
    nvrtc = pytest.importorskip(
        "kernelmagic.harness._nvrtc", reason="cuda-bindings (NVRTC) is missing"
    )
    candidate = km.Candidate.from_source(MARKED_CU)
    found = by_name(candidate)
    assert list(found) == ["TILE", "SCALE", "UNROLL", "GUARD", "block", "-use_fast_math",
                           "-maxrregcount"]  # fmt: skip
    assert found["SCALE"].values == (0.25, 1.0, 0.5) and found["GUARD"].original is True
    params = {"TILE": 32, "SCALE": 0.25, "UNROLL": 4, "GUARD": False, "block": 64,
              "-use_fast_math": True, "-maxrregcount": 32}  # fmt: skip
    rewritten = tunables.apply(candidate, params)
    for line in (
        "#define TILE 32u // kernelmagic: tune 8, 16, 32",
        "static constexpr float SCALE = 0.25f; // kernelmagic: tune [0.25, 1]",
        "const int UNROLL = 4;  // kernelmagic: tune 1, 2, 4",
        "constexpr bool GUARD = false; // kernelmagic: tune false",
        "// kernelmagic: grid=cdiv(n, 64); block=64",
    ):
        assert line in rewritten.source.splitlines()
    assert rewritten.compile_options == ("-use_fast_math", "-maxrregcount=32")
    out = nvrtc.compile_cuda(
        rewritten.source, name_expression="saxpy", options=rewritten.compile_options
    )
    assert out.ok, out.log


def test_cuda_c_launch_from_fields_goes_into_a_directive_the_harness_prefers():
    candidate = km.Candidate.from_source(PLAIN_CU, grid="cdiv(n, 256)", block="256")
    assert by_name(candidate)["block"].original == 256
    rewritten = tunables.apply(candidate, {"block": 128})
    assert rewritten.source == "// kernelmagic: grid=cdiv(n, 128); block=128\n" + PLAIN_CU
    prepared = prepare(rewritten, input_names=["a", "x", "y", "n"], reference_params=[])
    assert (prepared.grid, prepared.block) == ("cdiv(n, 128)", "128")


def test_a_directive_setting_only_the_block_gets_the_grid_in_a_line_of_its_own():
    source = "// kernelmagic: block=256\n" + PLAIN_CU
    candidate = km.Candidate.from_source(source, grid="(n + 255) // 256")
    rewritten = tunables.apply(candidate, {"block": 1024})
    assert rewritten.source.startswith(
        "// kernelmagic: grid=(n + 1023) // 1024\n// kernelmagic: block=1024\n"
    )
    prepared = prepare(rewritten, input_names=["a", "x", "y", "n"], reference_params=[])
    assert (prepared.grid, prepared.block) == ("(n + 1023) // 1024", "1024")


def test_compile_options_merge_with_the_candidates_own():
    candidate = km.Candidate.from_source(
        PLAIN_CU, grid="cdiv(n, 256)", block="256", compile_options=("-DX=1", "-maxrregcount=48")
    )
    found = by_name(candidate)
    assert found["-maxrregcount"].values == (None, 32, 48, 64, 128)
    assert found["-maxrregcount"].original == 48 and found["-use_fast_math"].original is False
    uncapped = tunables.apply(candidate, {"-maxrregcount": None, "-use_fast_math": True})
    assert uncapped.compile_options == ("-DX=1", "-use_fast_math")
    capped = tunables.apply(candidate, {"-maxrregcount": 64})
    assert capped.compile_options == ("-DX=1", "-maxrregcount=64")
    assert capped.source == candidate.source
    assert check_options(uncapped.compile_options + capped.compile_options) == []
    assert tunables.describe(found["-maxrregcount"], None) == "no -maxrregcount"


def test_options_pinned_by_the_directive_and_non_literal_blocks_are_not_searched():
    source = "// kernelmagic: grid=cdiv(n, 128); block=min(n, 128); options=-use_fast_math\n"
    found = by_name(km.Candidate.from_source(source + PLAIN_CU))
    assert list(found) == ["-maxrregcount"]


@pytest.mark.parametrize(
    ("source", "expect"),
    [
        ("N = 4  # kernelmagic: tune 2, M\n", "line 1: 'M' in the tune marker is not a literal"),
        ("N = 4  # kernelmagic: tune 2, 2.5\n", "line 1: N is an int but the tune marker lists"),
        ("x = 1\n# kernelmagic: tune 2, 4\n", "line 2: the tune marker is not on an assignment"),
        ("N = f()  # kernelmagic: tune 2, 4\n", "line 1: N = f() is not a literal"),
        ("N = 4  # kernelmagic: tune\n", "line 1: cannot read the values"),
        ("N = 4  # kernelmagic: tune 2\ndef f():\n    N = 8  # kernelmagic: tune 4\n",
         "line 3: N is marked twice (also line 1)"),
        ("#define N 4 // kernelmagic: tune 2, M\n__global__ void k() {}\n",
         "line 1: 'M' in the tune marker is not a literal"),
        ("// kernelmagic: tune 2, 4\n__global__ void k() {}\n",
         "line 1: the tune marker is not on a #define or a constant declaration"),
        ("int n = foo(); // kernelmagic: tune 1\n__global__ void k() {}\n",
         "line 1: n = foo() is not a literal"),
        ("#define N 4 // kernelmagic: tune 2\n#define N 8 // kernelmagic: tune 4\n"
         "__global__ void k() {}\n", "line 2: N is marked twice (also line 1)"),
    ],
)  # fmt: skip
def test_markers_that_cannot_be_followed_are_reported_with_their_line(source, expect):
    with pytest.raises(CandidateError) as info:
        tunables.find(km.Candidate.from_source(source))
    assert expect in str(info.value)


# -- kernels written for one block size, markers in comments -------------------------------

NUMBA_SUM = """\
import numpy as np
from numba import cuda, float32

@cuda.jit
def block_sums(x, out):
    tile = cuda.shared.array(256, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    tile[t] = x[i] if i < x.size else 0.0
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if t < step:
            tile[t] += tile[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        out[cuda.blockIdx.x] = tile[0]

def total(x):
    out = cuda.device_array((x.size + 255) // 256, np.float32)
    block_sums[(x.size + 255) // 256, 256](x, out)
    return out.copy_to_host().sum()
"""

CUDA_SUM = """\
// kernelmagic: grid=cdiv(n, 256); block=256
extern "C" __global__ void block_sums(const float* x, float* out, int n) {
    __shared__ float tile[256];
    int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    tile[t] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (int step = blockDim.x / 2; step > 0; step /= 2) {
        if (t < step) tile[t] += tile[t + step];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = tile[0];
}
"""

OPTIONS = ["-use_fast_math", "-maxrregcount"]
SHARED = "cuda.shared.array(256, float32)"
TPB = ("@cuda.jit\ndef", "TPB = 256\n\n@cuda.jit\ndef")  # a module-level name bound once


@pytest.mark.parametrize(
    "edits",
    [
        [],  # cuda.shared.array(256, float32) under a launch block of 256
        [(SHARED, "cuda.shared.array(shape=(256,), dtype=float32)")],
        [(SHARED, "cuda.shared.array(TPB, float32)"), TPB],
        [(SHARED, "cuda.shared.array((TPB, 1), float32)"), TPB],
        [(SHARED, "cuda.shared.array(TPB, float32)"), TPB, (", 256](", ", TPB](")],
        [("    block_sums[(x.size + 255) // 256, 256]",
          "    threads = 256\n    block_sums[(x.size + 255) // 256, threads]")],
        [(SHARED, "cuda.shared.array(32, float32)"),  # other reads, kept simple
         ("i = cuda.grid(1)", "i = cuda.blockIdx.x * 256 + t")],
        [(SHARED, "cuda.shared.array(32, float32)"), ("cuda.blockDim.x // 2", "TPB // 2"), TPB,
         (", 256](", ", TPB](")],
    ],
)  # fmt: skip
def test_a_numba_kernel_written_for_its_launch_block_keeps_it(edits):
    source = NUMBA_SUM
    for old, new in edits:
        assert old in source
        source = source.replace(old, new)
    assert tunables.find(km.Candidate.from_source(source)) == ()


def test_a_shared_array_through_a_device_function_or_of_another_size_is_told_apart():
    helper = NUMBA_SUM.replace(
        "@cuda.jit\ndef block_sums(x, out):\n    tile = cuda.shared.array(256, float32)\n",
        "@cuda.jit(device=True)\ndef scratch():\n    return cuda.shared.array(256, float32)\n\n"
        "@cuda.jit\ndef block_sums(x, out):\n    tile = scratch()\n",
    )
    assert "def scratch" in helper
    assert tunables.find(km.Candidate.from_source(helper)) == ()
    other = NUMBA_SUM.replace("shared.array(256,", "shared.array(1024,")
    (block,) = tunables.find(km.Candidate.from_source(other))
    assert (block.name, block.original) == ("block", 256)


def test_a_marked_constant_of_a_kernel_written_for_its_block_is_still_searched():
    source = NUMBA_SUM.replace(
        "def total(x):\n", "def total(x):\n    scale = 1.0  # kernelmagic: tune 0.5, 2.0\n"
    )
    (scale,) = tunables.find(km.Candidate.from_source(source))
    assert (scale.name, scale.values) == ("scale", (0.5, 2.0, 1.0))
    marked = NUMBA_SUM.replace("shared.array(256,", "shared.array(TPB,").replace(
        "@cuda.jit", "TPB = 256  # kernelmagic: tune 128, 256\n\n@cuda.jit"
    )
    (tpb,) = tunables.find(km.Candidate.from_source(marked))
    assert (tpb.name, tpb.values, tpb.original) == ("TPB", (128, 256), 256)


@pytest.mark.parametrize(
    ("old", "new", "launch"),
    [
        ("", "", {}),  # __shared__ float tile[256] under block=256
        ("// kernelmagic: grid=cdiv(n, 256); block=256\n", "", {"block": "256"}),
        ("tile[256]", "tile[2][THREADS]", {}),
        ("tile[256]", "tile[THREADS + 1]", {}),
        ("void block_sums", "void __launch_bounds__(256) block_sums", {}),
        ("__shared__ float tile[256];", "extern __shared__ float tile[];", {"shared": "256 * 4"}),
    ],
)  # fmt: skip
def test_a_cuda_c_kernel_written_for_its_block_keeps_it_and_its_options_are_searched(
    old, new, launch
):
    source = CUDA_SUM.replace(old, new)
    if "THREADS" in source:
        source = source.replace('extern "C"', '#define THREADS 256u\nextern "C"', 1)
    found = by_name(km.Candidate.from_source(source, grid="cdiv(n, 256)", **launch))
    assert list(found) == OPTIONS
    constexpr = source.replace("#define THREADS 256u", "constexpr int THREADS = 0x100;")
    assert list(by_name(km.Candidate.from_source(constexpr, **launch))) == OPTIONS


def test_cuda_c_numbers_in_comments_or_unused_constants_do_not_tie_the_block():
    source = (
        CUDA_SUM.replace("tile[256]", "tile[THREADS]")
        .replace(
            'extern "C"', '#define THREADS 1024\n#define UNUSED 256\n/* tile[256] */\nextern "C"'
        )
        .replace("    __syncthreads();\n    for", "    __syncthreads();  // all 256\n    for")
    )
    assert source.count("256") == 5
    found = by_name(km.Candidate.from_source(source))
    assert list(found) == ["block", *OPTIONS] and found["block"].original == 256
    marked = CUDA_SUM.replace(
        'extern "C"', '#define UNROLL 4 // kernelmagic: tune 2, 4, 8\nextern "C"'
    )
    assert list(by_name(km.Candidate.from_source(marked))) == ["UNROLL", *OPTIONS]


def test_cuda_c_markers_inside_comments_or_strings_are_not_markers():
    source = MARKED_CU.replace(
        "#define TILE 16u",
        "/* Tried before:\n"
        "#define TILE 8 // kernelmagic: tune 4, 8\n"
        " * const int UNROLL = 1; // kernelmagic: tune x\n"
        " */\n"
        "/* #define OLD 2 // kernelmagic: tune 1, 2 */\n"
        "// #define OLDER 2 // kernelmagic: tune 1, 2\n"
        'const char* NOTE = "// kernelmagic: tune 1, 2";\n'
        "#define TILE /* tile edge */ 16u",
    )
    candidate = km.Candidate.from_source(source)
    found = by_name(candidate)
    assert list(found) == ["TILE", "SCALE", "UNROLL", "GUARD", "block", *OPTIONS]
    assert found["TILE"].where == "line 8" and found["TILE"].values == (8, 16, 32)
    rewritten = tunables.apply(candidate, {"TILE": 32})
    assert changed_lines(candidate.source, rewritten.source) == [
        (
            "#define TILE /* tile edge */ 16u // kernelmagic: tune 8, 16, 32",
            "#define TILE /* tile edge */ 32u // kernelmagic: tune 8, 16, 32",
        )
    ]


def test_a_crlf_cuda_c_source_is_searched_and_prepared_as_its_lf_twin():
    # A `//` comment spliced over a CRLF line ending swallows the next line, as it does
    # over LF: the search and the harness once lexed this differently (only the search
    # knew CRLF), and the harness then saw a second kernel the compiler never sees.
    hidden = (
        "// dropped, with its tunable: \\\n"
        "#define OLD 2 // kernelmagic: tune 1, 2\n"
        "// and its kernel: \\\n"
        'extern "C" __global__ void old(float* x) {}\n'
    )
    lf = km.Candidate.from_source(hidden + MARKED_CU)
    crlf = km.Candidate.from_source(lf.source.replace("\n", "\r\n"))
    assert by_name(crlf) == by_name(lf)
    assert list(by_name(lf)) == ["TILE", "SCALE", "UNROLL", "GUARD", "block", *OPTIONS]
    for values in ({"TILE": 32}, {"block": 128}):
        lf_new, crlf_new = tunables.apply(lf, values), tunables.apply(crlf, values)
        assert crlf_new.source.replace("\r\n", "\n") == lf_new.source
        prepared = [
            prepare(c, input_names=["a", "x", "y", "n"], reference_params=[])
            for c in (lf_new, crlf_new)
        ]
        assert prepared[0].kernel == prepared[1].kernel == "saxpy"
        assert (prepared[0].grid, prepared[0].block) == (prepared[1].grid, prepared[1].block)


# -- the proposer ------------------------------------------------------------------------

BRIEF = ProblemBrief("saxpy", "out = a * x + y", "", "", "", "")
DEVICE = DeviceInfo("CPU simulator", "sm_90", simulated=True)


def baseline(candidate: km.Candidate, status: km.Status = km.Status.CORRECT) -> Attempt:
    return Attempt("s.0", 0, "user", candidate, status, "", latency_ms=1.0)


def request(base: Attempt, history: list[Attempt], k: int = 4) -> RoundRequest:
    done = [a for a in history if a.round > 0]
    r = max((a.round for a in done), default=0) + 1
    best = min(done, key=lambda a: a.latency_ms or 9.0, default=base)
    return RoundRequest(r, "optimize", k, BRIEF, DEVICE, base, best, history=(base, *done))


def attempts(reply, r: int, status=km.Status.CORRECT) -> list[Attempt]:
    return [
        Attempt(f"s.{r}.{n}", r, "search", p.candidate, status, "", p.rationale,
                latency_ms=2.0 + n if status is km.Status.CORRECT else None, params=p.params)
        for n, p in enumerate(reply.proposals)
    ]  # fmt: skip


def run_rounds(candidate: km.Candidate, rounds: int, k: int = 4, seed: int = 0):
    base, history, replies = baseline(candidate), [], []
    for _ in range(rounds):
        reply = SearchProposer(seed=seed).propose(request(base, history, k))
        replies.append(reply)
        history += attempts(reply, len(replies))
        if reply.exhausted:
            break
    return replies, history


def test_proposals_are_distinct_never_tried_and_rewritten_from_the_users_kernel():
    candidate = km.Candidate.from_file(EXAMPLES / "saxpy.cu")  # 48 configurations: TPE
    replies, history = run_rounds(candidate, rounds=3)
    configs = [tuple(sorted(a.params.items())) for a in history]
    original = tuple(sorted({t.name: t.original for t in tunables.find(candidate)}.items()))
    assert len(configs) == 12 and len(set(configs)) == 12 and original not in configs
    first = replies[0].proposals[0]
    assert first.origin == "search" and first.parent == "s.0"
    assert first.candidate == tunables.apply(candidate, first.params)
    assert first.rationale.startswith("search: ") and "=" in first.rationale
    assert "48 configurations" in replies[0].notes[0]
    assert replies[1].proposals[0].parent == "s.1.0"  # the best so far (2.0 ms)


def test_a_second_proposer_given_the_same_history_proposes_the_same():
    candidate = km.Candidate.from_file(EXAMPLES / "saxpy.cu")
    _, history = run_rounds(candidate, rounds=2)
    again = [SearchProposer().propose(request(baseline(candidate), history)) for _ in range(2)]
    assert [p.params for p in again[0].proposals] == [p.params for p in again[1].proposals]
    tried = [a.params for a in history]
    assert all(p.params not in tried for p in again[0].proposals)
    assert run_rounds(candidate, rounds=2)[1] == history  # deterministic from the seed


def test_failed_attempts_count_as_tried_and_foreign_ones_are_ignored():
    candidate = numba_example()
    base = baseline(candidate)
    first = SearchProposer().propose(request(base, [], k=2))
    foreign = Attempt("s.1.9", 1, "llm", candidate, km.Status.CORRECT, "", latency_ms=0.5)
    history = [*attempts(first, 1, km.Status.WRONG_RESULT), foreign]
    second = SearchProposer().propose(request(base, history, k=4))
    values = {p.params["threads"] for p in (*first.proposals, *second.proposals)}
    assert len(values) == 5 and 256 not in values
    assert second.exhausted and "all 6 configurations are tried" in second.notes[-1]


def test_a_small_space_is_enumerated_and_then_exhausted():
    replies, history = run_rounds(numba_example(), rounds=5)
    assert [len(r.proposals) for r in replies] == [4, 1]
    assert [r.exhausted for r in replies] == [False, True]
    assert sorted(a.params["threads"] for a in history) == [32, 64, 128, 512, 1024]
    assert "each tried once" in replies[0].notes[0]
    done = SearchProposer().propose(request(baseline(numba_example()), history))
    assert done.proposals == () and done.exhausted


def test_a_bad_marker_stops_the_proposer_with_the_line_to_fix():
    candidate = km.Candidate.from_source("N = 4  # kernelmagic: tune 2, M\n")
    with pytest.raises(CandidateError, match="search proposer cannot follow a marker: line 1"):
        SearchProposer().propose(request(baseline(candidate), []))


def test_a_kernel_with_nothing_to_search_says_how_to_mark_a_constant():
    candidate = km.Candidate.from_source("def saxpy(a, x, y):\n    return a * x + y\n")
    reply = SearchProposer().propose(request(baseline(candidate), []))
    assert reply.proposals == () and reply.exhausted
    (note,) = reply.notes
    assert "# kernelmagic: tune 64, 128, 256" in note and "// kernelmagic: tune" in note


# -- with the harness ----------------------------------------------------------------------


def test_a_search_session_on_the_simulator_tries_every_launch_and_is_correct(pool, tmp_path):
    session = optimize(
        numba_example(),
        SAXPY,
        proposer=SearchProposer(),
        backend="numba-sim",
        options=OptimizeOptions(rounds=3, candidates=3, patience=None),
        session_db=tmp_path / "s.sqlite",
        pool=pool,
    )
    searched = [c for c in session.candidates if c.origin == "search"]
    assert sorted(c.params["threads"] for c in searched) == [32, 64, 128, 512, 1024]
    assert all(c.status is km.Status.CORRECT for c in searched), [c.verdict for c in searched]
    assert session.stop_reason == "the search proposer has nothing more to try"


def test_a_literal_block_and_its_grid_stay_consistent_when_run(evaluate):
    candidate = km.Candidate.from_source(NUMBA_SAXPY)
    for size in (32, 1024):
        source = tunables.apply(candidate, {"block": size}).source
        verdict = evaluate(source, SAXPY, backend="numba-sim")
        assert verdict.status is km.Status.CORRECT, verdict.message


def test_cuda_c_proposals_pass_the_harness_checks_and_compile(pool, ran):
    candidate = km.Candidate.from_source(PLAIN_CU, grid="cdiv(n, 256)", block="256")
    reply = SearchProposer(seed=1).propose(request(baseline(candidate), [], k=2))
    harness = km.Harness(SAXPY, pool=pool)
    for proposal in reply.proposals:
        verdict = harness.evaluate(proposal.candidate)
        assert verdict.status is ran, (proposal.rationale, verdict.message)

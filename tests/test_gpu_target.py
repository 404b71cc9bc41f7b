"""Kernels the simulator runs are compiled for a real GPU target, on a CPU-only machine.

The two halves run where the harness runs them: `describe_launch` in a process with the
simulator (every candidate's launches recorded through a wrapped `FakeCUDAKernel`), and
`compile_launches` in one without it. Each half is one subprocess for all candidates, so
numba is imported twice per run, not per test.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

from kernelmagic.harness._gpu_target import (
    ArrayArg,
    GpuCompile,
    KernelLaunch,
    NotCapturable,
    Outcome,
    ScalarArg,
)
from kernelmagic.harness._gpu_target._ptx import _read_report
from kernelmagic.harness.verdict import Resources

pytest.importorskip("numba.cuda")

# name -> (source, entry, inputs)
CANDIDATES: dict[str, tuple[str, str, dict[str, Any]]] = {}
N = 300
X32 = np.linspace(0, 1, N, dtype=np.float32)


def candidate(name: str, entry: str, **inputs: Any):
    def add(source: str) -> str:
        CANDIDATES[name] = (textwrap.dedent(source), entry, inputs)
        return source

    return add


candidate("saxpy", "run", x=X32, y=X32[::-1].copy())(
    """
    from numba import cuda
    import numpy as np

    @cuda.jit
    def saxpy(a, x, y, out, n):
        i = cuda.grid(1)
        if i < n:
            out[i] = a * x[i] + y[i]

    def run(x, y):
        out = cuda.device_array_like(x)
        for _ in range(3):  # three equal launches compile once
            saxpy[(x.size + 127) // 128, 128](np.float32(2.0), x, y, out, x.size)
        return out
    """
)

candidate("tiles", "run", m=np.arange(40 * 24, dtype=np.float32).reshape(40, 24))(
    """
    from numba import cuda, float32
    import numpy as np

    @cuda.jit
    def tile_sums(m, total):
        tile = cuda.shared.array((16, 16), float32)
        i, j = cuda.grid(2)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tile[tx, ty] = m[i, j] if i < m.shape[0] and j < m.shape[1] else 0.0
        cuda.syncthreads()
        if tx == 0 and ty == 0:
            s = 0.0
            for a in range(16):
                for b in range(16):
                    s += tile[a, b]
            cuda.atomic.add(total, 0, s)

    def run(m):
        total = cuda.to_device(np.zeros(1, np.float32))
        tile_sums[(3, 2), (16, 16)](m, total)
        return total
    """
)

candidate("device_function", "run", x=X32)(
    """
    import math
    from numba import cuda

    @cuda.jit(device=True)
    def smooth(v):
        return v * v / (1.0 + math.exp(-v))

    @cuda.jit
    def apply(x, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = smooth(x[i])

    def run(x):
        out = cuda.device_array_like(x)
        apply[(x.size + 63) // 64, 64](x, out)
        return out
    """
)

candidate("factory", "run", x=X32)(
    """
    from numba import cuda, float32

    def make(block, scale):
        @cuda.jit(device=True)
        def weigh(v):
            return v * scale

        @cuda.jit
        def block_sum(x, out):
            tile = cuda.shared.array(block, float32)
            i = cuda.grid(1)
            t = cuda.threadIdx.x
            tile[t] = weigh(x[i]) if i < x.size else 0.0
            cuda.syncthreads()
            if t == 0:
                s = 0.0
                for k in range(block):
                    s += tile[k]
                cuda.atomic.add(out, 0, s)

        return block_sum

    def run(x):
        import numpy as np
        out = cuda.to_device(np.zeros(1, np.float32))
        kernel = make(64, 0.5)
        kernel[(x.size + 63) // 64, 64](x, out)
        return out
    """
)

candidate(
    "mixed_types",
    "run",
    h=np.linspace(0, 1, N).astype(np.float16),
    d=np.linspace(0, 1, N),
    k=np.arange(N, dtype=np.int32),
)(
    """
    from numba import cuda
    import numpy as np

    @cuda.jit
    def half(h, out):
        i = cuda.grid(1)
        if i < h.size:
            out[i] = h[i] * h[i] + np.float16(1)

    @cuda.jit
    def wide(d, k, out, bias):
        i = cuda.grid(1)
        if i < d.size:
            out[i] = d[i] * k[i] + bias

    def run(h, d, k):
        oh = cuda.device_array_like(h)
        od = cuda.device_array_like(d)
        half[(h.size + 127) // 128, 128](h, oh)
        wide[(d.size + 127) // 128, 128](d, k, od, 0.5)
        return oh, od
    """
)

candidate("const_table", "run", k=np.arange(N, dtype=np.int32))(
    """
    from numba import cuda
    import numpy as np

    TABLE = np.array([1.0, 2.0, 4.0, 8.0], dtype=np.float32)

    @cuda.jit
    def lookup(k, out):
        table = cuda.const.array_like(TABLE)
        i = cuda.grid(1)
        if i < k.size:
            out[i] = table[k[i] % 4]

    def run(k):
        out = cuda.device_array(k.size, np.float32)
        lookup[(k.size + 127) // 128, 128](k, out)
        return out
    """
)

candidate("retyped", "run", x=X32, d=np.linspace(0, 1, N))(
    """
    from numba import cuda

    @cuda.jit
    def double(x, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = 2 * x[i]

    def run(x, d):
        outs = cuda.device_array_like(x), cuda.device_array_like(d)
        double[(x.size + 127) // 128, 128](x, outs[0])
        double[(d.size + 127) // 128, 128](d, outs[1])
        return outs
    """
)

candidate("declared", "run", x=X32)(
    """
    from numba import cuda

    @cuda.jit("void(float32[:], float32[:])")
    def double(x, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = 2 * x[i]

    def run(x):
        out = cuda.device_array_like(x)
        double[(x.size + 127) // 128, 128](x, out)
        return out
    """
)

candidate("np_sort", "run", x=X32)(
    """
    from numba import cuda
    import numpy as np

    @cuda.jit
    def sorted_copy(x, out):
        i = cuda.grid(1)
        if i == 0:
            y = np.sort(x)
            for j in range(x.size):
                out[j] = y[j]

    def run(x):
        out = cuda.device_array_like(x)
        sorted_copy[1, 1](x, out)
        return out
    """
)

candidate("python_helper", "run", x=X32)(
    """
    from numba import cuda

    def clamp(v):
        return min(max(v, 0.0), 1.0)

    @cuda.jit
    def clamp_all(x, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = clamp(x[i])

    def run(x):
        out = cuda.device_array_like(x)
        clamp_all[(x.size + 127) // 128, 128](x, out)
        return out
    """
)

candidate("python_list", "run", x=X32)(
    """
    from numba import cuda

    @cuda.jit
    def neighbours(x, out):
        i = cuda.grid(1)
        if 0 < i < x.size - 1:
            window = [x[i - 1], x[i], x[i + 1]]
            out[i] = (window[0] + window[1] + window[2]) / 3

    def run(x):
        out = cuda.device_array_like(x)
        neighbours[(x.size + 127) // 128, 128](x, out)
        return out
    """
)

candidate("python_dict", "run", x=X32)(
    """
    from numba import cuda

    @cuda.jit
    def lookup(x, out):
        i = cuda.grid(1)
        weights = {0: 0.5, 1: 2.0}
        if i < x.size:
            out[i] = x[i] * weights[i % 2]

    def run(x):
        out = cuda.device_array_like(x)
        lookup[(x.size + 127) // 128, 128](x, out)
        return out
    """
)

candidate("captured_list", "run", x=X32)(
    """
    from numba import cuda

    def make(weights):
        @cuda.jit
        def weigh(x, out):
            i = cuda.grid(1)
            if i < x.size:
                out[i] = x[i] * weights[i % 2]
        return weigh

    def run(x):
        out = cuda.device_array_like(x)
        make([0.5, 2.0])[(x.size + 127) // 128, 128](x, out)
        return out
    """
)

candidate("wrong_declared_type", "run", d=np.linspace(0, 1, N))(
    """
    from numba import cuda

    @cuda.jit("void(float32[::1], float32[::1])")
    def double(x, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = 2 * x[i]

    def run(d):
        out = cuda.device_array_like(d)
        double[(d.size + 127) // 128, 128](d, out)
        return out
    """
)

candidate("too_much_shared", "run", x=X32)(
    """
    from numba import cuda, float32

    @cuda.jit
    def big(x, out):
        tile = cuda.shared.array(16384, float32)  # 64 KiB: more than static shared allows
        i = cuda.grid(1)
        t = cuda.threadIdx.x
        tile[t] = x[i] if i < x.size else 0.0
        cuda.syncthreads()
        if i < x.size:
            out[i] = tile[(t + 1) % 64]

    def run(x):
        out = cuda.device_array_like(x)
        big[(x.size + 63) // 64, 64](x, out)
        return out
    """
)

candidate("module_device_array", "run", x=X32)(
    """
    from numba import cuda
    import numpy as np

    OFFSET = cuda.to_device(np.ones(1, np.float32))  # needs a device to load

    @cuda.jit
    def shift(x, offset, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = x[i] + offset[0]

    def run(x):
        out = cuda.device_array_like(x)
        shift[(x.size + 127) // 128, 128](x, OFFSET, out)
        return out
    """
)

candidate("captured_device_array", "run", x=X32)(
    """
    from numba import cuda
    import numpy as np

    def make(offset):
        @cuda.jit
        def shift(x, out):
            i = cuda.grid(1)
            if i < x.size:
                out[i] = x[i] + offset[0]
        return shift

    def run(x):
        out = cuda.device_array_like(x)
        make(cuda.to_device(np.ones(1, np.float32)))[(x.size + 127) // 128, 128](x, out)
        return out
    """
)

SIMULATE = """
import pickle, sys
from numba.cuda.simulator import kernel as sim
from kernelmagic.harness._gpu_target import describe_launch, forget_module, load_module
from kernelmagic.harness._candidate_module import _guarded_import
from kernelmagic.candidate.safety import SAFE_BUILTINS

recorded = []
original = sim.FakeCUDAKernel.__call__

def recording(self, *args):
    if not (self._device or sim._kernel_context):
        recorded.append(describe_launch(self, args))
    return original(self, *args)

sim.FakeCUDAKernel.__call__ = recording
builtins = {**SAFE_BUILTINS, "__import__": _guarded_import(())}
out = {}
for name, (source, entry, inputs) in pickle.load(sys.stdin.buffer).items():
    filename = f"<candidate {name}>"
    module, _ = load_module(source, filename, "cand_" + name, builtins)
    recorded.clear()
    getattr(module, entry)(**inputs)
    forget_module(module, filename)
    out[name] = tuple(recorded)
sys.stdout.buffer.write(pickle.dumps(out))
"""

COMPILE = """
import pickle, sys, time
from kernelmagic.harness._gpu_target import compile_launches
from kernelmagic.harness._candidate_module import _guarded_import
from kernelmagic.candidate.safety import SAFE_BUILTINS

from kernelmagic.harness._gpu_target import _ptx as gpu_target

builtins = {**SAFE_BUILTINS, "__import__": _guarded_import(())}
out = {}
for name, (source, filename, launches) in pickle.load(sys.stdin.buffer).items():
    if name == "no_assembler":  # last: as on a machine with neither ptxas nor nvJitLink
        gpu_target._assembler = lambda: None
    for attempt in ("first", "again"):
        out[name, attempt] = compile_launches(
            source, filename, launches, builtins=builtins, cc=(9, 0)
        )
sys.stdout.buffer.write(pickle.dumps(out))
"""


def _run(script: str, payload: Any, *, simulator: bool) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(payload),
        capture_output=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    return pickle.loads(done.stdout)


@pytest.fixture(scope="module")
def launches() -> dict[str, tuple[KernelLaunch, ...]]:
    return _run(SIMULATE, CANDIDATES, simulator=True)


@pytest.fixture(scope="module")
def compiled(launches: dict[str, tuple[KernelLaunch, ...]]) -> dict[tuple[str, str], GpuCompile]:
    payload = {
        name: (CANDIDATES[name][0], f"<candidate {name}>", launches[name]) for name in CANDIDATES
    }
    # The source changed under the launches: its kernel is no longer where it was.
    edited = "# edited\n" + CANDIDATES["saxpy"][0]
    payload["edited"] = (edited, "<candidate saxpy>", launches["saxpy"])
    payload["no_assembler"] = payload["tiles"]
    return _run(COMPILE, payload, simulator=False)


def test_launches_are_described_as_small_values(launches):
    (first, second, third) = launches["saxpy"]
    assert first == second == third and hash(first) == hash(third)
    assert first.name == "saxpy"
    assert first.args == (
        ScalarArg(np.dtype(np.float32)),
        ArrayArg(np.dtype(np.float32), 1, "C"),
        ArrayArg(np.dtype(np.float32), 1, "C"),
        ArrayArg(np.dtype(np.float32), 1, "C"),
        ScalarArg(np.dtype(np.int64)),
    )
    (half, wide) = launches["mixed_types"]
    assert half.args[0] == ArrayArg(np.dtype(np.float16), 1, "C")
    assert wide.args[1] == ArrayArg(np.dtype(np.int32), 1, "C")
    assert wide.args[3] == ScalarArg(np.dtype(np.float64))
    (captured,) = launches["captured_list"]
    assert captured.function.closure == (NotCapturable("a Python list"),)


@pytest.mark.parametrize(
    "name",
    [
        "saxpy",
        "tiles",
        "device_function",
        "factory",
        "mixed_types",
        "const_table",
        "retyped",
        "declared",
    ],
)
def test_kernels_a_gpu_compiles(compiled, name):
    result = compiled[name, "first"]
    assert result.ok, result.compile_info().log
    assert result.load_error is None
    for kernel in result.kernels:
        assert kernel.outcome is Outcome.COMPILED, kernel.message
        assert kernel.resources is not None
        assert kernel.resources.kernel.startswith(kernel.launch.name)
        if kernel.assembler is not None:  # ptxas or nvJitLink on this machine
            assert kernel.resources.registers and kernel.resources.registers > 0
            assert kernel.resources.spill_stores_bytes == 0
        else:
            assert kernel.resources.registers is None  # never guessed
    assert result.compile_info().ok and result.compile_info().arch == "sm_90"


def test_equal_launches_compile_once(compiled):
    assert len(compiled["saxpy", "first"].kernels) == 1
    assert len(compiled["mixed_types", "first"].kernels) == 2
    labels = [k.resources.kernel for k in compiled["retyped", "first"].kernels if k.resources]
    assert labels == [
        "double(array(float32, 1d, C), array(float32, 1d, C))",
        "double(array(float64, 1d, C), array(float64, 1d, C))",
    ]


def test_resources_come_from_the_ptx_and_assembler(compiled):
    (tiles,) = compiled["tiles", "first"].kernels
    assert tiles.resources is not None
    assert tiles.resources.shared_bytes == 16 * 16 * 4
    (factory,) = compiled["factory", "first"].kernels
    assert factory.resources is not None and factory.resources.shared_bytes == 64 * 4
    if tiles.assembler is not None:
        assert tiles.resources.barriers == 1
    (saxpy,) = compiled["saxpy", "first"].kernels
    assert saxpy.resources is not None and saxpy.resources.shared_bytes == 0
    (half, _) = compiled["mixed_types", "first"].kernels
    assert half.assembler is None and half.resources and half.resources.registers is None
    assert half.registers_note is not None and "float16" in half.registers_note


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("np_sort", ["kernel 'sorted_copy'", "sort", "line 9: y = np.sort(x)"]),
        ("python_helper", ["kernel 'clamp_all'", "'clamp'", "line 11: out[i] = clamp(x[i])"]),
        ("python_list", ["kernel 'neighbours'", "line 8"]),
        ("python_dict", ["kernel 'lookup'", "line 9: out[i] = x[i] * weights[i % 2]"]),
        ("captured_list", ["kernel 'weigh'", "captures 'weights', a Python list"]),
        ("wrong_declared_type", ["kernel 'double'", "declared as void(float32[::1]"]),
        ("too_much_shared", ["kernel 'big'", "65536 bytes of static shared memory"]),
    ],
)
def test_kernels_only_the_simulator_runs(compiled, name, expected):
    result = compiled[name, "first"]
    assert not result.ok
    message = result.first_error
    assert message is not None
    assert message.startswith(f"{expected[0]} runs on the simulator but cannot be compiled")
    assert "(sm_90)" in message
    for part in expected[1:]:
        assert part in message, message
    assert "driver" not in message.lower()
    assert not result.compile_info().ok


def test_compile_time_stays_low(compiled):
    for (name, attempt), result in compiled.items():
        limit = 20.0 if (name, attempt) == ("saxpy", "first") else 5.0  # numba warms up once
        assert result.seconds < limit, (name, attempt, result.seconds)


def test_what_cannot_be_tried_here_is_unchecked_not_an_error(compiled):
    loaded = compiled["module_device_array", "first"]
    assert loaded.ok and loaded.load_error is not None
    assert "CudaSupportError" in loaded.load_error
    assert [k.outcome for k in loaded.kernels] == [Outcome.UNCHECKED]
    assert loaded.compile_info().ok and loaded.load_error in loaded.compile_info().log
    (captured,) = compiled["captured_device_array", "first"].kernels
    assert captured.outcome is Outcome.UNCHECKED
    assert captured.message == (
        "kernel 'shift' could not be tried here on a GPU compiler (sm_90): it captures "
        "'offset', a device array, which cannot be recreated without a GPU"
    )
    (moved,) = compiled["edited", "first"].kernels
    assert moved.outcome is Outcome.UNCHECKED and compiled["edited", "first"].ok
    assert moved.message is not None and "was not found again" in moved.message


NVJITLINK_LOG = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_ZN8__main__1kB2v1E' for 'sm_90'
ptxas info    : Function properties for _ZN8__main__1kB2v1E
ptxas         .     8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 40 registers, used 1 barriers
info    : Function properties for '_ZN8__main__1kB2v1E':
info    : used 40 registers, used 1 barriers, 8 stack, 1536 bytes smem, 644 bytes cmem[0]
"""


def test_assembler_reports_are_read_in_both_formats():
    base = Resources(kernel="k", shared_bytes=512)
    linked = _read_report(NVJITLINK_LOG, base)
    assert (linked.registers, linked.barriers, linked.shared_bytes) == (40, 1, 512)
    assert (linked.stack_frame_bytes, linked.spill_stores_bytes, linked.spill_loads_bytes) == (
        8,
        4,
        4,
    )
    ptxas = NVJITLINK_LOG.replace("ptxas         .  ", "").replace(
        "used 1 barriers\n", "used 1 barriers, 512 bytes smem\n", 1
    )
    assert _read_report(ptxas, base) == linked


def test_without_an_assembler_registers_are_unknown(compiled):
    (tiles,) = compiled["no_assembler", "first"].kernels
    assert tiles.outcome is Outcome.COMPILED and tiles.assembler is None
    assert tiles.registers_note == "no ptxas or nvJitLink to assemble it"
    assert tiles.resources == Resources(kernel="tile_sums", shared_bytes=1024)
    assert tiles.resources.summary() == "tile_sums: 1024 B static shared"

"""compute-sanitizer before a kernel is crowned: reading its reports, and running it on a GPU."""

from __future__ import annotations

import numpy as np
import pytest

import kernelmagic as km
from kernelmagic import Status
from kernelmagic.harness import _sanitizer as sanitizer

# The layout compute-sanitizer 2024-2025 prints (NVIDIA's documentation shows the same lines).
RACE_REPORT = """\
========= COMPUTE-SANITIZER
========= Error: Race reported between Write access at hist_kernel(int *, int *, int)+0x90
=========     and Read access at hist_kernel(int *, int *, int)+0x70 [512 hazards]
=========
========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)
"""
MEMCHECK_REPORT = """\
========= COMPUTE-SANITIZER
========= Invalid __global__ write of size 4 bytes
=========     at saxpy+0x1c0
=========     by thread (255,0,0) in block (3,0,0)
=========     Address 0x7f3a2e000ffc is out of bounds
=========
========= ERROR SUMMARY: 1 error
"""
CLEAN_REPORT = """\
========= COMPUTE-SANITIZER
========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)
========= ERROR SUMMARY: 0 errors
"""


def test_a_race_report_is_a_finding_with_the_tools_own_lines():
    found = sanitizer.findings(RACE_REPORT)
    assert found is not None
    assert "Race reported between Write access" in found
    assert "=========" not in found


def test_an_out_of_bounds_write_is_a_finding():
    found = sanitizer.findings(MEMCHECK_REPORT)
    assert found is not None and "out of bounds" in found


def test_a_clean_report_is_no_finding():
    assert sanitizer.findings(CLEAN_REPORT) is None
    assert sanitizer.findings("") is None


def test_the_simulator_says_races_are_not_checked(pool):
    from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference

    harness = km.Harness(km.Problem(saxpy_reference, saxpy_inputs), pool=pool)
    if pool.gpus:
        pytest.skip("this machine has a GPU: the GPU test below covers it")
    assert harness.sanitize(km.Candidate(NUMBA_SAXPY)) is None
    assert harness.sanitizer_note and "simulator" in harness.sanitizer_note


# Each thread reads what another thread wrote to shared memory, with no barrier between.
RACY_BLOCK_SUMS = """
extern "C" __global__ void block_sums(const float* x, float* out, int n) {
    // kernelmagic: grid=cdiv(n, 256); block=256
    __shared__ float s[256];
    int t = threadIdx.x;
    int i = blockIdx.x * 256 + t;
    s[t] = i < n ? x[i] : 0.0f;
    for (int k = 128; k > 0; k >>= 1) {
        if (t < k) s[t] += s[t + k];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}
"""


def block_sums_reference(x, n):
    padded = np.zeros(-(-n // 256) * 256, np.float32)
    padded[:n] = x
    return padded.reshape(-1, 256).sum(axis=1, dtype=np.float32)


def block_sums_inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5000, 9000)) | 1
    return {"x": rng.standard_normal(n, dtype=np.float32), "n": n}


@pytest.mark.gpu
def test_a_shared_memory_race_is_rejected_by_racecheck_on_a_gpu(pool):
    if sanitizer.sanitizer_path() is None:
        pytest.skip("compute-sanitizer is not installed on this GPU machine")
    problem = km.Problem(block_sums_reference, block_sums_inputs, atol=1e-3, rtol=1e-3)
    harness = km.Harness(problem, pool=pool)
    verdict = harness.sanitize(km.Candidate(RACY_BLOCK_SUMS, kind="cuda_c", kernel="block_sums"))
    assert verdict is not None and verdict.status is Status.REJECTED, harness.sanitizer_note
    assert "racecheck" in verdict.message


def test_a_challenger_the_sanitizer_rejects_is_not_crowned_and_counts_once(
    pool, tmp_path, monkeypatch
):
    """No GPU here: `Harness.sanitize` answers what compute-sanitizer would on a racy kernel."""
    import io

    from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
    from test_loop import BROKEN, Scripted

    from kernelmagic.harness.verdict import Verdict
    from kernelmagic.loop.options import OptimizeOptions
    from kernelmagic.render.progress import Progress
    from kernelmagic.start import optimize
    from kernelmagic.store import SessionStore

    def sanitize(self, candidate):
        return Verdict(
            Status.REJECTED,
            "compute-sanitizer racecheck found errors in it:\nRace reported between Write access",
            backend="numba",
            device="GPU",
            source_sha256=candidate.sha256,
        )

    monkeypatch.setattr(km.Harness, "sanitize", sanitize)
    session = optimize(
        BROKEN,  # the first correct kernel would be crowned without a comparison
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer=Scripted([NUMBA_SAXPY]),
        backend="numba-sim",
        session_db=tmp_path / "s.sqlite",
        pool=pool,
        options=OptimizeOptions(rounds=1, candidates=1, patience=None),
    )
    assert session.best is None, session.decisions
    (racy,) = [c for c in session.candidates if c.source == NUMBA_SAXPY]
    assert racy.status is Status.REJECTED and "racecheck" in racy.verdict.message
    (stored,) = [c for c in SessionStore(tmp_path / "s.sqlite").load(session.id).candidates
                 if c.id == racy.id]  # fmt: skip
    assert stored.status is Status.REJECTED

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    shown = Terminal()
    progress = Progress(session, stream=shown)
    for event in session.events():
        progress.show(event)
    # Two candidates judged (the user's and the racy one); the sanitizer's verdict is a line.
    assert progress._bar.n == 2, shown.getvalue()
    assert f"#{racy.seq} under compute-sanitizer: rejected - compute-sanitizer racecheck" in (
        shown.getvalue()
    )

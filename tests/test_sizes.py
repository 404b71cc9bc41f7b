"""The best kernel against the user's, size by size: the final comparison's runs split by
the timing sets' sizes, so a kernel that wins at one size and loses at another shows."""

from __future__ import annotations

import numpy as np
import pytest
from test_loop import Scripted

import kernelmagic as km
from kernelmagic.harness.comparison import Estimate, SizePoint, by_size
from kernelmagic.harness.jobs import TimeReport
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.notebook._record import record_html, record_text
from kernelmagic.render.sizes import one_size
from kernelmagic.start import optimize

LOOPED = """
from numba import cuda

@cuda.jit
def kernel(a, x, y, out, reps):
    i = cuda.grid(1)
    if i < x.size:
        acc = 0.0
        for _ in range(reps):
            acc = a * x[i] + y[i]
        out[i] = acc

def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[(x.size + 63) // 64, 64](a, x, y, out, REPS)
    return out
"""
# The user's kernel does its arithmetic 80 times everywhere; the "tuned" one once on small
# inputs and 320 times on large ones: much faster on four timing sets, slower on the fifth.
YOURS = LOOPED.replace("REPS", "80")
SPECIALISED = LOOPED.replace("REPS", "1 if x.size < 300 else 320")
SMALL, LARGE = 161, 481


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = LARGE if seed == 4 else SMALL
    return {
        "a": np.float32(1.5),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
    }


def _reference(a, x, y):
    return a * x + y


def test_samples_split_by_the_size_of_their_timing_set():
    # Set k is visited at repetitions k, k + 3, ...; sets 0 and 2 have the same size.
    report = TimeReport(
        samples_ms=((1.0, 10.0, 1.2) * 4, (0.5, 20.0, 0.7) * 4),
        host_ms=((), ()),
        first_outputs=((), ()),
        failure=None,
    )
    points = by_size(report, [("100", 200), ("1000", 2000), ("100", 200)])
    assert [p.size for p in points] == ["100", "1000"]
    assert points[0].a_ms == pytest.approx(1.1) and points[0].b_ms == pytest.approx(0.6)
    assert points[1].speedup == pytest.approx(0.5)
    estimate = Estimate(1.8, 1.5, 2.0, 12, sizes=points)
    assert Estimate.from_dict(estimate.to_dict()) == estimate


def test_a_kernel_tuned_for_one_size_shows_where_it_loses(pool, tmp_path, monkeypatch):
    # The timing sets' seeds are fixed here (they are drawn at random otherwise), so the
    # fifth set is the large one.
    monkeypatch.setattr(
        km.Problem, "timing_seeds", lambda self, rng=None, small=False: (0, 1, 2, 3, 4)
    )
    session = optimize(
        YOURS,
        km.Problem(_reference, _inputs, seeds=(5, 6)),
        proposer=Scripted([SPECIALISED]),
        backend="numba-sim",
        session_db=tmp_path / "s.sqlite",
        pool=pool,
        options=OptimizeOptions(rounds=1, candidates=1, patience=None),
    )
    assert session.state == "finished", session.stop_reason
    best = session.best
    assert best is not None and best.id != session.baseline.id, session.decisions[-1].reason
    points = best.estimate.sizes
    assert [p.size for p in points] == [str(SMALL), str(LARGE)]
    small, large = points
    assert small.speedup > 1.2 and large.speedup < 1
    text = record_text(session)
    assert "by input size" in text and f"slower than your kernel at: {LARGE}" in text
    assert f"slower than your kernel at: {LARGE}" in record_html(session)
    # The store keeps them: a session read back shows the same sizes.
    stored = km.SessionStore(tmp_path / "s.sqlite").load(session.id)
    assert stored.decisions[-1].estimate.sizes == points


def test_one_size_says_how_to_see_more():
    point = SizePoint("1500", 4500, 1.0, 0.5)
    assert "let timing_inputs(seed) vary the sizes" in one_size((point,))
    assert one_size((point, point)) == ""
    assert SizePoint("1", 1, 1.0, 0.0).speedup is None

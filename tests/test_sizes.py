"""The best kernel against the user's, size by size: the final comparison's runs split by
the timing sets' sizes, so a kernel that wins at one size and loses at another shows."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from test_loop import Scripted

import kernelmagic as km
from kernelmagic.harness._draws import Draws
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


# Eight small sizes, where the specialised kernel does 1 pass to your 400, and one past its
# threshold, where it does 1600: a clear win overall that loses at one size, by margins
# (3x) that hold on a loaded machine. The comparison's pairs mostly land on small sizes.
NEAR, PAST = (101, 117, 131, 149, SMALL, 181, 201, 241), 311
YOURS_400 = LOOPED.replace("REPS", "400")
SPECIALISED_1600 = LOOPED.replace("REPS", "1 if x.size < 300 else 1600")


def _sized(seed: int, size: int | None = None) -> dict[str, np.ndarray]:
    """Verification draws of their own sizes; a stated size drawn as asked."""
    rng = np.random.default_rng(seed)
    n = size or 97 + 5 * seed
    return {
        "a": np.float32(1.5),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
    }


def test_each_stated_size_is_a_timing_set_whose_twin_has_its_size():
    draws = Draws(km.Problem(_reference, _sized, sizes=(3000, 100, 50_000)))
    gpu = draws.timing_cases(simulated=False)
    assert [c.inputs["x"].size for c in gpu] == [3000, 100, 50_000]
    twins = dict(draws.timing_twins(simulated=False))
    assert sorted(twins) == [0, 1, 2]
    for k, twin in twins.items():
        assert twin.inputs["x"].shape == gpu[k].inputs["x"].shape
        assert not np.array_equal(twin.inputs["x"], gpu[k].inputs["x"])
    # The simulator leaves out what it cannot run in time, and says which.
    sim = draws.timing_cases(simulated=True)
    assert [c.inputs["x"].size for c in sim] == [3000, 100]
    assert draws.sizes_left_out() == (50_000,)
    assert len(draws.timing_cases(simulated=False)) == 3  # the GPU's sets keep every size
    # Where no stated size fits, the simulator times on its own draws, as many as usual.
    only_large = Draws(km.Problem(_reference, _sized, sizes=(60_000,)))
    fallback = only_large.timing_cases(simulated=True)
    assert len(fallback) == km.Problem.timing_sets and only_large.sizes_left_out() == (60_000,)
    assert all(c.size is None and c.inputs["x"].size < 1000 for c in fallback)


@pytest.mark.slow
def test_stated_sizes_compare_the_best_with_yours_at_each(pool, tmp_path):
    """The user names the sizes; the record shows both kernels at each (the one too large
    for the simulator left out, said once), and the export re-runs with the same sizes.
    The specialised kernel wins at the eight small sizes and loses at the large one."""
    db = tmp_path / "s.sqlite"
    session = optimize(
        YOURS_400,
        km.Problem(_reference, _sized, seeds=(5, 6), sizes=(PAST, 30_000, *NEAR)),
        proposer=Scripted([SPECIALISED_1600]),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=OptimizeOptions(rounds=1, candidates=1, patience=None),
    )
    assert session.state == "finished", session.stop_reason
    best = session.best
    assert best is not None and best.id != session.baseline.id, session.decisions[-1].reason
    *small, large = best.estimate.sizes
    assert [p.elements for p in best.estimate.sizes] == [
        2 * n for n in (*sorted(NEAR), PAST)
    ]  # x and y
    assert all(p.speedup > 1.2 for p in small) and large.speedup < 1
    notes = [e.message for e in session.events() if e.kind == "note"]
    assert sum("sizes 30,000 are for a GPU" in n for n in notes) == 1, notes
    assert f"slower than your kernel at: {PAST}" in record_text(session)
    done = km.export_tutorial(session.id, tmp_path / "t.ipynb", session_db=db)
    (magic,) = [
        c
        for c in nbformat.read(done.path, as_version=4).cells
        if c.source.startswith("%%cuda_optimize")
    ]
    assert f"--sizes {PAST},30000,{','.join(map(str, NEAR))}" in magic.source.splitlines()[0]
    assert "def _sized(seed: int, size: int | None = None)" in done.path.read_text()

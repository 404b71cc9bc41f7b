"""A round's candidates are judged at once, one per worker, and applied in the round's order.

The shared pool has two simulator workers. A barrier inside `Harness.evaluate` lets an
evaluation go on only once a second one has started: judged one after another, the first
would wait alone until the barrier's timeout broke the session.
"""

from __future__ import annotations

import threading
import time

import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_loop import RENAMED, WRONG, Scripted

import kernelmagic as km
from kernelmagic.harness.options import ClusterOptions, usable_cores
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.start import optimize

pytestmark = pytest.mark.slow


class _Meeting:
    """Wraps `Harness.evaluate`: round candidates meet in pairs (then `on_start` runs); the
    first of a pair is held back a little, so the second finishes first."""

    def __init__(self, original, baseline: str, *, on_start=None) -> None:
        self.original = original
        self.baseline = baseline
        self.barrier = threading.Barrier(2, timeout=90)
        self.on_start = on_start
        self.finished: list[str] = []
        self.calls = 0
        self.lock = threading.Lock()

    def method(self, harness, candidate, **kw):
        if candidate.source == self.baseline:
            return self.original(harness, candidate, **kw)
        with self.lock:
            self.calls += 1
            first = self.calls % 2 == 1
        self.barrier.wait()
        if self.on_start:
            self.on_start()
        if first:
            time.sleep(1.0)
        verdict = self.original(harness, candidate, **kw)
        with self.lock:
            self.finished.append(candidate.source)
        return verdict


def _session(pool, tmp_path, baseline, proposer, **kw):
    return optimize(
        baseline,
        km.Problem(saxpy_reference, saxpy_inputs, **kw.pop("problem", {})),
        proposer=proposer,
        backend="numba-sim",
        session_db=tmp_path / "s.sqlite",
        pool=pool,
        **kw,
    )


def test_a_rounds_candidates_run_at_once_and_keep_their_order(pool, tmp_path, monkeypatch):
    assert pool.counts["sim"] == 2
    meeting = _Meeting(km.Harness.evaluate, NUMBA_SAXPY)
    monkeypatch.setattr(km.Harness, "evaluate", lambda h, c, **kw: meeting.method(h, c, **kw))
    proposed = [RENAMED, WRONG]
    session = _session(
        pool,
        tmp_path,
        NUMBA_SAXPY,
        Scripted(proposed),
        options=OptimizeOptions(rounds=1, candidates=2, patience=None),
    )
    assert session.state == "finished", session.stop_reason
    # Both ran at once (the barrier let them through), and the second finished first...
    assert meeting.finished == [WRONG, RENAMED]
    # ...yet the events, the session and the store give them in the round's order.
    evaluated = [e.candidate.candidate.source for e in session.events() if e.kind == "evaluated"]
    assert evaluated == [NUMBA_SAXPY, *proposed]
    assert [c.status for c in session.candidates] == [
        km.Status.CORRECT,
        km.Status.CORRECT,
        km.Status.WRONG_RESULT,
    ]
    stored = km.SessionStore(tmp_path / "s.sqlite").load(session.id)
    assert [c.candidate.source for c in stored.candidates] == [NUMBA_SAXPY, *proposed]
    assert stored.candidates[2].status is km.Status.WRONG_RESULT


def test_a_verdict_before_its_turn_is_stored_at_once_so_a_kill_loses_only_those_running(
    pool, tmp_path, monkeypatch
):
    db = tmp_path / "s.sqlite"
    original = km.Harness.evaluate
    seen: list[list[tuple[str, bool]]] = []

    def stored_now() -> list[tuple[str, bool]]:
        """What another process (a resume after a kill) would read from the store now."""
        store = km.SessionStore(db)
        (info,) = store.sessions()
        return [(c.candidate.source, c.verdict is not None) for c in store.load(info.id).candidates]

    def evaluate(harness, candidate, **kw):
        if candidate.source == RENAMED:  # the round's first, still judged meanwhile
            deadline = time.monotonic() + 120
            while (WRONG, True) not in stored_now() and time.monotonic() < deadline:
                time.sleep(0.1)
            seen.append(stored_now())
        return original(harness, candidate, **kw)

    monkeypatch.setattr(km.Harness, "evaluate", evaluate)
    session = _session(
        pool,
        tmp_path,
        NUMBA_SAXPY,
        Scripted([RENAMED, WRONG]),
        options=OptimizeOptions(rounds=1, candidates=2, patience=None),
    )
    assert session.state == "finished", session.stop_reason
    # While the first was judged, the second's verdict was already in the store.
    assert seen == [[(NUMBA_SAXPY, True), (RENAMED, False), (WRONG, True)]]
    # Its event still came in its turn.
    evaluated = [e.candidate.candidate.source for e in session.events() if e.kind == "evaluated"]
    assert evaluated == [NUMBA_SAXPY, RENAMED, WRONG]
    assert [c.status for c in km.SessionStore(db).load(session.id).candidates] == [
        km.Status.CORRECT,
        km.Status.CORRECT,
        km.Status.WRONG_RESULT,
    ]


def test_a_stop_lets_the_evaluations_in_flight_finish_and_starts_no_other(
    pool, tmp_path, monkeypatch
):
    holder: dict[str, km.Session] = {}
    meeting = _Meeting(km.Harness.evaluate, NUMBA_SAXPY, on_start=lambda: holder["s"].stop())
    monkeypatch.setattr(km.Harness, "evaluate", lambda h, c, **kw: meeting.method(h, c, **kw))
    four = [RENAMED, WRONG, RENAMED + "\n# b\n", RENAMED + "\n# c\n"]
    session = _session(
        pool,
        tmp_path,
        NUMBA_SAXPY,
        Scripted(four),
        options=OptimizeOptions(rounds=1, candidates=4, patience=None),
        wait=False,
    )
    holder["s"] = session
    session.wait(timeout_s=300)
    assert session.state == "stopped"
    judged = [c.verdict is not None for c in session.candidates[1:]]
    # The two that started (one per worker) were judged; the rest never started.
    assert judged == [True, True, False, False]
    assert meeting.calls == 2


def test_a_worker_lost_mid_round_costs_only_its_own_candidate(pool, tmp_path):
    crash = "import os\n" + NUMBA_SAXPY.replace(
        "    out = cuda.device_array_like(x)\n", "    os._exit(3)\n", 1
    )
    assert crash != "import os\n" + NUMBA_SAXPY
    session = _session(
        pool,
        tmp_path,
        NUMBA_SAXPY,
        Scripted([crash, RENAMED]),
        problem={"allowed_imports": ("os",)},
        options=OptimizeOptions(rounds=1, candidates=2, patience=None),
    )
    assert session.state == "finished", session.stop_reason
    statuses = [c.status for c in session.candidates[1:]]
    assert statuses == [km.Status.CRASHED, km.Status.CORRECT]
    assert "died" in session.candidates[1].verdict.message


def test_the_pool_is_sized_for_a_round_unless_told():
    assert ClusterOptions(sim_workers=3).sized(8).sim_workers == 3
    assert ClusterOptions().sized(8).sim_workers == min(usable_cores(), 8)
    assert ClusterOptions().sized(1).sim_workers == 1


def test_a_simulator_comparison_shares_its_pairs_among_the_workers(pool, monkeypatch):
    used = []
    real_run = pool.run

    def run(kind, fn, *args, **kwargs):
        result, name = real_run(kind, fn, *args, **kwargs)
        used.append((getattr(fn, "__name__", ""), name))
        return result, name

    monkeypatch.setattr(pool, "run", run)
    harness = km.Harness(km.Problem(saxpy_reference, saxpy_inputs), backend="numba-sim", pool=pool)
    a, b = km.Candidate.from_source(NUMBA_SAXPY), km.Candidate.from_source(RENAMED)
    assert harness.evaluate(a).status is km.Status.CORRECT
    used.clear()
    comparison = harness.compare(a, b)
    assert comparison.estimate is not None, comparison.message
    # Two shares of whole rounds of the 3 timing sets, one per worker: 2 x 12 pairs.
    assert sorted(name for fn, name in used if fn == "time_job") == ["sim-0", "sim-1"]
    assert comparison.pairs == 24
    assert sum(len(p.size) > 0 for p in comparison.estimate.sizes) >= 1


def test_shares_of_a_comparison_merge_in_turn_with_the_first_failure():
    from kernelmagic.harness.jobs import Failure, TimeReport, merged

    ok = TimeReport(((1.0, 2.0), (3.0, 4.0)), ((1.0, 2.0), (3.0, 4.0)), ((), ()), None)
    bad = TimeReport(
        ((5.0,), (6.0,)), ((5.0,), (6.0,)), ((), ()), Failure(km.Status.WRONG_RESULT, "x"), 1
    )
    both = merged([ok, bad])
    assert both.samples_ms == ((1.0, 2.0, 5.0), (3.0, 4.0, 6.0))
    assert both.failure is not None and both.failed_program == 1
    assert merged([ok, ok]).failure is None

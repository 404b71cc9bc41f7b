"""The best kernel's hardware counters through a session: read once for each new best, kept
on its verdict and in the store, shown in the record and the next round's prompt; and a
session that cannot read them says why once (the simulator: not at all) and goes on.

There is no GPU here: `Harness.profile` is replaced by one returning a constructed profile.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_loop import BROKEN, Scripted

import kernelmagic as km
from kernelmagic.candidate import Candidate
from kernelmagic.errors import PoolClosed
from kernelmagic.harness.profile import Profile, reading, section
from kernelmagic.harness.verdict import Status, Verdict
from kernelmagic.loop._profiling import BestCounters
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.loop.proposers._prompt import build_messages
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Best
from kernelmagic.notebook._detail import candidate_detail
from kernelmagic.notebook._record import record_html, record_text
from kernelmagic.render.progress import Progress
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore

PROFILE = Profile(
    "saxpy_kernel",
    duration_ms=0.21,
    dram_pct=71.4,
    l2_pct=40.0,
    sm_pct=12.0,
    occupancy_pct=88.0,
    registers_per_thread=16,
    stalls=(("long_scoreboard", 9.5), ("wait", 1.5)),
)
SAID = "memory-bound at 71% of DRAM peak; top stall: long scoreboard"


@pytest.fixture
def run(pool, tmp_path):
    def go(baseline: str, proposer: Scripted) -> km.Session:
        return optimize(
            baseline,
            km.Problem(saxpy_reference, saxpy_inputs),
            proposer=proposer,
            backend="numba-sim",
            session_db=tmp_path / "s.sqlite",
            pool=pool,
            options=OptimizeOptions(rounds=len(proposer.rounds), candidates=1, patience=None),
        )

    return go


@pytest.fixture
def profiled(monkeypatch) -> list[Candidate]:
    """What `Harness.profile` was asked to profile; it answers `PROFILE` for each."""
    asked: list[Candidate] = []

    def profile(self, candidate: Candidate) -> Profile:
        asked.append(candidate)
        return PROFILE

    monkeypatch.setattr(km.Harness, "profile", profile)
    return asked


def test_the_best_carries_its_counters_into_the_store_the_record_and_the_prompt(
    run, tmp_path, profiled
):
    proposer = Scripted([BROKEN])
    session = run(NUMBA_SAXPY, proposer)
    best = session.best
    assert best is not None and best.id == session.baseline.id
    assert best.record.verdict.profile == PROFILE
    assert [c.source for c in profiled] == [NUMBA_SAXPY]  # once, though asked twice
    assert session.state == "finished" and not session.error
    assert not [e for e in session.events() if e.kind == "note" and "counters" in e.message]

    stored = SessionStore(tmp_path / "s.sqlite").load(session.id)
    (kept,) = [c for c in stored.candidates if c.id == best.id]
    assert kept.verdict is not None and kept.verdict.profile == PROFILE
    assert f"counters (Nsight Compute): {reading(PROFILE)}" in str(kept.verdict)

    text, page = record_text(session), record_html(session)
    line = text.splitlines()[3]
    assert line.startswith("  hardware counters (Nsight Compute): " + SAID), text
    assert SAID in page and SAID in candidate_detail(session, best.record)
    assert "registers/thread 16" in candidate_detail(session, best.record)

    # The terminal says it in a line of its own, not as one more evaluation.
    printed = io.StringIO()
    progress = Progress(session, stream=printed, bar=False)
    for event in session.events():
        progress.show(event)
    shown = printed.getvalue()
    assert f"counters of #0 (Nsight Compute): {reading(PROFILE)}" in shown
    assert shown.count("  #0 user: correct") == 1, shown

    # The round after the best was crowned is asked with its counters: the prompt shows them.
    (request,) = proposer.requests
    assert request.best is not None and request.best.profile == PROFILE
    prompt = build_messages(request, base=request.best.candidate)[1]["content"]
    assert section(PROFILE) in prompt and f"- reading: {reading(PROFILE)}" in prompt


def test_the_first_correct_kernel_is_profiled_when_it_is_crowned(run, profiled):
    # A broken baseline: the first correct kernel is crowned without a timed comparison.
    proposer = Scripted([NUMBA_SAXPY], [BROKEN])
    session = run(BROKEN, proposer)
    best = session.best
    assert best is not None and best.source == NUMBA_SAXPY, session.decisions
    assert [c.source for c in profiled] == [NUMBA_SAXPY]
    assert best.record.verdict.profile == PROFILE
    first, second = proposer.requests
    assert first.best is None and second.best is not None and second.best.profile == PROFILE


def test_on_the_simulator_nothing_is_said_and_nothing_fails(run):
    session = run(NUMBA_SAXPY, Scripted([BROKEN]))
    assert session.state == "finished" and not session.error
    assert session.best is not None and session.best.record.verdict.profile is None
    notes = [e.message for e in session.events() if e.kind == "note"]
    assert not [n for n in notes if "counters" in n], notes
    assert "hardware counters" not in record_text(session)


# -- where counters cannot be read: said once, then not asked again -------------------------


class FakeHarness:
    def __init__(self, *answers: Profile | Exception | None) -> None:
        self.answers = list(answers)
        self.asked = 0
        self.profiler_note = "no hardware counters: Nsight Compute (ncu) is not installed"

    def profile(self, candidate: Candidate) -> Profile | None:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def best_of(n: int, *, simulated: bool = False) -> Best:
    verdict = Verdict(Status.CORRECT, "correct", "numba", "H100", "sha")
    record = CandidateRecord(
        f"s.{n}", "s", n, n, "llm", Candidate(NUMBA_SAXPY + f"# {n}\n"), verdict=verdict
    )
    return Best(f"s.{n}", record.source, Status.CORRECT, 1.0, None, None, simulated, record)


def watch(harness: FakeHarness) -> tuple[BestCounters, list[tuple]]:
    applied: list[tuple] = []
    counters = BestCounters(harness, lambda kind, r, msg="", **f: applied.append((kind, msg, f)))
    return counters, applied


def test_a_machine_without_counters_is_said_once_and_not_asked_again():
    harness = FakeHarness(None, PROFILE)
    counters, applied = watch(harness)
    counters.update(best_of(1))
    counters.update(best_of(2))
    assert harness.asked == 1
    (note,) = applied
    assert note[0] == "note"
    assert note[1] == (
        "no hardware counters: Nsight Compute (ncu) is not installed; the session goes on "
        "without them"
    )


def test_a_failing_profiler_is_a_note_not_a_failure_and_an_interruption_is_raised():
    counters, applied = watch(FakeHarness(ValueError("bad\ncsv")))
    counters.update(best_of(1))
    assert [a[1] for a in applied] == [
        "no hardware counters: the profiler failed (ValueError: bad csv); the session goes on "
        "without them"
    ]
    counters, _ = watch(FakeHarness(PoolClosed("closed")))
    with pytest.raises(PoolClosed):
        counters.update(best_of(1))


def test_a_profiled_best_is_applied_as_its_verdict_again_and_not_profiled_twice():
    harness = FakeHarness(PROFILE)
    counters, applied = watch(harness)
    counters.update(None)
    best = best_of(1)
    counters.update(best)
    ((kind, _, fields),) = applied
    assert kind == "evaluated" and fields["candidate"].verdict.profile == PROFILE
    assert fields["candidate"].id == best.id
    again = dataclasses.replace(best, record=fields["candidate"])
    counters.update(again)
    assert harness.asked == 1

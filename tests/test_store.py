"""The session store: what it keeps, what it never keeps, replay and resume."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_loop import BROKEN, RENAMED, SLOW_SAXPY, WRONG, Scripted

import kernelmagic as km
from kernelmagic.errors import StoreError
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.loop.proposal import Exchange
from kernelmagic.loop.session import Session
from kernelmagic.notebook._record import record_text
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore, session_file


@pytest.fixture
def problem() -> km.Problem:
    return km.Problem(saxpy_reference, saxpy_inputs)


@pytest.fixture(scope="module")
def recorded(pool, tmp_path_factory):
    """A finished three-round session, as stored, and its database path."""
    db = tmp_path_factory.mktemp("store") / "s.sqlite"
    session = optimize(
        SLOW_SAXPY,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer=Scripted([BROKEN, NUMBA_SAXPY], [WRONG], [RENAMED]),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=OptimizeOptions(rounds=3, patience=None),
    )
    return SessionStore(db).load(session.id), db


def test_everything_about_a_session_is_stored(recorded):
    stored, db = recorded
    assert stored.info.state == "finished" and stored.info.rounds == 3
    assert [c.round for c in stored.candidates] == [0, 1, 1, 2, 3]
    assert [c.origin for c in stored.candidates] == ["user", "llm", "llm", "llm", "llm"]
    assert all(c.verdict is not None for c in stored.candidates)
    assert stored.candidates[1].rationale == "idea 0"
    assert stored.candidates[1].parent is None  # the scripted proposer names no parent
    assert stored.meta["baseline_id"] == stored.candidates[0].id
    assert stored.meta["best_id"] == stored.candidates[2].id
    assert stored.meta["problem"]["reference_source"].startswith("def saxpy_reference")
    assert stored.info.device == "CPU simulator (numba-cuda)"
    assert any(d.accepted for d in stored.decisions)
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # The JSON file form reads back to the same session.
    assert session_file.from_dict(session_file.to_dict(stored)) == stored


def test_replay_reproduces_the_recorded_candidates_exactly(recorded, pool, tmp_path, problem):
    stored, _ = recorded
    path = tmp_path / "session.json"
    session_file.write(stored, path)
    again = optimize(
        SLOW_SAXPY,
        problem,
        proposer="replay",
        replay=str(path),
        backend="numba-sim",
        session_db=tmp_path / "other.sqlite",
        pool=pool,
    )
    original = [(c.round, c.source, c.rationale) for c in stored.candidates]
    replayed = [(c.round, c.source, c.rationale) for c in again.candidates]
    assert replayed == original
    assert [c.origin for c in again.candidates[1:]] == ["replay"] * 4
    assert [c.status for c in again.candidates] == [c.status for c in stored.candidates]
    # Each replayed kernel is judged on the seeds its recorded verdict was drawn with.
    judged = [
        (old.verdict.seeds, new.verdict.seeds)
        for old, new in zip(stored.candidates[1:], again.candidates[1:], strict=True)
        if new.reused_from is None and new.verdict.cases_checked
    ]
    assert judged and all(old == new and old for old, new in judged)
    assert again.best.source == NUMBA_SAXPY
    assert again.stop_reason.startswith("the replay proposer has nothing more")


def test_a_replay_from_the_same_store_reuses_every_verdict(recorded, pool, problem):
    stored, db = recorded
    again = optimize(
        SLOW_SAXPY,
        problem,
        proposer="replay",
        replay=stored.info.id[:6],  # a unique prefix names a stored session
        backend="numba-sim",
        session_db=db,
        pool=pool,
    )
    assert all(c.reused_from for c in again.candidates)


def test_secrets_never_reach_the_database_file(tmp_path):
    key = "sk-proj-SECRETSECRETSECRET1234"
    store = SessionStore(tmp_path / "s.sqlite")
    store.add_secret(key)
    store.create_session(
        "abc",
        title="t",
        problem_key="p",
        problem_json={"note": f"my key is {key}"},
        backend="b",
        device="d",
        proposer="llm",
        options_json={},
    )
    store.add_exchange(
        "abc",
        1,
        Exchange(
            "m",
            ({"role": "user", "content": f"Authorization: Bearer {key}"},),
            reply=f"a reply quoting sk-other-KEYKEYKEYKEYKEYKEY and {key}",
        ),
    )
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert key.encode() not in raw
    assert b"KEYKEYKEYKEYKEYKEY" not in raw
    assert b"[redacted]" in raw


def test_store_errors_are_clear(tmp_path):
    bad = tmp_path / "not.sqlite"
    bad.write_text("this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot use"):
        SessionStore(bad)
    store = SessionStore(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match="no session 'nope'"):
        store.resolve("nope")
    with pytest.raises(StoreError, match="no sessions stored"):
        store.resolve("last")
    with pytest.raises(StoreError, match="not found"):
        session_file.read(tmp_path / "missing.json")


def test_resume_continues_a_stopped_session_without_re_evaluating(pool, tmp_path, problem):
    db = tmp_path / "s.sqlite"
    first = optimize(
        SLOW_SAXPY,
        problem,
        proposer=Scripted([NUMBA_SAXPY], [RENAMED]),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=OptimizeOptions(rounds=1, patience=None),
    )
    before = {c.id: c.verdict for c in first.candidates}
    resumed = optimize(
        None,
        problem,
        proposer=Scripted([NUMBA_SAXPY], [RENAMED]),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        resume=first.id,
        options=OptimizeOptions(rounds=2, patience=None),
    )
    assert resumed.id == first.id
    assert [c.round for c in resumed.candidates] == [0, 1, 2]
    for c in resumed.candidates[:2]:
        assert c.verdict == before[c.id]  # the stored verdicts, not new evaluations
    assert resumed.best.id == first.best.id
    with pytest.raises(km.OptionError, match="different problem"):
        optimize(
            None,
            km.Problem(saxpy_reference, saxpy_inputs, atol=0.5),
            proposer=Scripted(),
            backend="numba-sim",
            session_db=db,
            pool=pool,
            resume=first.id,
        )


class _Noting(Scripted):
    """Scripted rounds whose replies also carry a note, as an LLM's reply without a kernel does."""

    def propose(self, request):
        reply = super().propose(request)
        return dataclasses.replace(reply, notes=(f"reply {request.round} held no kernel",))


def test_what_the_loop_told_the_user_is_stored_and_comes_back_on_resume(pool, tmp_path, problem):
    db = tmp_path / "s.sqlite"

    def run(rounds: int, **resume):
        return optimize(
            None if resume else SLOW_SAXPY,
            problem,
            proposer=_Noting([NUMBA_SAXPY, RENAMED, WRONG], [RENAMED]),
            backend="numba-sim",
            session_db=db,
            pool=pool,
            options=OptimizeOptions(rounds=rounds, candidates=2, patience=None),
            **resume,
        )

    first = run(1)
    told = first.notes
    assert (1, "reply 1 held no kernel") in told
    assert any("offered 3 candidates" in text for _, text in told)
    stored = SessionStore(db).load(first.id)
    assert list(stored.notes) == told
    assert session_file.from_dict(session_file.to_dict(stored)).notes == stored.notes
    # The static record a stored session leaves shows them too.
    assert "round 1: reply 1 held no kernel" in record_text(Session.of_stored(stored))
    resumed = run(2, resume=first.id)
    assert resumed.notes[: len(told)] == told
    assert (2, "reply 2 held no kernel") in resumed.notes[len(told) :]
    assert list(SessionStore(db).load(first.id).notes) == resumed.notes

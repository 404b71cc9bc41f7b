"""The session store under faults, each recreated for real: a database deleted or replaced
while a session runs, a disk that fills (a child process under RLIMIT_FSIZE), a process
killed with SIGKILL, a missing database or directory given to commands that only read."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_cli_optimize import kernelmagic
from test_loop import RENAMED, WRONG, Scripted

import kernelmagic as km
from kernelmagic.errors import StoreError
from kernelmagic.harness.verdict import Status, Timing, Verdict
from kernelmagic.loop.events import Event, EventFeed
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore, default_path, session_file
from kernelmagic.store import _schema as store_schema
from kernelmagic.store.rescue import save_rescue

TESTS = Path(__file__).resolve().parent
KEY = "sk-proj-FAULTSFAULTSFAULTS1234"


def new_session(store: SessionStore, session_id: str = "s1") -> CandidateRecord:
    """A running session with a judged baseline, written the way the loop writes one."""
    store.create_session(
        session_id,
        title="saxpy",
        problem_key="p",
        problem_json={},
        backend="numba-sim",
        device="CPU simulator",
        proposer="search",
        options_json={},
    )
    base = record(session_id, 0)
    store.add_candidate(base, "k0")
    store.set_verdict(base.id, base.verdict, None)
    store.update_session(session_id, baseline_id=base.id, best_id=base.id)
    return base


def record(session_id: str, seq: int, rationale: str = "") -> CandidateRecord:
    return CandidateRecord(
        id=f"{session_id}.{seq}",
        session=session_id,
        seq=seq,
        round=min(seq, 1),
        origin="user" if seq == 0 else "search",
        candidate=km.Candidate.from_source(NUMBA_SAXPY + f"\n# variant {seq}\n"),
        rationale=rationale,
        verdict=Verdict(
            Status.CORRECT,
            "correct",
            "numba-sim",
            "CPU simulator",
            "sha",
            timing=Timing(1.0 + seq, 1.0 + seq, 0.0, 5, simulated=True),
        ),
    )


def in_memory(store: SessionStore, *records: CandidateRecord) -> Session:
    """The loop's handle on the session, holding `records` (as the loop's events gave them)."""
    feed = EventFeed()
    sid = records[0].session
    session = Session(sid, store_path=str(store.path), planned_rounds=1, per_round=1, feed=feed)
    for rec in records:
        feed.publish(Event("evaluated", sid, rec.round, candidate=rec))
    return session


# -- a database that disappears -----------------------------------------------------------


def test_a_deleted_database_is_detected_at_the_next_write_and_rescued(tmp_path):
    db = tmp_path / "sessions.sqlite"
    store = SessionStore(db)
    store.add_secret(KEY)
    base = new_session(store)
    db.unlink()  # what `rm sessions.sqlite` does under a running session
    late = record("s1", 1, rationale=f"quotes the key {KEY}")
    for _ in range(2):  # and it stays refused: nothing goes into the unlinked file
        with pytest.raises(StoreError) as err:
            store.add_candidate(late, "k1")
        assert str(err.value).startswith(
            f"the session database {db} was deleted while session s1 was running"
        )
    path = save_rescue(store, in_memory(store, base, late))
    assert path == tmp_path / "sessions.sqlite.s1.session.json"
    assert not db.exists()  # no new, empty database in its place
    rescued = session_file.read(path)
    assert [c.id for c in rescued.candidates] == ["s1.0", "s1.1"]  # the write that never landed
    assert rescued.info.state == "failed" and "was deleted" in rescued.info.stop_reason
    assert rescued.info.best_ms == 1.0 and rescued.meta["best_id"] == "s1.0"
    raw = path.read_text()
    assert KEY not in raw and "[redacted]" in raw
    assert "owner_pid" not in raw  # which process ran it is the store's business
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tmp") == []


def test_a_replaced_database_is_detected_and_left_alone(tmp_path):
    db = tmp_path / "sessions.sqlite"
    store = SessionStore(db)
    new_session(store)
    other = SessionStore(tmp_path / "other.sqlite")
    new_session(other, "s2")
    other.close()
    os.replace(tmp_path / "other.sqlite", db)
    with pytest.raises(StoreError, match=re.escape(f"{db} was replaced by another file while")):
        store.update_session("s1", state="finished", stop_reason="done")
    (info,) = SessionStore(db, read_only=True).sessions()
    assert info.id == "s2"  # the file now there was not written to


# -- a full disk ----------------------------------------------------------------------------

FILL = """
import json, resource, signal, sys
sys.path.insert(0, {tests!r})
from test_faults_store import new_session, record
from kernelmagic.errors import StoreError
from kernelmagic.store import SessionStore

store = SessionStore({db!r})
new_session(store)
# From here on no file of this process may grow 48 KiB past the largest: write() fails
# with EFBIG (SIGXFSZ ignored), as it would with ENOSPC on a full disk.
largest = max(p.stat().st_size for p in store.path.parent.iterdir())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 48 * 1024, resource.RLIM_INFINITY))
written = 0
try:
    for seq in range(1, 10_000):
        store.add_candidate(record("s1", seq, rationale="x" * 3000), f"k{{seq}}")
        written = seq
except StoreError as exc:
    print(json.dumps({{"written": written, "message": str(exc)}}))
    sys.exit(0)
sys.exit("the limit was never reached")
"""


def test_a_full_disk_is_one_clear_error_and_the_session_stays_resumable(tmp_path):
    db = tmp_path / "sessions.sqlite"
    child = subprocess.run(
        [sys.executable, "-c", FILL.format(tests=str(TESTS), db=str(db))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0 and "Traceback" not in child.stderr, child.stderr
    out = json.loads(child.stdout)
    message = out["message"]
    assert "\n" not in message
    assert message.startswith(f"the disk holding {db} is full or cannot be written")
    assert message.endswith(
        "session s1 keeps everything stored before it and can be resumed once there is room"
    )
    assert out["written"] >= 1
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = SessionStore(db, create=False)
    stored = store.load("s1")
    assert len(stored.candidates) == 1 + out["written"]  # every committed row, intact
    assert stored.info.state == "interrupted"  # its process has ended since
    store.update_session("s1", state="running", stop_reason="")  # a resume, once there is room
    store.add_candidate(record("s1", out["written"] + 1), "more")
    assert store.load("s1").info.state == "running"


# -- a process killed outright ------------------------------------------------------------

KILLED = """
import sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_loop import RENAMED, WRONG, Scripted
import kernelmagic as km
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.start import optimize

def hang(request):
    if request.round == 2:  # round 1 is stored: say so, then wait to be killed
        Path({marker!r}).write_text("round 2")
        time.sleep(600)

optimize(
    NUMBA_SAXPY,
    km.Problem(saxpy_reference, saxpy_inputs),
    proposer=Scripted([RENAMED], [WRONG], on_round=hang),
    backend="numba-sim",
    session_db={db!r},
    options=OptimizeOptions(rounds=2, patience=None),
)
"""


@pytest.mark.slow
def test_a_session_killed_with_sigkill_is_interrupted_and_resumes(tmp_path, pool):
    db, marker = tmp_path / "sessions.sqlite", tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED.format(tests=str(TESTS), db=str(db), marker=str(marker))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its workers too are killed with it
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), child.stderr.read().decode() if child.poll() is not None else ""
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT state FROM sessions").fetchone() == ("running",)
    (info,) = SessionStore(db, read_only=True).sessions()
    assert info.state == "interrupted"
    assert info.stop_reason.startswith(f"the process that ran it (pid {child.pid} on ")
    assert "ended without finishing it" in info.stop_reason
    listed = kernelmagic("sessions", "--session-db", str(db))
    assert listed.returncode == 0 and "interrupted" in listed.stdout
    resumed = optimize(
        None,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer=Scripted([RENAMED], [WRONG]),
        backend="numba-sim",
        session_db=SessionStore(db, create=False),
        pool=pool,
        resume=info.id,
        options=OptimizeOptions(rounds=2, patience=None),
    )
    assert resumed.id == info.id and resumed.state == "finished"
    assert [c.round for c in resumed.candidates] == [0, 1, 2]
    assert SessionStore(db, read_only=True).load(info.id).info.state == "finished"


def test_pid_reuse_and_other_hosts_do_not_fool_the_owner_check(tmp_path):
    db = tmp_path / "sessions.sqlite"
    store = SessionStore(db)
    new_session(store, "mine")
    new_session(store, "reused")
    new_session(store, "remote")
    with sqlite3.connect(db) as con:  # this process's pid, but a process started at another time
        con.execute("UPDATE sessions SET owner_started = 'x/1' WHERE id = 'reused'")
        con.execute(
            "UPDATE sessions SET owner_pid = 1, owner_host = 'elsewhere' WHERE id = 'remote'"
        )
    states = {s.id: s.state for s in SessionStore(db, read_only=True).sessions()}
    assert states == {"mine": "running", "reused": "interrupted", "remote": "running"}


def test_an_older_database_keeps_working_and_gains_the_owner_columns(tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as con:  # what kernelmagic wrote with schema 1
        con.executescript(store_schema.SCHEMA)
        con.execute("INSERT INTO meta VALUES ('schema', '1')")
        con.execute(
            "INSERT INTO sessions (id, title, created, updated, state, problem_key, "
            "problem_json, backend, device, proposer, options_json) "
            "VALUES ('old', 't', 1, 1, 'running', 'p', '{}', 'b', 'd', 'search', '{}')"
        )
    (info,) = SessionStore(db, read_only=True).sessions()  # read as it is: nothing changed
    assert info.state == "running"  # no owner recorded: nothing can tell it has ended
    with sqlite3.connect(db) as con:
        assert "owner_pid" not in store_schema.columns(con)
    SessionStore(db, create=False).update_session("old", state="running")  # a resume
    with sqlite3.connect(db) as con:
        assert store_schema.OWNER_COLUMNS.keys() <= store_schema.columns(con)
        version = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        assert version == (str(store_schema.VERSION),)
    assert SessionStore(db, read_only=True).load("old").info.state == "running"  # alive: us


# -- commands that only read ----------------------------------------------------------------


def test_reading_commands_never_create_a_database(tmp_path):
    db = tmp_path / "nothing" / "sessions.sqlite"
    env = {**os.environ, "KERNELMAGIC_SESSION_DB": str(db)}
    expect = f"no session database at {db} (nothing has been stored there yet)"
    for args in (["sessions", "last"], ["sessions", "abc", "--json"], ["export", "abc"]):
        run = kernelmagic(*args, env=env)
        assert run.returncode == 2 and "Traceback" not in run.stderr, args
        (line,) = run.stderr.splitlines()
        assert line.startswith("kernelmagic: error: ") and line.endswith(expect), args
    # Listing them lists nothing, and is no error.
    listed = kernelmagic("sessions", env=env)
    assert listed.returncode == 0 and listed.stdout == f"no sessions in {db} yet\n"
    listed = kernelmagic("sessions", "--json", env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout)["sessions"] == []
    assert not db.parent.exists()
    for store in (SessionStore(db, read_only=True), SessionStore(db, create=False)):
        with pytest.raises(StoreError, match=re.escape(f"no session 'abc': {expect}")):
            store.resolve("abc")  # the lookups of --resume and --replay SESSION_ID
    with pytest.raises(StoreError, match="no session database"):
        km.export_tutorial("abc", tmp_path / "t.ipynb", session_db=db)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "kernelmagic")
    with pytest.raises(UsageError, match="no session database"):
        ip.run_line_magic("cuda_optimize_export", f"abc --session-db {db}")
    assert not db.parent.exists()


def test_export_refuses_a_missing_directory(tmp_path):
    db = tmp_path / "sessions.sqlite"
    store = SessionStore(db)
    new_session(store)
    store.close()
    missing = tmp_path / "no" / "such" / "dir"
    run = kernelmagic("export", "s1", "--session-db", str(db), "-o", str(missing / "t.ipynb"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.endswith(
        f"cannot write {missing / 't.ipynb'}: the directory {missing} does not exist"
    )
    assert not (tmp_path / "no").exists()


def test_the_suite_never_writes_into_the_users_data_directory(data_home, tmp_path, monkeypatch):
    assert default_path().is_relative_to(data_home)
    monkeypatch.delenv("KERNELMAGIC_SESSION_DB")
    assert default_path() == data_home / "kernelmagic" / "sessions.sqlite"  # via XDG_DATA_HOME
    # A session file (here a rescued one) exports with no database, and leaves none behind.
    monkeypatch.setenv("KERNELMAGIC_SESSION_DB", str(tmp_path / "default.sqlite"))
    store = SessionStore(tmp_path / "s.sqlite")
    base = new_session(store)
    done = km.export_tutorial(str(save_rescue(store, in_memory(store, base))), tmp_path / "t")
    assert done.path == tmp_path / "t.ipynb" and done.session == "s1"
    assert not (tmp_path / "default.sqlite").exists()


# -- the loop when its store fails ------------------------------------------------------


class _DeletesTheDatabase:
    """A proposer that removes the session database before it answers, as `rm` would."""

    name = "search"

    def __init__(self, db: Path) -> None:
        self.db = db

    def propose(self, request):
        from kernelmagic.loop.proposal import Proposal, ProposerReply

        self.db.unlink()
        candidate = km.Candidate.from_source(NUMBA_SAXPY + "\n# proposed\n")
        return ProposerReply(proposals=(Proposal(candidate, "search", "a variant"),))


def test_a_session_whose_database_is_deleted_mid_run_ends_saying_so_and_loses_nothing(
    pool, tmp_path
):
    db = tmp_path / "sessions.sqlite"
    session = optimize(
        NUMBA_SAXPY,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer=_DeletesTheDatabase(db),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=OptimizeOptions(rounds=2, candidates=1),
        wait=False,
    )
    with pytest.raises(StoreError, match="was deleted while session") as err:
        session.wait(timeout_s=300)
    assert session.state == "failed"
    rescue = tmp_path / f"sessions.sqlite.{session.id}.session.json"
    assert str(rescue) in str(err.value)
    rescued = session_file.read(rescue)
    assert [c.origin for c in rescued.candidates] == ["user", "search"]
    assert rescued.candidates[0].status is Status.CORRECT
    assert not db.exists()


def test_a_version_2_database_reads_as_it_is_and_gains_the_estimate_columns(tmp_path):
    db = tmp_path / "v2.sqlite"
    with sqlite3.connect(db) as con:  # what kernelmagic wrote with schema 2
        con.executescript(store_schema.SCHEMA)
        con.execute("DROP TABLE notes")
        con.execute("ALTER TABLE sessions DROP COLUMN confirmed_json")
        con.execute("ALTER TABLE decisions DROP COLUMN estimate_json")
        con.execute("INSERT INTO meta VALUES ('schema', '2')")
        con.execute(
            "INSERT INTO sessions (id, title, created, updated, state, problem_key, "
            "problem_json, backend, device, proposer, options_json, baseline_id, best_id) "
            "VALUES ('old', 't', 1, 1, 'finished', 'p', '{}', 'b', 'd', 'search', '{}', "
            "'old.0', 'old.0')"
        )
        con.execute(
            "INSERT INTO decisions (session_id, round, candidate_id, incumbent_id, accepted, "
            "by, reason, speedup, created) VALUES ('old', 1, 'old.1', 'old.0', 0, 'loop', "
            "'kept the incumbent: no significant difference', 1.2, 1)"
        )
    stored = SessionStore(db, read_only=True).load("old")  # nothing changed on disk
    (decision,) = stored.decisions
    assert decision.estimate is None and decision.speedup is None
    assert stored.info.speedup is None and stored.meta["confirmed"] is None
    assert stored.notes == ()  # a file from before notes were kept has none to read
    with sqlite3.connect(db) as con:
        assert "estimate_json" not in store_schema.columns(con, "decisions")
    SessionStore(db, create=False).update_session("old", state="finished")
    with sqlite3.connect(db) as con:
        assert "estimate_json" in store_schema.columns(con, "decisions")
        assert "confirmed_json" in store_schema.columns(con)
        assert store_schema.columns(con, "notes")

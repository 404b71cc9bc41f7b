"""The session database file: how it is opened, its tables, and how an older file is
brought up to date (`_rows` turns records into rows and back)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kernelmagic.errors import StoreError
from kernelmagic.store import _faults as store_faults

VERSION = 3  # 1: the first release; 2: the owner columns; 3: the speedup estimates
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    state TEXT NOT NULL, stop_reason TEXT NOT NULL DEFAULT '', problem_key TEXT NOT NULL,
    problem_json TEXT NOT NULL, backend TEXT NOT NULL, device TEXT NOT NULL,
    device_json TEXT, proposer TEXT NOT NULL, model TEXT, base_url TEXT,
    options_json TEXT NOT NULL, rerun_json TEXT, baseline_id TEXT, best_id TEXT,
    confirmed_json TEXT
);
CREATE TABLE IF NOT EXISTS candidates (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id), seq INTEGER NOT NULL,
    round INTEGER NOT NULL, origin TEXT NOT NULL, parent TEXT, rationale TEXT NOT NULL,
    params_json TEXT, candidate_json TEXT NOT NULL, eval_key TEXT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS candidates_session ON candidates(session_id, seq);
CREATE INDEX IF NOT EXISTS candidates_key ON candidates(eval_key);
CREATE TABLE IF NOT EXISTS verdicts (
    candidate_id TEXT PRIMARY KEY REFERENCES candidates(id), status TEXT NOT NULL,
    latency_ms REAL, verdict_json TEXT NOT NULL, reused_from TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, round INTEGER NOT NULL,
    model TEXT NOT NULL, messages_json TEXT NOT NULL, reply TEXT, prompt_tokens INTEGER,
    completion_tokens INTEGER, finish_reason TEXT, error TEXT, seconds REAL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, round INTEGER NOT NULL,
    candidate_id TEXT NOT NULL, incumbent_id TEXT, accepted INTEGER NOT NULL, by TEXT NOT NULL,
    reason TEXT NOT NULL, speedup REAL, estimate_json TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
    session_id TEXT NOT NULL, round INTEGER NOT NULL, mode TEXT NOT NULL,
    notes_json TEXT NOT NULL, tokens INTEGER NOT NULL DEFAULT 0, finished INTEGER NOT NULL,
    PRIMARY KEY (session_id, round)
);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, round INTEGER NOT NULL,
    text TEXT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_session ON notes(session_id, id);
"""
# Tables added since version 3 come with no new version: a kernelmagic that knows nothing
# of them reads and writes the file as before. `notes`: what the loop told the user.
# Columns added since version 1, by table: version 2 added the process that runs the
# session (`store_owner`); version 3 the final comparison with the user's kernel and each
# decision's speedup estimate (`harness.comparison.Estimate`).
OWNER_COLUMNS = {"owner_pid": "INTEGER", "owner_host": "TEXT", "owner_started": "TEXT"}
ADDED_COLUMNS = {
    "sessions": {**OWNER_COLUMNS, "confirmed_json": "TEXT"},
    "decisions": {"estimate_json": "TEXT"},
}
JSON_COLUMNS = ("problem_json", "options_json", "rerun_json", "device_json", "confirmed_json")


def connect(path: Path, *, create: bool, read_only: bool) -> sqlite3.Connection:
    """Open the database at `path`: created if `create`, else it must exist; brought up to
    date unless `read_only` (which never changes the file)."""
    if not create and not path.is_file():
        raise StoreError(f"no session database at {path} (nothing has been stored there yet)")
    mode = "ro" if read_only else "rwc" if create else "rw"
    db = None
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode={mode}",
            uri=True,
            check_same_thread=False,
            timeout=30.0,
            isolation_level=None,
        )
        if not read_only:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            migrate(db, path)
        if not columns(db):
            raise StoreError(f"{path} holds no kernelmagic sessions")
        check_version(db, path)
        return db
    except sqlite3.DatabaseError as exc:
        if db is not None:
            db.close()
        raise StoreError(
            store_faults.failure(exc, path, None)
            or f"cannot use {path} as a session database: {exc}"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot create the session database {path}: {exc}") from None
    except StoreError:
        if db is not None:
            db.close()
        raise


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file up to `VERSION`, in one transaction: two processes may open it at once."""
    db.executescript(SCHEMA)
    db.execute("BEGIN IMMEDIATE")
    try:
        check_version(db, path)
        for table, added in ADDED_COLUMNS.items():
            have = columns(db, table)
            for name, kind in added.items():
                if name not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(VERSION),))
        db.execute("COMMIT")
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")


def check_version(db: sqlite3.Connection, path: Path) -> None:
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is not None and int(row[0]) > VERSION:
        raise StoreError(f"{path} was written by a newer kernelmagic (schema {row[0]}); upgrade")


def columns(db: sqlite3.Connection, table: str = "sessions") -> set[str]:
    """The columns of `table` (of the sessions table, none: not a session database)."""
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}

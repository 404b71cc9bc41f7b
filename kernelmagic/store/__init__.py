"""Sessions on disk: one SQLite file (WAL), written as the loop goes.

Every proposal is written before it is evaluated and every verdict as soon as it is
known, each in its own transaction: a process killed mid-round loses at most the
evaluations in flight, and a resumed session finds its proposals waiting. The store also
serves as a cache: a verdict is reused for the same candidate key (normalized source,
problem, backend and device). Known secrets are scrubbed from everything written.

A session records the process that runs it (`store_owner`): one left ``running`` by a
process that died is reported as ``interrupted``. Each write first checks that the file is
still the one opened; a deleted, replaced or full database is a `StoreError` that says so
(`store_faults`), and `salvage` gathers what is left for `store_rescue` to save elsewhere.

The default file is ``$KERNELMAGIC_SESSION_DB``, else ``sessions.sqlite`` in the user data
directory (``~/.local/share/kernelmagic`` on Linux).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kernelmagic import _process_owner as store_owner
from kernelmagic._redact import redact
from kernelmagic.errors import StoreError
from kernelmagic.harness.verdict import Status, Verdict
from kernelmagic.loop.proposal import Exchange
from kernelmagic.loop.records import CandidateRecord, Decision, RoundRecord, SessionInfo
from kernelmagic.store import _faults as store_faults
from kernelmagic.store import _rows as store_rows
from kernelmagic.store import _schema as store_schema

SCHEMA_VERSION = store_schema.VERSION
# Verdicts about the machine, not the kernel (no GPU, no CuPy, lost workers, a busy
# machine's timeout): evaluated again next time, when the machine may have changed.
_NOT_REUSED = (Status.TIMEOUT.value, Status.CRASHED.value, Status.UNVERIFIED.value)
# A session's candidates (with their verdicts), decisions, rounds, (round, exchange)s and
# (round, note)s.
_Records = tuple[
    tuple[CandidateRecord, ...],
    tuple[Decision, ...],
    tuple[RoundRecord, ...],
    tuple[tuple[int, Exchange], ...],
    tuple[tuple[int, str], ...],
]


def default_path() -> Path:
    """Where sessions are kept unless told otherwise."""
    env = os.environ.get("KERNELMAGIC_SESSION_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("kernelmagic", appauthor=False)) / "sessions.sqlite"


@dataclasses.dataclass(frozen=True)
class StoredSession:
    """Everything stored about one session."""

    info: SessionInfo
    meta: Mapping[str, Any]  # problem, device, options, how to re-run, baseline and best ids
    candidates: tuple[CandidateRecord, ...]
    decisions: tuple[Decision, ...]
    rounds: tuple[RoundRecord, ...]
    exchanges: tuple[tuple[int, Exchange], ...]  # (round, exchange)
    notes: tuple[tuple[int, str], ...] = ()  # (round, what the loop told the user)


class SessionStore:
    """A SQLite file of sessions; safe to share between the loop's thread and the caller's.

    `SessionStore(path)` creates the file if needed: for new sessions. With `create=False`
    the file must exist (to resume a session); with `read_only=True` it must exist and is
    only read, never created or changed (listing, exporting, replaying). Those two open
    the file on first use, so a missing one is reported as what was looked for there.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self._read_only = read_only
        self._create = create and not read_only
        self._secrets: set[str] = set()
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._opened: store_faults.FileId | None = None  # each write checks it is still there
        self._owner_sql = "NULL, NULL, NULL"  # the owner columns, where the file has them
        self._confirmed_sql = "NULL"  # the final comparison, where the file has it
        self._has_notes = False  # set on connecting: whether the file has a notes table
        self._lost: str | None = None  # why nothing more can be written, once it cannot
        self._failure: str | None = None  # the last write that failed
        self._running: str | None = None  # the session last started or resumed here
        self._rows: dict[str, dict[str, Any]] = {}  # session rows as this store wrote them
        if self._create:
            with self._lock:
                self._connect()

    def add_secret(self, value: str | None) -> None:
        """Never write `value` (an API key, say): it is replaced wherever it would appear."""
        if value and len(value) >= 4:
            self._secrets.add(value)

    def scrub(self, value: Any) -> Any:
        """`value` (text or JSON-like data) as this store would write it: secrets replaced."""
        return redact(value, self._secrets)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()

    # -- writing ---------------------------------------------------------------------

    def create_session(self, session_id: str, **fields: Any) -> None:
        """Store a new session, ``running`` and owned by this process."""
        now = time.time()
        row = {"id": session_id, "created": now, "updated": now, "state": "running", **fields}
        with self._lock:
            self._insert("sessions", self._session_row(session_id, row))

    def update_session(self, session_id: str, **fields: Any) -> None:
        """Change a session's row; setting ``state="running"`` (a resume) makes this
        process its owner."""
        with self._lock:
            fields = self._session_row(session_id, {**fields, "updated": time.time()})
            names = ", ".join(f"{k} = ?" for k in fields)
            self._write(f"UPDATE sessions SET {names} WHERE id = ?", (*fields.values(), session_id))

    def add_candidate(self, record: CandidateRecord, eval_key: str) -> None:
        self._insert("candidates", store_rows.candidate_row(record, eval_key))

    def set_verdict(self, candidate_id: str, verdict: Verdict, reused_from: str | None) -> None:
        row = store_rows.verdict_row(candidate_id, verdict, reused_from)
        self._insert("verdicts", row, replace=True)

    def discard(self, candidate_ids: Iterable[str]) -> None:
        """Forget proposals that were never evaluated (a round cut short before it began)."""
        for cid in candidate_ids:
            self._write("DELETE FROM verdicts WHERE candidate_id = ?", (cid,))
            self._write("DELETE FROM candidates WHERE id = ?", (cid,))

    def add_exchange(self, session_id: str, round_: int, exchange: Exchange) -> None:
        self._insert("exchanges", store_rows.exchange_row(session_id, round_, exchange))

    def add_decision(self, decision: Decision) -> None:
        self._insert("decisions", store_rows.decision_row(decision))

    def set_round(self, session_id: str, record: RoundRecord) -> None:
        self._insert("rounds", store_rows.round_row(session_id, record), replace=True)

    def add_note(self, session_id: str, round_: int, text: str) -> None:
        row = {"session_id": session_id, "round": round_, "text": text, "created": time.time()}
        self._insert("notes", row)

    # -- reading ---------------------------------------------------------------------

    def cached(self, eval_key: str) -> tuple[Verdict, str] | None:
        """A stored verdict for this evaluation key, and the candidate that earned it."""
        marks = ", ".join("?" for _ in _NOT_REUSED)
        row = self._read_one(
            "SELECT v.verdict_json, c.id FROM candidates c JOIN verdicts v "
            f"ON v.candidate_id = c.id WHERE c.eval_key = ? AND v.status NOT IN ({marks}) "
            "AND v.reused_from IS NULL ORDER BY v.created DESC LIMIT 1",
            (eval_key, *_NOT_REUSED),
        )
        if row is None:
            return None
        return Verdict.from_dict(json.loads(row[0])), row[1]

    def resolve(self, ref: str) -> str:
        """The full id of the session `ref` names: an id, a unique prefix, or `last`."""
        try:
            with self._lock:
                self._connect()
        except StoreError as exc:
            raise StoreError(f"no session {ref!r}: {exc}") from None
        if ref == "last":
            row = self._read_one("SELECT id FROM sessions ORDER BY created DESC LIMIT 1", ())
            if row is None:
                raise StoreError(f"no sessions stored in {self.path} yet")
            return str(row[0])
        rows = self._read("SELECT id FROM sessions WHERE id LIKE ? || '%'", (ref,))
        if len(rows) == 1:
            return str(rows[0][0])
        if not rows:
            raise StoreError(
                f"no session {ref!r} in {self.path} (`kernelmagic sessions` lists them)"
            )
        raise StoreError(f"{ref!r} names {len(rows)} sessions in {self.path}: give more of the id")

    def sessions(self, limit: int | None = None) -> list[SessionInfo]:
        """Stored sessions, newest first."""
        rows = self._read(
            "SELECT id FROM sessions ORDER BY created DESC"
            + (f" LIMIT {int(limit)}" if limit else ""),
            (),
        )
        return [self._info(row[0]) for row in rows]

    def load(self, session_id: str) -> StoredSession:
        row = self._read_one("SELECT * FROM sessions WHERE id = ?", (session_id,), named=True)
        if row is None:
            raise StoreError(f"no session {session_id!r} in {self.path}")
        info = self._info(session_id)
        meta = store_rows.meta(dict(row))
        meta.update(state=info.state, stop_reason=info.stop_reason)
        return StoredSession(info, meta, *self._records(session_id))

    def salvage(
        self,
        session_id: str,
        *,
        candidates: Iterable[CandidateRecord] = (),
        decisions: Iterable[Decision] = (),
        rounds: Iterable[RoundRecord] = (),
        notes: Iterable[tuple[int, str]] = (),
    ) -> StoredSession:
        """What is known of a session whose database failed or vanished under it.

        What the open connection still reads (a deleted file stays readable through it),
        with the row values this store last wrote or tried to, and the loop's own records
        in place of the stored ones: they hold the writes that never landed. Marked
        ``failed`` when a write failed. Not scrubbed: pass what is written through `scrub`.
        """
        row: dict[str, Any] = {}
        parts: _Records = ((), (), (), (), ())
        with self._lock:
            try:
                found = self._read_one(
                    "SELECT * FROM sessions WHERE id = ?", (session_id,), named=True
                )
                row = dict(found) if found is not None else {}
                parts = self._records(session_id)
            except StoreError:
                pass  # unreadable too: the loop's records and the rows written here remain
            row.update(self._rows.get(session_id, {}))
            why = self._lost or self._failure
        if "title" not in row:
            raise StoreError(f"nothing is left of session {session_id!r} of {self.path} to save")
        if why:
            row.update(state="failed", stop_reason=why)
        cands = tuple(candidates) or parts[0]
        decs = tuple(decisions) or parts[1]
        rnds = tuple(rounds) or parts[2]
        info = store_rows.summary(row, cands, rnds)
        kept = tuple(notes) or parts[4]
        return StoredSession(info, store_rows.meta(row), cands, decs, rnds, parts[3], kept)

    # -- internals -------------------------------------------------------------------

    def _records(self, session_id: str) -> _Records:
        def rows(sql: str) -> list[Any]:
            return self._read(sql, (session_id,), named=True)

        # An older file read as it is (read-only) has no notes table.
        notes = (
            rows("SELECT round, text FROM notes WHERE session_id = ? ORDER BY id")
            if self._has_notes
            else []
        )
        return (
            tuple(
                store_rows.candidate(r)
                for r in rows(
                    "SELECT c.*, v.verdict_json, v.reused_from FROM candidates c LEFT JOIN "
                    "verdicts v ON v.candidate_id = c.id WHERE c.session_id = ? ORDER BY c.seq"
                )
            ),
            tuple(
                store_rows.decision(r)
                for r in rows("SELECT * FROM decisions WHERE session_id = ? ORDER BY id")
            ),
            tuple(
                store_rows.round_record(r)
                for r in rows("SELECT * FROM rounds WHERE session_id = ? ORDER BY round")
            ),
            tuple(
                store_rows.exchange(r)
                for r in rows("SELECT * FROM exchanges WHERE session_id = ? ORDER BY id")
            ),
            tuple((int(r["round"]), str(r["text"])) for r in notes),
        )

    def _info(self, session_id: str) -> SessionInfo:
        row = self._read_one(
            "SELECT s.id, s.title, s.created, s.updated, s.state, s.stop_reason, s.proposer, "
            "s.backend, s.device, "
            "(SELECT COUNT(*) FROM candidates WHERE session_id = s.id), "
            "(SELECT COALESCE(MAX(round), 0) FROM rounds WHERE session_id = s.id AND finished), "
            "(SELECT latency_ms FROM verdicts WHERE candidate_id = s.baseline_id), "
            "(SELECT latency_ms FROM verdicts WHERE candidate_id = s.best_id), "
            "(SELECT status FROM verdicts WHERE candidate_id = s.best_id), "
            f"s.best_id, {self._confirmed_sql}, {self._owner_sql} FROM sessions s WHERE s.id = ?",
            (session_id,),
        )
        if row is None:
            raise StoreError(f"no session {session_id!r} in {self.path}")
        info = SessionInfo(*row[:14])
        info = dataclasses.replace(info, speedup=store_rows.confirmed(row[15], row[14]))
        ended = store_owner.ended(*row[16:]) if info.state == "running" else None
        return dataclasses.replace(info, state="interrupted", stop_reason=ended) if ended else info

    def _session_row(self, session_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """`fields` as columns of the sessions table, the owner added when it starts running;
        remembered for `salvage`."""
        for name in store_schema.JSON_COLUMNS:
            if name in fields and not isinstance(fields[name], str):
                fields[name] = json.dumps(fields[name], default=str)
        if fields.get("state") == "running":
            owner = store_owner.current()
            fields.update(owner_pid=owner.pid, owner_host=owner.host, owner_started=owner.started)
            self._running = session_id
        self._rows.setdefault(session_id, {}).update(fields)
        return fields

    def _connect(self) -> sqlite3.Connection:
        """The connection, opened on first use."""
        if self._db is None:
            db = store_schema.connect(self.path, create=self._create, read_only=self._read_only)
            if not self._read_only:
                self._opened = store_faults.file_id(self.path)
            have = store_schema.columns(db)
            if store_schema.OWNER_COLUMNS.keys() <= have:
                self._owner_sql = ", ".join(f"s.{name}" for name in store_schema.OWNER_COLUMNS)
            if "confirmed_json" in have:  # a file before version 3, read as it is, has none
                self._confirmed_sql = "s.confirmed_json"
            # An older file read as it is (read-only) has no notes table.
            self._has_notes = bool(store_schema.columns(db, "notes"))
            self._db = db
        return self._db

    def _insert(self, table: str, row: Mapping[str, Any], *, replace: bool = False) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._write(f"{verb} INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._lock:
            db = self._connect()
            if self._lost is None and self._opened is not None:
                self._lost = store_faults.lost(self.path, self._opened, self._running)
                if self._lost is not None:
                    # Our WAL still lies beside the path, under the name SQLite would give a
                    # new file's: fold it into the lost file (still readable through this
                    # connection) and empty it, or a file put at the path would read it.
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            if self._lost is not None:
                raise StoreError(self._lost)
            try:
                db.execute(sql, tuple(self.scrub(p) for p in params))
            except sqlite3.Error as exc:
                self._failure = store_faults.failure(exc, self.path, self._running) or (
                    f"cannot write to {self.path}: {exc}"
                )
                raise StoreError(self._failure) from None
            self._failure = None

    def _read(self, sql: str, params: tuple[Any, ...], *, named: bool = False) -> list[Any]:
        with self._lock:
            cur = self._connect().cursor()
            if named:
                cur.row_factory = sqlite3.Row
            try:
                return cur.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from None

    def _read_one(self, sql: str, params: tuple[Any, ...], *, named: bool = False) -> Any:
        rows = self._read(sql, params, named=named)
        return rows[0] if rows else None

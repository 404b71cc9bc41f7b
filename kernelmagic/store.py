"""Sessions on disk: one SQLite file (WAL), written as the loop goes.

Every proposal is written before it is evaluated and every verdict as soon as it is
known, each in its own transaction: a process killed mid-round loses at most the
evaluations in flight, and a resumed session finds its proposals waiting. The store also
serves as a cache: a verdict is reused for the same candidate key (normalized source,
problem, backend and device). Known secrets are scrubbed from everything written.

The default file is ``$KERNELMAGIC_SESSION_DB``, else ``sessions.sqlite`` in the user data
directory (``~/.local/share/kernelmagic`` on Linux).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .candidate import Candidate
from .errors import StoreError
from .loop.proposal import Exchange
from .loop.records import CandidateRecord, Decision, RoundRecord, SessionInfo
from .redact import redact_text
from .verdict import Status, Verdict

SCHEMA_VERSION = 1
# Verdicts that depend on the circumstances (a timeout setting, a flaky worker) rather
# than on the candidate alone are not reused.
_NOT_REUSED = (Status.TIMEOUT.value, Status.CRASHED.value)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    state TEXT NOT NULL, stop_reason TEXT NOT NULL DEFAULT '', problem_key TEXT NOT NULL,
    problem_json TEXT NOT NULL, backend TEXT NOT NULL, device TEXT NOT NULL,
    device_json TEXT, proposer TEXT NOT NULL, model TEXT, base_url TEXT,
    options_json TEXT NOT NULL, rerun_json TEXT, baseline_id TEXT, best_id TEXT
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
    reason TEXT NOT NULL, speedup REAL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
    session_id TEXT NOT NULL, round INTEGER NOT NULL, mode TEXT NOT NULL,
    notes_json TEXT NOT NULL, tokens INTEGER NOT NULL DEFAULT 0, finished INTEGER NOT NULL,
    PRIMARY KEY (session_id, round)
);
"""


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


class SessionStore:
    """A SQLite file of sessions; safe to share between the loop's thread and the caller's."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self._secrets: set[str] = set()
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, timeout=30.0, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use {self.path} as a session database: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot create the session database {self.path}: {exc}") from None

    def add_secret(self, value: str | None) -> None:
        """Never write `value` (an API key, say): it is replaced wherever it would appear."""
        if value and len(value) >= 4:
            self._secrets.add(value)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ---------------------------------------------------------------------

    def create_session(self, session_id: str, **fields: Any) -> None:
        now = time.time()
        row = {"id": session_id, "created": now, "updated": now, "state": "running", **fields}
        for name in ("problem_json", "options_json", "rerun_json", "device_json"):
            if name in row and not isinstance(row[name], str):
                row[name] = json.dumps(row[name], default=str)
        self._insert("sessions", row)

    def update_session(self, session_id: str, **fields: Any) -> None:
        fields["updated"] = time.time()
        names = ", ".join(f"{k} = ?" for k in fields)
        self._write(f"UPDATE sessions SET {names} WHERE id = ?", (*fields.values(), session_id))

    def add_candidate(self, record: CandidateRecord, eval_key: str) -> None:
        self._insert(
            "candidates",
            {
                "id": record.id,
                "session_id": record.session,
                "seq": record.seq,
                "round": record.round,
                "origin": record.origin,
                "parent": record.parent,
                "rationale": record.rationale,
                "params_json": json.dumps(dict(record.params), default=str)
                if record.params is not None
                else None,
                "candidate_json": json.dumps(dataclasses.asdict(record.candidate)),
                "eval_key": eval_key,
                "created": time.time(),
            },
        )

    def set_verdict(self, candidate_id: str, verdict: Verdict, reused_from: str | None) -> None:
        self._insert(
            "verdicts",
            {
                "candidate_id": candidate_id,
                "status": verdict.status.value,
                "latency_ms": verdict.latency_ms,
                "verdict_json": json.dumps(verdict.to_dict(), default=str),
                "reused_from": reused_from,
                "created": time.time(),
            },
            replace=True,
        )

    def discard(self, candidate_ids: Iterable[str]) -> None:
        """Forget proposals that were never evaluated (a round cut short before it began)."""
        for cid in candidate_ids:
            self._write("DELETE FROM verdicts WHERE candidate_id = ?", (cid,))
            self._write("DELETE FROM candidates WHERE id = ?", (cid,))

    def add_exchange(self, session_id: str, round_: int, exchange: Exchange) -> None:
        self._insert(
            "exchanges",
            {
                "session_id": session_id,
                "round": round_,
                "model": exchange.model,
                "messages_json": json.dumps([dict(m) for m in exchange.messages]),
                "reply": exchange.reply,
                "prompt_tokens": exchange.prompt_tokens,
                "completion_tokens": exchange.completion_tokens,
                "finish_reason": exchange.finish_reason,
                "error": exchange.error,
                "seconds": exchange.seconds,
                "created": time.time(),
            },
        )

    def add_decision(self, decision: Decision) -> None:
        self._insert(
            "decisions",
            {
                "session_id": decision.session,
                "round": decision.round,
                "candidate_id": decision.candidate,
                "incumbent_id": decision.incumbent,
                "accepted": int(decision.accepted),
                "by": decision.by,
                "reason": decision.reason,
                "speedup": decision.speedup,
                "created": time.time(),
            },
        )

    def set_round(self, session_id: str, record: RoundRecord) -> None:
        self._insert(
            "rounds",
            {
                "session_id": session_id,
                "round": record.round,
                "mode": record.mode,
                "notes_json": json.dumps(list(record.notes)),
                "tokens": record.tokens,
                "finished": int(record.finished),
            },
            replace=True,
        )

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
        meta_row = self._read_one("SELECT * FROM sessions WHERE id = ?", (session_id,), named=True)
        if meta_row is None:
            raise StoreError(f"no session {session_id!r} in {self.path}")
        meta = dict(meta_row)
        for name in ("problem_json", "options_json", "rerun_json", "device_json"):
            meta[name.removesuffix("_json")] = json.loads(meta.pop(name) or "null")
        return StoredSession(
            info=self._info(session_id),
            meta=meta,
            candidates=tuple(self._candidates(session_id)),
            decisions=tuple(
                Decision(
                    session=session_id,
                    round=r["round"],
                    candidate=r["candidate_id"],
                    incumbent=r["incumbent_id"],
                    accepted=bool(r["accepted"]),
                    by=r["by"],
                    reason=r["reason"],
                    speedup=r["speedup"],
                )
                for r in self._read(
                    "SELECT * FROM decisions WHERE session_id = ? ORDER BY id",
                    (session_id,),
                    named=True,
                )
            ),
            rounds=tuple(
                RoundRecord(
                    round=r["round"],
                    mode=r["mode"],
                    candidates=(),
                    notes=tuple(json.loads(r["notes_json"])),
                    tokens=r["tokens"],
                    finished=bool(r["finished"]),
                )
                for r in self._read(
                    "SELECT * FROM rounds WHERE session_id = ? ORDER BY round",
                    (session_id,),
                    named=True,
                )
            ),
            exchanges=tuple(
                (
                    r["round"],
                    Exchange(
                        model=r["model"],
                        messages=tuple(json.loads(r["messages_json"])),
                        reply=r["reply"],
                        prompt_tokens=r["prompt_tokens"],
                        completion_tokens=r["completion_tokens"],
                        finish_reason=r["finish_reason"],
                        error=r["error"],
                        seconds=r["seconds"],
                    ),
                )
                for r in self._read(
                    "SELECT * FROM exchanges WHERE session_id = ? ORDER BY id",
                    (session_id,),
                    named=True,
                )
            ),
        )

    # -- internals -------------------------------------------------------------------

    def _candidates(self, session_id: str) -> Iterable[CandidateRecord]:
        rows = self._read(
            "SELECT c.*, v.verdict_json, v.reused_from FROM candidates c LEFT JOIN verdicts v "
            "ON v.candidate_id = c.id WHERE c.session_id = ? ORDER BY c.seq",
            (session_id,),
            named=True,
        )
        for r in rows:
            cand = json.loads(r["candidate_json"])
            cand["compile_options"] = tuple(cand.get("compile_options", ()))
            yield CandidateRecord(
                id=r["id"],
                session=session_id,
                seq=r["seq"],
                round=r["round"],
                origin=r["origin"],
                candidate=Candidate(**cand),
                rationale=r["rationale"],
                parent=r["parent"],
                params=json.loads(r["params_json"]) if r["params_json"] else None,
                verdict=Verdict.from_dict(json.loads(r["verdict_json"]))
                if r["verdict_json"]
                else None,
                reused_from=r["reused_from"],
            )

    def _info(self, session_id: str) -> SessionInfo:
        row = self._read_one(
            "SELECT s.id, s.title, s.created, s.updated, s.state, s.stop_reason, s.proposer, "
            "s.backend, s.device, "
            "(SELECT COUNT(*) FROM candidates WHERE session_id = s.id), "
            "(SELECT COALESCE(MAX(round), 0) FROM rounds WHERE session_id = s.id AND finished), "
            "(SELECT latency_ms FROM verdicts WHERE candidate_id = s.baseline_id), "
            "(SELECT latency_ms FROM verdicts WHERE candidate_id = s.best_id), "
            "(SELECT status FROM verdicts WHERE candidate_id = s.best_id) "
            "FROM sessions s WHERE s.id = ?",
            (session_id,),
        )
        if row is None:
            raise StoreError(f"no session {session_id!r} in {self.path}")
        return SessionInfo(*row)

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer kernelmagic (schema {row[0]}); upgrade"
            )

    def _scrub(self, value: Any) -> Any:
        return redact_text(value, self._secrets) if isinstance(value, str) else value

    def _insert(self, table: str, row: Mapping[str, Any], *, replace: bool = False) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._write(f"{verb} INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self._db.execute(sql, tuple(self._scrub(p) for p in params))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to {self.path}: {exc}") from None

    def _read(self, sql: str, params: tuple[Any, ...], *, named: bool = False) -> list[Any]:
        with self._lock:
            cur = self._db.cursor()
            if named:
                cur.row_factory = sqlite3.Row
            try:
                return cur.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from None

    def _read_one(self, sql: str, params: tuple[Any, ...], *, named: bool = False) -> Any:
        rows = self._read(sql, params, named=named)
        return rows[0] if rows else None

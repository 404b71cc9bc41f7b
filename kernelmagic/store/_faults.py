"""How a session database fails under a running session, said so a user can act on it.

Two faults matter. The file can vanish: deleted, or replaced by another one. SQLite does
not notice for a WAL database: the open connection keeps writing into the unlinked file,
and everything written from then on is lost when the process ends. So the store records
the file's identity when it opens it and compares before each write. And the disk can
fill up (or fail): the write is refused, the rows written before it stay intact.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

FileId = tuple[int, int]  # (st_dev, st_ino)

_SQLITE_IOERR, _SQLITE_FULL = 10, 13
_SQLITE_READONLY_DBMOVED = 1032  # SQLite's own check, for databases with a rollback journal


def file_id(path: Path) -> FileId | None:
    """The identity of the file at `path`, None if there is none."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_dev, st.st_ino


def lost(path: Path, opened: FileId, session: str | None) -> str | None:
    """Why `path` is no longer the database opened as `opened`; None while it still is."""
    now = file_id(path)
    if now == opened:
        return None
    if now is None:
        return f"the session database {path} was deleted {_while(session)}"
    return f"the session database {path} was replaced by another file {_while(session)}"


def failure(exc: sqlite3.Error, path: Path, session: str | None) -> str | None:
    """What a failed write means when the file or its disk is at fault; None otherwise."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code == _SQLITE_READONLY_DBMOVED:
        return f"the session database {path} was moved or deleted {_while(session)}"
    if _disk_trouble(exc, code):
        kept = (
            f"; session {session} keeps everything stored before it and can be resumed "
            "once there is room"
            if session
            else ""
        )
        return f"the disk holding {path} is full or cannot be written ({exc}){kept}"
    return None


def _disk_trouble(exc: sqlite3.Error, code: int | None) -> bool:
    """SQLITE_FULL (ENOSPC, max_page_count) or SQLITE_IOERR (EIO, EFBIG past a size limit)."""
    if code is not None:
        return code & 0xFF in (_SQLITE_IOERR, _SQLITE_FULL)
    return any(words in str(exc) for words in ("disk is full", "disk I/O error"))


def _while(session: str | None) -> str:
    during = f"while session {session} was running" if session else "while it was open"
    return f"{during}: nothing more can be stored in it"

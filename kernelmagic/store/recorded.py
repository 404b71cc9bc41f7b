"""A recorded session named by the user: a session file's path or a stored session's id.

`--replay` and the tutorial export take either; this is the one place that tells them
apart and reads the session, so the loop's proposers only ever see the record itself.
"""

from __future__ import annotations

import os

from kernelmagic.store import SessionStore, StoredSession, session_file


def is_session_file(ref: str) -> bool:
    """Whether `ref` names a session file rather than a stored session's id."""
    return ref.endswith(".json") or os.path.sep in ref or os.path.exists(ref)


def recorded(ref: str | StoredSession, store: SessionStore | None) -> StoredSession:
    """A recorded session: given as such, from a session file (.json) or from the store."""
    if isinstance(ref, StoredSession):
        return ref
    if is_session_file(ref):
        return session_file.read(ref)
    db = store or SessionStore(read_only=True)
    return db.load(db.resolve(ref))

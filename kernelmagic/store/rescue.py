"""A running session saved beside its database when that database is lost or fails.

The file is a session file (`session_file`): `kernelmagic export FILE` and
`--replay FILE` read it with no database at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from kernelmagic.loop.records import CandidateRecord, Decision, RoundRecord
from kernelmagic.store import SessionStore, session_file
from kernelmagic.store.atomic_file import write_text


class SessionRecords(Protocol):
    """What the loop holds of a session (the loop's `Session` is one)."""

    id: str

    @property
    def candidates(self) -> Sequence[CandidateRecord]: ...

    @property
    def decisions(self) -> Sequence[Decision]: ...

    @property
    def rounds(self) -> Sequence[RoundRecord]: ...

    @property
    def notes(self) -> Sequence[tuple[int, str]]: ...


def save_rescue(store: SessionStore, session: SessionRecords) -> Path:
    """Save what `store` and the loop still know of `session` as ``<db>.<id>.session.json``
    beside the database, and return that path.

    For a loop whose store raised `StoreError` mid-run: the rows the open connection can
    still read, the loop's own records (the writes that never landed) over them, secrets
    scrubbed, written whole or not at all. Raises `StoreError` when even that cannot be
    written (a full disk, a deleted directory).
    """
    stored = store.salvage(
        session.id,
        candidates=session.candidates,
        decisions=session.decisions,
        rounds=session.rounds,
        notes=session.notes,
    )
    path = store.path.with_name(f"{store.path.name}.{session.id}.session.json")
    data = store.scrub(session_file.to_dict(stored))
    write_text(path, json.dumps(data, indent=1, default=str))
    return path

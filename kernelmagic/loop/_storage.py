"""What the loop needs of wherever its sessions are kept.

The loop owns this plug point and never sees the store behind it: the start-up code hands
it the SQLite `SessionStore`'s (see `start`); a test can hand it a fake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from kernelmagic.harness.verdict import Verdict
from kernelmagic.loop.events import Event
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session


class Storage(Protocol):
    """Keeps a session's events and serves the verdicts it kept before."""

    def keep(self, event: Event) -> None:
        """Keep what `event` changed, before anyone is told of it; raises `StoreError`."""

    def keep_early(self, record: CandidateRecord, verdict: Verdict) -> None:
        """Keep a verdict that came before those of earlier candidates of its round (its
        event follows in its turn); raises `StoreError`."""

    def cached(self, record: CandidateRecord) -> tuple[Verdict, str] | None:
        """A kept verdict of a candidate judged just like `record`, and that candidate's id."""

    def rescue(self, session: Session) -> Path:
        """After a `StoreError`: save what `session` holds elsewhere, and say where (raises
        `StoreError` when even that fails)."""

"""`export_tutorial`: a session (by id, prefix, `last` or session file) to an .ipynb file."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import nbformat

from kernelmagic._words import count
from kernelmagic.export._notebook import tutorial
from kernelmagic.export._story import story
from kernelmagic.store import SessionStore, StoredSession
from kernelmagic.store.atomic_file import write_text
from kernelmagic.store.recorded import recorded


@dataclasses.dataclass(frozen=True)
class Exported:
    """Where the tutorial went and what it holds."""

    path: Path
    session: str
    steps: int
    missing: tuple[str, ...]  # names the reader must define (could not be captured)
    has_problem_code: bool

    @property
    def summary(self) -> str:
        """The line the command line and the magic print once it is written."""
        return f"wrote {self.path}: session {self.session}, {count(self.steps, 'accepted step')}"

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a reader of the export will have to do by hand, if anything."""
        if not self.has_problem_code:
            return (
                "the session does not hold the problem's source (recorded by an older "
                "kernelmagic): the notebook asks the reader to write the input generator",
            )
        if self.missing:
            return (
                "the problem's functions use "
                + ", ".join(self.missing)
                + ", which could not be written out: the notebook asks the reader to define them",
            )
        return ()


def export_tutorial(
    session: str | StoredSession,
    path: str | os.PathLike[str] | None = None,
    *,
    session_db: str | os.PathLike[str] | SessionStore | None = None,
) -> Exported:
    """Write `session`'s tutorial notebook to `path` (default: tutorial-TITLE-ID.ipynb; a
    directory gets that name inside it).

    Only reads the store (never creates one), and only writes into an existing directory.
    """
    if isinstance(session_db, SessionStore) or isinstance(session, StoredSession):
        store = session_db if isinstance(session_db, SessionStore) else None
    else:
        store = SessionStore(session_db, read_only=True)  # opened only if `session` is an id
    stored = recorded(session, store)
    nb = tutorial(stored)
    target = Path(path) if path is not None else Path(default_name(stored))
    if target.is_dir():  # `-o /tmp` wrote /tmp.ipynb beside the folder
        target = target / default_name(stored)
    if target.suffix != ".ipynb":
        target = (
            target.with_suffix(target.suffix + ".ipynb")
            if target.suffix
            else target.with_suffix(".ipynb")
        )
    write_text(target, nbformat.writes(nb) + "\n")  # never a half-written notebook
    s = story(stored)
    return Exported(
        path=target,
        session=stored.info.id,
        steps=len(s.steps),
        missing=s.code.missing if s.code else (),
        has_problem_code=s.code is not None,
    )


def default_name(stored: StoredSession) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", stored.info.title).strip("-").lower() or "session"
    return f"tutorial-{slug}-{stored.info.id}.ipynb"

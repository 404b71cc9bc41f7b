"""Proposers by name, imported only when chosen (Optuna and openai load slowly)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kernelmagic.errors import OptionError
from kernelmagic.loop.proposal import Proposer

if TYPE_CHECKING:
    from kernelmagic.loop.proposers.llm import LLMOptions
    from kernelmagic.store import SessionStore, StoredSession

PROPOSERS = ("auto", "llm", "search", "replay")


def choose(
    name: str,
    llm: LLMOptions | None,
    *,
    replay: str | StoredSession | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """`auto` means `replay` when a session to replay is named, `llm` where an endpoint is
    configured, else the offline `search`."""
    if name not in PROPOSERS:
        raise OptionError(f"unknown proposer {name!r}: choose one of {', '.join(PROPOSERS)}")
    if name != "auto":
        return name
    if replay:
        return "replay"
    configured = (llm is not None and (llm.api_key or llm.base_url)) or any(
        environ.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL")
    )
    return "llm" if configured else "search"


def make(
    name: str,
    *,
    llm: LLMOptions | None = None,
    replay: str | StoredSession | None = None,
    store: SessionStore | None = None,
    seed: int = 0,
) -> Proposer:
    """The proposer called `name` (after `choose`), configured."""
    if name == "llm":
        from kernelmagic.loop.proposers.llm import LLMOptions, LLMProposer

        return LLMProposer(llm or LLMOptions())
    if name == "search":
        from kernelmagic.loop.proposers._search import SearchProposer

        return SearchProposer(seed=seed)
    if name == "replay":
        from kernelmagic.loop.proposers.replay import ReplayProposer

        if not replay:
            raise OptionError("the replay proposer needs --replay SESSION_ID_OR_FILE")
        return ReplayProposer(recorded(replay, store))
    raise OptionError(f"unknown proposer {name!r}: choose one of {', '.join(PROPOSERS)}")


def is_session_file(ref: str) -> bool:
    """Whether `ref` names a session file rather than a stored session's id."""
    return ref.endswith(".json") or os.path.sep in ref or os.path.exists(ref)


def recorded(ref: str | StoredSession, store: SessionStore | None) -> StoredSession:
    """A recorded session: given as such, from a session file (.json) or from the store."""
    from kernelmagic.store import SessionStore, StoredSession, session_file

    if isinstance(ref, StoredSession):
        return ref
    if is_session_file(ref):
        return session_file.read(ref)
    db = store or SessionStore(read_only=True)
    return db.load(db.resolve(ref))

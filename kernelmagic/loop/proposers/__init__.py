"""Proposers by name, imported only when chosen (Optuna and openai load slowly)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from kernelmagic.errors import OptionError
from kernelmagic.loop.options import LLMOptions
from kernelmagic.loop.proposal import Proposer
from kernelmagic.loop.records import Recorded

PROPOSERS = ("auto", "llm", "search", "replay")


def choose(
    name: str,
    llm: LLMOptions | None,
    *,
    replay: str | Recorded | None = None,
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
    replay: Recorded | None = None,
    seed: int = 0,
) -> Proposer:
    """The proposer called `name` (after `choose`), configured; `replay` is the session
    a replay proposes from, already read by the start-up code."""
    if name == "llm":
        from kernelmagic.loop.proposers.llm import LLMProposer

        return LLMProposer(llm or LLMOptions())
    if name == "search":
        from kernelmagic.loop.proposers._search import SearchProposer

        return SearchProposer(seed=seed)
    if name == "replay":
        from kernelmagic.loop.proposers.replay import ReplayProposer

        if replay is None:
            raise OptionError("the replay proposer needs --replay SESSION_ID_OR_FILE")
        return ReplayProposer(replay)
    raise OptionError(f"unknown proposer {name!r}: choose one of {', '.join(PROPOSERS)}")

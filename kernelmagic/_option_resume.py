"""Resuming a stored session from a command line or a cell: what it keeps, what it takes.

A resumed session runs with its own options except those named again, so the command line
and the magic both need the options a line names (`given_dests`) and the stored session's
options (`restore_arguments`). Shared here, so that neither front end imports the other.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kernelmagic.store import StoredSession

# What a resumed session takes from its stored options unless named again: all but the
# session's identity (its files, store and proposer, restored on their own) and how this
# one run is shown (--json, --wait, --out...).
NOT_RESUMED = frozenset(
    {"command", "given", "resume", "json", "session_db", "candidate", "reference", "inputs"}
    | {"proposer", "replay", "out", "wait", "interactive"}
)
# Sessions stored before their options were: their loop options, by option name.
_STORED_OPTIONS = {
    "rounds": "rounds",
    "candidates": "candidates",
    "patience": "patience",
    "time_budget_s": "time_budget",
    "max_tokens": "max_tokens",
    "target": "target",
    "task": "task",
}


def given_dests(fresh: argparse.ArgumentParser, argv: Sequence[str]) -> frozenset[str]:
    """The options `argv` names (not defaulted): what a resume must not undo.

    `argv` parsed again by `fresh` (a parser built for this alone: it is changed) with
    every default suppressed leaves exactly those.
    """
    parsers = [fresh]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            if action.dest != "command":
                action.default = argparse.SUPPRESS
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return frozenset(vars(fresh.parse_args(list(argv))))


def kept_arguments(values: argparse.Namespace) -> dict[str, Any]:
    """The options a session stores to be resumed with: all but its identity, and the
    endpoint without credentials."""
    kept = {k: v for k, v in vars(values).items() if k not in NOT_RESUMED}
    if kept.get("base_url"):
        # Here, not at the top: the LLM client's imports cost 0.4 s every command without one.
        from kernelmagic.loop.proposers.llm import public_url

        kept["base_url"] = public_url(kept["base_url"])
    return kept


def restore_arguments(
    values: argparse.Namespace, stored: StoredSession, given: Iterable[str]
) -> None:
    """Fill every option in `values` not `given` again from the session's own.

    The endpoint and model are the stored session's (never $OPENAI_BASE_URL's now): the key
    goes to no other server unless the new line names one.
    """
    named = frozenset(given)
    meta: Mapping[str, Any] = stored.meta
    saved = dict((meta.get("rerun") or {}).get("args") or {})
    if not saved:
        options = meta.get("options") or {}
        saved = {arg: options[key] for key, arg in _STORED_OPTIONS.items() if key in options}
    if meta.get("proposer") == "llm":
        saved.update(base_url=meta.get("base_url"), model=meta.get("model"))
    for name, value in saved.items():
        if name not in named and name not in NOT_RESUMED and hasattr(values, name):
            setattr(values, name, value)

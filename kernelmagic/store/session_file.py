"""A stored session as one JSON document: for replaying elsewhere and for sharing.

`kernelmagic sessions ID --json` writes it; `--replay FILE` and tutorial exports read it.
It holds what the store holds (already scrubbed of secrets), so no database is needed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kernelmagic._redact import environment_secrets, redact
from kernelmagic.candidate import Candidate
from kernelmagic.errors import StoreError
from kernelmagic.harness.comparison import Estimate
from kernelmagic.harness.verdict import Verdict
from kernelmagic.loop.proposal import Exchange
from kernelmagic.loop.records import CandidateRecord, Decision, RoundRecord, SessionInfo
from kernelmagic.store import StoredSession

FORMAT = "kernelmagic-session"
VERSION = 1


def to_dict(stored: StoredSession) -> dict[str, Any]:
    """The session as JSON-ready data."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "info": dataclasses.asdict(stored.info),
        "meta": dict(stored.meta),
        "candidates": [
            {
                **{k: v for k, v in dataclasses.asdict(c).items() if k != "verdict"},
                "candidate": c.candidate.to_dict(),
                "params": dict(c.params) if c.params is not None else None,
                "verdict": c.verdict.to_dict() if c.verdict else None,
            }
            for c in stored.candidates
        ],
        "decisions": [d.to_dict() for d in stored.decisions],
        "rounds": [dataclasses.asdict(r) for r in stored.rounds],
        "exchanges": [
            {"round": r, **dataclasses.asdict(e), "messages": [dict(m) for m in e.messages]}
            for r, e in stored.exchanges
        ],
        "notes": [[r, text] for r, text in stored.notes],
    }


def from_dict(data: dict[str, Any]) -> StoredSession:
    """Read back what `to_dict` wrote."""
    if data.get("format") != FORMAT:
        raise StoreError("not a kernelmagic session file (its 'format' field is missing)")
    candidates = []
    for c in data["candidates"]:
        candidates.append(
            CandidateRecord(
                **{
                    **c,
                    "candidate": Candidate.from_dict(c["candidate"]),
                    "verdict": Verdict.from_dict(c["verdict"]) if c["verdict"] else None,
                }
            )
        )
    exchanges = []
    for e in data.get("exchanges", []):
        fields = {k: v for k, v in e.items() if k != "round"}
        fields["messages"] = tuple(fields["messages"])
        exchanges.append((e["round"], Exchange(**fields)))
    return StoredSession(
        info=_info(data["info"]),
        meta=data["meta"],
        candidates=tuple(candidates),
        decisions=tuple(Decision.from_dict(d) for d in data.get("decisions", [])),
        rounds=tuple(
            RoundRecord(**{**r, "candidates": tuple(r["candidates"]), "notes": tuple(r["notes"])})
            for r in data.get("rounds", [])
        ),
        exchanges=tuple(exchanges),
        notes=tuple((int(r), str(text)) for r, text in data.get("notes", [])),
    )


def shareable(stored: StoredSession, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """What a shared file carries: no LLM dialogue, endpoint or local paths, secrets redacted.

    A replay needs only the candidates; the prompts and replies stay in the user's store.
    """
    data = to_dict(stored)
    data["exchanges"] = []
    meta = {k: v for k, v in data["meta"].items() if k not in ("base_url", "rerun")}
    code = (data["meta"].get("rerun") or {}).get("problem_code")
    meta["rerun"] = {"problem_code": code} if code else {}
    data["meta"] = meta
    return dict(redact(data, (*secrets, *environment_secrets())))


def loads(text: str) -> StoredSession:
    """A session from the text of a session file (exported tutorials embed one)."""
    try:
        return from_dict(json.loads(text))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"not a readable kernelmagic session ({exc})") from None


def write(stored: StoredSession, path: str | os.PathLike[str]) -> None:
    Path(path).write_text(json.dumps(to_dict(stored), indent=1, default=str))


def read(path: str | os.PathLike[str]) -> StoredSession:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise StoreError(f"session file not found: {p}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"cannot read session file {p}: {exc}") from None
    try:
        return from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{p} is not a readable kernelmagic session file ({exc})") from None


def _info(data: dict[str, Any]) -> SessionInfo:
    """A session's summary row; one written before speedup estimates has none."""
    fields = dict(data)
    found = fields.pop("speedup", None)
    return SessionInfo(**fields, speedup=Estimate.from_dict(found) if found else None)

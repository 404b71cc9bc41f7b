"""Records as rows of the session database and back: what each table's columns hold.

Both directions in one place, so that a field the loop adds is written and read by the
same hands; `_schema` owns the tables themselves.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from kernelmagic.candidate import Candidate
from kernelmagic.harness.comparison import Estimate
from kernelmagic.harness.verdict import Verdict
from kernelmagic.loop.proposal import Exchange
from kernelmagic.loop.records import (
    CandidateRecord,
    Confirmation,
    Decision,
    RoundRecord,
    SessionInfo,
)
from kernelmagic.store._schema import JSON_COLUMNS, OWNER_COLUMNS


def meta(row: dict[str, Any]) -> dict[str, Any]:
    """A sessions row as `StoredSession.meta`: JSON columns decoded, the owner left out (which
    process ran it here is nothing a reader of the session needs)."""
    out = {k: v for k, v in row.items() if k not in OWNER_COLUMNS}
    for name in JSON_COLUMNS:
        out[name.removesuffix("_json")] = json.loads(out.pop(name, None) or "null")
    return out


def summary(
    row: dict[str, Any], candidates: Sequence[CandidateRecord], rounds: Sequence[RoundRecord]
) -> SessionInfo:
    """A session's summary from its row and records, as the store's query would give it."""
    by_id = {c.id: c for c in candidates}
    base, best = by_id.get(row.get("baseline_id") or ""), by_id.get(row.get("best_id") or "")
    return SessionInfo(
        id=row["id"],
        title=row["title"],
        created=row["created"],
        updated=row["updated"],
        state=row["state"],
        stop_reason=row.get("stop_reason") or "",
        proposer=row["proposer"],
        backend=row["backend"],
        device=row["device"],
        candidates=len(candidates),
        rounds=max((r.round for r in rounds if r.finished), default=0),
        baseline_ms=base.latency_ms if base else None,
        best_ms=best.latency_ms if best else None,
        best_status=best.status.value if best and best.status else None,
        speedup=confirmed(row.get("confirmed_json"), best.id if best else None),
    )


def confirmed(confirmed_json: str | None, best_id: str | None) -> Estimate | None:
    """The session's speedup: its final comparison, if it is of the best it holds now."""
    found = json.loads(confirmed_json or "null")
    made = Confirmation.from_dict(found) if found else None
    return made.estimate if made and best_id and made.candidate == best_id else None


def candidate(r: sqlite3.Row) -> CandidateRecord:
    """A candidates row joined with its verdict (`verdict_json`, `reused_from`)."""
    return CandidateRecord(
        id=r["id"],
        session=r["session_id"],
        seq=r["seq"],
        round=r["round"],
        origin=r["origin"],
        candidate=Candidate.from_dict(json.loads(r["candidate_json"])),
        rationale=r["rationale"],
        parent=r["parent"],
        params=json.loads(r["params_json"]) if r["params_json"] else None,
        verdict=Verdict.from_dict(json.loads(r["verdict_json"])) if r["verdict_json"] else None,
        reused_from=r["reused_from"],
    )


def decision(r: sqlite3.Row) -> Decision:
    return Decision(
        session=r["session_id"],
        round=r["round"],
        candidate=r["candidate_id"],
        incumbent=r["incumbent_id"],
        accepted=bool(r["accepted"]),
        by=r["by"],
        reason=r["reason"],
        estimate=_estimate(r),
    )


def _estimate(r: sqlite3.Row) -> Estimate | None:
    """A decision's estimate; a file from before version 3 (read as it is) has none."""
    found = r["estimate_json"] if "estimate_json" in r.keys() else None  # noqa: SIM118 (values)
    return Estimate.from_dict(json.loads(found)) if found else None


def round_record(r: sqlite3.Row) -> RoundRecord:
    return RoundRecord(
        round=r["round"],
        mode=r["mode"],
        candidates=(),
        notes=tuple(json.loads(r["notes_json"])),
        tokens=r["tokens"],
        finished=bool(r["finished"]),
    )


def exchange(r: sqlite3.Row) -> tuple[int, Exchange]:
    """An exchanges row: (round, exchange)."""
    return r["round"], Exchange(
        model=r["model"],
        messages=tuple(json.loads(r["messages_json"])),
        reply=r["reply"],
        prompt_tokens=r["prompt_tokens"],
        completion_tokens=r["completion_tokens"],
        finish_reason=r["finish_reason"],
        error=r["error"],
        seconds=r["seconds"],
    )


def candidate_row(record: CandidateRecord, eval_key: str) -> dict[str, Any]:
    """A candidates row: the record without its verdict (that is a verdicts row)."""
    return {
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
        "candidate_json": json.dumps(record.candidate.to_dict()),
        "eval_key": eval_key,
        "created": time.time(),
    }


def verdict_row(candidate_id: str, verdict: Verdict, reused_from: str | None) -> dict[str, Any]:
    return {
        "candidate_id": candidate_id,
        "status": verdict.status.value,
        "latency_ms": verdict.latency_ms,
        "verdict_json": json.dumps(verdict.to_dict(), default=str),
        "reused_from": reused_from,
        "created": time.time(),
    }


def exchange_row(session_id: str, round_: int, exchange: Exchange) -> dict[str, Any]:
    return {
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
    }


def decision_row(decision: Decision) -> dict[str, Any]:
    return {
        "session_id": decision.session,
        "round": decision.round,
        "candidate_id": decision.candidate,
        "incumbent_id": decision.incumbent,
        "accepted": int(decision.accepted),
        "by": decision.by,
        "reason": decision.reason,
        "speedup": decision.speedup,
        "estimate_json": json.dumps(decision.estimate.to_dict()) if decision.estimate else None,
        "created": time.time(),
    }


def round_row(session_id: str, record: RoundRecord) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "round": record.round,
        "mode": record.mode,
        "notes_json": json.dumps(list(record.notes)),
        "tokens": record.tokens,
        "finished": int(record.finished),
    }

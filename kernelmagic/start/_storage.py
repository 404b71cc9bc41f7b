"""The loop's `Storage` on the SQLite `SessionStore`: each event written as the rows it
changes, cached verdicts looked up by evaluation key, a failing store's session rescued."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kernelmagic.harness.verdict import Verdict
from kernelmagic.loop.events import Event
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.store import SessionStore
from kernelmagic.store.rescue import save_rescue


class SqliteStorage:
    """The loop's `Storage` on a `SessionStore`: each event written as the rows it changes;
    a candidate's evaluation key (its cache key) made by `key`."""

    def __init__(self, store: SessionStore, key: Callable[[CandidateRecord], str]) -> None:
        self.store = store
        self.key = key

    def keep(self, event: Event) -> None:
        store, sid, rec = self.store, event.session, event.candidate
        if event.kind in ("started", "proposed") and rec is not None:
            store.add_candidate(rec, self.key(rec))
        if event.kind == "started":
            if rec is not None:
                store.update_session(sid, baseline_id=rec.id)
            store.discard(event.dropped)
        elif event.kind == "evaluated" and rec is not None and rec.verdict is not None:
            store.set_verdict(rec.id, rec.verdict, rec.reused_from)
        elif event.kind == "exchange" and event.exchange is not None:
            store.add_exchange(sid, event.round, event.exchange)
        elif event.kind == "round_record" and event.round_record is not None:
            store.set_round(sid, event.round_record)
        elif event.kind == "best" and rec is not None:
            store.update_session(sid, best_id=rec.id)
        elif event.kind == "decision" and event.decision is not None:
            store.add_decision(event.decision)
            if event.decision.accepted:
                store.update_session(sid, best_id=event.decision.candidate)
        elif event.kind == "confirmed" and event.confirmation is not None:
            store.update_session(sid, confirmed_json=event.confirmation.to_dict())
        elif event.kind == "note":
            store.add_note(sid, event.round, event.message)
        elif event.kind == "finished":
            store.update_session(sid, state=event.state, stop_reason=event.message)

    def keep_early(self, record: CandidateRecord, verdict: Verdict) -> None:
        self.store.set_verdict(record.id, verdict, None)

    def cached(self, record: CandidateRecord) -> tuple[Verdict, str] | None:
        return self.store.cached(self.key(record))

    def rescue(self, session: Session) -> Path:
        return save_rescue(self.store, session)

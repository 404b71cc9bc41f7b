"""A round's candidates judged at once, one per worker, their verdicts kept in order.

The harness's jobs wait for a worker of their kind, so a thread per worker keeps every
worker busy; the calling thread then applies each verdict in the round's order, whichever
finished first, so events, the store and the session read as if judged one by one. After
a stop the evaluations in flight finish and no other starts: what is judged is always the
round's first candidates.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from kernelmagic.harness.verdict import Verdict
from kernelmagic.loop.records import CandidateRecord


def judge_round(
    records: list[CandidateRecord],
    stored: Mapping[str, tuple[Verdict, str]],
    *,
    width: int,
    judge: Callable[[CandidateRecord], Verdict | None],
    settle: Callable[[CandidateRecord, Verdict, str | None], CandidateRecord],
) -> list[CandidateRecord]:
    """`records` judged (`judge` in up to `width` threads; None: stopped, not started) or
    taken from `stored` (verdict, reused from), each `settle`d in order; the judged prefix."""
    todo = [rec for rec in records if rec.verdict is None and rec.id not in stored]
    judged: list[CandidateRecord] = []
    with ThreadPoolExecutor(max(1, width), thread_name_prefix="kernelmagic-evaluation") as threads:
        # Each thread runs in a copy of the caller's context: in a notebook, the cell's.
        running = {
            rec.id: threads.submit(contextvars.copy_context().run, judge, rec) for rec in todo
        }
        try:
            for rec in records:
                if rec.verdict is not None:
                    judged.append(rec)
                elif rec.id in stored:
                    judged.append(settle(rec, *stored[rec.id]))
                elif (verdict := running[rec.id].result()) is not None:
                    judged.append(settle(rec, verdict, None))
                else:
                    break  # stopped: this one and those after it never started
        finally:
            threads.shutdown(cancel_futures=True)
    return judged

"""A round's candidates judged at once, one per worker, their verdicts kept in order.

The harness's jobs wait for a worker of their kind, so a thread per worker keeps every
worker busy; the calling thread then applies each verdict in the round's order, whichever
finished first, so events, the store and the session read as if judged one by one. A
verdict that comes before its turn is kept at once (`keep_early`): a process killed while
an earlier candidate is still judged loses only the evaluations still running. After a
stop the evaluations in flight finish and no other starts: what is judged is always the
round's first candidates.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from kernelmagic.harness.verdict import Verdict
from kernelmagic.loop.records import CandidateRecord


def judge_round(
    records: list[CandidateRecord],
    stored: Mapping[str, tuple[Verdict, str]],
    *,
    width: int,
    judge: Callable[[CandidateRecord], Verdict | None],
    settle: Callable[[CandidateRecord, Verdict, str | None], CandidateRecord],
    keep_early: Callable[[CandidateRecord, Verdict], None],
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
        of = {running[rec.id]: rec for rec in todo}  # each future's candidate
        handled: set[Future[Verdict | None]] = set()  # kept early, or settled

        def result(mine: Future[Verdict | None]) -> Verdict | None:
            """`mine`'s verdict; meanwhile each later one is kept as it finishes."""
            while not mine.done():
                done, _ = wait(set(of) - handled, return_when=FIRST_COMPLETED)
                for future in done - {mine}:
                    handled.add(future)
                    if future.exception() is None and (verdict := future.result()) is not None:
                        keep_early(of[future], verdict)
            handled.add(mine)
            return mine.result()

        try:
            for rec in records:
                if rec.verdict is not None:
                    judged.append(rec)
                elif rec.id in stored:
                    judged.append(settle(rec, *stored[rec.id]))
                elif (verdict := result(running[rec.id])) is not None:
                    judged.append(settle(rec, verdict, None))
                else:
                    break  # stopped: this one and those after it never started
        finally:
            threads.shutdown(cancel_futures=True)
    return judged

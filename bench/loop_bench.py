"""Loop benchmark: what the refinement loop adds on top of the harness.

Reports (Markdown, or JSON with --json):
- the session store: writing a proposal and its verdict (one transaction each, WAL),
  a cache lookup, and loading a 200-candidate session;
- the loop's own overhead per candidate: 5 rounds of 4 proposals that are all the
  baseline again, so every verdict comes from the store and no comparison is needed
  (proposer, store, cache, selection, events);
- a replay of that search session from the same store: verdicts reused; a new best, if
  the session found one, is compared again on this machine (one interleaved comparison);
- one simulator comparison (interleaved pairs) of the example kernel with itself;
- a whole offline session: `search` on the example saxpy, on the simulator.

Run: python bench/loop_bench.py [--json]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _report import emit

import kernelmagic as km
import kernelmagic.loop.proposal
from kernelmagic.cli._loading import load_object
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.options import ClusterOptions
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.store import SessionStore

ROOT = Path(__file__).resolve().parents[1] / "examples" / "saxpy"
problem = km.Problem(
    load_object(f"{ROOT / 'problem.py'}:reference", what="reference"),
    load_object(f"{ROOT / 'problem.py'}:inputs", what="inputs"),
)
KERNEL = ROOT / "saxpy_numba.py"


def store_costs(tmp: Path) -> dict[str, float]:
    store = SessionStore(tmp / "bench.sqlite")
    store.create_session(
        "bench",
        title="t",
        problem_key="p",
        problem_json={},
        backend="b",
        device="d",
        proposer="search",
        options_json={},
    )
    verdict = km.check(KERNEL, problem, backend="numba-sim")
    source = KERNEL.read_text()
    add, judge, look = [], [], []
    for i in range(200):
        rec = CandidateRecord(
            f"bench.{i}", "bench", i, 1 + i // 4, "search", km.Candidate(source + f"# {i}\n")
        )
        t = time.perf_counter()
        store.add_candidate(rec, f"key{i}")
        add.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.set_verdict(rec.id, verdict, None)
        judge.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.cached(f"key{i}")
        look.append(time.perf_counter() - t)
    t = time.perf_counter()
    store.load("bench")
    loaded = time.perf_counter() - t
    return {
        "store_add_candidate_ms": statistics.median(add) * 1e3,
        "store_set_verdict_ms": statistics.median(judge) * 1e3,
        "store_cache_lookup_ms": statistics.median(look) * 1e3,
        "store_load_200_ms": loaded * 1e3,
    }


def loop_costs(tmp: Path, pool: WorkerPool) -> dict[str, float]:
    db = tmp / "loop.sqlite"
    t = time.perf_counter()
    first = km.optimize(
        KERNEL,
        problem,
        proposer="search",
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=km.OptimizeOptions(rounds=5, candidates=4, patience=None),
    )
    session_s = time.perf_counter() - t
    t = time.perf_counter()
    again = km.optimize(
        KERNEL,
        problem,
        proposer="replay",
        replay=first.id,
        backend="numba-sim",
        session_db=db,
        pool=pool,
    )
    replay_s = time.perf_counter() - t
    assert all(c.reused_from for c in again.candidates)

    class Same:
        name = "same"

        def propose(self, request):
            cand = km.Candidate.from_file(KERNEL)
            proposals = tuple(km.loop.proposal.Proposal(cand, "search") for _ in range(4))
            return km.loop.proposal.ProposerReply(proposals)

    t = time.perf_counter()
    same = km.optimize(
        KERNEL,
        problem,
        proposer=Same(),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=km.OptimizeOptions(rounds=5, candidates=4, patience=None),
    )
    same_s = time.perf_counter() - t
    assert len(same.candidates) == 21 and all(c.reused_from for c in same.candidates)
    harness = km.Harness(problem, backend="numba-sim", pool=pool)
    cand = km.Candidate.from_file(KERNEL)
    harness.evaluate(cand)
    t = time.perf_counter()
    comparison = harness.compare(cand, cand)
    compare_s = time.perf_counter() - t
    return {
        "search_session_s": session_s,
        "search_session_candidates": len(first.candidates),
        "replay_of_that_session_s": replay_s,
        "cached_session_21_candidates_s": same_s,
        "loop_overhead_per_candidate_ms": same_s / len(same.candidates) * 1e3,
        f"sim_compare_{comparison.pairs}_pairs_s": compare_s,
        # The kernel against itself: a tie, whose interval should hold 1.
        "sim_compare_self_ci_low": comparison.estimate.low or float("nan"),
        "sim_compare_self_ci_high": comparison.estimate.high or float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pool = WorkerPool(ClusterOptions(sim_workers=1))
        try:
            results = {**store_costs(tmp), **loop_costs(tmp, pool)}
        finally:
            pool.close()
    emit(results, as_json=args.json)


if __name__ == "__main__":
    main()

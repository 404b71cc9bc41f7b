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

`--guard` measures only the guarded figures (the store's and the loop's per-candidate
overhead), each as a ratio to a bare cost timed in the same run (a SQLite transaction, a
fixed piece of pure Python), so a slower or busier machine moves both alike; it exits 1
when a ratio is more than 1.5x the one recorded in bench/loop_guard.json (`--record`
writes that file).

Run: python bench/loop_bench.py [--json | --guard | --record]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sqlite3
import statistics
import sys
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
GUARD = Path(__file__).with_name("loop_guard.json")
SLACK = 1.5  # how far past its recorded ratio a figure may go before the guard fails
# Each guarded figure, and the bare cost it is measured against.
GUARDED = {
    "store_add_candidate_ms": "bare_sqlite_commit_ms",
    "store_set_verdict_ms": "bare_sqlite_commit_ms",
    "store_cache_lookup_ms": "bare_sqlite_select_ms",
    "store_load_200_ms": "bare_python_ms",  # 200 rows decoded into records: mostly Python
    "loop_overhead_per_candidate_ms": "bare_python_ms",
}


class Bare:
    """The bare costs the guarded figures stand on, timed between the measured calls (so
    a burst of load hits both alike): a WAL transaction of one 2 KB row, a lookup by key,
    and a fixed piece of pure Python (the loop's overhead is Python)."""

    def __init__(self, tmp: Path) -> None:
        self.db = sqlite3.connect(tmp / "bare.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # as the store has it
        self.db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        self.times: dict[str, list[float]] = {"commit": [], "select": [], "python": []}
        self.rows = 0

    def sqlite(self) -> None:
        key = f"k{self.rows}"
        self.rows += 1
        t = time.perf_counter()
        with self.db:
            self.db.execute("INSERT INTO t VALUES (?, ?)", (key, "x" * 2048))
        self.times["commit"].append(time.perf_counter() - t)
        t = time.perf_counter()
        self.db.execute("SELECT v FROM t WHERE k = ?", (key,)).fetchone()
        self.times["select"].append(time.perf_counter() - t)

    def python(self) -> None:
        t = time.perf_counter()
        json.dumps([{"id": i, "score": i * 0.5, "name": str(i)} for i in range(2000)])
        self.times["python"].append(time.perf_counter() - t)

    def costs(self) -> dict[str, float]:
        return {f"bare_{'sqlite_' if k != 'python' else ''}{k}_ms": statistics.median(v) * 1e3
                for k, v in self.times.items() if v}  # fmt: skip


def store_costs(tmp: Path, bare: Bare) -> dict[str, float]:
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
        bare.sqlite()
    loads = []
    for _ in range(5):  # one load is ~10 ms: a median of several, or noise decides
        t = time.perf_counter()
        store.load("bench")
        loads.append(time.perf_counter() - t)
        bare.python()
    return {
        "store_add_candidate_ms": statistics.median(add) * 1e3,
        "store_set_verdict_ms": statistics.median(judge) * 1e3,
        "store_cache_lookup_ms": statistics.median(look) * 1e3,
        "store_load_200_ms": statistics.median(loads) * 1e3,
    }


def loop_overhead(db: Path, pool: WorkerPool, bare: Bare) -> dict[str, float]:
    """5 rounds of 4 proposals that are all the baseline again: every verdict from the
    store, no comparison, so what is left is the loop's own work per candidate."""

    class Same:
        name = "same"

        def propose(self, request):
            cand = km.Candidate.from_file(KERNEL)
            proposals = tuple(km.loop.proposal.Proposal(cand, "search") for _ in range(4))
            return km.loop.proposal.ProposerReply(proposals)

    options = km.OptimizeOptions(rounds=5, candidates=4, patience=None)
    run = dict(backend="numba-sim", session_db=db, pool=pool, options=options)
    km.optimize(KERNEL, problem, proposer=Same(), **run)  # the baseline's verdict, stored
    walls = []
    for _ in range(5):
        t = time.perf_counter()
        same = km.optimize(KERNEL, problem, proposer=Same(), **run)
        walls.append(time.perf_counter() - t)
        bare.python()
        assert len(same.candidates) == 21 and all(c.reused_from for c in same.candidates)
    same_s = statistics.median(walls)
    return {
        "cached_session_21_candidates_s": same_s,
        "loop_overhead_per_candidate_ms": same_s / len(same.candidates) * 1e3,
    }


def loop_costs(tmp: Path, pool: WorkerPool, bare: Bare) -> dict[str, float]:
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
        **loop_overhead(db, pool, bare),
        f"sim_compare_{comparison.pairs}_pairs_s": compare_s,
        # The kernel against itself: a tie, whose interval should hold 1.
        "sim_compare_self_ci_low": comparison.estimate.low or float("nan"),
        "sim_compare_self_ci_high": comparison.estimate.high or float("nan"),
    }


def ratios(results: dict[str, float]) -> dict[str, float]:
    """Each guarded figure over its bare cost."""
    return {name: results[name] / results[bare] for name, bare in GUARDED.items()}


def guard(results: dict[str, float]) -> int:
    """Print each guarded ratio against the recorded one; 1 if any went past its slack."""
    recorded = json.loads(GUARD.read_text())
    print(f"recorded on {recorded['machine']}, {recorded['date']}; limit {SLACK}x the ratio")
    print("| figure | now | ratio to bare | recorded ratio | |\n|---|---|---|---|---|")
    failed = []
    for name, ratio in ratios(results).items():
        was = recorded["ratios"][name]
        ok = ratio <= SLACK * was
        failed += [] if ok else [name]
        verdict = "ok" if ok else "SLOWER"
        print(f"| {name} | {results[name]:.3g} | {ratio:.3g} | {was:.3g} | {verdict} |")
    if failed:
        print(f"slower than recorded: {', '.join(failed)}")
    return 1 if failed else 0


def machine() -> str:
    """The CPU model and core count, as /proc/cpuinfo names them."""
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else ())
        if line.startswith("model name")
    ]
    model = models[0] if models else platform.processor() or platform.machine()
    cores = len(models) or os.cpu_count()
    return f"{model}, {cores} cores, {platform.system()} {platform.release()}"


def record(results: dict[str, float]) -> None:
    """Write the ratios measured now as the ones the guard holds the code to."""
    found = {
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "ratios": {k: round(v, 4) for k, v in ratios(results).items()},
        "figures": {k: round(results[k], 4) for k in (*GUARDED, *set(GUARDED.values()))},
    }
    GUARD.write_text(json.dumps(found, indent=1) + "\n")
    print(f"wrote {GUARD}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true")
    mode.add_argument("--guard", action="store_true", help="check the guarded figures")
    mode.add_argument("--record", action="store_true", help="record them for --guard")
    args = parser.parse_args()
    guarded = args.guard or args.record
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pool = WorkerPool(ClusterOptions(sim_workers=1))
        try:
            bare = Bare(tmp)
            stored = store_costs(tmp, bare)
            db = tmp / "loop.sqlite"
            loop = loop_overhead(db, pool, bare) if guarded else loop_costs(tmp, pool, bare)
            results = {**stored, **loop, **bare.costs()}
        finally:
            pool.close()
    if args.record:
        record(results)
    elif args.guard:
        sys.exit(guard(results))
    else:
        emit(results, as_json=args.json)


if __name__ == "__main__":
    main()

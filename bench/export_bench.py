"""Export benchmark: how long writing a tutorial notebook takes, and how big it is.

Sessions of 10, 50 and 200 candidates are recorded once on the simulator (reformatted copies
of the example kernel: one real evaluation, the other verdicts reused from the store), then:
- building the notebook in memory (`kernelmagic.export.tutorial`, median of 20);
- `kernelmagic export` as a user runs it (a new process each time, median of 3);
- the size of the written notebook.

Run: python bench/export_bench.py [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kernelmagic as km
from kernelmagic.cli._loading import load_object
from kernelmagic.export import tutorial
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.options import ClusterOptions
from kernelmagic.loop.proposal import Proposal, ProposerReply, RoundRequest
from kernelmagic.store import SessionStore

ROOT = Path(__file__).resolve().parents[1] / "examples" / "saxpy"
KERNEL = (ROOT / "saxpy_numba.py").read_text()
PER_ROUND = 5
EXPORT = [sys.executable, "-m", "kernelmagic", "export"]


class Copies:
    """Proposes reformatted copies of the kernel: real candidates, one evaluation in all."""

    name = "copies"

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def propose(self, request: RoundRequest) -> ProposerReply:
        proposals = tuple(
            Proposal(
                km.Candidate.from_source(f"# variant {request.round}.{i}\n" + KERNEL),
                "llm",
                f"Variant {request.round}.{i}: the same kernel, to measure the export alone.",
            )
            for i in range(PER_ROUND)
        )
        return ProposerReply(proposals, exhausted=request.round >= self.rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    problem = km.Problem(
        load_object(f"{ROOT / 'problem.py'}:reference", what="reference"),
        load_object(f"{ROOT / 'problem.py'}:inputs", what="inputs"),
    )
    results = []
    pool = WorkerPool(ClusterOptions(sim_workers=1))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.sqlite"
        try:
            for candidates in (10, 50, 200):
                session = km.optimize(
                    KERNEL,
                    problem,
                    proposer=Copies(candidates // PER_ROUND),
                    backend="numba-sim",
                    session_db=db,
                    pool=pool,
                    options=km.OptimizeOptions(
                        rounds=candidates // PER_ROUND, candidates=PER_ROUND, patience=None
                    ),
                )
                stored = SessionStore(db).load(session.id)
                builds = []
                for _ in range(20):
                    start = time.perf_counter()
                    tutorial(stored)
                    builds.append(time.perf_counter() - start)
                out = Path(tmp) / f"t{candidates}.ipynb"
                command = []
                for _ in range(3):
                    start = time.perf_counter()
                    subprocess.run(
                        [*EXPORT, session.id, "--session-db", str(db), "-o", str(out)],
                        check=True,
                        capture_output=True,
                    )
                    command.append(time.perf_counter() - start)
                results.append(
                    {
                        "candidates": len(stored.candidates),
                        "build_ms": statistics.median(builds) * 1e3,
                        "command_s": statistics.median(command),
                        "size_kb": out.stat().st_size / 1024,
                    }
                )
        finally:
            pool.close()
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print("| candidates | build the notebook | `kernelmagic export` (whole process) | file size |")
    print("|---|---|---|---|")
    for r in results:
        print(
            f"| {r['candidates']} | {r['build_ms']:.0f} ms | {r['command_s']:.2f} s "
            f"| {r['size_kb']:.0f} KB |"
        )


if __name__ == "__main__":
    main()

"""`kernelmagic export`: a stored session as a tutorial notebook that replays itself."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write a session as a tutorial notebook",
        description="Write a tuning session as a tutorial notebook: the problem, the starting "
        "kernel, each accepted step (rationale, diff, latency, speedup, device), the final "
        "kernel and the latency chart, then cells that replay the recorded proposals on the "
        "reader's machine (no endpoint, no API key) and compare recorded and re-measured "
        "results. The notebook carries the recorded session; no secret goes into it.",
    )
    p.add_argument(
        "session",
        nargs="?",
        default="last",
        metavar="SESSION",
        help="a session id (or prefix, or last: the default), or a session file",
    )
    p.add_argument("-o", "--output", metavar="PATH", help="the notebook to write")
    p.add_argument("--session-db", metavar="PATH", help="the session database")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from kernelmagic.cli.main import emit_json
    from kernelmagic.export import export_tutorial

    done = export_tutorial(args.session, args.output, session_db=args.session_db)
    if args.json:
        emit_json(
            {
                "status": "exported",
                "path": str(done.path),
                "session": done.session,
                "steps": done.steps,
                "missing": list(done.missing),
            }
        )
    else:
        print(f"wrote {done.path}: session {done.session}, {done.steps} accepted steps")
    for line in warnings(done):
        print(f"kernelmagic: warning: {line}", file=sys.stderr)
    return 0


def warnings(done: Any) -> list[str]:
    """What a reader of the export will have to do by hand, if anything."""
    if not done.has_problem_code:
        return [
            "the session does not hold the problem's source (recorded by an older "
            "kernelmagic): the notebook asks the reader to write the input generator"
        ]
    if done.missing:
        return [
            "the problem's functions use "
            + ", ".join(done.missing)
            + ", which could not be written out: the notebook asks the reader to define them"
        ]
    return []

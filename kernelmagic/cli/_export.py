"""`kernelmagic export`: a stored session as a tutorial notebook that replays itself."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kernelmagic._option_build import add_arguments
from kernelmagic.cli._exit import emit_json


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
    add_arguments(p, "export")


def run(args: argparse.Namespace) -> int:
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
        print(done.summary)
    for line in done.warnings:
        print(f"kernelmagic: warning: {line}", file=sys.stderr)
    return 0

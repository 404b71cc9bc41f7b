"""`kernelmagic sessions`: what the session store holds."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
from typing import Any

from kernelmagic._option_build import add_arguments
from kernelmagic.cli._exit import emit_json
from kernelmagic.errors import OptionError
from kernelmagic.harness.verdict import speedup
from kernelmagic.store import SessionStore


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sessions",
        help="list stored sessions, or show one",
        description="List stored tuning sessions (newest first), or show one session's "
        "candidates. With --json and a SESSION, print the whole session: a file that "
        "`kernelmagic optimize --replay FILE` can replay.",
    )
    add_arguments(p, "sessions")


def run(args: argparse.Namespace) -> int:
    from kernelmagic.store import session_file

    store = SessionStore(args.session_db, read_only=True)
    if args.session:
        stored = store.load(store.resolve(args.session))
        if args.json:
            emit_json(session_file.to_dict(stored))
            return 0
        info = stored.info
        print(_line(info))
        print(f"  state: {info.state} ({info.stop_reason})")
        for c in stored.candidates:
            ms = f"{c.latency_ms:.4g} ms" if c.latency_ms is not None else "-"
            status = c.status.value if c.status else "pending"
            first = (c.verdict.message.splitlines() or [""])[0][:70] if c.verdict else ""
            print(f"  #{c.seq:<3} round {c.round:<2} {c.origin:<7} {status:<14} {ms:>12}  {first}")
        return 0
    if args.limit < 1:  # SQLite would read 0 or -1 as "no limit"
        raise OptionError(f"--limit must be at least 1, not {args.limit}")
    # Listing a database that does not exist yet lists nothing (and creates nothing).
    sessions = store.sessions(limit=args.limit) if store.path.exists() else []
    if args.json:
        listed = [
            {**dataclasses.asdict(s), "speedup": s.speedup.to_dict() if s.speedup else None}
            for s in sessions
        ]
        emit_json({"session_db": str(store.path), "sessions": listed})
        return 0
    if not sessions:
        print(f"no sessions in {store.path}" + ("" if store.path.exists() else " yet"))
    for info in sessions:
        print(_line(info))
    return 0


def _line(info: Any) -> str:
    when = datetime.datetime.fromtimestamp(info.created).strftime("%Y-%m-%d %H:%M")
    best = f"{info.best_ms:.4g} ms" if info.best_ms is not None else "no correct kernel"
    ratio = speedup(info.baseline_ms, info.best_ms)
    if info.speedup is not None:
        gain = f" ({info.speedup.describe()})"
    else:
        gain = f" (screen {ratio:.2f}x, not compared)" if ratio and ratio != 1.0 else ""
    return (
        f"{info.id}  {when}  {info.title:<20} {info.proposer:<7} {info.state:<11} "
        f"{info.candidates:>3} candidates, {info.rounds} rounds, best {best}{gain}  [{info.device}]"
    )

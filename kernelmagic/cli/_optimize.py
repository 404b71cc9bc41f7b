"""`kernelmagic optimize`: the refinement loop from the command line."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernelmagic._option_build import add_arguments
from kernelmagic._option_resume import kept_arguments, restore_arguments
from kernelmagic._option_values import harness_options, llm_options, optimize_options
from kernelmagic.cli._check import candidate_from, problem_from
from kernelmagic.cli._exit import EXIT_CORRECT, EXIT_OTHER, EXIT_USAGE, emit_json, uninterrupted
from kernelmagic.errors import KernelmagicError, OptionError
from kernelmagic.harness.cluster import close_shared_pools
from kernelmagic.loop.session import Session
from kernelmagic.render.progress import Progress
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore, StoredSession
from kernelmagic.store.recorded import is_session_file, recorded

# How long a second Ctrl-C waits for the loop to note the interruption (a proposer's
# request in flight is not waited for: the store shows the session interrupted anyway).
_QUIT_WAIT_S = 10.0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "optimize",
        help="tune a kernel: propose, verify, time and keep the fastest correct one",
        description="Run the refinement loop on a kernel. Exit 0 when a correct best "
        "kernel exists, 1 when none, 2 for usage errors. The API key comes from "
        "OPENAI_API_KEY (never a flag: flags show in process lists).",
    )
    add_arguments(p, "optimize")


def run(args: argparse.Namespace) -> int:

    # A resume needs the database it names; only a new session may create one.
    store = SessionStore(args.session_db, create=not args.resume)
    stored = store.load(store.resolve(args.resume)) if args.resume else None
    if stored is not None:
        restore_arguments(args, stored, getattr(args, "given", ()))
    rerun = _rerun_spec(args, stored)
    if args.proposer == "replay" and not args.replay and not args.resume:
        raise OptionError("--proposer replay needs --replay SESSION_ID_OR_FILE")
    problem = problem_from(args, rerun["reference"], rerun["inputs"])
    candidate = candidate_from(args, args.candidate) if args.candidate else None
    session = optimize(
        candidate,
        problem,
        proposer=args.proposer,
        backend=args.backend,
        options=optimize_options(args),
        llm=llm_options(args),
        replay=_replayed(args.replay, args.session_db),
        session_db=store,
        harness_options=harness_options(args),
        resume=args.resume,
        wait=False,
        rerun=rerun,
    )
    progress = Progress(session)
    try:
        with _stop_on_first_ctrl_c(session):
            progress.follow()
    except KeyboardInterrupt:
        return _quit_now(session)
    try:
        session.wait()
    except KernelmagicError as exc:
        if args.json:
            emit_json({**session.to_dict(), "status": "error", "message": str(exc)})
        print(f"kernelmagic: error: {exc} (session {session.id} is stored)", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        emit_json(session.to_dict())
    else:
        progress.summary()
    return EXIT_CORRECT if session.best is not None else EXIT_OTHER


@contextlib.contextmanager
def _stop_on_first_ctrl_c(session: Session) -> Iterator[None]:
    """The first Ctrl-C asks the loop to stop after the evaluation in flight; the next one
    raises KeyboardInterrupt. A handler, not an exception, for the first: wherever it lands
    the loop goes on, so no second Ctrl-C can fall between catching one and the next."""

    def interrupted(signum: int, frame: Any) -> None:
        if session.stop_requested:
            raise KeyboardInterrupt
        session.stop()  # first: a Ctrl-C landing during the print below is the second
        print("stopping after the evaluation in flight (Ctrl-C again to quit now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _replayed(ref: str | None, session_db: str | None) -> str | StoredSession | None:
    """The session `--replay` names: a session file as its path (the session stores it so),
    a stored session looked up without creating a database."""
    if ref is None or is_session_file(ref):
        return ref
    return recorded(ref, SessionStore(session_db, read_only=True))


def _quit_now(session: Session) -> int:
    """A second Ctrl-C: shut the workers down under the evaluation in flight (which then
    stores nothing) and leave the session resumable."""

    with uninterrupted(), contextlib.suppress(KernelmagicError):
        close_shared_pools()
        session.wait(_QUIT_WAIT_S)  # the loop marks the session interrupted
    print(
        f"interrupted: session {session.id} is stored; `kernelmagic optimize --resume "
        f"{session.id}` goes on from where it stopped",
        file=sys.stderr,
    )
    return 130


def _rerun_spec(args: argparse.Namespace, stored: StoredSession | None) -> dict[str, Any]:
    """What re-running this session needs; on --resume, filled in from the stored session."""
    spec = {"reference": args.reference, "inputs": args.inputs, "candidate": args.candidate}
    if stored is not None:
        kept = stored.meta.get("rerun") or {}
        for key in spec:
            spec[key] = spec[key] or kept.get(key)
        if args.candidate:
            raise OptionError("--resume continues the stored kernel: leave out CANDIDATE_FILE")
    elif not args.candidate:
        raise OptionError("CANDIDATE_FILE is required (or --resume SESSION_ID)")
    missing = [f"--{k}" for k in ("reference", "inputs") if not spec[k]]
    if missing:
        raise OptionError(f"the following arguments are required: {', '.join(missing)}")
    for key in ("reference", "inputs", "candidate"):
        value = spec[key]
        if value and key == "candidate":
            spec[key] = str(Path(value).resolve())
        elif value:
            spec[key] = _absolute_spec(value)
    if args.timing_inputs:
        args.timing_inputs = _absolute_spec(args.timing_inputs)
    spec["args"] = kept_arguments(args)  # no credentials in the store
    return spec


def _absolute_spec(value: str) -> str:
    """FILE.py:NAME with an absolute FILE: a resume may run from another directory."""
    if ":" not in value:
        return value
    path, _, name = value.rpartition(":")
    return f"{Path(path).resolve()}:{name}"

"""`kernelmagic optimize`: the refinement loop from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import KernelmagicError, OptionError
from ..loop.engine import OptimizeOptions
from ..loop.llm import LLMOptions
from ..loop.proposers import PROPOSERS
from ..loop.start import optimize
from ..progress import Progress
from ..store import SessionStore


def add_parser(sub: Any) -> None:
    from ..cli import add_problem_arguments

    p = sub.add_parser(
        "optimize",
        help="tune a kernel: propose, verify, time and keep the fastest correct one",
        description="Run the refinement loop on a kernel. Exit 0 when a correct best "
        "kernel exists, 1 when none, 2 for usage errors. The API key comes from "
        "OPENAI_API_KEY (never a flag: flags show in process lists).",
    )
    add_problem_arguments(p, required=False)
    loop = p.add_argument_group("the loop")
    loop.add_argument(
        "--proposer",
        default="auto",
        choices=PROPOSERS,
        help="llm (an OpenAI-compatible endpoint), search (offline), replay; auto picks llm "
        "when an endpoint is configured, else search",
    )
    loop.add_argument("--model", help="the LLM's model name (default $KERNELMAGIC_MODEL)")
    loop.add_argument(
        "--base-url", help="an OpenAI-compatible endpoint (default $OPENAI_BASE_URL or OpenAI)"
    )
    loop.add_argument("--temperature", type=float, help="LLM sampling temperature")
    loop.add_argument(
        "--replay", metavar="SESSION_ID_OR_FILE", help="the session to replay (--proposer replay)"
    )
    loop.add_argument("--rounds", type=int, help="rounds of proposals (default 5)")
    loop.add_argument("--candidates", type=int, default=4, help="candidates per round (4)")
    loop.add_argument(
        "--patience", type=int, default=3, help="stop after this many rounds without a new best"
    )
    loop.add_argument("--time-budget", type=float, metavar="SECONDS", help="wall-clock budget")
    loop.add_argument("--max-tokens", type=int, help="LLM token budget for the session")
    loop.add_argument("--target", help="GPU profile described to the LLM without a GPU (h100)")
    loop.add_argument("--task", help="what the kernel computes, in words, for the LLM")
    loop.add_argument("--resume", metavar="SESSION_ID", help="continue a stored session")
    loop.add_argument(
        "--session-db",
        metavar="PATH",
        help="the session database (default $KERNELMAGIC_SESSION_DB or the user data dir)",
    )


def run(args: argparse.Namespace) -> int:
    from ..cli import EXIT_CORRECT, EXIT_OTHER, EXIT_USAGE, emit_json
    from .check import candidate_from, harness_options, problem_from

    store = SessionStore(args.session_db)
    rerun = _rerun_spec(args, store)
    if args.proposer == "replay" and not args.replay and not args.resume:
        raise OptionError("--proposer replay needs --replay SESSION_ID_OR_FILE")
    problem = problem_from(args, rerun["reference"], rerun["inputs"])
    candidate = candidate_from(args, args.candidate) if args.candidate else None
    options = OptimizeOptions(
        rounds=args.rounds,
        candidates=args.candidates,
        patience=args.patience,
        time_budget_s=args.time_budget,
        max_tokens=args.max_tokens,
        target=args.target,
        task=args.task or "",
    )
    session = optimize(
        candidate,
        problem,
        proposer=args.proposer,
        backend=args.backend,
        options=options,
        llm=_llm_options(args),
        replay=args.replay,
        session_db=store,
        harness_options=harness_options(args),
        resume=args.resume,
        wait=False,
        rerun=rerun,
    )
    progress = Progress(session)
    try:
        progress.follow()
    except KeyboardInterrupt:
        print("stopping after the evaluation in flight (Ctrl-C again to quit now)", file=sys.stderr)
        session.stop()
        progress.follow()
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


def _rerun_spec(args: argparse.Namespace, store: SessionStore) -> dict[str, Any]:
    """What re-running this session needs; on --resume, filled in from the stored session."""
    spec = {"reference": args.reference, "inputs": args.inputs, "candidate": args.candidate}
    if args.resume:
        stored = store.load(store.resolve(args.resume)).meta.get("rerun") or {}
        for key in spec:
            spec[key] = spec[key] or stored.get(key)
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
        elif value and ":" in value:
            path, _, name = value.rpartition(":")
            spec[key] = f"{Path(path).resolve()}:{name}"
    return spec


def _llm_options(args: argparse.Namespace) -> LLMOptions:
    # Always given: `proposers.choose` decides whether the llm proposer is the one used.
    fields: dict[str, Any] = {"model": args.model, "base_url": args.base_url}
    if args.temperature is not None:
        fields["temperature"] = args.temperature
    return LLMOptions(**fields)

"""`kernelmagic check`: one verdict on one candidate."""

from __future__ import annotations

import argparse
from typing import Any

from kernelmagic.candidate import Candidate
from kernelmagic.cli._loading import load_object
from kernelmagic.harness.cluster import ClusterOptions
from kernelmagic.harness.evaluate import Harness, HarnessOptions
from kernelmagic.harness.jobs import TimingOptions
from kernelmagic.harness.verdict import Status
from kernelmagic.problem import Problem


def add_parser(sub: Any) -> None:
    from kernelmagic.cli.main import add_problem_arguments

    p = sub.add_parser(
        "check",
        help="compile, verify and time one candidate kernel",
        description="Compile, verify and time one candidate against a NumPy "
        "reference. Exit 0 when correct, 1 otherwise, 2 for usage errors.",
    )
    add_problem_arguments(p)


def run(args: argparse.Namespace) -> int:
    from kernelmagic.cli.main import EXIT_CORRECT, EXIT_OTHER, emit_json

    verdict = Harness(
        problem_from(args, args.reference, args.inputs),
        backend=args.backend,
        options=harness_options(args),
    ).evaluate(candidate_from(args, args.candidate))
    if args.json:
        emit_json(verdict.to_dict())
    else:
        print(verdict)
        if verdict.compile and verdict.compile.log and verdict.status is not Status.CORRECT:
            print("  compiler log:\n    " + "\n    ".join(verdict.compile.log.splitlines()[:40]))
    return EXIT_CORRECT if verdict.status is Status.CORRECT else EXIT_OTHER


def problem_from(args: argparse.Namespace, reference: str, inputs: str) -> Problem:
    return Problem(
        reference=load_object(reference, what="--reference"),
        inputs=load_object(inputs, what="--inputs"),
        cases=args.cases,
        atol=args.atol,
        rtol=args.rtol,
        timing_inputs=load_object(args.timing_inputs, what="--timing-inputs")
        if args.timing_inputs
        else None,
        bytes_moved=args.bytes,
        flops=args.flops,
        allowed_imports=tuple(args.allow_import),
    )


def candidate_from(args: argparse.Namespace, path: str) -> Candidate:
    return Candidate.from_file(path, **launch_options(args))


def launch_options(args: argparse.Namespace) -> dict[str, Any]:
    """The launch settings of a candidate, as the command and the magic both spell them."""
    return {
        "entry": args.entry,
        "kernel": args.kernel,
        "grid": args.grid,
        "block": args.block,
        "shared": args.shared,
        "compile_options": tuple(args.option),
    }


def harness_options(args: argparse.Namespace) -> HarnessOptions:
    return HarnessOptions(
        timeout_s=args.timeout,
        arch=args.arch,
        timing=TimingOptions(budget_ms=args.timing_budget_ms),
        cluster=ClusterOptions(
            scheduler_address=args.scheduler, sim_workers=args.sim_workers, sandbox=args.sandbox
        ),
    )

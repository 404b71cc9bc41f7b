"""`kernelmagic check`: one verdict on one candidate."""

from __future__ import annotations

import argparse
from typing import Any

from kernelmagic._option_build import add_arguments
from kernelmagic._option_values import harness_options, launch_options, problem_fields
from kernelmagic.candidate import Candidate
from kernelmagic.cli._exit import EXIT_CORRECT, EXIT_OTHER, emit_json
from kernelmagic.cli._loading import load_object
from kernelmagic.harness.evaluate import Harness
from kernelmagic.harness.verdict import Status
from kernelmagic.problem import Problem


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="compile, verify and time one candidate kernel",
        description="Compile, verify and time one candidate against a NumPy "
        "reference. Exit 0 when correct, 1 otherwise, 2 for usage errors.",
    )
    add_arguments(p, "check")


def run(args: argparse.Namespace) -> int:

    harness = Harness(
        problem_from(args, args.reference, args.inputs),
        backend=args.backend,
        options=harness_options(args),
    )
    harness.start_workers()  # while the cases are drawn and the candidate parsed
    verdict = harness.evaluate(candidate_from(args, args.candidate))
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
        timing_inputs=load_object(args.timing_inputs, what="--timing-inputs")
        if args.timing_inputs
        else None,
        **problem_fields(args),
    )


def candidate_from(args: argparse.Namespace, path: str) -> Candidate:
    return Candidate.from_file(path, **launch_options(args))

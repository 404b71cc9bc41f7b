"""The `kernelmagic` command: `kernelmagic check CANDIDATE --reference F.py:N --inputs F.py:N`.

Exit status: 0 when the verdict is `correct`, 1 for any other verdict, 2 for usage
errors (bad paths, missing names, a backend that cannot run here), with one clear line
and no traceback. `--json` prints exactly one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from .backends import BACKENDS
from .candidate import Candidate
from .errors import KernelmagicError
from .harness.cluster import ClusterOptions, close_shared_pools
from .harness.evaluate import Harness, HarnessOptions
from .harness.jobs import TimingOptions
from .loading import load_object
from .problem import Problem
from .verdict import Status

EXIT_CORRECT, EXIT_OTHER, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors honour --json."""

    json_output = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_output:
            _emit_json({"status": "usage_error", "message": message, "latency_ms": None})
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kernelmagic", description="Tune GPU kernels with an LLM, safely.")
    parser.add_argument("--version", action="version", version=f"kernelmagic {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = sub.add_parser(
        "check",
        help="compile, verify and time one candidate kernel",
        description="Compile, verify and time one candidate against a NumPy "
        "reference. Exit 0 when correct, 1 otherwise, 2 for usage errors.",
    )
    check.add_argument(
        "candidate",
        metavar="CANDIDATE_FILE",
        help="a .py file with an entry function (numba.cuda or CuPy) or a .cu file",
    )
    check.add_argument(
        "--reference", required=True, metavar="FILE.py:NAME", help="the NumPy reference function"
    )
    check.add_argument(
        "--inputs",
        required=True,
        metavar="FILE.py:NAME",
        help="the input generator inputs(seed) -> dict",
    )
    check.add_argument("--backend", default="auto", choices=BACKENDS)
    check.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="limit for each stage in a worker (default 60)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    problem = check.add_argument_group("problem")
    problem.add_argument(
        "--cases", type=int, default=3, help="verification cases (seeds), default 3"
    )
    problem.add_argument("--atol", type=float, help="absolute tolerance (default: by dtype)")
    problem.add_argument("--rtol", type=float, help="relative tolerance (default: by dtype)")
    problem.add_argument(
        "--timing-inputs",
        metavar="FILE.py:NAME",
        help="generator of the (larger) inputs to time on the GPU",
    )
    problem.add_argument("--bytes", metavar="EXPR", help="bytes moved, e.g. '3 * n * 4' (roofline)")
    problem.add_argument("--flops", metavar="EXPR", help="floating-point operations (roofline)")
    problem.add_argument(
        "--allow-import",
        action="append",
        default=[],
        metavar="MODULE",
        help="let Python candidates import MODULE too",
    )
    launch = check.add_argument_group("candidate")
    launch.add_argument(
        "--entry", help="the Python entry function (default: found by its parameters)"
    )
    launch.add_argument("--kernel", help="the CUDA C kernel, e.g. saxpy or 'tile<16>'")
    launch.add_argument("--grid", help="CUDA C grid expression, e.g. 'cdiv(n, 256)'")
    launch.add_argument("--block", help="CUDA C block expression (default 256)")
    launch.add_argument("--shared", help="CUDA C dynamic shared memory bytes expression")
    launch.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="FLAG",
        help="an NVRTC option such as -use_fast_math (repeatable)",
    )
    run = check.add_argument_group("where it runs")
    run.add_argument("--arch", help="target architecture without a GPU, e.g. sm_90 (default sm_90)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler")
    run.add_argument("--sim-workers", type=int, default=1, help="simulator worker processes")
    run.add_argument(
        "--timing-budget-ms",
        type=float,
        default=1000.0,
        help="time spent timing one candidate on the GPU (default 1000)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    _Parser.json_output = "--json" in args_list
    args = build_parser().parse_args(args_list)
    try:
        return _check(args)
    except KernelmagicError as exc:
        return _usage_error(args, str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        close_shared_pools()


def _check(args: argparse.Namespace) -> int:
    problem = Problem(
        reference=load_object(args.reference, what="--reference"),
        inputs=load_object(args.inputs, what="--inputs"),
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
    candidate = Candidate.from_file(
        args.candidate,
        entry=args.entry,
        kernel=args.kernel,
        grid=args.grid,
        block=args.block,
        shared=args.shared,
        compile_options=tuple(args.option),
    )
    options = HarnessOptions(
        timeout_s=args.timeout,
        arch=args.arch,
        timing=TimingOptions(budget_ms=args.timing_budget_ms),
        cluster=ClusterOptions(scheduler_address=args.scheduler, sim_workers=args.sim_workers),
    )
    verdict = Harness(problem, backend=args.backend, options=options).evaluate(candidate)
    if args.json:
        _emit_json(verdict.to_dict())
    else:
        print(verdict)
        if verdict.compile and verdict.compile.log and verdict.status is not Status.CORRECT:
            print("  compiler log:\n    " + "\n    ".join(verdict.compile.log.splitlines()[:40]))
    return EXIT_CORRECT if verdict.status is Status.CORRECT else EXIT_OTHER


def _usage_error(args: argparse.Namespace, message: str) -> int:
    if getattr(args, "json", False):
        _emit_json({"status": "usage_error", "message": message, "latency_ms": None})
    print(f"kernelmagic: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _emit_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, indent=None, default=str))


if __name__ == "__main__":
    sys.exit(main())

"""The `kernelmagic` command: `check` one kernel, `optimize` it, list `sessions`, `export` one.

Exit status: 0 when the answer is a correct kernel, 1 when it is not (or when the worker
processes failed, which is no one's usage error), 2 for usage errors
(bad paths, missing names, a backend that cannot run here, a rejected API key), with one
clear line and no traceback. `--json` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from kernelmagic import __version__
from kernelmagic._redact import redact_text
from kernelmagic.errors import KernelmagicError, WorkersUnavailable
from kernelmagic.harness.backends import BACKENDS
from kernelmagic.harness.cluster import close_shared_pools

EXIT_CORRECT, EXIT_OTHER, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors honour --json."""

    json_output = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_output:
            emit_json({"status": "usage_error", "message": message, "latency_ms": None})
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    from kernelmagic.cli import _check as check
    from kernelmagic.cli import _export as export
    from kernelmagic.cli import _optimize as optimize
    from kernelmagic.cli import _sessions as sessions

    parser = _Parser(prog="kernelmagic", description="Tune GPU kernels with an LLM, safely.")
    parser.add_argument("--version", action="version", version=f"kernelmagic {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (check, optimize, sessions, export):
        module.add_parser(sub)
    return parser


def add_problem_arguments(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The candidate, reference and input options `check` and `optimize` share."""
    p.add_argument(
        "candidate",
        metavar="CANDIDATE_FILE",
        nargs=None if required else "?",
        help="a .py file with an entry function (numba.cuda or CuPy) or a .cu file",
    )
    p.add_argument(
        "--reference", required=required, metavar="FILE.py:NAME", help="the NumPy reference"
    )
    p.add_argument(
        "--inputs",
        required=required,
        metavar="FILE.py:NAME",
        help="the input generator inputs(seed) -> dict",
    )
    p.add_argument("--backend", default="auto", choices=BACKENDS)
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="limit for each stage of one evaluation in a worker (default 60)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    problem = p.add_argument_group("problem")
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
    launch = p.add_argument_group("candidate")
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
    run = p.add_argument_group("where it runs")
    run.add_argument("--arch", help="target architecture without a GPU, e.g. sm_90 (default sm_90)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler")
    run.add_argument("--sim-workers", type=int, default=1, help="simulator worker processes")
    run.add_argument(
        "--sandbox",
        choices=("auto", "require", "off"),
        default="auto",
        help="the workers' OS confinement: auto enforces what the kernel offers and warns "
        "about the rest; require refuses to run without all of it; off is for diagnosis",
    )
    run.add_argument(
        "--timing-budget-ms",
        type=float,
        default=1000.0,
        help="time spent timing one candidate on the GPU (default 1000)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    from kernelmagic.cli import _check as check
    from kernelmagic.cli import _export as export
    from kernelmagic.cli import _optimize as optimize
    from kernelmagic.cli import _sessions as sessions

    args_list = list(sys.argv[1:] if argv is None else argv)
    _Parser.json_output = "--json" in args_list
    args = build_parser().parse_args(args_list)
    args.given = given_options(args_list)
    commands = {
        "check": check.run,
        "optimize": optimize.run,
        "sessions": sessions.run,
        "export": export.run,
    }
    try:
        return commands[args.command](args)
    except WorkersUnavailable as exc:
        # The machine's state, not a mistake in the command: no usage error.
        return workers_failed(args, str(exc))
    except KernelmagicError as exc:
        return usage_error(args, str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        with uninterrupted():
            close_shared_pools()


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C is ignored meanwhile: shutting the workers down is short and must finish."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def given_options(argv: Sequence[str]) -> frozenset[str]:
    """The options named on this command line (not defaulted): what a resume must not undo.

    The same command line parsed again with every default suppressed leaves exactly those.
    """
    parser = build_parser()
    parsers = [parser]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            if action.dest != "command":
                action.default = argparse.SUPPRESS
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return frozenset(vars(parser.parse_args(list(argv))))


def usage_error(args: argparse.Namespace, message: str) -> int:
    message = redact_text(message)
    if getattr(args, "json", False):
        emit_json({"status": "usage_error", "message": message, "latency_ms": None})
    print(f"kernelmagic: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def workers_failed(args: argparse.Namespace, message: str) -> int:
    message = redact_text(f"the worker processes failed: {message}; not the kernel's fault")
    if getattr(args, "json", False):
        emit_json({"status": "crashed", "message": message, "latency_ms": None})
    print(f"kernelmagic: {message}", file=sys.stderr)
    return EXIT_OTHER


def emit_json(obj: dict[str, Any]) -> None:
    """The one JSON object of --json, with secrets taken out like everything printed."""
    print(redact_text(json.dumps(obj, indent=None, default=str)))


if __name__ == "__main__":
    sys.exit(main())

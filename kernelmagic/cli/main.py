"""The `kernelmagic` command: `check` one kernel, `optimize` it, list `sessions`, `export` one.

Exit status: 0 when the answer is a correct kernel, 1 when it is not (or when the worker
processes failed, which is no one's usage error), 2 for usage errors
(bad paths, missing names, a backend that cannot run here, a rejected API key), with one
clear line and no traceback. `--json` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from kernelmagic._option_resume import given_dests
from kernelmagic._redact import redact_text
from kernelmagic._version import __version__
from kernelmagic.cli import _check as check
from kernelmagic.cli import _export as export
from kernelmagic.cli import _optimize as optimize
from kernelmagic.cli import _sessions as sessions
from kernelmagic.cli._exit import EXIT_OTHER, EXIT_USAGE, emit_json, json_stdout, uninterrupted
from kernelmagic.errors import KernelmagicError, WorkersUnavailable
from kernelmagic.harness.cluster import close_shared_pools


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors honour --json."""

    json_output = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_output:
            emit_json({"status": "usage_error", "message": message, "latency_ms": None})
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kernelmagic", description="Tune GPU kernels with an LLM, safely.")
    parser.add_argument("--version", action="version", version=f"kernelmagic {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (check, optimize, sessions, export):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    _Parser.json_output = "--json" in args_list
    args = build_parser().parse_args(args_list)
    args.given = given_dests(build_parser(), args_list)
    commands = {
        "check": check.run,
        "optimize": optimize.run,
        "sessions": sessions.run,
        "export": export.run,
    }
    with json_stdout(getattr(args, "json", False)):
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


if __name__ == "__main__":
    sys.exit(main())

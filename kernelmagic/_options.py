"""Every option of kernelmagic, declared once.

The `kernelmagic` command's argparse, the `%%cuda_optimize` magic's parser, the magic's
configurable traits and the table in docs/options.md are all generated from `OPTIONS`
(`_option_build.py`); tests/test_options.py fails when any of them differs from it.

An option spelled differently in two places (`--reference FILE.py:NAME` in a terminal,
`--reference NAME` in a notebook) is two entries whose scopes do not overlap. The order of
`OPTIONS` is the order of each parser's arguments and of the docs table. A default taken
from an options dataclass is read from it, so the dataclass stays the one owner of it.
"""

from __future__ import annotations

from collections.abc import Iterator

from kernelmagic._option import EVERYWHERE, NOTEBOOK, TERMINAL, Option, Scope, option
from kernelmagic._options_evaluation import EVALUATION
from kernelmagic._options_loop import LOOP_OPTIONS
from kernelmagic.harness.backends import BACKENDS
from kernelmagic.harness.options import HarnessOptions

# What a command works on and how it answers: listed first, under the parser's "options".
_GENERAL: tuple[Option, ...] = (
    option(
        "candidate",
        where=TERMINAL,
        required_in="check",
        metavar="CANDIDATE_FILE",
        help="a .py file with an entry function (numba.cuda or CuPy) or a .cu file",
        doc="the candidate kernel's file (`optimize --resume` leaves it out)",
    ),
    option(
        "session",
        where="sessions",
        metavar="SESSION",
        help="a session id (or prefix, or last)",
        doc="show this session's candidates: an id, a unique prefix of one, or `last`",
        default_doc="list sessions",
    ),
    option(
        "session",
        where="export",
        default="last",
        metavar="SESSION",
        help="a session id (or prefix, or last: the default), or a session file",
    ),
    option(
        "session",
        where="magic_export",
        metavar="SESSION",
        help="a session variable (as bound by --out), id, prefix or session file; default: "
        "the last session this notebook ran, else the store's newest",
    ),
    option(
        "--reference",
        where=TERMINAL,
        required_in="check",
        metavar="FILE.py:NAME",
        help="the NumPy reference",
    ),
    option(
        "--reference",
        where="magic",
        required_in="magic",
        metavar="NAME",
        help="the NumPy reference function",
    ),
    option(
        "--inputs",
        where=TERMINAL,
        required_in="check",
        metavar="FILE.py:NAME",
        help="the input generator inputs(seed) -> dict",
    ),
    option(
        "--inputs",
        where="magic",
        required_in="magic",
        metavar="NAME",
        help="the input generator inputs(seed) -> dict",
    ),
    option(
        "--backend",
        where=f"{EVERYWHERE} config",
        default="auto",
        choices=BACKENDS,
        doc="where candidates run; `auto` picks the GPU if there is one, else the CPU "
        "simulator (numba.cuda) or compile-only (CUDA C)",
    ),
    option(
        "--timeout",
        where=f"{EVERYWHERE} config",
        type=float,
        default=HarnessOptions.timeout_s,
        metavar="SECONDS",
        help="limit for each stage of one evaluation in a worker (default 60)",
    ),
    option(
        "-o",
        "--output",
        where="export magic_export",
        metavar="PATH",
        help="the notebook to write",
        doc="the notebook to write (`.ipynb` is added if missing)",
        default_doc="`tutorial-TITLE-ID.ipynb` in the current directory",
    ),
    option(
        "--session-db",
        where="sessions export magic magic_export config",
        metavar="PATH",
        help="the session database",
        default_doc="`$KERNELMAGIC_SESSION_DB`, else the user data directory",
    ),
    option(
        "--limit",
        where="sessions",
        type=int,
        default=50,
        help="list at most this many (50)",
        doc="list at most N sessions, newest first",
    ),
    option(
        "--json",
        where="check optimize sessions export",
        action="store_true",
        default=False,
        help="print one JSON object",
        doc="print one JSON object on stdout (usage errors too); `sessions SESSION --json` "
        "prints a session file that `optimize --replay FILE` replays",
    ),
)

_NOTEBOOK: tuple[Option, ...] = (
    option(
        "--interactive",
        where="magic config",
        group=NOTEBOOK,
        action="store_true",
        default=False,
        help="pause after each round that proposes a new best, for Accept or Reject",
    ),
    option(
        "--wait",
        where="magic",
        group=NOTEBOOK,
        action="store_true",
        default=False,
        help="block until the session ends; not with --interactive",
        doc="block until the session ends (scripts, headless runs); not with `--interactive`",
    ),
    option(
        "--out",
        where="magic",
        group=NOTEBOOK,
        metavar="NAME",
        help="bind the session object to NAME",
        doc="bind the session object to `NAME` at once (`NAME.best`, `NAME.candidates`, "
        "`NAME.rounds`, `NAME.stop()`, `NAME.wait()`)",
    ),
    option(
        name="apply_mode",
        where="config",
        choices=("replace", "insert"),
        default="replace",
        help="Apply's default: replace the magic cell's kernel, or insert a new cell below",
    ),
)

OPTIONS: tuple[Option, ...] = (*_GENERAL, *EVALUATION, *LOOP_OPTIONS, *_NOTEBOOK)


def options_for(scope: Scope) -> Iterator[Option]:
    """The options of one scope, in the order they are listed."""
    return (o for o in OPTIONS if scope in o.where)

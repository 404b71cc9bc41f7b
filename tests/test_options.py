"""One option spec: the CLI's parsers, the magics' parsers, the magic's traits and the docs
table all say what `kernelmagic._options.OPTIONS` says, and the magic passes options on."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic._option import COMMANDS, Option, Scope
from kernelmagic._option_build import BEGIN, END, markdown_table
from kernelmagic._options import OPTIONS
from kernelmagic.cli.main import build_parser
from kernelmagic.harness.options import ClusterOptions, HarnessOptions, TimingOptions
from kernelmagic.loop.options import LLMOptions, OptimizeOptions
from kernelmagic.notebook.magic import CudaOptimize

DOCS = Path(__file__).resolve().parents[1] / "docs" / "options.md"
MAGICS: dict[Scope, tuple[str, str]] = {
    "magic": ("cell", "cuda_optimize"),
    "magic_export": ("line", "cuda_optimize_export"),
}


def described(parser: argparse.ArgumentParser) -> list[tuple[Any, ...]]:
    """Each argument as the spec would state it, with the heading it is listed under."""
    heading = {
        id(action): group.title
        for group in parser._action_groups
        for action in group._group_actions
    }
    return [
        (
            tuple(action.option_strings),
            action.dest,
            action.default,
            action.help,
            action.metavar,
            tuple(action.choices) if action.choices else None,
            action.type or str,
            action.required,
            heading[id(action)],
        )
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
    ]


def expected(scope: Scope) -> list[tuple[Any, ...]]:
    """What the spec says `scope`'s parser holds. In a magic, an option that is also a
    trait parses as None when not given: the trait fills it in."""

    def row(o: Option) -> tuple[Any, ...]:
        default = list(o.default) if o.action == "append" else o.default
        if scope in MAGICS and "config" in o.where:
            default = None
        return (
            () if o.positional else o.flags,
            o.dest,
            default,
            o.help,
            None if o.action == "store_true" else o.metavar,
            o.choices if o.action == "store" else None,
            o.type if o.action == "store" else str,
            scope in o.required_in,
            o.group or ("positional arguments" if o.positional else "options"),
        )

    return [row(o) for o in OPTIONS if scope in o.where and o.flags]


def subparser(command: str) -> argparse.ArgumentParser:
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


@pytest.fixture(scope="module")
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "kernelmagic")
    shell.user_ns.update(ref=saxpy_reference, gen=saxpy_inputs)
    return shell


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_parses_what_the_spec_says(command):
    assert described(subparser(command)) == expected(command)


@pytest.mark.parametrize("scope", MAGICS)
def test_each_magic_parses_what_the_spec_says(ip, scope):
    kind, name = MAGICS[scope]
    magic = ip.find_magic(name, kind)
    assert described(magic.parser) == expected(scope)
    for option in OPTIONS:
        if scope in option.where and not option.positional and option.flags:
            assert option.flags[-1] in magic.__doc__  # `%%cuda_optimize?` lists it


def test_no_scope_has_an_option_twice():
    for scope in (*COMMANDS, *MAGICS, "config"):
        dests = [o.dest for o in OPTIONS if scope in o.where]
        assert len(dests) == len(set(dests)), scope


def test_the_traits_are_the_config_options_with_their_defaults():
    traits = CudaOptimize.class_traits(config=True)
    config = {o.dest: o for o in OPTIONS if "config" in o.where}
    assert set(traits) == set(config)
    for name, trait in traits.items():
        option = config[name]
        assert trait.default_value == option.default, name
        assert trait.allow_none == (option.default is None), name
        assert trait.help == (option.help or option.doc or ""), name
        if option.choices is not None:
            assert tuple(trait.values) == option.choices, name


def test_the_docs_table_is_the_spec():
    text = DOCS.read_text(encoding="utf-8")
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == markdown_table(), (
        "docs/options.md is out of date: python -m kernelmagic._option_build docs/options.md"
    )


@pytest.fixture
def captured(ip, monkeypatch):
    """The NotebookRun a cell hands to the controller, which is not run."""
    from kernelmagic.notebook import _controller

    runs: list[Any] = []
    monkeypatch.setattr(_controller, "run_in_notebook", lambda run, shell: runs.append(run))
    magic = next(c for c in ip.configurables if isinstance(c, CudaOptimize))
    last = magic.last_run
    yield runs
    magic.last_run = last


def test_the_magic_passes_every_option_through(ip, captured):
    result = ip.run_cell(
        "%%cuda_optimize --reference ref --inputs gen --bytes 3*n*4 --flops 2*n "
        "--allow-import math --arch sm_80 --temperature 0.25 --scheduler tcp://10.0.0.1:8786 "
        "--sim-workers 2 --sandbox off --timing-budget-ms 250 --timeout 30 --rounds 2 "
        f"--time-budget 90 --task saxpy\n{NUMBA_SAXPY}"
    )
    assert result.error_in_exec is None, result.error_in_exec
    (run,) = captured
    assert (run.problem.bytes_moved, run.problem.flops) == ("3*n*4", "2*n")
    assert run.problem.allowed_imports == ("math",)
    assert run.harness == HarnessOptions(
        timeout_s=30.0,
        arch="sm_80",
        timing=TimingOptions(budget_ms=250.0),
        cluster=ClusterOptions(
            scheduler_address="tcp://10.0.0.1:8786", sim_workers=2, sandbox="off"
        ),
    )
    assert run.llm.temperature == 0.25
    assert (run.options.rounds, run.options.time_budget_s, run.options.task) == (
        2,
        90.0,
        "saxpy",
    )


def test_the_magic_takes_defaults_from_the_traits_and_the_spec(ip, captured):
    ip.run_line_magic("config", "CudaOptimize.candidates = 7")
    try:
        ip.run_cell(f"%%cuda_optimize --reference ref --inputs gen\n{NUMBA_SAXPY}")
        ip.run_cell(f"%%cuda_optimize --reference ref --inputs gen --candidates 2\n{NUMBA_SAXPY}")
    finally:
        ip.run_line_magic("config", "CudaOptimize.candidates = 4")
    first, given = captured
    assert (first.options.candidates, given.options.candidates) == (7, 2)
    # Nothing else given: the same objects the API builds by default.
    assert first.harness == HarnessOptions()
    assert first.llm == LLMOptions()
    assert (first.proposer, first.backend, first.apply_mode) == ("auto", "auto", "replace")
    assert first.problem.bytes_moved is None and first.problem.allowed_imports == ()


@pytest.mark.parametrize(
    "make",
    [
        lambda: HarnessOptions(timeout_s=float("nan")),
        lambda: HarnessOptions(timeout_s=float("inf")),
        lambda: HarnessOptions(timeout_s=0),
        lambda: TimingOptions(budget_ms=-5),
        lambda: TimingOptions(budget_ms=float("nan")),
        lambda: TimingOptions(min_reps=10, max_reps=5),
        lambda: ClusterOptions(sim_workers=0),
        lambda: ClusterOptions(scheduler_address="foo://127.0.0.1:1"),
        lambda: ClusterOptions(scheduler_address="tcp://host-without-port"),
        lambda: km.Problem(saxpy_reference, saxpy_inputs, cases=101),
        lambda: km.Problem(saxpy_reference, saxpy_inputs, atol=-1.0),
        lambda: km.Problem(saxpy_reference, saxpy_inputs, rtol=float("nan")),
        lambda: OptimizeOptions(time_budget_s=float("nan")),
        lambda: LLMOptions(request_timeout_s=float("inf")),
    ],
)
def test_options_that_cannot_work_are_refused_when_made(make):
    # Before, NaN, infinite or out-of-range values reached the workers (a "please report
    # this" failure), Dask (a traceback, then 120 s closing a client) or every verdict (a
    # negative tolerance judged each output wrong, "expected 0.53, got 0.53").
    with pytest.raises(km.KernelmagicError):
        make()


def test_options_at_their_limits_are_taken():
    TimingOptions(budget_ms=math.inf)  # a fixed number of runs, as the simulator's are
    ClusterOptions(scheduler_address="tcp://[::1]:8786")
    ClusterOptions(scheduler_address="127.0.0.1:8786")
    km.Problem(saxpy_reference, saxpy_inputs, cases=100, atol=0.0, rtol=0.0)

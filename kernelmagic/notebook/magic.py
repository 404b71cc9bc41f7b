"""`%%cuda_optimize`: parse the cell's options, find the problem in the notebook, delegate.

The magic only turns a cell into a `NotebookRun` (the controller runs it) and turns
kernelmagic's errors into a one-line `UsageError`. Defaults come from traitlets:
``%config CudaOptimize.model = "gpt-4o"``, or ``c.CudaOptimize.model`` in ipython_config.py;
the LLM endpoint and key from the same environment variables as the CLI.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import ArgDecorator, magic_arguments

from kernelmagic._option import Scope
from kernelmagic._option_build import add_arguments
from kernelmagic._option_resume import given_dests, restore_arguments
from kernelmagic._option_values import launch_options, problem_fields
from kernelmagic.candidate import Candidate
from kernelmagic.candidate.naming import tuned_function
from kernelmagic.errors import KernelmagicError
from kernelmagic.notebook._config import config_traits, with_config
from kernelmagic.problem import Problem, tuning_title
from kernelmagic.store import SessionStore, StoredSession


class _SpecOptions(ArgDecorator):
    """A magic's options from the option spec: `magic_arguments` builds the parser and the
    help that `%%cuda_optimize?` shows from them."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def add_to_parser(self, parser: argparse.ArgumentParser, group: Any) -> None:
        add_arguments(parser, self.scope)


# The configurable defaults: one trait per option the spec marks `config`, on a base class
# built from the spec (config sections name every class of the MRO: `CudaOptimize.rounds`).
_Defaults: type[Magics] = type("CudaOptimizeOptions", (Magics,), config_traits())


@magics_class
class CudaOptimize(_Defaults):  # type: ignore[misc,valid-type]
    """The kernelmagic cell magic; its traits are the defaults of its options."""

    session_db: str | None  # a trait, read here by name (the export's default store)

    def __init__(self, shell: Any) -> None:
        super().__init__(shell=shell, config=shell.config)
        shell.configurables.append(self)
        self.last_run: Any = None  # the Session %cuda_optimize_export exports by default

    @magic_arguments()
    @_SpecOptions("magic")
    @line_cell_magic
    def cuda_optimize(self, line: str, cell: str | None = None) -> None:
        """Tune the kernel in this cell against a NumPy reference, with a live widget.

        The cell holds a Python entry function (numba.cuda or CuPy) or CUDA C. The loop
        runs in the background (the notebook stays usable) unless --wait; --interactive
        pauses after each round for Accept/Reject. The session is stored, and --out NAME
        binds it (NAME.best, NAME.candidates, NAME.rounds). --resume ID continues a stored
        session: as a line magic (``%cuda_optimize --resume ID ...``), or over a cell that
        holds that session's kernel.
        """
        from kernelmagic.notebook._controller import NotebookRun, run_in_notebook

        argv = _split(line)
        args = with_config(self.cuda_optimize.parser.parse_args(argv), self)
        try:
            if args.resume:
                _restore(args, argv)
            candidate = _candidate(cell, args)
            run = NotebookRun.from_values(
                args,
                candidate=candidate,
                problem=self._problem(args, candidate),
                replay=self._recording(args.replay),
                cell_id=self._cell_id(),
            )
            if run.interactive and run.wait:
                raise UsageError(
                    "--interactive waits for your clicks, which a busy kernel cannot take: "
                    "leave out --wait"
                )
            session = run_in_notebook(run, self.shell)
        except KernelmagicError as exc:
            raise UsageError(str(exc)) from None
        self.last_run = session
        if args.out and self.shell is not None:
            self.shell.user_ns[args.out] = session

    @magic_arguments()
    @_SpecOptions("magic_export")
    @line_magic
    def cuda_optimize_export(self, line: str) -> None:
        """Write a session as a tutorial notebook that a reader can re-run without a key.

        The notebook tells the story (problem, starting kernel, each accepted step with its
        rationale, diff and numbers, the final kernel, the latency chart) and ends with cells
        that replay the recorded proposals and compare recorded and re-measured results.
        """
        from IPython.display import FileLink, display

        from kernelmagic.export import export_tutorial
        from kernelmagic.loop.session import Session

        args = self.cuda_optimize_export.parser.parse_args(_split(line))
        ns: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        value = ns.get(args.session) if args.session else self.last_run
        ref: str | StoredSession = args.session or "last"
        db = args.session_db or self.session_db
        if isinstance(value, Session):  # a session run here: it knows its own store
            ref, db = value.id, args.session_db or value.store_path or db
            if not value.done:
                print(f"session {value.id} is still running: exporting what it has so far")
        elif isinstance(value, StoredSession):
            ref = value
        try:
            done = export_tutorial(ref, args.output, session_db=db)
        except KernelmagicError as exc:
            raise UsageError(str(exc)) from None
        print(done.summary)
        for warning in done.warnings:
            print(f"warning: {warning}")
        display(FileLink(str(done.path)))

    def _problem(self, args: argparse.Namespace, candidate: Candidate | None) -> Problem:
        """The problem the options name, titled by the cell's kernel where the reference's
        name says only that it is the reference (`def reference`, `def ref`)."""
        kernel = tuned_function(candidate) if candidate else None
        return Problem(
            reference=self._function(args.reference, "--reference", "the NumPy reference"),
            inputs=self._function(args.inputs, "--inputs", "the input generator inputs(seed)"),
            timing_inputs=self._function(
                args.timing_inputs, "--timing-inputs", "the timing input generator"
            )
            if args.timing_inputs
            else None,
            name=tuning_title(args.reference, kernel),
            **problem_fields(args),
        )

    def _recording(self, name: str | None) -> str | StoredSession | None:
        """--replay NAME: a recorded session held in the notebook, else an id or a file."""
        from kernelmagic.loop.session import Session

        value = self.shell.user_ns.get(name) if name and self.shell is not None else None
        if isinstance(value, StoredSession):
            return value
        if isinstance(value, Session):
            return value.id
        return name

    def _cell_id(self) -> str | None:
        """The id JupyterLab sends with the execute request: how Apply finds this cell."""
        get_parent = getattr(self.shell, "get_parent", None)
        parent = get_parent() if get_parent else None
        cell_id = (parent or {}).get("metadata", {}).get("cellId")
        return str(cell_id) if cell_id else None

    def _function(self, name: str, option: str, what: str) -> Any:
        assert self.shell is not None
        ns = self.shell.user_ns
        if name not in ns:
            raise UsageError(
                f"{option} {name}: no such name in the notebook; define {what} in a cell "
                "above and run it first"
            )
        if not callable(ns[name]):
            raise UsageError(f"{option} {name} is a {type(ns[name]).__name__}, not a function")
        return ns[name]


def _split(line: str) -> list[str]:
    """The options line split as a shell would: `--bytes '3 * n * 4'` is one value without
    its quotes (IPython's own splitting keeps them)."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the options line: {exc} (close the quote)") from None


def _restore(args: argparse.Namespace, argv: list[str]) -> None:
    """--resume: every option the line does not name is the stored session's."""
    store = SessionStore(args.session_db, create=False)
    stored = store.load(store.resolve(args.resume))
    fresh = argparse.ArgumentParser(add_help=False)
    add_arguments(fresh, "magic")
    restore_arguments(args, stored, given_dests(fresh, argv))


def _candidate(cell: str | None, args: argparse.Namespace) -> Candidate | None:
    if cell is None:
        if args.resume:
            return None  # the stored session's own kernel
        raise UsageError(
            "%cuda_optimize without a cell only resumes a session (--resume ID): to tune a "
            "kernel, write it below a %%cuda_optimize line"
        )
    # The cell's first line is the %%cuda_optimize line: the kernel starts on line 2.
    candidate = Candidate.from_source(cell, first_line=2, **launch_options(args))
    if candidate.kind == "python" and "def " not in cell:
        raise UsageError(
            "the cell holds no kernel: write a Python entry function (numba.cuda or CuPy) "
            "or a CUDA C __global__ kernel below the %%cuda_optimize line"
        )
    return candidate

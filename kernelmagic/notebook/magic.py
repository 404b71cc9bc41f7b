"""`%%cuda_optimize`: parse the cell's options, find the problem in the notebook, delegate.

The magic only turns a cell into a `NotebookRun` (the controller runs it) and turns
kernelmagic's errors into a one-line `UsageError`. Defaults come from traitlets:
``%config CudaOptimize.model = "gpt-4o"``, or ``c.CudaOptimize.model`` in ipython_config.py;
the LLM endpoint and key from the same environment variables as the CLI.
"""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Enum, Float, Int, Unicode

from kernelmagic.candidate import Candidate
from kernelmagic.errors import KernelmagicError
from kernelmagic.harness.backends import BACKENDS
from kernelmagic.harness.evaluate import HarnessOptions
from kernelmagic.loop.engine import OptimizeOptions
from kernelmagic.loop.proposers import PROPOSERS
from kernelmagic.loop.proposers.llm import LLMOptions
from kernelmagic.problem import Problem
from kernelmagic.store import StoredSession


@magics_class
class CudaOptimize(Magics):
    """The kernelmagic cell magic; its traits are the defaults of its options."""

    model = Unicode(None, allow_none=True, help="LLM model (default $KERNELMAGIC_MODEL)").tag(
        config=True
    )
    base_url = Unicode(
        None, allow_none=True, help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL)"
    ).tag(config=True)
    llm_timeout = Float(
        LLMOptions.request_timeout_s,
        help="seconds one LLM request may go without a byte of reply, all tries together",
    ).tag(config=True)
    llm_retries = Int(
        LLMOptions.max_retries, help="more tries of an LLM request after a 429 or 5xx"
    ).tag(config=True)
    proposer = Enum(PROPOSERS, "auto", help="llm, search, replay; auto: llm if configured").tag(
        config=True
    )
    backend = Enum(BACKENDS, "auto", help="where candidates run").tag(config=True)
    rounds = Int(None, allow_none=True, help="rounds of proposals (default 5)").tag(config=True)
    candidates = Int(4, help="candidates per round").tag(config=True)
    patience = Int(3, help="stop after this many rounds without a new best").tag(config=True)
    timeout = Float(60.0, help="seconds for each stage of one evaluation").tag(config=True)
    session_db = Unicode(None, allow_none=True, help="the session database").tag(config=True)
    target = Unicode(None, allow_none=True, help="GPU profile for prompts without a GPU").tag(
        config=True
    )
    interactive = Bool(False, help="pause after each round for the user's decision").tag(
        config=True
    )
    apply_mode = Enum(
        ["replace", "insert"],
        "replace",
        help="Apply's default: replace the magic cell's kernel, or insert a new cell below",
    ).tag(config=True)

    def __init__(self, shell: Any) -> None:
        super().__init__(shell=shell, config=shell.config)
        shell.configurables.append(self)
        self.last_run: Any = None  # the Session %cuda_optimize_export exports by default

    @magic_arguments()
    @argument("--reference", required=True, metavar="NAME", help="the NumPy reference function")
    @argument("--inputs", required=True, metavar="NAME", help="the input generator inputs(seed)")
    @argument("--timing-inputs", metavar="NAME", help="generator of larger inputs to time")
    @argument("--backend", choices=BACKENDS, help="auto, numba-sim, numba or cuda")
    @argument("--proposer", choices=PROPOSERS, help="auto, llm, search or replay")
    @argument("--model", help="the LLM's model name")
    @argument("--base-url", help="an OpenAI-compatible endpoint URL")
    @argument(
        "--llm-timeout",
        type=float,
        metavar="SECONDS",
        help="the longest one LLM request may go without a byte of reply, all tries together",
    )
    @argument("--llm-retries", type=int, metavar="N", help="more tries after a 429 or 5xx")
    @argument(
        "--replay",
        metavar="SESSION",
        help="the session to replay: an id, a session file, or a notebook variable holding "
        "a recorded session (as exported tutorials do)",
    )
    @argument("--rounds", type=int, help="rounds of proposals")
    @argument("--candidates", type=int, help="candidates per round")
    @argument("--patience", type=int, help="rounds without a new best before stopping")
    @argument("--timeout", type=float, metavar="SECONDS", help="limit for each evaluation stage")
    @argument("--time-budget", type=float, metavar="SECONDS", help="wall-clock budget")
    @argument("--max-tokens", type=int, help="LLM token budget for the session")
    @argument("--session-db", metavar="PATH", help="the session database")
    @argument("--target", help="GPU profile described to the LLM without a GPU (e.g. h100)")
    @argument("--task", help="what the kernel computes, in words")
    @argument("--interactive", action="store_true", help="pause after each round to decide")
    @argument("--wait", action="store_true", help="block until the session ends")
    @argument("--out", metavar="NAME", help="bind the session object to NAME")
    @argument("--entry", help="the Python entry function (default: found by its parameters)")
    @argument("--kernel", help="the CUDA C kernel's name")
    @argument("--grid", help="CUDA C grid expression, e.g. 'cdiv(n, 256)'")
    @argument("--block", help="CUDA C block expression")
    @argument("--shared", help="CUDA C dynamic shared memory bytes expression")
    @argument(
        "--option",
        action="append",
        default=[],
        metavar="FLAG",
        help="an NVRTC option for CUDA C, e.g. -use_fast_math (repeatable)",
    )
    @argument("--cases", type=int, default=3, help="verification cases (default 3)")
    @argument("--atol", type=float, help="absolute tolerance")
    @argument("--rtol", type=float, help="relative tolerance")
    @cell_magic
    def cuda_optimize(self, line: str, cell: str) -> None:
        """Tune the kernel in this cell against a NumPy reference, with a live widget.

        The cell holds a Python entry function (numba.cuda or CuPy) or CUDA C. The loop
        runs in the background (the notebook stays usable) unless --wait; --interactive
        pauses after each round for Accept/Reject. The session is stored, and --out NAME
        binds it (NAME.best, NAME.candidates, NAME.rounds).
        """
        from kernelmagic.notebook._controller import NotebookRun, run_in_notebook

        args = parse_argstring(self.cuda_optimize, line)
        try:
            run = NotebookRun(
                candidate=_candidate(cell, args),
                problem=self._problem(args),
                proposer=args.proposer or self.proposer,
                backend=args.backend or self.backend,
                options=OptimizeOptions(
                    rounds=_pick(args.rounds, self.rounds),
                    candidates=_pick(args.candidates, self.candidates),
                    patience=_pick(args.patience, self.patience),
                    time_budget_s=args.time_budget,
                    max_tokens=args.max_tokens,
                    target=args.target or self.target,
                    task=args.task or "",
                ),
                llm=LLMOptions(
                    model=args.model or self.model,
                    base_url=args.base_url or self.base_url,
                    request_timeout_s=_pick(args.llm_timeout, self.llm_timeout),
                    max_retries=_pick(args.llm_retries, self.llm_retries),
                ),
                replay=self._recording(args.replay),
                session_db=args.session_db or self.session_db,
                harness=HarnessOptions(timeout_s=_pick(args.timeout, self.timeout)),
                interactive=args.interactive or self.interactive,
                wait=args.wait,
                cell_id=self._cell_id(),
                apply_mode=self.apply_mode,
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
    @argument(
        "session",
        nargs="?",
        metavar="SESSION",
        help="a session variable (as bound by --out), id, prefix or session file; default: "
        "the last session this notebook ran, else the store's newest",
    )
    @argument("-o", "--output", metavar="PATH", help="the notebook to write")
    @argument("--session-db", metavar="PATH", help="the session database")
    @line_magic
    def cuda_optimize_export(self, line: str) -> None:
        """Write a session as a tutorial notebook that a reader can re-run without a key.

        The notebook tells the story (problem, starting kernel, each accepted step with its
        rationale, diff and numbers, the final kernel, the latency chart) and ends with cells
        that replay the recorded proposals and compare recorded and re-measured results.
        """
        from IPython.display import FileLink, display

        from kernelmagic.cli._export import warnings
        from kernelmagic.export import export_tutorial
        from kernelmagic.loop.session import Session

        args = parse_argstring(self.cuda_optimize_export, line)
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
        print(f"wrote {done.path}: session {done.session}, {done.steps} accepted steps")
        for warning in warnings(done):
            print(f"warning: {warning}")
        display(FileLink(str(done.path)))

    def _problem(self, args: argparse.Namespace) -> Problem:
        return Problem(
            reference=self._function(args.reference, "--reference", "the NumPy reference"),
            inputs=self._function(args.inputs, "--inputs", "the input generator inputs(seed)"),
            timing_inputs=self._function(
                args.timing_inputs, "--timing-inputs", "the timing input generator"
            )
            if args.timing_inputs
            else None,
            cases=args.cases,
            atol=args.atol,
            rtol=args.rtol,
            name=args.reference,
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


def _candidate(cell: str, args: argparse.Namespace) -> Candidate:
    from kernelmagic.cli._check import launch_options

    candidate = Candidate.from_source(cell, **launch_options(args))
    if candidate.kind == "python" and "def " not in cell:
        raise UsageError(
            "the cell holds no kernel: write a Python entry function (numba.cuda or CuPy) "
            "or a CUDA C __global__ kernel below the %%cuda_optimize line"
        )
    return candidate


def _pick(given: Any, default: Any) -> Any:
    return default if given is None else given

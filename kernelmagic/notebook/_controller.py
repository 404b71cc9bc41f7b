"""A notebook session: start the loop in the background, wire the widget's buttons to it.

The loop thread inherits the cell's parent header (ipykernel routes a thread's output by
it), so the record that the cell's one output becomes at the end (`_output.py`) lands in
the magic's own cell even while the user runs other cells. In a terminal IPython (no
widgets) progress prints as text.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
from collections.abc import Mapping
from typing import Any

from kernelmagic._option_resume import kept_arguments
from kernelmagic._option_values import harness_options, llm_options, optimize_options
from kernelmagic._words import count
from kernelmagic.candidate import Candidate
from kernelmagic.errors import OptionError
from kernelmagic.harness.options import HarnessOptions
from kernelmagic.loop.events import Challenge, Event
from kernelmagic.loop.options import LLMOptions, OptimizeOptions
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.notebook._output import CellOutput
from kernelmagic.notebook.lab import bridge
from kernelmagic.problem import Problem
from kernelmagic.start import optimize
from kernelmagic.store import StoredSession


@dataclasses.dataclass(frozen=True)
class NotebookRun:
    """What one `%%cuda_optimize` cell asked for."""

    candidate: Candidate | None  # None: the resumed session's own
    problem: Problem
    proposer: str
    backend: str
    options: OptimizeOptions
    llm: LLMOptions  # always given: `proposers.choose` decides whether the llm proposer runs
    replay: str | StoredSession | None  # a session id, a session file, or the recording itself
    session_db: str | None
    harness: HarnessOptions
    resume: str | None
    arguments: Mapping[str, Any]  # the options as stored, for a later --resume
    interactive: bool
    wait: bool
    cell_id: str | None  # the magic's cell, as the front end named it
    apply_mode: str  # Apply's default: into the magic's cell, or a new cell

    @classmethod
    def from_values(
        cls,
        values: argparse.Namespace,
        *,
        candidate: Candidate | None,
        problem: Problem,
        replay: str | StoredSession | None,
        cell_id: str | None,
    ) -> NotebookRun:
        """The run a cell's parsed options ask for (traits filled in), built as the CLI
        builds its own: the defaults are the option spec's, not spelled again here."""
        return cls(
            candidate=candidate,
            problem=problem,
            proposer=values.proposer,
            backend=values.backend,
            options=optimize_options(values),
            llm=llm_options(values),
            replay=replay,
            session_db=values.session_db,
            harness=harness_options(values),
            resume=values.resume,
            arguments=kept_arguments(values),
            interactive=values.interactive,
            wait=values.wait,
            cell_id=cell_id,
            # A resume by the line magic has no kernel below its line to replace.
            apply_mode="insert" if candidate is None else values.apply_mode,
        )


class Gate:
    """The approve hook of an interactive session: the loop waits here for a click."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.view: Any = None
        self._answer = False
        self._clicked = threading.Event()

    def approve(self, challenge: Challenge) -> bool:
        """Called in the loop's thread: show the proposal, wait for Accept/Reject/Stop."""
        self._answer = False
        self._clicked.clear()
        if self.view is not None:
            self.view.show_challenge(challenge)
        while not self._clicked.wait(0.25):
            if self.session is not None and self.session.stop_requested:
                break
        if self.view is not None:
            self.view.clear_challenge()
        return self._answer

    def decide(self, accepted: bool) -> None:
        """Called by a button: let the loop go on."""
        self._answer = accepted
        self._clicked.set()


def run_in_notebook(run: NotebookRun, shell: Any) -> Session:
    """Start `run`; show its widget (or text progress); block only with `run.wait`."""
    if run.interactive and not _has_widgets(shell):
        raise OptionError(
            "--interactive needs a notebook's Accept/Reject buttons; in a terminal, run "
            "without it (every round's best is kept automatically)"
        )
    gate = Gate() if run.interactive else None
    # Shown before `optimize`, which can take half a minute: the cell is never blank.
    output = CellOutput(_starting_line(run)) if _has_widgets(shell) else None
    token = _pin_output_to_this_cell(shell)
    try:
        session = optimize(
            run.candidate,
            run.problem,
            proposer=run.proposer,
            backend=run.backend,
            options=run.options,
            llm=run.llm,
            replay=run.replay,
            session_db=run.session_db,
            harness_options=run.harness,
            approve=gate.approve if gate else None,
            resume=run.resume,
            wait=False,
            rerun={"args": dict(run.arguments)},
        )
    except BaseException:
        if output is not None:
            output.say("kernelmagic: the session did not start")
        raise
    finally:
        _unpin(shell, token)
    if gate is not None:
        gate.session = session
    if output is not None:
        _show_widget(session, gate, shell, run, output)
    else:
        _print_progress(session)
    if run.wait:
        try:
            session.wait()
        except KeyboardInterrupt:
            print("stopping after the evaluation in flight...", file=sys.stderr)
            session.stop()
            session.wait()
    return session


def _starting_line(run: NotebookRun) -> str:
    """What the cell says while `optimize` starts: only what is sure to happen."""
    cluster = run.harness.cluster
    if cluster.scheduler_address:
        return f"kernelmagic: starting the session on the Dask cluster {cluster.scheduler_address}…"
    workers = count(cluster.sized(run.options.candidates).sim_workers or 1, "simulator worker")
    return (
        "kernelmagic: starting the session… The first session in a kernel also starts the "
        f"worker processes ({workers}, and one per GPU), which import numba: that can take "
        "half a minute."
    )


def _show_widget(
    session: Session, gate: Gate | None, shell: Any, run: NotebookRun, output: CellOutput
) -> None:
    from kernelmagic.notebook._actions import ViewActions
    from kernelmagic.notebook._record import record_html, record_text
    from kernelmagic.notebook._view import SessionView

    def accept() -> None:
        if gate is not None:
            gate.decide(True)

    def reject() -> None:
        if gate is not None:
            gate.decide(False)

    def stop() -> None:
        session.stop()
        if gate is not None:
            gate.decide(False)

    bridge().open()  # a fresh hello: the page may have been reloaded since %load_ext
    notebook = _Notebook(session, shell, run.cell_id)
    view = SessionView(
        session,
        interactive=gate is not None,
        actions=ViewActions(
            accept=accept,
            reject=reject,
            stop=stop,
            choose=session.choose,
            apply=lambda cid, mode: notebook.apply(cid, mode, view),
            tutorial=lambda cid: notebook.tutorial(cid, view),
        ),
        apply_mode=run.apply_mode,
    )
    if gate is not None:
        gate.view = view
    output.show_widget(view.widget, session.id)
    shown = threading.Lock()

    def at_end(event: Event | None = None) -> None:
        if event is not None and event.kind != "finished":
            return
        if not shown.acquire(blocking=False):
            return  # already shown
        view.finish()
        if session.error is not None:
            view.say(f"the session failed: {session.error}")
        # Into the widget's own output: one rendering per cell (see _output.py).
        output.show_record(
            view.widget, session.id, html=record_html(session), text=record_text(session)
        )

    session.subscribe(at_end)
    if session.done:  # it ended before we subscribed (nothing to tune, say)
        at_end()


def _print_progress(session: Session) -> None:
    from kernelmagic.notebook._record import record_text
    from kernelmagic.render.progress import Progress

    progress = Progress(session, stream=sys.stdout, bar=False)

    def show(event: Event) -> None:
        progress.show(event)
        if event.kind == "finished":
            print(record_text(session), flush=True)

    session.subscribe(show)


class _Notebook:
    """Puts kernels and tutorial steps into the notebook through the lab extension, or
    says (once) how to get them without it."""

    def __init__(self, session: Session, shell: Any, cell_id: str | None) -> None:
        self.session = session
        self.shell = shell
        self.cell_id = cell_id
        self.anchor = cell_id  # tutorial steps go below the last one inserted
        self._told = False

    def apply(self, candidate_id: str, mode: str, view: Any) -> None:
        """Put a correct kernel into the notebook; one ranked on the simulator says so."""
        from kernelmagic.notebook._view_text import sim_caveat

        record = self._record(candidate_id, "applied")
        caveat = sim_caveat(record)
        self.shell.user_ns["kernelmagic_kernel"] = record.source

        def done(reply: Mapping[str, Any]) -> None:
            if reply.get("ok"):
                where, undo = (
                    ("into this cell", "Ctrl/Cmd-Z in the cell")
                    if mode == "replace"
                    else ("into a new cell below", "Z in command mode")
                )
                view.say(f"#{record.seq} applied {where} (undo: {undo}){caveat}")
            else:
                view.say(f"could not apply #{record.seq}: {reply.get('message', 'no reason')}")

        if self.cell_id and bridge().apply(self.cell_id, record.source, mode, done):  # type: ignore[arg-type]
            return
        view.show_copy(record.source)
        where = f"#{record.seq} is in the box below and in `kernelmagic_kernel`"
        view.say(self._without_lab(where + caveat))

    def tutorial(self, candidate_id: str, view: Any) -> None:
        """Insert a correct kernel's tutorial step; one ranked on the simulator says so."""
        from kernelmagic.notebook._tutorial import step_markdown
        from kernelmagic.notebook._view_text import sim_caveat

        record = self._record(candidate_id, "made a tutorial step")
        caveat = sim_caveat(record)

        def done(reply: Mapping[str, Any]) -> None:
            if reply.get("ok") and reply.get("cell_ids"):
                self.anchor = reply["cell_ids"][-1]
                view.say(f"tutorial cells for #{record.seq} inserted{caveat}")
            else:
                view.say(f"could not insert the tutorial step: {reply.get('message', '?')}")

        markdown = step_markdown(self.session, record)
        if self.anchor and bridge().tutorial(self.anchor, markdown, record.source, done):
            return
        view.show_copy(markdown + "\n\n" + record.source)
        view.say(self._without_lab(f"the step for #{record.seq} is in the box below{caveat}"))

    def _record(self, candidate_id: str, done: str) -> CandidateRecord:
        """The candidate, if it is a correct kernel: the view disables the buttons for any
        other, but a click can cross a change of selection."""
        from kernelmagic.harness.verdict import Status
        from kernelmagic.notebook._buttons import only_correct

        record = next((c for c in self.session.candidates if c.id == candidate_id), None)
        if record is None:
            raise OptionError(f"no candidate {candidate_id!r} in session {self.session.id}")
        if record.status is not Status.CORRECT:
            raise OptionError(only_correct(record.seq, record.status, done))
        return record

    def _without_lab(self, what: str) -> str:
        if self._told:
            return what
        self._told = True
        return (
            f"{what}. The kernelmagic JupyterLab extension is not active in this frontend, so "
            "the notebook cannot be edited from here: copy it into a cell"
        )


def _has_widgets(shell: Any) -> bool:
    """A Jupyter kernel can show widgets; a terminal IPython cannot."""
    return getattr(shell, "kernel", None) is not None


def _pin_output_to_this_cell(shell: Any) -> Any:
    if hasattr(shell, "set_thread_parent") and hasattr(shell, "get_parent"):
        return shell.set_thread_parent(shell.get_parent())
    return None


def _unpin(shell: Any, token: Any) -> None:
    if token is not None:
        shell.reset_thread_parent(token)

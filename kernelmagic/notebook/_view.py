"""The live widget of a session: what the loop is doing, charts, candidates, diff and buttons.

The only module that touches ipywidgets. It reads the `Session` and forwards clicks to
`ViewActions`. The loop calls it from its own thread, so every update sets traits or
`Output.outputs` directly (never `with output:`), and events only mark the view stale:
a timer re-renders at most every `interval_s`, off the loop's thread, and a trailing render
always follows the last event. While two kernels are timed against each other (no events
for 10-30 s) a one-shot timer re-arms itself each second to count them, until the phase ends.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from kernelmagic.errors import KernelmagicError
from kernelmagic.loop.events import Challenge, Event
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Best, Session
from kernelmagic.notebook._actions import ViewActions
from kernelmagic.notebook._activity import ENDED, TIMED, activity_text, phase_of
from kernelmagic.notebook._buttons import arm, button_labels, button_states
from kernelmagic.notebook._detail import candidate_detail, challenge_detail
from kernelmagic.notebook._plots import Plots
from kernelmagic.notebook._table import TableLines
from kernelmagic.notebook._view_text import (
    VIEW_CSS,
    decision_rule_html,
    decisions_html,
    header_html,
    progress_html,
)
from kernelmagic.render.notes import notes_html
from kernelmagic.render.rows import SCREENING_NOTE, Row, rows

INTERVAL_S = 0.3
TICK_S = 1.0  # how often the seconds of a comparison move on


class SessionView:
    """The widget of one session; display `.widget`, call `finish()` when the session ends.

    `interactive`: the loop pauses on each new best (`show_challenge`) for Accept/Reject.
    Otherwise Accept reads "Use this kernel" and chooses the selected correct candidate.
    The parts (`activity`: what the loop is doing; `progress`, `decisions`, `chart`,
    `params_chart`, `table`, `detail`, `status`: messages, the `*_button`s) are public for
    tests and for a controller that lays them out differently.
    """

    def __init__(
        self,
        session: Session,
        *,
        interactive: bool,
        actions: ViewActions,
        interval_s: float = INTERVAL_S,
        apply_mode: str = "replace",
    ) -> None:
        self.session = session
        self.interactive = interactive
        self.actions = actions
        self.interval_s = interval_s
        self.renders = 0  # how often the view re-rendered (tests check the throttling)
        self._lock = threading.Lock()  # the throttle's state
        self._render_lock = threading.RLock()  # one render at a time, whoever calls it
        self._timer: threading.Timer | None = None
        self._dirty = False
        self._last_render = 0.0
        self._finished = False
        self._stopping = False
        self._challenge: Challenge | None = None
        self._rows: dict[str, Row] = {}
        self._records: dict[str, CandidateRecord] = {}
        self._lines = TableLines()
        self._detail_key: tuple[Any, ...] | None = None
        self._phase_key: tuple[Any, ...] | None = None
        self._phase_since = time.monotonic()
        self._ticker: threading.Timer | None = None
        self._selecting = False  # the view itself is changing the selection

        self.header = w.HTML()
        self.activity = w.HTML()
        self.progress = w.HTML()
        # A fixed height: decisions scroll here instead of pushing the chart and buttons down.
        self.decisions = w.HTML(layout=w.Layout(height="5.6em", overflow="auto"))
        # What the loop told the user; it takes no room until there is something.
        self.notes = w.HTML(layout=w.Layout(max_height="4.2em", overflow="auto"))
        self._plots = Plots()
        self.chart, self.params_chart = self._plots.chart, self._plots.params_chart
        self.table_head = w.HTML(layout=w.Layout(margin="0 2px"))
        self.table = w.Select(options=[], value=None, rows=10, layout=w.Layout(width="auto"))
        self.table.add_class("km-rows")
        self.table_note = w.HTML(
            f'<div style="color: #57606a; font-size: 12px; line-height: 1.4">'
            f"{html.escape(SCREENING_NOTE)}</div>"
        )
        self.table.observe(self._on_select, names="value")
        self.detail = w.HTML(layout=w.Layout(width="auto"))
        self._buttons = {
            name: w.Button(description=text) for name, text in button_labels(interactive).items()
        }
        b = self._buttons
        self.accept_button, self.reject_button = b["accept"], b["reject"]
        self.stop_button, self.apply_button = b["stop"], b["apply"]
        self.tutorial_button = b["tutorial"]
        self.apply_mode = w.Dropdown(
            options=[("into this cell", "replace"), ("as a new cell below", "insert")],
            value=apply_mode,
            layout=w.Layout(width="auto"),
        )
        # Where the lab extension is absent, Apply shows the source here to copy.
        self.copy_box = w.Textarea(layout=w.Layout(width="100%", height="12em", display="none"))
        if not interactive:
            self.reject_button.layout.display = "none"
        self.accept_button.on_click(lambda _: self._on_accept())
        self.reject_button.on_click(lambda _: self._on_reject())
        self.stop_button.on_click(lambda _: self._on_stop())
        self.apply_button.on_click(lambda _: self._on_apply())
        self.tutorial_button.on_click(lambda _: self._on_tutorial())
        self.status = w.HTML()
        buttons = w.HBox(
            [
                self.accept_button,
                self.reject_button,
                self.stop_button,
                self.apply_button,
                self.apply_mode,
                self.tutorial_button,
            ]
        )
        buttons.add_class("km-buttons")
        self.widget = w.VBox(
            [
                w.HTML(VIEW_CSS),
                self.header,
                self.activity,
                self.progress,
                self.notes,
                w.HTML(decision_rule_html()),
                self.decisions,
                self.chart,
                self.params_chart,
                self.table_head,
                self.table,
                self.table_note,
                buttons,
                self.status,
                self.copy_box,
                self.detail,
            ]
        )
        session.subscribe(self._on_event)
        self.render()

    # -- called by the controller (from any thread) ----------------------------------------

    def show_challenge(self, challenge: Challenge) -> None:
        """Put a paused round's new best to the user: select it, show its diff, arm Accept."""
        self._challenge = challenge
        self.render()  # the loop waits for the answer anyway: make sure the row is listed
        self._select(challenge.challenger.id)
        speed = f" ({challenge.estimate.describe()})" if challenge.estimate else ""
        self.say(
            f"Round {challenge.round}: accept #{challenge.challenger.seq} as the new best"
            f"{speed}, or reject it?"
        )

    def clear_challenge(self) -> None:
        """The challenge is answered: disarm Accept/Reject."""
        self._challenge = None
        self._detail_key = None
        self._refresh_detail()
        self._sync_buttons()

    def say(self, text: str) -> None:
        """Show a one-line message under the buttons."""
        self.status.value = f'<span style="color: #444">{html.escape(text)}</span>'

    def show_copy(self, source: str) -> None:
        """Show a kernel's source in a box to copy (where Apply cannot edit the notebook)."""
        self.copy_box.value = source
        self.copy_box.layout.display = None

    def finish(self) -> None:
        """The session ended: render its final state and disarm Stop and Accept/Reject.

        In automatic mode "Use this kernel" stays armed: reverting to an earlier kernel is
        most useful once the session is over, and `Session.choose` still works then.
        """
        with self._lock:
            self._finished = True
            self._dirty = False
            timers = (self._timer, self._ticker)
            self._timer = self._ticker = None
        for timer in timers:
            if timer is not None:
                timer.cancel()
        self._challenge = None
        self._detail_key = None
        self.render()

    def render(self) -> None:
        """Bring every part of the view up to the session's state, now, in this thread."""
        with self._render_lock:
            self.renders += 1
            with self._lock:  # a render made directly counts for the throttle too
                self._last_render = time.monotonic()
            session = self.session
            records = session.candidates
            best = session.best
            everything = rows(session)
            self._records = {r.id: r for r in records}
            self._rows = {r.id: r for r in everything}
            self.header.value = header_html(session)
            self.progress.value = progress_html(session, everything, best)
            self.decisions.value = decisions_html(session, everything)
            self.notes.value = notes_html(session.notes)
            self._refresh_activity()
            self._plots.update(session, everything, best)
            self._update_table(everything, best)
            self._refresh_detail()
            self._sync_buttons()

    # -- updates ---------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """In the loop's thread: mark the view stale and make sure a render is scheduled."""
        with self._lock:
            self._dirty = True
            if self._timer is not None:
                return
            delay = max(0.0, self._last_render + self.interval_s - time.monotonic())
            self._timer = threading.Timer(delay, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            if not self._dirty:
                return
            self._dirty = False
        self.render()

    def _refresh_activity(self) -> None:
        """The status line; while a comparison runs, a timer brings its seconds up to date."""
        session = self.session
        phase = phase_of(session, ended=self._finished)
        contest = session.contest if session.state == "running" else None
        key = (phase, tuple(r.id for r in contest if r) if contest else ())
        if key != self._phase_key:
            self._phase_key, self._phase_since = key, time.monotonic()
        counting = phase in TIMED and not self._stopping and not self._finished
        text = activity_text(
            session,
            you_answer=self.interactive,
            stopping=self._stopping,
            ended=self._finished,
            elapsed_s=time.monotonic() - self._phase_since if counting else None,
        )
        self.activity.value = f'<div style="font-weight: bold">{html.escape(text)}</div>'
        with self._lock:
            if counting and self._ticker is None and not self._finished:
                self._ticker = threading.Timer(TICK_S, self._tick)
                self._ticker.daemon = True
                self._ticker.start()
            elif not counting and self._ticker is not None:
                self._ticker.cancel()  # the phase ended: no tick after it
                self._ticker = None

    def _tick(self) -> None:
        with self._lock:
            self._ticker = None
            if self._finished:
                return
        with self._render_lock:
            self._refresh_activity()  # arms the next tick only while the phase lasts

    def _update_table(self, everything: list[Row], best: Best | None) -> None:
        ended = phase_of(self.session, ended=self._finished)
        options = self._lines.update(
            everything, best.id if best else None, ended if ended in ENDED else "running"
        )
        self.table_head.value = f'<div class="km-head">{html.escape(self._lines.head)}</div>'
        if tuple(options) == tuple(self.table.options):
            return
        value = self.table.value
        self._selecting = True
        try:
            with self.table.hold_sync():
                self.table.options = options
                self.table.value = value if value in self._rows else None
        finally:
            self._selecting = False

    def _select(self, candidate_id: str) -> None:
        with self._render_lock:
            self._selecting = True
            try:
                self.table.value = candidate_id
            finally:
                self._selecting = False
            self._refresh_detail()
            self._sync_buttons()

    def _on_select(self, change: dict[str, Any]) -> None:
        with self._render_lock:  # waits out a render in another thread, then shows the pick
            if self._selecting:
                return
            self._refresh_detail()
            self._sync_buttons()

    def _refresh_detail(self) -> None:
        """Show the selection (or the challenge, or the best) if anything it depends on moved."""
        best = self.session.best
        challenge = self._challenge
        chosen = self.table.value or (challenge.challenger.id if challenge else None)
        chosen = chosen or (best.id if best else None)
        row = self._rows.get(chosen or "")
        on_challenge = challenge is not None and chosen == challenge.challenger.id
        decided = len(self.session.decisions)  # a kept challenger's detail says why
        key = (chosen, row, best.id if best else None, on_challenge, decided)
        if key == self._detail_key:
            return
        self._detail_key = key
        record = self._records.get(chosen or "")
        if challenge is not None and on_challenge:
            self.detail.value = challenge_detail(self.session, challenge)
        elif record is not None:
            self.detail.value = candidate_detail(self.session, record)
        else:
            self.detail.value = ""

    def _sync_buttons(self) -> None:
        selected = self._rows.get(self.table.value or "")
        best = self.session.best
        states = button_states(
            selected=selected,
            target=selected or (self._rows.get(best.id) if best else None),
            best_id=best.id if best else None,
            interactive=self.interactive,
            challenge_open=self._challenge is not None,
            finished=self._finished,
            stopping=self._stopping,
        )
        for name, armed in states.items():
            arm(self._buttons[name], name, armed)

    # -- clicks ----------------------------------------------------------------------------

    def _on_accept(self) -> None:
        if self.interactive:
            challenge = self._challenge
            if challenge is None:
                return
            self.clear_challenge()  # before answering: the loop may pose the next one at once
            if self._call(self.actions.accept):
                self.say(f"accepted #{challenge.challenger.seq} as the new best")
            return
        selected = self.table.value
        if selected and self._call(self.actions.choose, selected):
            self.say(f"#{self._rows[selected].seq} is now the best kernel")

    def _on_reject(self) -> None:
        challenge = self._challenge
        if challenge is None:
            return
        self.clear_challenge()
        if self._call(self.actions.reject):
            self.say(f"rejected #{challenge.challenger.seq}: the incumbent stays")

    def _on_stop(self) -> None:
        """The status line says "stopping…" until the session's end replaces it."""
        self._stopping = True
        with self._render_lock:
            self._sync_buttons()
            self._refresh_activity()
        self._call(self.actions.stop)

    def _on_apply(self) -> None:
        best = self.session.best
        target = self.table.value or (best.id if best else None)
        if target is None or self.apply_button.disabled:
            self.say(self.apply_button.tooltip or "no kernel to apply yet")
            return
        self._call(self.actions.apply, target, self.apply_mode.value)

    def _on_tutorial(self) -> None:
        selected = self.table.value
        if selected and not self.tutorial_button.disabled:
            self._call(self.actions.tutorial, selected)

    def _call(self, action: Callable[..., None], *args: str) -> bool:
        """Run a controller action; a user-facing error shows in the status line."""
        try:
            action(*args)
        except KernelmagicError as exc:
            self.say(str(exc))
            return False
        return True

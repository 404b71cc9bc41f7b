"""The widget says what the loop is doing, phase by phase, and is right once it ended.

Sessions are driven by the events a loop sends (each test renders after each one); one
short session runs on the CPU simulator with the search proposer.
"""

from __future__ import annotations

import dataclasses
import json
import time
import xml.etree.ElementTree as ET

import pytest
from test_ui import noop_actions, verdict

import kernelmagic as km
from kernelmagic.errors import KernelmagicError
from kernelmagic.harness.comparison import Estimate
from kernelmagic.loop.events import Challenge, Event, EventFeed
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.loop.records import CandidateRecord, Confirmation, Decision, RoundRecord
from kernelmagic.loop.session import Session
from kernelmagic.notebook._view import SessionView
from kernelmagic.notebook._view_text import PLOTLY_MIME, RANKED_ON_SIMULATOR, VIEW_CSS
from kernelmagic.render.series import series
from kernelmagic.render.svg_chart import latency_svg

S = km.Status
SOURCE = "def k(x):\n    return x + {}\n"


class Steering:
    """The loop's side of Stop: what `Session.stop` asks and the loop then reads."""

    def __init__(self) -> None:
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True

    def request_choice(self, candidate_id: str) -> None:
        raise AssertionError("not chosen in these tests")


class Loop:
    """Sends a session the events its loop would, one call per step."""

    def __init__(self, *, rounds: int = 2, per_round: int = 2, steering=None) -> None:
        self.feed = EventFeed()
        self.session = Session(
            "s", store_path=":memory:", planned_rounds=rounds, per_round=per_round,
            feed=self.feed, steering=steering,
        )  # fmt: skip
        self.records: dict[int, CandidateRecord] = {}

    def send(self, kind, r: int = 0, message: str = "", **fields) -> None:
        self.feed.publish(Event(kind, "s", r, message, **fields))

    def record(self, seq: int, r: int, status=None, ms=None, params=None) -> CandidateRecord:
        v = verdict(status, ms) if status else None
        rec = CandidateRecord(
            f"s.{seq}", "s", seq, r, "user" if seq == 0 else "search",
            km.Candidate(SOURCE.format(seq)), params=params, verdict=v,
        )  # fmt: skip
        self.records[seq] = rec
        return rec

    def baseline(self, ms: float = 10.0) -> None:
        self.send("started", candidate=self.record(0, 0))
        self.send("evaluated", candidate=self.record(0, 0, S.CORRECT, ms))
        self.send("best", candidate=self.records[0])

    def propose(self, r: int, seqs: list[int]) -> None:
        self.send("round", r, "optimize")
        for seq in seqs:
            self.send("proposed", r, candidate=self.record(seq, r))
        ids = tuple(f"s.{seq}" for seq in seqs)
        self.send("round_record", r, round_record=RoundRecord(r, "optimize", ids))

    def evaluate(self, seq: int, status=S.CORRECT, ms: float | None = 8.0) -> None:
        r = self.records[seq].round
        self.send("evaluated", r, candidate=self.record(seq, r, status, ms))

    def end_round(self, r: int, seqs: list[int]) -> None:
        ids = tuple(f"s.{seq}" for seq in seqs)
        done = RoundRecord(r, "optimize", ids, finished=True)
        self.send("round_record", r, round_record=done)

    def finish(self, state: str = "finished", why: str = "all 1 rounds done", error=None):
        self.send("finished", 0, why, state=state, error=error)


def view_of(
    loop: Loop, *, interactive: bool = False, calls: list | None = None, **actions
) -> SessionView:
    """A view whose session ends as the notebook's does: `finish()` from the last event."""
    wired = dataclasses.replace(noop_actions(calls), **actions)
    view = SessionView(loop.session, interactive=interactive, actions=wired, interval_s=60)
    loop.session.subscribe(lambda e: view.finish() if e.kind == "finished" else None)
    return view


def said(view: SessionView) -> str:
    view.render()
    return view.activity.value


def figure(view: SessionView) -> dict:
    return view.chart.outputs[0]["data"][PLOTLY_MIME]


def rings(view: SessionView) -> dict | None:
    return next((t for t in figure(view)["data"] if t.get("mode") == "markers+text"), None)


def test_a_render_made_directly_counts_for_the_throttle():
    # Only timed renders used to start the throttle's interval, so the first event after the
    # view was shown re-rendered it at once, from a timer thread that a loaded machine could
    # run at any moment of a test that counts renders.
    loop = Loop()
    view = view_of(loop)
    said(view)
    renders = view.renders
    loop.baseline()
    time.sleep(0.5)
    assert view.renders == renders  # the next render waits for the interval (60 s here)


def test_the_status_line_names_each_phase_and_counts_the_comparison():
    loop = Loop()
    view = view_of(loop)
    assert "checking and timing your kernel (#0)" in said(view)
    loop.baseline()
    assert "round 1 of 2: proposing candidates…" in said(view)
    loop.propose(1, [1, 2])
    assert "screening round 1: 0 of 2 candidates evaluated" in said(view)
    loop.evaluate(1, ms=9.0)
    assert "screening round 1: 1 of 2 candidates evaluated" in said(view)
    loop.evaluate(2, ms=6.0)
    assert "screening round 1: 2 of 2 candidates evaluated" in said(view)

    loop.send("comparing", 1, candidate=loop.records[2], against="s.0")
    assert "comparing #2 with the best #0 (interleaved runs)… 0 s" in said(view)
    ring = rings(view)  # the challenger and the kernel it is timed against, ringed
    assert ring["x"] == [2, 0] and ring["text"] == ["#2 challenger", "#0 best"]
    assert ring["marker"]["symbol"] == "circle-open"
    renders = view.renders
    time.sleep(2.3)  # no event comes during a comparison: the seconds move on by themselves
    assert "(interleaved runs)… 2 s" in view.activity.value and view.renders == renders

    found = Estimate(1.6, 1.4, 1.8, 24, simulated=True)
    decision = Decision("s", 1, "s.2", "s.0", True, "loop", found.describe(), found)
    loop.send("decision", 1, decision=decision)
    loop.end_round(1, [1, 2])
    assert "round 2 of 2: proposing candidates…" in said(view)
    assert rings(view) is None and view._ticker is None  # the timer stopped with the phase

    loop.send("confirming", 1, candidate=loop.records[2], against="s.0")
    assert "confirming the best #2 against your kernel (interleaved runs)… 0 s" in said(view)
    assert rings(view)["text"] == ["#2 best", "#0 your kernel"]
    confirmation = Confirmation("s.2", "s.0", found, found.describe())
    loop.send("confirmed", 1, confirmation=confirmation)
    loop.finish()
    assert view._finished and view._ticker is None
    assert "finished: all 1 rounds done" in view.activity.value
    assert rings(view) is None
    assert "1 of 2 rounds done" in view.progress.value
    assert "1.60x faster" in view.progress.value and "against your kernel" in view.progress.value
    time.sleep(1.2)
    assert "finished: all 1 rounds done" in view.activity.value  # no tick after the end


def test_waiting_says_who_answers():
    for interactive, expected in (
        (True, "waiting for you: accept #1?"),
        (False, "waiting for the approver: #1 over #0?"),
    ):
        loop = Loop()
        view = view_of(loop, interactive=interactive)
        loop.baseline()
        loop.propose(1, [1])
        loop.evaluate(1, ms=5.0)
        loop.send("awaiting", 1, candidate=loop.records[1], against="s.0")
        assert expected in said(view)


def test_after_stop_nothing_is_pending_stopping_or_a_round_too_many():
    steering = Steering()
    loop = Loop(rounds=3, steering=steering)
    view = view_of(loop, stop=loop.session.stop)  # Stop reaches the loop, as in a notebook
    loop.baseline()
    loop.propose(1, [1, 2])
    loop.evaluate(1)
    loop.evaluate(2, S.COMPILE_ERROR, None)
    loop.end_round(1, [1, 2])
    loop.propose(2, [3, 4])
    loop.evaluate(3)
    assert "screening round 2: 1 of 2 candidates evaluated" in said(view)
    assert "round 2 of 3" in view.progress.value

    view.stop_button.click()
    assert steering.stop_requested
    assert view.activity.value.count("stopping after the evaluation in flight…") == 1
    assert view.stop_button.disabled and "stopping" in view.stop_button.tooltip
    loop.finish("stopped", "stopped on request")

    assert "stopped: on request" in view.activity.value
    assert "stopping" not in view.activity.value + view.status.value
    assert "1 of 3 rounds done" in view.progress.value  # as the record counts them
    labels = {cid: label.replace("\u00a0", " ") for label, cid in view.table.options}
    assert not any("pending" in label for label in labels.values())
    unjudged = labels["s.4"]
    assert "not evaluated" in unjudged and unjudged.endswith("(stopped)")
    view.table.value = "s.4"
    assert "not evaluated" in view.detail.value and "pending" not in view.detail.value
    assert view.apply_button.disabled and view.tutorial_button.disabled
    assert "#4 is not evaluated" in view.apply_button.tooltip
    assert "1 not evaluated (stopped)" in latency_svg(loop.session)
    assert view.stop_button.disabled and view.stop_button.tooltip == "the session has ended"


def test_a_failed_session_says_why_and_disarms_stop():
    loop = Loop()
    view = view_of(loop)
    loop.baseline()
    loop.propose(1, [1, 2])
    loop.evaluate(1)
    error = KernelmagicError("the worker processes could not be restored")
    loop.finish("failed", str(error), error)
    assert "failed: the worker processes could not be restored" in view.activity.value
    assert "0 of 2 rounds done" in view.progress.value
    assert not any("pending" in label for label, _ in view.table.options)
    assert view.stop_button.disabled


def test_reject_and_accept_leave_the_line_and_buttons_right():
    loop = Loop()
    calls: list = []
    view = view_of(loop, interactive=True, calls=calls)
    loop.baseline()
    loop.propose(1, [1])
    loop.evaluate(1, ms=5.0)
    loop.send("awaiting", 1, candidate=loop.records[1], against="s.0")
    view.show_challenge(Challenge("s", 1, loop.records[1], loop.records[0], None, "faster"))
    assert "waiting for you: accept #1?" in view.activity.value
    assert not view.reject_button.disabled and view.reject_button.button_style == "danger"
    view.reject_button.click()
    assert calls == [("reject",)]
    assert view.reject_button.disabled and view.reject_button.button_style == ""
    assert view.accept_button.tooltip == "no proposal waits"
    kept = Decision("s", 1, "s.1", "s.0", False, "approver", "rejected: faster")
    loop.send("decision", 1, decision=kept)
    loop.end_round(1, [1])
    assert "round 2 of 2: proposing candidates…" in said(view)
    assert "the approver rejected #1" in view.decisions.value


def test_a_session_where_everything_fails_shows_a_line_not_an_empty_chart():
    loop = Loop()
    view = view_of(loop)
    assert "starts once a candidate is timed" in view.chart.outputs[0]["data"]["text/plain"]
    loop.send("started", candidate=loop.record(0, 0))
    loop.evaluate(0, S.COMPILE_ERROR, None)
    loop.propose(1, [1, 2])
    loop.evaluate(1, S.COMPILE_ERROR, None)
    loop.evaluate(2, S.WRONG_RESULT, None)
    view.render()
    out = view.chart.outputs[0]["data"]
    assert PLOTLY_MIME not in out
    assert "no candidate timed yet (2 compile_error, 1 wrong_result" in out["text/html"]


def test_buttons_for_a_kernel_that_is_not_correct_are_disabled_and_say_why():
    loop = Loop()
    calls: list = []
    view = view_of(loop, calls=calls)
    loop.baseline()
    loop.propose(1, [1, 2])
    loop.evaluate(1, ms=7.0)
    loop.evaluate(2, S.WRONG_RESULT, None)
    view.render()
    view.table.value = "s.2"
    for button in (view.apply_button, view.tutorial_button, view.accept_button):
        assert button.disabled and button.button_style == ""
        assert button.tooltip.startswith("#2 is wrong_result: only a correct kernel can be")
    view.apply_button.click()  # a click that raced the selection changes nothing
    assert calls == [] and "#2 is wrong_result" in view.status.value
    view.table.value = "s.1"
    assert not view.apply_button.disabled and view.apply_button.button_style == "info"
    assert not view.tutorial_button.disabled and view.apply_button.tooltip == ""
    view.apply_button.click()
    assert calls == [("apply", "s.1", "replace")]
    assert ".km-buttons button:disabled" in VIEW_CSS and "not-allowed" in VIEW_CSS
    assert any("km-buttons" in child._dom_classes for child in view.widget.children)


class _Shell:
    def __init__(self) -> None:
        self.user_ns: dict = {}


class _Said:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.copied = ""

    def say(self, text: str) -> None:
        self.lines.append(text)

    def show_copy(self, source: str) -> None:
        self.copied = source


def test_apply_and_tutorial_say_a_simulator_ranking_and_refuse_a_broken_kernel():
    from kernelmagic.notebook._controller import _Notebook

    loop = Loop()
    loop.baseline()
    loop.propose(1, [1, 2])
    loop.evaluate(1, ms=7.0)
    loop.evaluate(2, S.COMPILE_ERROR, None)
    notebook = _Notebook(loop.session, _Shell(), None)  # no lab extension: the copy box
    view = _Said()
    notebook.apply("s.1", "replace", view)
    assert RANKED_ON_SIMULATOR in view.lines[-1] and view.copied == loop.records[1].source
    notebook.tutorial("s.1", view)
    assert RANKED_ON_SIMULATOR in view.lines[-1]
    with pytest.raises(km.OptionError, match="#2 is compile_error: only a correct kernel"):
        notebook.apply("s.2", "replace", view)
    with pytest.raises(km.OptionError, match="#2 is compile_error"):
        notebook.tutorial("s.2", view)
    gpu = Loop()
    gpu.send("started", candidate=gpu.record(0, 0))
    on_gpu = verdict(S.CORRECT, 1.0, simulated=False)
    gpu.send("evaluated", candidate=dataclasses.replace(gpu.records[0], verdict=on_gpu))
    notebook = _Notebook(gpu.session, _Shell(), None)
    notebook.apply("s.0", "insert", view)
    assert RANKED_ON_SIMULATOR not in view.lines[-1]


def test_one_scale_rule_for_the_live_and_the_static_chart():
    ns = "{http://www.w3.org/2000/svg}"
    for span, log in ((8.0, False), (12.0, True)):
        loop = Loop()
        view = view_of(loop)
        loop.baseline(ms=10.0)
        loop.propose(1, [1])
        loop.evaluate(1, ms=10.0 / span)
        view.render()
        assert series(loop.session).log_y is log
        assert figure(view)["layout"]["yaxis"]["type"] == ("log" if log else "linear")
        svg = ET.fromstring(latency_svg(loop.session))
        y_ticks = [t.text for t in svg.iter(f"{ns}text") if t.get("text-anchor") == "end"]
        assert ("0" in y_ticks) is not log  # a linear axis starts at 0, a log one cannot


# -- a real session ------------------------------------------------------------------------

# A saxpy doing its arithmetic 120 times, the count a tunable: the search proposer's variants
# with 1 or 2 are several times faster, so the round's fastest is always compared.
TUNABLE = """\
from numba import cuda

REPEAT = 120  # kernelmagic: tune 1, 2, 120


@cuda.jit
def kernel(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        acc = 0.0
        for _ in range(REPEAT):
            acc = a * x[i] + y[i]
        out[i] = acc


def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    kernel[(x.size + 127) // 128, 128](a, x, y, out)
    return out
"""


def whole_blocks(seed: int) -> dict:
    """SAXPY inputs of 512 or 1,024 elements: whole blocks for every block size the search
    tries. With saxpy_inputs' 150-600 a block of 512 simulated 2-3x the threads of one of
    128, and at the small sizes drawn the kernel it should prefer lost the comparison."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = 512 * int(rng.integers(1, 3))
    x, y = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    return {"a": np.float32(rng.uniform(0.5, 2.0)), "x": x, "y": y}


def test_a_real_search_session_shows_its_phases_parameters_and_end(pool, tmp_path):
    from problems import saxpy_reference

    seen: list[tuple[str, str]] = []
    session = km.optimize(
        km.Candidate.from_source(TUNABLE),
        km.Problem(saxpy_reference, whole_blocks),
        proposer="search",
        backend="numba-sim",
        session_db=tmp_path / "s.sqlite",
        pool=pool,
        options=OptimizeOptions(rounds=1, candidates=2, patience=None),
        wait=False,
    )
    view = SessionView(session, interactive=False, actions=noop_actions())

    def follow(event: Event) -> None:  # in the loop's thread, as the notebook's listener
        if event.kind == "finished":
            view.finish()
        else:
            view.render()
        seen.append((event.kind, view.activity.value))

    session.subscribe(follow)
    session.wait(300)
    said = dict(seen)
    assert any("screening round 1: 2 of 2 candidates evaluated" in s for _, s in seen)
    assert "with the best #0 (interleaved runs)… 0 s" in said["comparing"]
    assert said["finished"].count(f"finished: {session.stop_reason}") == 1
    assert session.best.record.seq > 0, session.decisions  # each kernel it tries is faster
    assert "1 of 1 rounds done" in view.progress.value
    # The tuned parameters are columns of the table, their values under them.
    searched = [c for c in session.candidates if c.params]
    names = list(searched[0].params)
    assert len(searched) == 2 and "REPEAT" in names
    assert all(name in view.table_head.value for name in names)
    labels = {cid: label.replace("\u00a0", " ") for label, cid in view.table.options}
    for c in searched:
        assert all(f" {value}" in labels[c.id] for value in c.params.values())
    assert not any("pending" in label for label in labels.values())
    # Latency against each, with the timings' spread as error bars.
    assert view.params_chart.layout.display is None
    params = view.params_chart.outputs[0]["data"][PLOTLY_MIME]
    assert [t["name"] for t in params["data"]] == names
    repeat = params["data"][names.index("REPEAT")]
    assert sorted(repeat["x"]) == sorted(c.params["REPEAT"] for c in searched)
    assert len(repeat["error_y"]["array"]) == 2 and all(repeat["error_y"]["array"])
    assert "(simulated)" in json.dumps(params["layout"]["title"])
    best = session.best.id
    assert repeat["marker"]["symbol"][[c.id for c in searched].index(best)] == "star"

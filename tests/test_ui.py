"""The widget and the static record: chart, SVG, diff, record and the live view.

Most sessions here are filled in by hand (no evaluation); one runs on the CPU simulator.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import threading
import time
import xml.etree.ElementTree as ET

import plotly.graph_objects as go
import pytest

import kernelmagic as km
from kernelmagic.harness.comparison import DECISION_RULE, Estimate
from kernelmagic.loop.events import Challenge, Event, EventFeed
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.loop.records import CandidateRecord, Decision, RoundRecord
from kernelmagic.loop.session import Session
from kernelmagic.notebook._actions import ViewActions
from kernelmagic.notebook._chart import latency_figure
from kernelmagic.notebook._record import CELL, MAX_ROWS, NUM, record_html, record_text
from kernelmagic.notebook._view import SessionView
from kernelmagic.notebook._view_text import row_label, row_label_head
from kernelmagic.render.diff import diff_html
from kernelmagic.render.notes import SHOWN_NOTES
from kernelmagic.render.rows import SCREENING_NOTE, SIMULATED, STATUS_COLORS
from kernelmagic.render.series import Y_TITLE, ms_labels, y_axis
from kernelmagic.render.svg_chart import latency_svg

S = km.Status
HOSTILE = "<script>alert('x')</script>"
ORIGINAL = "def k(x):\n    return x + 1\n"


def source(i: int) -> str:
    return f"def k(x):\n    # variant {i}\n    return x + {i % 3}\n"


def verdict(status: km.Status, ms: float | None, *, simulated: bool = True, message: str = ""):
    timing = (
        km.Timing(median_ms=ms, min_ms=ms, spread=0.01, samples=9, simulated=simulated)
        if ms is not None
        else None
    )
    return km.Verdict(
        status,
        message or f"{status.value} on 5 cases",
        backend="numba-sim",
        device="CPU simulator (numba-cuda)",
        source_sha256="0" * 64,
        timing=timing,
    )


def fill(
    n: int,
    *,
    span: float = 2.0,
    simulated: bool = True,
    per_round: int = 4,
    hostile: bool = False,
    pending: int = 0,
    feed: EventFeed | None = None,
) -> Session:
    """A session of a baseline and `n` candidates: every 5th fails to compile, every 7th is
    wrong, the rest get faster up to `span` times the baseline; each round's fastest that
    beats the best is accepted. Built from the events a loop would send (through `feed`,
    which a test may go on publishing to)."""
    rounds = -(-n // per_round)
    feed = feed or EventFeed()
    s = Session("s1", store_path=":memory:", planned_rounds=rounds, per_round=per_round, feed=feed)
    tokens = 1234 * rounds

    def tell(kind, r: int, **fields) -> None:
        feed.publish(Event(kind, "s1", r, tokens=tokens, **fields))

    def put(seq: int, r: int, src: str, v: km.Verdict | None, why: str = "") -> CandidateRecord:
        rec = CandidateRecord(
            id=f"s1.{seq}",
            session="s1",
            seq=seq,
            round=r,
            origin="user" if seq == 0 else "llm",
            candidate=km.Candidate(src),
            rationale=why,
            verdict=v,
        )
        tell("started" if seq == 0 else "evaluated" if v else "proposed", r, candidate=rec)
        return rec

    base = put(0, 0, ORIGINAL, verdict(S.CORRECT, 10.0, simulated=simulated))
    tell("best", 0, candidate=base)
    best_ms = 10.0
    for r in range(1, rounds + 1):
        seqs = range((r - 1) * per_round + 1, min(r * per_round, n) + 1)
        fastest: CandidateRecord | None = None
        for i in seqs:
            if i % 5 == 0:
                msg = HOSTILE if hostile else "line 2: expected ')'"
                v = verdict(S.COMPILE_ERROR, None, message=f"{msg}\ncompiler log")
            elif i % 7 == 0:
                v = verdict(S.WRONG_RESULT, None, message="case 3: out[4] differs")
            else:
                v = verdict(S.CORRECT, 10.0 / (1 + (span - 1) * i / n), simulated=simulated)
            why = f"{HOSTILE} tile by {i}" if hostile else f"idea {i}"
            rec = put(i, r, (HOSTILE + "\n" if hostile else "") + source(i), v, why)
            if v.status is S.CORRECT and (fastest is None or rec.latency_ms < fastest.latency_ms):
                fastest = rec
        ids = tuple(f"s1.{i}" for i in seqs)
        tell("round_record", r, round_record=RoundRecord(r, "optimize", ids, finished=True))
        if fastest is not None and fastest.latency_ms < best_ms:
            best = s.best
            why = "faster beyond noise"
            found = Estimate(1.2, 1.15, 1.25, 24, simulated)
            tell(
                "decision",
                r,
                decision=Decision("s1", r, fastest.id, best.id, True, "loop", why, found),
            )
            best_ms = fastest.latency_ms
    for j in range(pending):
        put(n + 1 + j, rounds, source(n + 1 + j), None)
    return s


def noop_actions(calls: list | None = None) -> ViewActions:
    calls = calls if calls is not None else []
    return ViewActions(
        accept=lambda: calls.append(("accept",)),
        reject=lambda: calls.append(("reject",)),
        stop=lambda: calls.append(("stop",)),
        choose=lambda cid: calls.append(("choose", cid)),
        apply=lambda cid, mode: calls.append(("apply", cid, mode)),
        tutorial=lambda cid: calls.append(("tutorial", cid)),
    )


# -- the Plotly figure -----------------------------------------------------------------------


def test_the_figure_plots_points_by_status_the_best_step_line_and_the_baseline():
    session = fill(20, pending=2)
    fig = latency_figure(session)
    go.Figure(fig)  # plotly validates every property
    traces = {t["name"]: t for t in fig["data"]}
    correct = [t for t in fig["data"] if t.get("legendgroup") == "correct"]
    assert len(correct) == 1 and correct[0]["marker"]["color"] == STATUS_COLORS[S.CORRECT]
    assert correct[0]["name"].startswith("correct (")
    # Failures are untimed: crosses in the "not timed" strip, counted in the legend.
    compile_errors = traces["compile_error (4)"]
    assert compile_errors["yaxis"] == "y2" and compile_errors["marker"]["symbol"] == "x"
    assert compile_errors["x"] == [5, 10, 15, 20]
    assert compile_errors["marker"]["color"] == STATUS_COLORS[S.COMPILE_ERROR]
    assert fig["layout"]["yaxis2"]["ticktext"] == ["not timed"]
    # The step line runs from the baseline through each accepted kernel to the newest.
    step = traces["best so far"]
    assert step["line"]["shape"] == "hv"
    assert step["x"][0] == 0 and step["y"][0] == 10.0 and step["x"][-1] == 20
    assert step["y"] == sorted(step["y"], reverse=True)
    assert step["y"][-1] == pytest.approx(session.best.latency_ms, rel=1e-5)
    baseline = next(t for n, t in traces.items() if n.startswith("baseline"))
    assert baseline["y"] == [10.0, 10.0]
    # Hover: id, round, origin, status, the screening figure and the timing's spread.
    hover = correct[0]["text"][-1]
    assert "#19" in hover and "round 5" in hover and "llm" in hover
    assert "correct" in hover and "screen 1." in hover and "IQR" in hover
    # Error bars: half the interquartile range each way (spread 0.01 of the median).
    bars = correct[0]["error_y"]
    assert bars["visible"] and len(bars["array"]) == len(correct[0]["y"])
    assert bars["array"][0] == pytest.approx(correct[0]["y"][0] * 0.01 / 2, rel=1e-4)
    # Each round begins at a dotted line labelled "rN"; the axis says its unit.
    assert [a["text"] for a in fig["layout"]["annotations"]] == [f"r{r}" for r in range(1, 6)]
    assert [s["x0"] for s in fig["layout"]["shapes"]] == [0.5, 4.5, 8.5, 12.5, 16.5]
    assert fig["layout"]["yaxis"]["title"]["text"] == "latency (ms)"
    assert "expected" in compile_errors["text"][0]
    # Simulated timings say so, briefly: the progress line spells it out once.
    assert fig["layout"]["title"]["text"].endswith("(simulated)")
    assert SIMULATED not in json.dumps(fig)
    # A 2x span keeps a linear axis; pending ones are not drawn.
    assert fig["layout"]["yaxis"]["type"] == "linear"
    assert max(x for t in fig["data"] for x in t["x"]) == 20.5  # the baseline spans the range
    assert max(x for t in fig["data"] if t["mode"] == "markers" for x in t["x"]) == 20
    assert "template" not in fig["layout"]
    # The end points are not clipped: half a step of room each side, whole-number ticks.
    xaxis = fig["layout"]["xaxis"]
    assert xaxis["range"] == [-0.5, 20.5] and xaxis["tickformat"] == "d"
    assert xaxis["dtick"] >= 1 and isinstance(xaxis["dtick"], int)
    # The baseline is drawn after (over) the best-so-far line, which is the wider of the two.
    names = [t["name"] for t in fig["data"]]
    assert names.index("best so far") < names.index(baseline["name"])
    assert step["line"]["width"] > baseline["line"]["width"]


def test_a_wide_span_gets_a_log_axis_and_gpu_timings_no_simulated_label():
    fig = latency_figure(fill(12, span=50.0, simulated=False))
    yaxis = fig["layout"]["yaxis"]
    assert yaxis["type"] == "log"
    assert "simulated" not in json.dumps(fig)
    # Major ticks only, at 1-2-5 steps, with units: no minor "2", "3", ... labels.
    assert yaxis["tickmode"] == "array"
    # Plain numbers of ms under a title with the unit.
    assert yaxis["ticktext"] == ["0.2", "0.5", "1", "2", "5", "10"]
    assert yaxis["tickvals"] == [0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    assert yaxis["title"]["text"] == "latency (ms)"
    latencies = [y for t in fig["data"] if t["mode"] == "markers" for y in t["y"] if y]
    lo, hi = 10 ** yaxis["range"][0], 10 ** yaxis["range"][1]
    assert lo < min(latencies) and hi > max(latencies)  # no point sits on the edge


def test_tick_labels_are_plain_numbers_of_ms_under_the_axis_title():
    assert Y_TITLE == "latency (ms)"
    wide = y_axis([3.0, 400.0, 9000.0], log=True)  # over three decades: powers of ten only
    assert ms_labels(wide) == ["10", "100", "1,000", "10,000"]
    linear = y_axis([0.5, 7.5], log=False)
    assert ms_labels(linear) == ["0", "2", "4", "6", "8"] and linear.hi_ms > 7.5
    small = y_axis([0.012, 0.05], log=False)
    assert all(label.startswith("0.") or label == "0" for label in ms_labels(small))


def test_an_empty_session_has_an_empty_chart():
    s = Session("s0", store_path=":memory:", planned_rounds=3, per_round=2)
    fig = latency_figure(s)
    assert fig["data"] == []
    go.Figure(fig)
    assert "<svg" in latency_svg(s) and "no timed candidate" in latency_svg(s)


def test_the_figure_stays_small_and_fast_for_500_candidates():
    session = fill(500, span=30.0)
    started = time.perf_counter()
    fig = latency_figure(session)
    elapsed = time.perf_counter() - started
    size = len(json.dumps(fig))
    assert size < 150_000, size
    assert elapsed < 0.5, elapsed


# -- the SVG ---------------------------------------------------------------------------------


def test_the_svg_is_well_formed_small_and_escapes_untrusted_text():
    session = fill(50, hostile=True)
    svg = latency_svg(session)
    assert len(svg) < 40_000, len(svg)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    timed = [c for c in session.candidates if c.latency_ms is not None]
    points = [c for c in root.iter(f"{ns}circle") if c.find(f"{ns}title") is not None]
    assert len(points) == len(timed)
    assert any("#1 · round 1 · llm" in (t.text or "") for t in root.iter(f"{ns}title"))
    assert "Latency per candidate (simulated)" in svg and SIMULATED not in svg
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert len(list(root.iter(f"{ns}path"))) >= 10 + 1  # 10 untimed crosses + the step line
    log = latency_svg(fill(12, span=50.0))
    ET.fromstring(log)
    labels = [t.text or "" for t in ET.fromstring(log).iter(f"{ns}text")]
    assert "10" in labels and "0.5" in labels and "latency (ms)" in labels
    assert not any("e+" in t or "e-" in t for t in labels)


def test_the_svg_pads_the_ends_and_draws_the_baseline_over_the_best_line():
    svg = latency_svg(fill(0))  # the best is the baseline: the two lines coincide
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    children = list(root)
    step = next(i for i, c in enumerate(children) if c.tag == f"{ns}path")
    base = next(i for i, c in enumerate(children) if c.get("stroke-dasharray") == "5 4")
    assert step < base
    assert float(children[step].get("stroke-width")) > float(children[base].get("stroke-width"))
    svg = latency_svg(fill(12))
    root = ET.fromstring(svg)
    xs = [float(c.get("cx")) for c in root.iter(f"{ns}circle") if c.find(f"{ns}title") is not None]
    assert min(xs) - 3.5 > 64 + 5 and max(xs) + 3.5 < 486 - 5  # whole, inside the plot area


def test_the_svg_drops_control_characters_xml_forbids():
    feed = EventFeed()
    session = fill(5, feed=feed)
    rec = session.candidates[5]
    bad = verdict(S.COMPILE_ERROR, None, message="bad\x1b[31m\x00")
    feed.publish(
        Event("evaluated", "s1", rec.round, candidate=dataclasses.replace(rec, verdict=bad))
    )
    ET.fromstring(latency_svg(session))


# -- the diff --------------------------------------------------------------------------------


def test_the_diff_is_highlighted_escaped_and_bounded():
    old = "int main() {\n  return 0;\n}\n"
    new = f"int main() {{\n  // {HOSTILE}\n  return 1;\n}}\n"
    out = diff_html(old, new, old_label="your <kernel>", new_label="best")
    assert "<script" not in out and "&lt;script&gt;" in out
    assert "your &lt;kernel&gt;" in out
    assert "background-color: #E6FFEC" in out and "background-color: #FFEBE9" in out
    assert "+2 −1 lines" in out
    huge = diff_html("", "x = 1\n" * 50_000, old_label="a", new_label="b")
    assert len(huge) < 40_000 and "more diff lines not shown" in huge
    wide = diff_html("", "y" * 100_000, old_label="a", new_label="b")
    assert len(wide) < 5_000
    same = diff_html(old, old, old_label="a", new_label="b")
    assert "no changes" in same


# -- the record ------------------------------------------------------------------------------


def test_the_record_has_heading_chart_table_and_final_diff_all_escaped():
    feed = EventFeed()
    session = fill(50, hostile=True, feed=feed)
    ended = Event(
        "finished", "s1", 0, "all 13 rounds done", tokens=session.tokens, state="finished"
    )
    feed.publish(ended)
    out = record_html(session)
    assert len(out) < 100_000, len(out)
    assert "<script" not in out and "&lt;script&gt;" in out
    assert "kernelmagic session s1: finished (all 13 rounds done)" in out
    assert "device: CPU simulator (numba-cuda)" in out
    assert "51 candidates" in out and "13 of 13 rounds" in out and "16,042 tokens" in out
    assert out.count("<svg") == 1
    decisions = 1 + len(session.decisions)  # the Decisions table's rows and its head
    assert out.count("<tr") == 1 + 51 + decisions
    best = session.best
    assert f"Best kernel #{best.record.seq}" in out and "your kernel (#0)" in out
    assert f"tile by {best.record.seq}" in out  # the best's rationale, escaped
    assert "background-color" in out  # the diff's highlighting
    text = record_text(session)
    assert "<svg" not in text and "tile by" in text and "+++ best" in text
    assert len([ln for ln in text.splitlines() if " llm " in ln]) == 50


def test_the_record_of_a_long_session_keeps_the_baseline_and_accepted_kernels():
    session = fill(400)
    out = record_html(session)
    assert out.count("<tr") == 1 + MAX_ROWS + 1 + len(session.decisions)
    assert f"{401 - MAX_ROWS} more candidates not listed" in out
    accepted = [d.candidate.rsplit(".", 1)[1] for d in session.decisions]
    best = session.best.record.seq
    for seq in ["0", *accepted]:
        assert f'<td style="{CELL}{NUM}">{"★ " if seq == str(best) else ""}{seq}</td>' in out


def test_the_record_says_when_nothing_beat_the_original():
    session = fill(0)
    assert "still the best" in record_html(session)
    assert "still the best" in record_text(session)


# What the loop's comparisons found, and the reasons it stores with them.
KEPT_ESTIMATE = Estimate(1.188, 0.95, 1.40, 16, simulated=True)
BEATEN_ESTIMATE = Estimate(1.412, 1.20, 1.60, 16, simulated=True)
KEPT = f"kept the incumbent: {KEPT_ESTIMATE.describe()}"
BEATEN = BEATEN_ESTIMATE.describe()
CORRECT_MESSAGE = (
    "matches the reference on 3 cases (6 runs on poisoned outputs) and 3 timing sets; "
    "3 timed runs re-checked against the reference"
)


def decided() -> Session:
    """Round 1's #1 looks 2.75x faster by its median but loses the comparison; round 2's #2
    wins one; #3 fails to compile."""
    feed = EventFeed()
    s = Session("s2", store_path=":memory:", planned_rounds=2, per_round=2, feed=feed)
    made = [
        (0, 0, "user", verdict(S.CORRECT, 10.0, message=CORRECT_MESSAGE)),
        (1, 1, "llm", verdict(S.CORRECT, 10.0 / 2.75, message=CORRECT_MESSAGE)),
        (2, 2, "llm", verdict(S.CORRECT, 7.0, message=CORRECT_MESSAGE)),
        (3, 2, "llm", verdict(S.COMPILE_ERROR, None, message="line 2: expected ')'\nlog 2")),
    ]
    for seq, r, origin, v in made:
        rec = CandidateRecord(
            f"s2.{seq}", "s2", seq, r, origin, km.Candidate(source(seq)), verdict=v
        )
        feed.publish(Event("started" if seq == 0 else "evaluated", "s2", r, candidate=rec))
        if seq == 0:
            feed.publish(Event("best", "s2", 0, candidate=rec))
    for decision in (
        Decision("s2", 1, "s2.1", "s2.0", False, "loop", KEPT, KEPT_ESTIMATE),
        Decision("s2", 2, "s2.2", "s2.0", True, "loop", BEATEN, BEATEN_ESTIMATE),
    ):
        feed.publish(Event("decision", "s2", decision.round, decision=decision))
    return s


def test_each_decision_is_explained_in_the_widget_the_detail_and_the_record():
    session = decided()
    # The wording of the comparison is `Estimate.describe()`'s, said the same everywhere.
    assert "1.19x (95% CI 0.95-1.40), 16 pairs" in KEPT_ESTIMATE.describe()
    assert BEATEN.startswith("1.41x faster") and "(95% CI 1.20-1.60), 16 pairs" in BEATEN
    kept = (
        "round 1: kept #0 — #1 screened 2.75x faster on one median, but the interleaved "
        f"comparison found {KEPT_ESTIMATE.describe()}"
    )
    won = f"round 2: #2 became the best: {BEATEN}"
    view = SessionView(session, interactive=False, actions=noop_actions())
    # In their own scrolling box, newest first, under the decision rule said once.
    box = view.decisions.value
    assert kept in box and won in box and box.index(won) < box.index(kept)
    assert kept not in view.progress.value
    assert view.decisions.layout.height and view.decisions.layout.overflow == "auto"
    rule = html_text(DECISION_RULE)
    texts = [c.value for c in view.widget.children if isinstance(getattr(c, "value", 0), str)]
    shown_rules = [text for text in texts if rule in text]
    assert len(shown_rules) == 1 and "decision rule" not in box
    assert html_text(SCREENING_NOTE) in view.table_note.value
    view.table.value = "s2.1"  # the challenger that lost: its detail says why
    assert kept in view.detail.value and "(by the loop)" in view.detail.value
    view.table.value = "s2.3"
    assert "kept" not in view.detail.value
    # "CPU simulator, not GPU time" once, in the progress line; "simulated" elsewhere.
    shown = (
        view.progress.value + box + view.detail.value + json.dumps(view.chart.outputs[0]["data"])
    )
    assert shown.count(SIMULATED) == 1 and SIMULATED in view.progress.value
    assert "not GPU speed" not in shown
    out = record_html(session)
    assert "Decisions" in out and out.index("Decisions") < out.index(">origin<")
    assert html_text(kept.split(" — ")[1]) in out and BEATEN in out
    assert ">kept #0<" in out and ">became the best<" in out and ">loop<" in out
    assert out.count(SIMULATED) == 1 and "not GPU speed" not in out
    assert html_text(SCREENING_NOTE) in out
    text = record_text(session)
    assert f"  {kept} (by the loop)" in text and f"  {won} (by the loop)" in text
    assert SCREENING_NOTE in text


def html_text(text: str) -> str:
    return text.replace("'", "&#x27;")


def test_other_decisions_read_plainly():
    from kernelmagic.render.rows import decision_line, rows

    session = decided()
    by_id = {r.id: r for r in rows(session)}

    def line(**changes) -> str:
        base = Decision("s2", 2, "s2.2", "s2.0", True, "loop", BEATEN, BEATEN_ESTIMATE)
        return decision_line(dataclasses.replace(base, **changes), by_id)

    assert line(incumbent=None, reason="the first correct kernel", estimate=None) == (
        "round 2: #2 became the best: the first correct kernel"
    )
    assert line(by="user", reason="chosen by the user", estimate=None) == (
        "round 2: #2 became the best: chosen by you"
    )
    assert line(by="approver", reason="accepted: " + BEATEN).endswith(
        f"{BEATEN}, and the approver agreed"
    )
    assert line(by="approver", accepted=False, reason="rejected: " + BEATEN) == (
        f"round 2: kept #0 — the approver rejected #2 ({BEATEN})"
    )
    slower = Estimate(0.8, 0.7, 0.85, 16, simulated=False)
    reason = f"kept the incumbent: {slower.describe()}"
    assert line(accepted=False, reason=reason, estimate=slower).endswith(
        "the interleaved comparison found 0.80x, slower (95% CI 0.70-0.85), 16 pairs"
    )
    failed = "kept the incumbent: could not compare: worker crashed"
    assert line(accepted=False, reason=failed, estimate=None).endswith(
        "the comparison did not confirm it: could not compare: worker crashed"
    )


def test_the_record_table_shows_only_errors_and_marks_the_best_in_the_number_column():
    session = decided()
    out = record_html(session)
    assert CORRECT_MESSAGE[:40] not in out  # the same for every correct kernel: noise
    shown = re.sub(r' title="[^"]*"', "", out)  # the tooltip holds the whole message
    assert "line 2: expected &#x27;)&#x27;" in shown and "log 2" not in shown
    assert f'<td style="{CELL}{NUM}">★ 2</td>' in out and not re.search(r">\d+ best<", out)
    table = out[out.index(">origin<") : out.index("</table>", out.index(">origin<"))]
    assert [r.count("<td") for r in table.split("<tr")[1:]] == [7] * 4  # aligned columns
    text = record_text(session).splitlines()
    assert not any(CORRECT_MESSAGE[:20] in ln for ln in text)
    header = next(ln for ln in text if ln.lstrip().startswith("round") and "origin" in ln)
    best = next(ln for ln in text if "★" in ln)
    assert best.index("★") + 1 + 4 == header.index("#") + 1  # the number stays in its column
    assert "expected" in next(ln for ln in text if "compile_error" in ln)


# -- the live view ---------------------------------------------------------------------------


def test_automatic_mode_buttons_call_their_actions():
    session = fill(8)
    calls: list = []
    view = SessionView(session, interactive=False, actions=noop_actions(calls))
    assert view.accept_button.description == "Use this kernel"
    assert view.reject_button.layout.display == "none"
    assert len(view.table.options) == 9 and view.table.value is None
    # Nothing selected: Apply uses the best; Accept has nothing to choose.
    assert view.accept_button.disabled
    view.apply_button.click()
    assert calls[-1] == ("apply", session.best.id, "replace")
    assert view.tutorial_button.disabled  # a tutorial step needs a selected correct kernel
    # A failed candidate cannot be chosen; an earlier correct one can.
    view.table.value = "s1.5"
    assert view.accept_button.disabled
    view.table.value = "s1.1"
    assert not view.accept_button.disabled
    view.accept_button.click()
    assert calls[-1] == ("choose", "s1.1")
    view.apply_mode.value = "insert"
    view.apply_button.click()
    assert calls[-1] == ("apply", "s1.1", "insert")
    view.tutorial_button.click()
    assert calls[-1] == ("tutorial", "s1.1")
    view.show_copy("def k(x): ...")
    assert view.copy_box.value == "def k(x): ..." and view.copy_box.layout.display is None
    view.stop_button.click()
    assert calls[-1] == ("stop",) and view.stop_button.disabled


def test_an_action_error_shows_in_the_status_line():
    def refuse(cid: str) -> None:
        raise km.OptionError(f"candidate {cid} is <wrong>")

    actions = dataclasses.replace(noop_actions(), choose=refuse)
    view = SessionView(fill(4), interactive=False, actions=actions)
    view.table.value = "s1.1"
    view.accept_button.click()
    assert "candidate s1.1 is &lt;wrong&gt;" in view.status.value


def test_selecting_a_row_shows_its_diff_against_the_best():
    session = fill(8, hostile=True)
    view = SessionView(session, interactive=False, actions=noop_actions())
    best = session.best
    assert f"<b>#{best.record.seq}</b>" in view.detail.value  # nothing selected: the best
    assert "your kernel (#0)" in view.detail.value
    view.table.value = "s1.2"
    assert "<b>#2</b>" in view.detail.value and "variant 2" in view.detail.value
    assert f"the current best (#{best.record.seq})" in view.detail.value
    assert "<script" not in view.detail.value and "tile by 2" in view.detail.value
    view.table.value = "s1.5"
    assert "compile_error" in view.detail.value and "&lt;script&gt;" in view.detail.value
    labels = [label for label, _ in view.table.options]
    assert labels[1].startswith("\u00a0#1\u00a0") and labels[best.record.seq].startswith("★")


def test_the_table_fits_the_output_area_and_its_head_names_the_columns():
    session = fill(8)
    view = SessionView(session, interactive=False, actions=noop_actions())
    # 100% plus the widget's 2 px margins ran past the output area's right edge.
    assert (
        view.table.layout.width != "100%"
        and "box-sizing: border-box" in view.widget.children[0].value
    )
    head = row_label_head()
    label = row_label(view._rows["s1.1"], best=True).replace("\u00a0", " ")
    screen_end = head.index("screen") + len("screen")
    assert label[screen_end - 1] == "x" and len(label) == screen_end  # the figures line up
    assert head.index("latency") + len("latency") == label.index(" ms") + len(" ms")
    assert "screen" in view.table_head.value


def test_interactive_challenges_arm_and_disarm_accept_and_reject():
    session = fill(8)
    calls: list = []
    view = SessionView(session, interactive=True, actions=noop_actions(calls))
    assert view.accept_button.description == "Accept"
    assert view.accept_button.disabled and view.reject_button.disabled
    challenger, incumbent = session.candidates[3], session.best.record
    found = Estimate(1.31, 1.2, 1.4, 24, simulated=True)
    challenge = Challenge("s1", 2, challenger, incumbent, found, "faster beyond noise (<check>)")
    view.show_challenge(challenge)
    assert view.table.value == challenger.id
    assert not view.accept_button.disabled and not view.reject_button.disabled
    assert f"({found.describe()}, over the incumbent)" in view.detail.value
    assert "1.31x faster" in view.detail.value
    assert "over the incumbent" in view.detail.value and "&lt;check&gt;" in view.detail.value
    assert "accept #3" in view.status.value and f"({found.describe()})" in view.status.value
    view.accept_button.click()
    assert calls == [("accept",)] and view.accept_button.disabled and view.reject_button.disabled
    view.show_challenge(challenge)
    view.reject_button.click()
    assert calls[-1] == ("reject",) and view.reject_button.disabled
    view.show_challenge(challenge)
    view.finish()
    assert view.accept_button.disabled and view.reject_button.disabled
    assert view.stop_button.disabled and not view.apply_button.disabled


def test_the_loops_notes_show_in_the_widget_newest_first_escaped_and_bounded():
    feed = EventFeed()
    session = fill(4, feed=feed)
    view = SessionView(session, interactive=False, actions=noop_actions())
    assert view.notes.value == "" and session.notes == []  # no room taken by nothing
    warning = "warning: every case has the same input shapes"
    feed.publish(Event("note", "s1", 0, warning))
    feed.publish(Event("note", "s1", 1, f"the reply had no kernel: {HOSTILE}"))
    view.finish()  # renders now, not after the throttle
    shown = view.notes.value
    assert session.notes == [(0, warning), (1, f"the reply had no kernel: {HOSTILE}")]
    assert HOSTILE not in shown and html.escape(HOSTILE) in shown
    assert shown.index("round 1: the reply had no kernel") < shown.index(warning)
    assert '<div style="color: #9a6700">' + warning in shown  # a warning stands out
    assert "round 0" not in shown
    for i in range(SHOWN_NOTES + 5):
        feed.publish(Event("note", "s1", 2, f"budget note {i}"))
    view.render()
    shown = view.notes.value
    assert f"budget note {SHOWN_NOTES + 4}" in shown and "budget note 4<" not in shown
    assert "… 7 earlier notes" in shown  # the two above and the first five of these
    # The text progress prints each note as it comes; the widget now keeps them in view.
    assert view.notes in view.widget.children


def test_many_events_coalesce_into_few_renders_and_the_last_state_shows():
    feed = EventFeed()
    session = fill(4, feed=feed)
    view = SessionView(session, interactive=False, actions=noop_actions(), interval_s=0.2)
    first = view.renders
    template = session.candidates[1]

    def loop() -> None:  # a loop thread writing and emitting as fast as it can
        for seq in range(5, 505):
            rec = dataclasses.replace(template, id=f"s1.{seq}", seq=seq, round=2)
            feed.publish(Event("evaluated", "s1", 2, "correct", candidate=rec))

    started = time.perf_counter()
    thread = threading.Thread(target=loop)
    thread.start()
    thread.join()
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0  # the loop's thread is not held up
    time.sleep(0.6)  # the trailing flush
    # At most one render per interval while the loop ran, then the trailing one.
    assert 1 <= view.renders - first <= elapsed / 0.2 + 2, (view.renders - first, elapsed)
    assert len(view.table.options) == 505
    assert "505 of 505 candidates evaluated" in view.progress.value
    figure = view.chart.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert max(x for t in figure["data"] if t["mode"] == "markers" for x in t["x"]) == 504
    renders = view.renders
    time.sleep(0.3)
    assert view.renders == renders  # nothing pending: no more renders


def test_the_view_follows_a_real_session_and_its_challenge(pool, tmp_path):
    from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
    from test_loop import BROKEN, Scripted

    made, answered = threading.Event(), threading.Event()
    views: list[SessionView] = []

    def approve(challenge: Challenge) -> bool:
        assert made.wait(30)  # the loop may pose its challenge before the view exists
        views[0].show_challenge(challenge)
        assert answered.wait(30)  # only Accept sets it
        return True

    session = km.optimize(
        BROKEN,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer=Scripted([NUMBA_SAXPY]),
        backend="numba-sim",
        session_db=tmp_path / "s.sqlite",
        pool=pool,
        options=OptimizeOptions(rounds=1, patience=None),
        approve=approve,
        wait=False,
    )
    actions = dataclasses.replace(noop_actions(), accept=answered.set)
    view = SessionView(session, interactive=True, actions=actions)
    views.append(view)
    made.set()
    deadline = time.monotonic() + 60
    while view.accept_button.disabled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "the first correct kernel" in view.detail.value
    view.accept_button.click()  # from this (the kernel's) thread, as a user would
    session.wait(60)
    view.finish()
    assert session.best.record.seq == 1 and session.decisions[-1].by == "approver"
    assert "finished" in view.header.value and view.stop_button.disabled
    assert "2 of 2 candidates evaluated" in view.progress.value
    assert "round 1: #1 became the best: the first correct kernel" in view.decisions.value
    assert f"finished: {session.stop_reason}" in view.activity.value
    assert "1 of 1 rounds done" in view.progress.value
    figure = view.chart.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert "(simulated)" in figure["layout"]["title"]["text"]
    assert any(t.get("yaxis") == "y2" for t in figure["data"])  # the broken baseline
    out = record_html(session)
    assert "Best kernel #1" in out and SIMULATED in out
    ET.fromstring(latency_svg(session))

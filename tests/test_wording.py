"""What a user reads says it right: counts agree with their nouns, nothing is said twice,
a search session mentions no tokens, an error is cut at a word (whole in the tooltip), a
stored verdict is not called re-measured, and a session is titled by what it tunes."""

from __future__ import annotations

import dataclasses
import re
import time
import types
from pathlib import Path

import pytest

import kernelmagic as km
from kernelmagic._words import clip_words, count
from kernelmagic.candidate.naming import tuned_function
from kernelmagic.export import Exported
from kernelmagic.export._replay_report import ReplayReport, ReplayRow
from kernelmagic.loop._budgets import budget_spent
from kernelmagic.loop.events import Event, EventFeed
from kernelmagic.loop.records import CandidateRecord, Decision, RoundRecord
from kernelmagic.loop.session import Session
from kernelmagic.notebook._record import ERROR_CHARS, record_html, record_text
from kernelmagic.problem import tuning_title

S = km.Status
# A first line longer than the error column, then the rest of the diagnosis.
LONG = (
    "case 1 of 3, run 1: IndexError: tid=[87, 0, 0] ctaid=[0, 0, 0]: only integers, "
    "slices and integer or boolean arrays are valid indices\n  line 7, in saxpy: out[i] = x"
)


def verdict(status: km.Status, ms: float | None = None, message: str = "") -> km.Verdict:
    timing = km.Timing(median_ms=ms, min_ms=ms, spread=0.01, samples=9) if ms else None
    return km.Verdict(
        status,
        message or f"{status.value} on 3 cases",
        backend="numba-sim",
        device="CPU simulator (numba-cuda)",
        source_sha256="0" * 64,
        timing=timing,
    )


def record(seq: int, v: km.Verdict | None, *, reused: str | None = None) -> CandidateRecord:
    return CandidateRecord(
        id=f"s1.{seq}",
        session="s1",
        seq=seq,
        round=min(seq, 1),
        origin="user" if seq == 0 else "search",
        candidate=km.Candidate(f"def k(x):\n    return x + {seq}\n"),
        verdict=v,
        reused_from=reused,
    )


def session(*, by: str = "loop", tokens: int = 0) -> Session:
    """One round of a search session: the user's kernel, a failure, and a faster kernel
    accepted `by` the loop or the approver."""
    feed = EventFeed()
    s = Session("s1", store_path=":memory:", planned_rounds=1, per_round=2, feed=feed)

    def tell(kind, r: int, **fields) -> None:
        feed.publish(Event(kind, "s1", r, tokens=tokens, **fields))

    base = record(0, verdict(S.CORRECT, 10.0))
    tell("started", 0, candidate=base)
    tell("best", 0, candidate=base)
    tell("evaluated", 1, candidate=record(1, verdict(S.RUNTIME_ERROR, message=LONG)))
    tell("evaluated", 1, candidate=record(2, verdict(S.CORRECT, 5.0)))
    kept = RoundRecord(1, "optimize", ("s1.1", "s1.2"), finished=True)
    tell("round_record", 1, round_record=kept)
    decision = Decision("s1", 1, "s1.2", "s1.0", True, by, "faster beyond noise")  # type: ignore[arg-type]
    tell("decision", 1, decision=decision)
    return s


def test_counts_agree_with_their_nouns():
    assert count(1, "accepted step") == "1 accepted step"
    assert count(0, "round") == "0 rounds" and count(2, "round") == "2 rounds"
    assert count(16042, "token") == "16,042 tokens"
    assert count(3, "match", "matches") == "3 matches"


def test_lines_are_cut_at_a_word():
    assert clip_words("short enough", 60) == "short enough"
    cut = clip_words(LONG.splitlines()[0], 60)
    assert len(cut) <= 60 and cut.endswith("…") and LONG.startswith(cut[:-1])
    assert LONG[len(cut) - 1] in " ,"  # the next character ends a word
    assert clip_words("x" * 100, 10) == "x" * 9 + "…"  # one long word is cut where it must be


def test_a_patience_of_one_round_is_one_round():
    budgets = types.SimpleNamespace(patience=1, time_budget_s=None, max_tokens=None)
    s = Session("s1", store_path=":memory:", planned_rounds=3, per_round=1)
    assert budget_spent(s, budgets, started=time.monotonic(), stale=1) == "no new best in 1 round"


def test_the_export_says_one_accepted_step():
    done = Exported(Path("t.ipynb"), "abc", 1, (), True)
    assert done.summary == "wrote t.ipynb: session abc, 1 accepted step"
    assert dataclasses.replace(done, steps=2).summary.endswith("2 accepted steps")


def test_the_record_counts_in_words_and_mentions_no_tokens_for_a_search():
    text = record_text(session())
    facts = text.splitlines()[1]
    assert "3 candidates (2 correct)" in facts and "1 of 1 round" in facts
    assert "token" not in facts, facts
    assert "token" not in re.sub(r"<[^>]+>", "", record_html(session()))
    assert "1,234 tokens" in record_text(session(tokens=1234)).splitlines()[1]


def test_who_decided_is_said_once():
    approved = record_text(session(by="approver"))
    (line,) = [x for x in approved.splitlines() if x.startswith("  round 1:")]
    assert line.count("approver") == 1 and "(by the" not in line, line
    (line,) = [x for x in record_text(session()).splitlines() if x.startswith("  round 1:")]
    assert line.endswith("(by the loop)"), line


def test_the_error_column_cuts_at_a_word_and_the_html_keeps_it_all():
    text = record_text(session())
    (row,) = [x for x in text.splitlines() if "runtime_error" in x]
    shown = row.split("  ")[-1]
    assert shown == clip_words(LONG.splitlines()[0], ERROR_CHARS) and shown.endswith("ctaid=[0…")
    html = record_html(session())
    (cell,) = re.findall(r"<td[^>]*title=\"([^\"]*)\"[^>]*>([^<]*)</td>", html)
    assert cell[0] == LONG  # the whole diagnosis, every line (nothing in it to escape)
    assert cell[1] == shown


def report(*, reused: bool) -> ReplayReport:
    recorded = [record(0, verdict(S.CORRECT, 10.0)), record(2, verdict(S.CORRECT, 5.0))]
    here = [dataclasses.replace(r, reused_from=r.id if reused else None) for r in recorded]
    rows = tuple(
        ReplayRow(label, rec, again)
        for label, rec, again in zip(("starting kernel", "step 1"), recorded, here, strict=True)
    )
    return ReplayReport(rows, recorded_device="an H100", here_device="an H100")


def test_a_replay_that_reused_stored_verdicts_does_not_call_them_re_measured():
    stored = report(reused=True)
    assert "re-measured" not in stored._repr_html_() and "re-measured" not in repr(stored)
    assert "here: stored verdicts, not re-run (an H100)" in stored._repr_html_()
    assert all("stored verdict, not re-run" in r.here_text for r in stored.rows)
    assert all(r.agreement == "same verdict" for r in stored.rows)  # no ratio of old times
    assert "none was re-run" in repr(stored)
    mixed = ReplayReport(
        (stored.rows[0], dataclasses.replace(stored.rows[1], here=stored.rows[1].recorded)),
        recorded_device="an H100",
        here_device="an H100",
    )
    assert mixed.here_heading == "here: re-measured, or a stored verdict where marked"
    assert "not re-run" not in mixed.rows[1].here_text
    fresh = report(reused=False)
    assert "re-measured here (an H100)" in fresh._repr_html_()
    assert "stored" not in fresh._repr_html_()


@pytest.mark.parametrize(
    ("name", "kernel", "title"),
    [
        ("saxpy_reference", None, "saxpy"),
        ("softmax_ref", "my_kernel", "softmax"),  # the name says what: the kernel is a variant
        ("ref_matmul", None, "matmul"),
        ("numpy_reference", "sumsq", "sumsq"),
        ("reference", "saxpy", "saxpy"),
        ("ref", None, "ref"),  # nothing better to say
    ],
)
def test_a_title_says_what_is_tuned(name, kernel, title):
    assert tuning_title(name, kernel) == title


def test_problems_and_kernels_name_themselves():
    from problems import saxpy_inputs, saxpy_reference

    assert km.Problem(saxpy_reference, saxpy_inputs).title == "saxpy"
    assert km.Problem(saxpy_reference, saxpy_inputs, name="my saxpy").title == "my saxpy"
    cuda = (Path(__file__).parents[1] / "examples" / "saxpy" / "saxpy.cu").read_text()
    assert tuned_function(km.Candidate.from_source(cuda)) == "saxpy"
    numba = (Path(__file__).parents[1] / "examples" / "saxpy" / "saxpy_numba.py").read_text()
    assert tuned_function(km.Candidate.from_source(numba)) == "saxpy"  # not its @cuda.jit kernel
    two = 'extern "C" __global__ void a(float* o) {}\nextern "C" __global__ void b(float* o) {}\n'
    assert tuned_function(km.Candidate.from_source(two)) is None
    assert tuned_function(km.Candidate.from_source(two, kernel="b")) == "b"

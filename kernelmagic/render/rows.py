"""One line per candidate, as every view shows it: the chart, the table and the record.

Computed once from a session's records so that the widget, the Plotly figure, the SVG and
the static record agree on numbers, colors and wording.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from kernelmagic.harness.profile import reading
from kernelmagic.harness.verdict import Status, Verdict, speedup
from kernelmagic.loop.records import CandidateRecord, Decision
from kernelmagic.loop.session import Best, Session

SIMULATED = "simulated (CPU simulator, not GPU time)"  # said once per view, prominently
SIM_TAG = "simulated"  # everywhere else
# Why a 7x candidate can lose: its number is one median, the best is picked by a comparison.
SCREENING_NOTE = (
    "screen: your kernel's single-run median over each candidate's, a screening figure; "
    "speedups come only from the interleaved comparisons (decisions)"
)
# Noise in a decision's reason once the view says "simulated".
_REASON_NOISE = (" in CPU simulator time",)
_REASON_PREFIXES = ("kept the incumbent: ", "accepted: ", "rejected: ")

# A fixed color per status, so a status looks the same in every chart and table.
STATUS_COLORS: dict[Status, str] = {
    Status.CORRECT: "#2ca02c",
    Status.COMPILE_ERROR: "#d62728",
    Status.RUNTIME_ERROR: "#ff7f0e",
    Status.WRONG_RESULT: "#9467bd",
    Status.TIMEOUT: "#8c564b",
    Status.CRASHED: "#e377c2",
    Status.REJECTED: "#7f7f7f",
    Status.UNVERIFIED: "#17becf",
}
PENDING_COLOR = "#bbbbbb"


@dataclasses.dataclass(frozen=True)
class Row:
    """A candidate reduced to what is displayed; `status` is None while it awaits its verdict."""

    id: str
    seq: int
    round: int
    origin: str
    status: Status | None
    latency_ms: float | None
    screening: float | None  # the baseline's median over this one's: not a speedup claim
    spread_ms: float | None  # the timing's spread (interquartile range), when measured
    params: Mapping[str, object] | None  # the tuned parameters, for proposals that have them
    simulated: bool
    message: str  # the first line of the verdict's message
    reused: bool  # the verdict of an identical earlier candidate was reused
    counters: str = ""  # what its hardware counters say bounds it (a best, on a GPU)

    @property
    def status_text(self) -> str:
        return self.status.value if self.status else "pending"

    @property
    def color(self) -> str:
        return STATUS_COLORS[self.status] if self.status else PENDING_COLOR


def baseline_ms(session: Session) -> float | None:
    """The user's kernel's latency, if it is correct and timed (what speedups divide)."""
    base = session.baseline
    return base.latency_ms if base and base.status is Status.CORRECT else None


def make_row(record: CandidateRecord, base_ms: float | None) -> Row:
    v = record.verdict
    ms = record.latency_ms
    return Row(
        id=record.id,
        seq=record.seq,
        round=record.round,
        origin=record.origin,
        status=v.status if v else None,
        latency_ms=ms,
        screening=speedup(base_ms, ms),
        spread_ms=_spread(v),
        params=record.params,
        simulated=record.simulated,
        message=_message(v) if v else "",
        reused=record.reused_from is not None,
        counters=counters_line(v),
    )


def counters_line(v: Verdict | None) -> str:
    """The verdict's hardware counters in one line, as every view says it ("" if unread)."""
    return f"hardware counters (Nsight Compute): {reading(v.profile)}" if v and v.profile else ""


def _message(v: Verdict) -> str:
    """A verdict's first line; for compile-only, what the compiler told (the same note
    that nothing ran would otherwise fill every row)."""
    if v.status is Status.UNVERIFIED and v.compile and v.compile.resources:
        return "compiled only: " + "; ".join(r.summary() for r in v.compile.resources)
    return first_line(v.message)


def rows(session: Session) -> list[Row]:
    """Every candidate of the session in proposal order, pending ones included."""
    base = baseline_ms(session)
    return [make_row(r, base) for r in session.candidates]


def best_steps(session: Session, evaluated: list[Row]) -> list[tuple[int, float]]:
    """The best-so-far latency as (seq, ms) steps: the baseline, then each accepted kernel.

    A step sits at the accepted candidate's seq, or later when it came after later
    candidates (a user's revert to an earlier kernel); the last step runs to the newest.
    """
    by_id = {r.id: r for r in evaluated}
    steps: list[tuple[int, float]] = []
    base = by_id.get(session.baseline.id) if session.baseline else None
    if base is not None and base.status is Status.CORRECT and base.latency_ms is not None:
        steps.append((base.seq, base.latency_ms))
    for decision in session.decisions:
        row = by_id.get(decision.candidate)
        if not decision.accepted or row is None or row.latency_ms is None:
            continue
        x = max(row.seq, steps[-1][0]) if steps else row.seq
        steps.append((x, row.latency_ms))
    last = max((r.seq for r in evaluated), default=0)
    if steps and last > steps[-1][0]:
        steps.append((last, steps[-1][1]))
    return steps


def first_line(text: str, limit: int = 100) -> str:
    """The first non-empty line of `text`, cut to `limit` characters."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def fmt_ms(ms: float | None) -> str:
    return f"{ms:.4g} ms" if ms is not None else "—"


def fmt_speedup(speedup: float | None) -> str:
    return f"{speedup:.2f}x" if speedup is not None else "—"


def not_evaluated(state: str) -> str:
    """What a candidate without a verdict is once its session ended ("not evaluated
    (stopped)"): no longer pending, since nothing will judge it."""
    return f"not evaluated ({'session ended' if state == 'finished' else state})"


def status_label(row: Row, state: str) -> str:
    """`row`'s status as a session in `state` shows it: pending only while it runs."""
    return row.status_text if row.status is not None or state == "running" else "not evaluated"


def round_label(session: Session) -> str:
    """Where the session is: "round 2 of 5" while it runs (round 0 is the user's kernel);
    once it ended, the rounds it finished ("1 of 3 rounds done" after a stop in round 2)."""
    if session.state != "running":
        done = len([r for r in session.rounds if r.round > 0 and r.finished])
        return f"{done} of {session.planned_rounds} rounds done"
    rounds = session.rounds
    current = rounds[-1].round if rounds else 0
    where = f"round {current} of {session.planned_rounds}"
    return where + " (your kernel)" if current == 0 else where


def device_of(session: Session) -> str:
    """Where the candidates ran, as the harness described it; "" before any verdict."""
    verdicts = [r.verdict for r in session.candidates if r.verdict]
    timed = [v.device for v in verdicts if v.timing and v.device]
    ran = [v.device for v in verdicts if v.device and v.device != "not run"]
    return (timed or ran or [""])[0]


def decision_line(decision: Decision, by_id: Mapping[str, Row]) -> str:
    """One sentence per decision: "round 2: kept #0 — #4 screened 2.75x faster on one median,
    but the interleaved comparison found no clear difference: …"."""
    joint = ": " if decision.accepted else " — "
    outcome = decision_outcome(decision, by_id)
    return f"round {decision.round}: {outcome}{joint}{decision_why(decision, by_id)}"


def decision_outcome(decision: Decision, by_id: Mapping[str, Row]) -> str:
    """What a decision did, in a few words: "#4 became the best" or "kept #0"."""
    if decision.accepted:
        return f"{_ref(decision.candidate, by_id)} became the best"
    return f"kept {_ref(decision.incumbent, by_id)}" if decision.incumbent else "kept the best"


def decision_why(decision: Decision, by_id: Mapping[str, Row]) -> str:
    """The evidence behind a decision, phrased so that a big screening figure that lost makes
    sense: the table's numbers are single medians, the decision an interleaved comparison."""
    d = decision
    measured = d.estimate.describe() if d.estimate else ""
    if d.by == "user":
        return "chosen by you"
    if d.accepted:
        if d.incumbent is None:
            return "the first correct kernel"
        why = measured or clean_reason(d.reason)
        if "too good to be true" in d.reason and "too good" not in why:
            why += "; too good to be true? worth a human look"
        return why + (", and the approver agreed" if d.by == "approver" else "")
    challenger = _ref(d.candidate, by_id)
    if d.by == "approver":
        return f"the approver rejected {challenger}" + (f" ({measured})" if measured else "")
    found = (
        f"the interleaved comparison found {measured}"
        if measured
        else f"the comparison did not confirm it: {clean_reason(d.reason)}"
    )
    ratio = _median_ratio(by_id.get(d.incumbent or ""), by_id.get(d.candidate))
    if ratio is not None and ratio > 1:
        return f"{challenger} screened {ratio:.2f}x faster on one median, but {found}"
    return f"{challenger}: {found}"


def best_speedup(best: Best) -> str:
    """The best's speedup over the user's kernel as every view says it: the interleaved
    comparison's estimate once made, else the screening figure, labelled as such."""
    if best.estimate is not None:
        return f"{best.estimate.describe()}, against your kernel"
    if best.screening is not None and best.screening != 1.0:
        return f"screened at {best.screening:.2f}x your kernel's median (not a comparison)"
    return ""


def params_text(params: Mapping[str, object] | None) -> str:
    """Tuned parameters as "ITEMS=4, threads=256" (empty when there are none)."""
    return ", ".join(f"{k}={v}" for k, v in (params or {}).items())


def _spread(v: Verdict | None) -> float | None:
    """The timing's interquartile range in ms (its spread is relative to the median)."""
    t = v.timing if v else None
    return t.spread * t.median_ms if t and t.samples > 1 else None


def clean_reason(reason: str) -> str:
    """A decision's stored reason without its outcome prefix and the repeated simulator note."""
    for prefix in _REASON_PREFIXES:
        reason = reason.removeprefix(prefix)
    for noise in _REASON_NOISE:
        reason = reason.replace(noise, "")
    return reason


def _median_ratio(old: Row | None, new: Row | None) -> float | None:
    return speedup(old.latency_ms, new.latency_ms) if old and new else None


def _ref(candidate_id: str | None, by_id: Mapping[str, Row]) -> str:
    row = by_id.get(candidate_id or "")
    return f"#{row.seq}" if row else (candidate_id or "none")

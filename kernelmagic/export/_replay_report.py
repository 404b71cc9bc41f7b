"""Recorded and re-measured, side by side: what a tutorial's reader checks after a replay.

Kernels are matched by what they are (normalized source and launch settings), not by
position, so a re-run that skipped or added candidates still lines up. Simulator times are
not shown against GPU times: on the simulator the comparison is of correctness only. A
verdict the re-run took from this machine's session store (same kernel, problem and device)
was not measured again, and says so: only what this run judged is "re-measured here".
"""

from __future__ import annotations

import dataclasses
import html

from kernelmagic.export._story import story
from kernelmagic.harness.verdict import Status, speedup
from kernelmagic.loop.fingerprint import candidate_key
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.render.rows import fmt_ms
from kernelmagic.store import StoredSession

STORED = "stored verdict, not re-run"  # what a reused verdict is called, in cells and headings


@dataclasses.dataclass(frozen=True)
class ReplayRow:
    """One kernel of the story: as recorded, and as judged again here (None: not re-run)."""

    label: str
    recorded: CandidateRecord
    here: CandidateRecord | None

    @property
    def consistent(self) -> bool:
        """Judged here as recorded; a compile-only verdict (no GPU here) cannot contradict."""
        if self.here is None:
            return False
        if self.here.status is Status.UNVERIFIED:
            return self.recorded.status in (Status.CORRECT, Status.UNVERIFIED)
        return self.here.status is self.recorded.status

    @property
    def reused(self) -> bool:
        """The re-run took this kernel's stored verdict instead of judging it again."""
        return self.here is not None and self.here.reused_from is not None

    @property
    def simulated_here(self) -> bool:
        return self.here is not None and self.here.simulated

    @property
    def recorded_text(self) -> str:
        return _result(self.recorded, show_time=True)

    @property
    def here_text(self) -> str:
        if self.here is None:
            return "not re-run (the replay stopped before it)"
        again = f" ({STORED})" if self.reused else ""
        return _result(self.here, show_time=not self.simulated_here) + again

    @property
    def agreement(self) -> str:
        if self.here is None:
            return "—"
        if self.here.status is Status.UNVERIFIED:
            return "compiles here (no GPU to run it: not verified)"
        if not self.consistent:
            return "differs"
        if self.simulated_here:
            return "same verdict (simulator: correctness only)"
        if self.reused:  # a stored time against the recorded one measures nothing new
            return "same verdict"
        ratio = _ratio(self.recorded, self.here)
        return f"same verdict; {ratio:.2f}x the recorded time" if ratio else "same verdict"


@dataclasses.dataclass(frozen=True)
class ReplayReport:
    """The table a tutorial ends with; shows itself as HTML in a notebook, text elsewhere."""

    rows: tuple[ReplayRow, ...]
    recorded_device: str
    here_device: str

    @property
    def agrees(self) -> bool:
        """Every kernel of the story got the verdict it was recorded with."""
        return all(r.consistent for r in self.rows)

    @property
    def here_heading(self) -> str:
        """What the second column holds: "re-measured" only where this run measured it."""
        judged = [r for r in self.rows if r.here is not None]
        if judged and all(r.reused for r in judged):
            return "here: stored verdicts, not re-run"
        if any(r.reused for r in judged):
            return "here: re-measured, or a stored verdict where marked"
        return "re-measured here"

    def __repr__(self) -> str:
        head = f"recorded on {self.recorded_device}; {self.here_heading} ({self.here_device})"
        lines = [head]
        width = max(len(r.label) for r in self.rows)
        for r in self.rows:
            lines.append(
                f"  {r.label:<{width}}  recorded: {r.recorded_text}  |  here: {r.here_text}"
                f"  |  {r.agreement}"
            )
        lines.append(_summary(self))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        head = (
            "<tr><th style='text-align:left'>kernel</th>"
            f"<th style='text-align:left'>recorded ({e(self.recorded_device)})</th>"
            f"<th style='text-align:left'>{e(self.here_heading)} ({e(self.here_device)})</th>"
            "<th style='text-align:left'></th></tr>"
        )
        body = "".join(
            f"<tr><td>{e(r.label)}</td><td>{e(r.recorded_text)}</td><td>{e(r.here_text)}</td>"
            f"<td>{e(r.agreement)}</td></tr>"
            for r in self.rows
        )
        return f"<table>{head}{body}</table><p>{e(_summary(self))}</p>"


def replay_report(recorded: StoredSession, rerun: Session) -> ReplayReport:
    """Line up each kernel of `recorded`'s story with its verdict in `rerun`."""
    here = {candidate_key(c.candidate): c for c in rerun.candidates if c.verdict is not None}
    s = story(recorded)
    rows = tuple(
        ReplayRow(label, record, here.get(candidate_key(record.candidate)))
        for label, record in s.kernels
    )
    devices = [r.here.verdict.device for r in rows if r.here and r.here.verdict]
    return ReplayReport(
        rows=rows,
        recorded_device=recorded.info.device,
        here_device=next((d for d in devices if d and d != "not run"), "this machine"),
    )


def _result(r: CandidateRecord, *, show_time: bool) -> str:
    v = r.verdict
    if v is None:
        return "not evaluated"
    if show_time and v.latency_ms is not None:
        sim = " (simulated)" if r.simulated else ""
        return f"{v.status.value}, {fmt_ms(v.latency_ms)}{sim}"
    return v.status.value


def _ratio(recorded: CandidateRecord, here: CandidateRecord) -> float | None:
    """Here's time in units of the recorded time: how much faster the recording ran."""
    return None if recorded.simulated else speedup(here.latency_ms, recorded.latency_ms)


def _summary(report: ReplayReport) -> str:
    if report.agrees:
        compiled = any(r.here and r.here.status is Status.UNVERIFIED for r in report.rows)
        if compiled:
            return (
                "Every kernel of the story compiles here; without a GPU none could be run, "
                "so correctness and speed are as recorded, not re-checked."
            )
        if all(r.reused for r in report.rows):
            return (
                "Every kernel of the story has the verdict it was recorded with in this "
                "machine's session store, so none was re-run (a new session store re-runs them)."
            )
        return "Every kernel of the story got the same verdict here as when it was recorded."
    differ = [r.label for r in report.rows if r.here is not None and not r.consistent]
    missing = [r.label for r in report.rows if r.here is None]
    parts = []
    if differ:
        parts.append("different verdicts here for " + ", ".join(differ))
    if missing:
        parts.append("not re-run: " + ", ".join(missing))
    return "; ".join(parts).capitalize() + "."

"""A stored session as a story: the starting kernel, each accepted step, the final kernel."""

from __future__ import annotations

import dataclasses

from kernelmagic.harness.comparison import Estimate
from kernelmagic.harness.verdict import Status, speedup
from kernelmagic.loop.records import CandidateRecord, Confirmation, Decision
from kernelmagic.problem.source import ProblemCode
from kernelmagic.store import StoredSession


@dataclasses.dataclass(frozen=True)
class Step:
    """One accepted change: the kernel it made the best, the one it replaced, and why."""

    number: int
    record: CandidateRecord
    previous: CandidateRecord
    decision: Decision


@dataclasses.dataclass(frozen=True)
class Story:
    """What a tutorial tells, in order."""

    stored: StoredSession
    baseline: CandidateRecord
    steps: tuple[Step, ...]
    final: CandidateRecord | None  # the session's best; None when nothing was correct
    code: ProblemCode | None  # how to define the problem again; None for older sessions

    @property
    def baseline_ms(self) -> float | None:
        b = self.baseline
        return b.latency_ms if b.status is Status.CORRECT else None

    def screening(self, record: CandidateRecord) -> float | None:
        """The baseline's median over `record`'s, from one run each: a screening figure."""
        correct = record.status is Status.CORRECT
        return speedup(self.baseline_ms, record.latency_ms) if correct else None

    @property
    def estimate(self) -> Estimate | None:
        """The final kernel against the starting one, interleaved: the session's speedup."""
        found = self.stored.meta.get("confirmed")
        confirmed = Confirmation.from_dict(found) if found else None
        final = self.final
        if confirmed is None or final is None or confirmed.candidate != final.id:
            return None
        return confirmed.estimate

    @property
    def kernels(self) -> list[tuple[str, CandidateRecord]]:
        """The kernels a re-run checks again: the baseline, each step, the final one."""
        out = [("starting kernel", self.baseline)]
        out += [(f"step {s.number}", s.record) for s in self.steps]
        if self.final is not None and all(self.final.id != r.id for _, r in out):
            out.append(("final kernel", self.final))
        return out


def story(stored: StoredSession) -> Story:
    """The accepted decisions of `stored`, in the order they were made."""
    by_id = {c.id: c for c in stored.candidates}
    baseline = by_id[stored.meta["baseline_id"]]
    steps: list[Step] = []
    current = baseline
    for decision in stored.decisions:
        record = by_id.get(decision.candidate)
        if not decision.accepted or record is None or record.id == current.id:
            continue
        steps.append(Step(len(steps) + 1, record, current, decision))
        current = record
    code = (stored.meta.get("rerun") or {}).get("problem_code")
    return Story(
        stored=stored,
        baseline=baseline,
        steps=tuple(steps),
        final=by_id.get(stored.meta.get("best_id") or ""),
        code=ProblemCode.from_dict(code) if code else None,
    )

"""The markdown of one tuning step, for tutorial cells: what changed, why, and how much."""

from __future__ import annotations

from kernelmagic.harness.verdict import speedup
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.notebook._view_text import RANKED_ON_SIMULATOR
from kernelmagic.render.rows import fmt_ms


def step_markdown(session: Session, record: CandidateRecord) -> str:
    """A heading, the proposer's rationale, and the numbers (labelled when simulated)."""
    v = record.verdict
    base = session.baseline
    lines = [f"### Step: candidate #{record.seq} (round {record.round}, {record.origin})", ""]
    rationale = record.rationale.strip() or "(the proposer gave no rationale)"
    lines += [f"**What changed and why.** {_quote(rationale)}", ""]
    if v is not None:
        simulated = record.simulated
        label = " (CPU simulator time, not GPU time)" if simulated else ""
        lines.append(f"- status: `{v.status.value}`; latency {fmt_ms(v.latency_ms)}{label}")
        confirmed = session.confirmation
        decided = [d for d in session.decisions if d.candidate == record.id and d.estimate]
        if confirmed is not None and confirmed.candidate == record.id and confirmed.estimate:
            lines.append(f"- against the original kernel: {confirmed.estimate.describe()}")
        elif decided and decided[-1].estimate is not None:
            lines.append(f"- against the best of its round: {decided[-1].estimate.describe()}")
        gain = speedup(base.latency_ms, v.latency_ms) if base is not None else None
        if base is not None and gain is not None:
            lines.append(
                f"- screening: {gain:.2f}x the original kernel's median "
                f"({fmt_ms(base.latency_ms)}), one run each"
            )
        lines.append(f"- device: {v.device}; backend: {v.backend}")
        if simulated:
            lines.append(f"- {RANKED_ON_SIMULATOR}")
    if record.params:
        lines.append("- settings: " + ", ".join(f"`{k}={v}`" for k, v in record.params.items()))
    lines.append(f"- kernelmagic session `{session.id}`")
    return "\n".join(lines)


def _quote(text: str) -> str:
    # Untrusted text from an LLM: keep it from opening HTML or closing our markdown.
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")

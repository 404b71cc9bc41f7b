"""The markdown of a tutorial's sections, from a session's story.

Rationales and sources come from an LLM: text is escaped where markdown would read it as
HTML, and code goes into fences longer than any run of backticks inside it.
"""

from __future__ import annotations

import base64
import datetime
import re

from kernelmagic.export._story import Step, Story
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.render.diff import diff_lines
from kernelmagic.render.rows import clean_reason, fmt_ms

CHART_ALT = "Latency of every candidate in proposal order"
SIM_NOTE = "CPU simulator time: says whether it is correct, not how fast it is on a GPU"
_BACKTICKS = re.compile(r"`+")


def title(story: Story) -> str:
    info = story.stored.info
    final = story.final
    estimate = story.estimate
    if final is not None and estimate is not None and estimate.outcome == "faster":
        gain = f"{fmt_ms(story.baseline_ms)} → {fmt_ms(final.latency_ms)}"
        return f"# Tuning `{_text(info.title)}`: {gain}, {_text(estimate.describe())}"
    return f"# Tuning `{_text(info.title)}` with kernelmagic"


def introduction(story: Story) -> str:
    info, meta = story.stored.info, story.stored.meta
    when = datetime.datetime.fromtimestamp(info.created, datetime.timezone.utc)
    lines = [
        title(story),
        "",
        f"*A tutorial exported by kernelmagic from session `{info.id}`, recorded "
        f"{when:%Y-%m-%d} on {_text(info.device)}.*",
        "",
        f"{_who(info.proposer, meta.get('model'))} proposed {info.candidates - 1} candidate "
        f"kernels in {info.rounds} rounds. Each was compiled, checked against the NumPy "
        "reference on several inputs and, when correct, timed; a candidate became the new "
        "best only when an interleaved timing comparison with the best so far confirmed it "
        f"was faster. {_outcome(story)}",
        "",
        "**Running this notebook.** It carries everything it needs: run it top to bottom "
        "with kernelmagic installed. The last section re-runs the whole session on your "
        "machine with the recorded proposals (the `replay` proposer: no LLM, no API key), "
        "checks every kernel again against the reference, and shows the recorded and "
        "re-measured results side by side. Without an NVIDIA GPU, Python kernels run on "
        "numba-cuda's CPU simulator (correctness only: its times say nothing about a GPU) "
        "and CUDA C kernels are only compiled.",
    ]
    if info.state == "running":
        lines += [
            "",
            "> **Note.** The session was still running when this notebook was exported: it "
            "tells the story so far.",
        ]
    if story.code is None:
        lines += ["", "> **Note.** " + MISSING_CODE]
    elif story.code.missing:
        names = ", ".join(f"`{n}`" for n in story.code.missing)
        lines += [
            "",
            f"> **Note.** The problem's functions use {names}, which kernelmagic could not "
            "write out as source: define them in the problem cell before running it.",
        ]
    return "\n".join(lines)


MISSING_CODE = (
    "This session was recorded by a kernelmagic that did not keep the problem's source: "
    "the problem cell holds the reference as the prompt saw it; write the input generator "
    "`inputs(seed)` there before running the re-run cells."
)


def problem(story: Story) -> str:
    brief = story.stored.meta.get("problem") or {}
    lines = ["## The problem", "", _text(brief.get("description", "")).strip(), ""]
    for label, key in (("Inputs", "inputs"), ("Outputs", "outputs"), ("Tolerance", "tolerance")):
        if brief.get(key):
            lines.append(f"- **{label}:** " + "; ".join(_text(brief[key]).splitlines()))
    cases = story.code.cases if story.code else 3
    lines += [
        "",
        "The next cell defines the NumPy reference, which defines the right answer, and the "
        f"input generator: each candidate is checked on {cases} seeds, whose sizes and values "
        "vary as the generator makes them vary.",
    ]
    return "\n".join(lines)


def starting_kernel(story: Story) -> str:
    b = story.baseline
    return _kernel(
        "## The starting kernel", f"The kernel the session started from: {_result(b)}.", b
    )


def chart(svg: str) -> str:
    """The chart as an `<img>` of a data URI: JupyterLab, nbviewer and Sphinx all show that;
    JupyterLab ignores SVG cell attachments, markdown-it refuses SVG in `![](data:...)`."""
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return "\n".join(
        [
            "## The whole session",
            "",
            f'<img alt="{CHART_ALT}" src="{uri}"/>',
            "",
            "Each point is one candidate, in the order proposed; the line is the best so far "
            "and the dashed line the starting kernel. Candidates that failed (did not compile, "
            "gave a wrong result, crashed) sit in the strip under the axis.",
        ]
    )


def step(story: Story, s: Step) -> str:
    r, d = s.record, s.decision
    previous = "the starting kernel" if s.number == 1 else f"step {s.number - 1}"
    rationale = _text(r.rationale).strip() or "(the proposer gave no rationale)"
    lines = [
        f"## Step {s.number}: {_headline(r.rationale) or 'candidate #' + str(r.seq)}",
        "",
        f"Round {r.round}, candidate #{r.seq} ({r.origin}).",
        "",
        f"**Why.** {_quote(rationale)}",
        "",
        f"**Result.** {_result(r)}. {_versus(story, s)}",
    ]
    if d.by == "user":
        lines.append(f"Chosen by the user over {previous}.")
    elif d.incumbent is not None:
        lines.append(f"Accepted over {previous}: {_text(clean_reason(d.reason))}.")
    if r.params:
        lines += ["", "Settings: " + ", ".join(f"`{k}={v}`" for k, v in r.params.items())]
    diff = diff_lines(s.previous.source, r.source, old_label=previous, new_label=f"step {s.number}")
    lines += ["", f"**What changed** against {previous}:", ""]
    lines.append(fence("\n".join(diff), "diff") if diff else "*(the same source)*")
    return "\n".join(lines)


def final_kernel(story: Story) -> str:
    f = story.final
    if f is None:
        verdicts = {c.status for c in story.stored.candidates if c.status}
        why = (
            " Without a GPU, CUDA C kernels are compiled but cannot be run, so none is verified."
            if Status.UNVERIFIED in verdicts
            else ""
        )
        if story.stored.info.state == "running":
            return (
                "## No correct kernel yet\n\nNo candidate had been verified when it was exported."
            )
        return f"## No correct kernel\n\nNo candidate of this session was correct.{why}"
    label = "the starting kernel" if f.id == story.baseline.id else f"candidate #{f.seq}"
    return _kernel("## The final kernel", f"The session's best, {label}: {_result(f)}.", f)


def _kernel(heading: str, sentence: str, r: CandidateRecord) -> str:
    """A section that shows one kernel: what it is, how it is launched, its source."""
    return "\n".join([heading, "", sentence, "", *_launch(r), fence(r.source, _language(r))])


def rerun() -> str:
    return "\n".join(
        [
            "## Re-run this session on your machine",
            "",
            "The first cell below holds the recorded session: every proposal of every round, "
            "with the verdicts measured when it was recorded (no prompts, no endpoint, no "
            "key). The second runs `%%cuda_optimize` on the starting kernel with "
            "`--replay recorded`: the loop proposes exactly the recorded candidates, round by "
            "round, and kernelmagic compiles, verifies and times each of them here, in "
            "worker processes. The last cell lines up the recorded and the re-measured "
            "results of the starting kernel, each step and the final kernel.",
        ]
    )


def fence(code: str, language: str = "") -> str:
    """`code` in a fence no run of backticks inside it can close."""
    longest = max((len(m) for m in _BACKTICKS.findall(code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{code.rstrip()}\n{ticks}"


def _who(proposer: str, model: str | None) -> str:
    if proposer == "llm":
        return f"An LLM (`{_text(model or 'unknown model')}`)"
    if proposer == "search":
        return "kernelmagic's offline search over the kernel's tunable settings"
    if proposer == "replay":
        return "A replay of an earlier session"
    return f"The `{_text(proposer)}` proposer"


def _outcome(story: Story) -> str:
    if story.final is None:
        return "No candidate was correct."
    if not story.steps:
        return "None of the candidates beat the starting kernel."
    n = len(story.steps)
    made = f"{n} step{'s' if n > 1 else ''}"
    estimate = story.estimate
    if estimate is None:
        said = f"{made} accepted; no final comparison with the starting kernel was made."
    else:
        said = f"{made}: the final kernel against the starting one, {estimate.describe()}."
    if story.final.simulated:
        said += (
            " It was ranked on the CPU simulator: its speed says nothing about a GPU, so time "
            "it on one before you rely on it."
        )
    return said


def _result(r: CandidateRecord) -> str:
    v = r.verdict
    if v is None:
        return "not evaluated"
    where = f" on {_text(v.device)}" if v.device and v.device != "not run" else ""
    if v.latency_ms is None:
        return f"`{v.status.value}`{where}: {_text(v.message.splitlines()[0] if v.message else '')}"
    sim = f" ({SIM_NOTE})" if r.simulated else ""
    return f"`{v.status.value}`, median {fmt_ms(v.latency_ms)}{where}{sim}"


def _versus(story: Story, s: Step) -> str:
    said = []
    if s.decision.estimate is not None:
        said.append(
            f"Interleaved against the previous kernel: {_text(s.decision.estimate.describe())}."
        )
    total = story.screening(s.record)
    if total is not None and s.number > 1:
        said.append(f"Screening (one median each): {total:.2f}x the starting kernel.")
    return " ".join(said)


def _launch(r: CandidateRecord) -> list[str]:
    c = r.candidate
    settings = [
        f"{k} `{v}`" for k, v in (("grid", c.grid), ("block", c.block), ("shared", c.shared)) if v
    ]
    if c.compile_options:
        settings.append("options `" + " ".join(c.compile_options) + "`")
    return [f"Launch: {', '.join(settings)}.", ""] if settings else []


def _language(r: CandidateRecord) -> str:
    return "python" if r.candidate.kind == "python" else "cuda"


def _headline(rationale: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n", rationale.strip(), maxsplit=1)[0].rstrip(".")
    first = _text(first)
    return first if len(first) <= 80 else first[:79] + "…"


def _quote(text: str) -> str:
    return text.replace("\n", " ")


def _text(text: str) -> str:
    """Untrusted text made inert in markdown: no HTML, no line-leading markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""Progress of a session on a terminal: a bar where there is a TTY, plain lines elsewhere."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from kernelmagic._redact import redact_text
from kernelmagic.harness.comparison import DECISION_RULE
from kernelmagic.harness.profile import reading
from kernelmagic.loop.events import JUDGED_AGAIN, SANITIZED, Event
from kernelmagic.loop.session import Session
from kernelmagic.render.rows import clean_reason, params_text
from kernelmagic.render.sizes import size_rows


class Progress:
    """Follows a session's events and reports them on `stream` (stderr by default)."""

    def __init__(self, session: Session, *, stream: TextIO | None = None, bar: bool = True) -> None:
        self.session = session
        self.stream = stream or sys.stderr
        self.total_rounds = session.planned_rounds
        per_round = session.per_round
        self._shown = 0  # events reported: following again (after a Ctrl-C) goes on from there
        self._bar: Any = None
        if bar and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=1 + self.total_rounds * per_round,
                file=self.stream,
                unit="cand",
                dynamic_ncols=True,
            )

    def follow(self) -> None:
        """Report events until the session ends, each once however often this is called."""
        for index, event in enumerate(self.session.events()):
            if index < self._shown:
                continue
            self._shown = index + 1
            self.show(event)
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def summary(self) -> None:
        """The outcome, on stdout."""
        lines = [repr(self.session), f"  stopped: {self.session.stop_reason}"]
        if self.session.decisions:
            lines.append(f"  decision rule: {DECISION_RULE}")
        best = self.session.best
        if best is not None:
            lines.append(f"  best kernel ({best.id}):")
            lines.append("    " + "\n    ".join(best.source.splitlines()))
        print(redact_text("\n".join(lines)))

    def show(self, event: Event) -> None:
        """Report one event (a bar update, or a line)."""
        text = redact_text(self._describe(event))
        if self._bar is not None:
            if event.kind == "evaluated" and not _again(event):
                self._bar.update(1)
            best = self.session.best
            if best and best.latency_ms is not None:
                self._bar.set_postfix_str(f"best {best.latency_ms:.4g} ms")
            if (event.kind not in ("proposed", "evaluated") or _again(event)) and text:
                self._bar.write(text, file=self.stream)
            return
        if text:
            print(text, file=self.stream, flush=True)

    def _describe(self, event: Event) -> str:
        if event.kind == "round":
            return f"round {event.round}/{self.total_rounds}: {event.message}"
        if event.kind == "evaluated" and event.candidate is not None and _again(event):
            profile = event.candidate.verdict.profile if event.candidate.verdict else None
            if profile is not None:
                return f"  counters of #{event.candidate.seq} (Nsight Compute): {reading(profile)}"
            if event.message == SANITIZED:
                c = event.candidate
                first = c.verdict.message.splitlines()[0][:100] if c.verdict else ""
                return f"  #{c.seq} under compute-sanitizer: {c.status} - {first}"
            return f"  #{event.candidate.seq} judged again: {event.candidate.status}"
        if event.kind == "evaluated" and event.candidate is not None:
            c = event.candidate
            ms = f" {c.latency_ms:.4g} ms" if c.latency_ms is not None else ""
            sim = " (simulated)" if c.simulated else ""
            reused = " [stored verdict reused]" if c.reused_from else ""
            first = c.verdict.message.split(";")[0].splitlines()[0][:100] if c.verdict else ""
            tuned = f" [{params_text(c.params)}]" if c.params else ""
            return f"  #{c.seq} {c.origin}{tuned}: {c.status}{ms}{sim}{reused} - {first}"
        if event.kind == "note":
            return f"  note: {event.message}"
        if event.kind == "decision" and event.decision is not None:
            d = event.decision
            why = clean_reason(d.reason)
            if d.accepted:
                return f"  new best: #{_seq(d.candidate)} ({why})"
            kept = f"#{_seq(d.incumbent)}" if d.incumbent else "the best"
            return f"  kept {kept} over #{_seq(d.candidate)} ({why})"
        if event.kind == "comparing" and event.candidate is not None:
            return (
                f"  comparing #{event.candidate.seq} with the best, #{_seq(event.against or '')} "
                "(interleaved runs)..."
            )
        if event.kind == "confirming" and event.candidate is not None:
            return (
                f"  confirming: the best, #{event.candidate.seq}, against your kernel "
                f"#{_seq(event.against or '')} (interleaved runs)..."
            )
        if event.kind == "confirmed" and event.confirmation is not None:
            found = event.confirmation.estimate
            said = found.describe() if found else event.confirmation.message
            by_size = "".join(
                f"\n    at {size}: your kernel {a}, best {b} ({x})"
                for size, a, b, x in size_rows(found.sizes if found else ())
                if found and len(found.sizes) > 1
            )
            return f"  speedup over your kernel: {said}{by_size}"
        if event.kind == "finished":
            return f"session {event.session}: {event.message}"
        if event.kind == "started":
            return f"session {event.session} {event.message} (store: {self.session.store_path})"
        return ""


def _again(event: Event) -> bool:
    """A verdict given again (the best's counters, a challenger's sanitizer run): a line
    of its own, not one more evaluation."""
    return event.kind == "evaluated" and event.message in JUDGED_AGAIN


def _seq(candidate_id: str) -> str:
    return candidate_id.rsplit(".", 1)[-1]

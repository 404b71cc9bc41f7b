"""The best kernel's hardware counters (Nsight Compute), read once for each new best.

The loop asks between evaluations (before a round's request, so the prompt has them, and
before the last confirmation), never while candidates are timed: the profiler replays
kernels on the same GPU. The counters go onto the best's verdict by an "evaluated" event,
so the store and the session keep them like any verdict. Where they cannot be read the
session says why once and stops asking: a missing ncu, counters not permitted or a
profiler that runs past its time would say so again for every best. A kernel ranked on
the simulator has no counters to miss: the harness says so and the session says nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kernelmagic.errors import PoolClosed
from kernelmagic.harness.evaluate import Harness
from kernelmagic.harness.profile import Profile, printable
from kernelmagic.loop.events import PROFILED
from kernelmagic.loop.session import Best

Apply = Callable[..., None]  # `Loop._apply`: (kind, round, message, **fields)


class BestCounters:
    """Profiles each best once per session; gives up, saying why, at the first miss."""

    def __init__(self, harness: Harness, apply: Apply) -> None:
        self._harness = harness
        self._apply = apply
        self._given_up = False

    def update(self, best: Best | None) -> None:
        """Put the counters on `best`'s verdict unless it has them (None: nothing to do)."""
        verdict = best.record.verdict if best else None
        if best is None or verdict is None or verdict.profile or self._given_up:
            return
        found, why = self._read(best)
        r = best.record.round
        if found is not None:
            record = dataclasses.replace(
                best.record, verdict=dataclasses.replace(verdict, profile=found)
            )
            self._apply("evaluated", r, PROFILED, candidate=record)
            return
        self._given_up = True
        if not best.simulated:
            self._apply("note", r, f"{why}; the session goes on without them")

    def _read(self, best: Best) -> tuple[Profile | None, str]:
        try:
            found = self._harness.profile(best.record.candidate)
        except PoolClosed:
            raise  # an interruption, not the profiler's failure
        except Exception as exc:  # the counters are extra: reading them never fails a session
            said = f"{type(exc).__name__}: {printable(str(exc), 120)}"
            return None, f"no hardware counters: the profiler failed ({said})"
        return found, self._harness.profiler_note or "no hardware counters were read"

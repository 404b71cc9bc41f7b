"""The harness's options, as the UI, the CLI and the loop build them.

Plain frozen values with no harness machinery behind them (no Dask, numba or CUDA is
imported here), so a caller that only fills in options never starts the harness.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Literal

# How far the workers are confined by the kernel: see `ClusterOptions.sandbox`.
SandboxMode = Literal["auto", "require", "off"]


@dataclasses.dataclass(frozen=True)
class TimingOptions:
    """How long and how carefully to time (GPU only).

    Warm up for `warmup_ms`, then repeat until the median's relative standard error is
    under `target_rel_error`, or `budget_ms` of timing is spent, or `max_reps` is reached;
    never fewer than `min_reps` samples.
    """

    warmup_ms: float = 50.0
    budget_ms: float = 1000.0
    min_reps: int = 30
    max_reps: int = 2000
    target_rel_error: float = 0.005
    check_every: int = 16  # verify the output of roughly one timed run in this many


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """`scheduler_address` connects to an existing Dask cluster instead of starting one.

    `sandbox` is the workers' confinement by the kernel (`_sandbox.py`): "auto" enforces what
    this kernel can and warns about the rest, "require" refuses to start without all of it,
    "off" (for diagnosis only) confines nothing.
    """

    scheduler_address: str | None = None
    # Simulator workers; None: one per core, up to the candidates of a round (`sized`).
    sim_workers: int | None = None
    startup_timeout_s: float = 120.0
    sandbox: SandboxMode = "auto"
    # How long a job waits for an idle worker (others' jobs hold them) before giving up.
    queue_timeout_s: float = 600.0

    def sized(self, width: int) -> ClusterOptions:
        """These options with a pool size: the one given, else one simulator worker per core
        this process may use, up to `width` (the jobs that can run at once)."""
        if self.sim_workers is not None:
            return self
        return dataclasses.replace(self, sim_workers=max(1, min(usable_cores(), width)))


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class HarnessOptions:
    """`timeout_s` bounds each stage in a worker; `arch` names the target without a GPU."""

    timeout_s: float = 60.0
    arch: str | None = None
    timing: TimingOptions = dataclasses.field(default_factory=TimingOptions)
    cluster: ClusterOptions = dataclasses.field(default_factory=ClusterOptions)
    too_good_speedup: float = 10.0  # beyond this, a comparison is flagged for a human look

"""The harness's options, as the UI, the CLI and the loop build them.

Plain frozen values with no harness machinery behind them (no Dask, numba or CUDA is
imported here), so a caller that only fills in options never starts the harness.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from typing import Literal

from kernelmagic.errors import OptionError

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

    def __post_init__(self) -> None:
        # An infinite budget is a fixed number of runs (max_reps), as the simulator's are.
        at_least("the timing budget (ms)", self.budget_ms, 0, above=True, infinite=True)
        at_least("the warm-up (ms)", self.warmup_ms, 0)
        at_least("the fewest timed runs", self.min_reps, 1)
        at_least("the most timed runs", self.max_reps, self.min_reps)
        at_least("the target relative error", self.target_rel_error, 0, above=True)
        at_least("check_every", self.check_every, 1)


def at_least(
    what: str, value: float, low: float, *, above: bool = False, infinite: bool = False
) -> None:
    """OptionError unless `value` is a number >= `low` (> `low` when `above`), finite unless
    `infinite`: a NaN passes no comparison a later check makes, and Dask refuses an
    infinite timeout with a traceback of its own."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = number and not math.isnan(value) and (infinite or math.isfinite(value))
    if not ok or value < low or (above and value == low):
        bound = f"more than {low:g}" if above else f"at least {low:g}"
        kind = "a number" if infinite else "a finite number"
        raise OptionError(f"{what} must be {kind} {bound}, not {value!r}")


_LONGEST_TIMEOUT_S = 7 * 24 * 3600.0

# host:port, or scheme://host:port with a scheme Dask serves; a host may be [an IPv6
# address]. Dask's client, given an address it cannot parse, raised a ValueError and then
# spent 120 s closing itself.
_ADDRESS = re.compile(
    r"^(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d{1,5}$"
)


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

    def __post_init__(self) -> None:
        address = self.scheduler_address
        if address is not None and not _ADDRESS.match(address):
            raise OptionError(
                f"{address!r} is not a Dask scheduler address: write host:port or "
                "tcp://host:port (or tls://, ws://, wss://, ucx://), for example "
                "tcp://10.0.0.5:8786"
            )
        if self.sim_workers is not None:
            at_least("the number of simulator workers", self.sim_workers, 1)
        at_least("the start-up timeout (s)", self.startup_timeout_s, 0, above=True)
        at_least("the queue timeout (s)", self.queue_timeout_s, 0, above=True)

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

    def __post_init__(self) -> None:
        at_least("the timeout (s)", self.timeout_s, 0, above=True)
        if self.timeout_s > _LONGEST_TIMEOUT_S:  # past it, Python's clocks overflow
            raise OptionError(
                f"the timeout must be at most {_LONGEST_TIMEOUT_S:g} s (a week), "
                f"not {self.timeout_s:g} s"
            )
        at_least("the too-good speedup", self.too_good_speedup, 1, above=True)

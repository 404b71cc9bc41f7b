"""A kernel's hardware counters (Nsight Compute), as a value and in words.

`_profiler` reads them on a GPU; the verdict carries them, and the loop's prompt, the
widget and the record say what they mean. Plain values only: reading a stored profile
needs no GPU and none of the harness's machinery.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

BOUND_PCT = 60.0  # a throughput this close to its peak is what bounds the kernel
LOW_OCCUPANCY_PCT = 40.0
SECTION_LIMIT = 700
# Stall reasons (Profiling Guide, "Warp Stall Reasons") in plain words; "selected" is the
# cycle a warp issues, not a stall, and is not asked for.
STALL_WORDS = {
    "long_scoreboard": "long scoreboard (waiting on global/local memory)",
    "short_scoreboard": "short scoreboard (waiting on shared memory or special math)",
    "barrier": "barrier (waiting at __syncthreads)",
    "membar": "memory barrier (waiting on a memory fence)",
    "mio_throttle": "MIO throttle (shared-memory/special-math queue full)",
    "lg_throttle": "LG throttle (local/global memory queue full)",
    "tex_throttle": "texture throttle (texture queue full)",
    "math_pipe_throttle": "math pipe throttle (a math pipeline is busy)",
    "wait": "wait (fixed-latency dependencies)",
    "not_selected": "not selected (eligible, another warp issued)",
    "no_instruction": "no instruction (instruction cache miss or branch)",
    "branch_resolving": "branch resolving (waiting on branch targets)",
    "dispatch_stall": "dispatch stall (held back by the dispatcher)",
    "drain": "drain (stores draining at exit)",
    "imc_miss": "IMC miss (constant cache miss)",
    "sleeping": "sleeping (nanosleep or yield)",
    "misc": "misc",
}
_FLOATS = (
    "duration_ms",
    "dram_pct",
    "l2_pct",
    "sm_pct",
    "occupancy_pct",
    "l1_hit_pct",
    "l2_hit_pct",
    "local_bytes",
)


@dataclasses.dataclass(frozen=True)
class Profile:
    """Nsight Compute's counters for one kernel: its last profiled launch; None, not read.

    Throughputs are % of the GPU's sustained peak while the kernel ran (clocks not locked);
    `local_bytes` is local-memory traffic (register spills, run-time indexed arrays);
    `stalls` are the top reasons in warp cycles per issued instruction, largest first.
    """

    kernel: str
    duration_ms: float | None = None
    dram_pct: float | None = None
    l2_pct: float | None = None
    sm_pct: float | None = None
    occupancy_pct: float | None = None
    l1_hit_pct: float | None = None
    l2_hit_pct: float | None = None
    registers_per_thread: int | None = None
    local_bytes: float | None = None
    stalls: tuple[tuple[str, float], ...] = ()
    launches: int = 1  # launches of this kernel that were profiled

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, for the store."""
        data = dataclasses.asdict(self)
        data["stalls"] = [[reason, value] for reason, value in self.stalls]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """The profile `to_dict` wrote; unknown keys are ignored, bad values read as None."""
        numbers = {f: _number(data.get(f)) for f in _FLOATS}
        registers = _number(data.get("registers_per_thread"))
        stalls = []
        for item in data.get("stalls") or ():
            if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
                value = _number(item[1])
                if value is not None:
                    stalls.append((item[0], value))
        launches = _number(data.get("launches"))
        return cls(
            kernel=str(data.get("kernel", "")),
            **numbers,
            registers_per_thread=None if registers is None else int(registers),
            stalls=tuple(stalls),
            launches=int(launches) if launches else 1,
        )


def reading(profile: Profile) -> str:
    """One line on what bounds the kernel: "memory-bound at 71% of DRAM peak; top stall: ..."."""
    dram, l2, sm = profile.dram_pct, profile.l2_pct, profile.sm_pct
    peaks = [(v, what) for v, what in ((dram, "DRAM"), (l2, "L2"), (sm, "SM")) if v is not None]
    if not peaks:
        parts = ["no throughput counters were read"]
    else:
        top, what = max(peaks, key=lambda p: p[0])
        if top >= BOUND_PCT:
            kind = "compute" if what == "SM" else "memory"
            parts = [f"{kind}-bound at {top:.0f}% of {what} peak"]
        else:
            parts = [f"latency-bound: DRAM {_pct(dram)}, SM {_pct(sm)} of peak"]
    if profile.occupancy_pct is not None and profile.occupancy_pct < LOW_OCCUPANCY_PCT:
        parts.append(f"low occupancy ({profile.occupancy_pct:.0f}% of warps resident)")
    if profile.local_bytes:
        parts.append(f"local-memory traffic {_bytes(profile.local_bytes)} (register spills?)")
    if profile.stalls:
        parts.append(f"top stall: {_stall(profile.stalls[0][0])}")
    return "; ".join(parts)


def figures(profile: Profile) -> list[str]:
    """The counters themselves, a few short lines (the prompt's section and the widget's)."""
    lines = [
        f"% of peak: DRAM {_pct(profile.dram_pct)}, L2 {_pct(profile.l2_pct)}, "
        f"SM {_pct(profile.sm_pct)}; achieved occupancy {_pct(profile.occupancy_pct)}",
        f"hit rates: L1 {_pct(profile.l1_hit_pct)}, L2 {_pct(profile.l2_hit_pct)}; "
        f"registers/thread {profile.registers_per_thread or 'n/a'}; local-memory traffic "
        + ("n/a" if profile.local_bytes is None else _bytes(profile.local_bytes)),
    ]
    if profile.stalls:
        top = ", ".join(f"{_stall(r).split(' (')[0]} {v:.1f}" for r, v in profile.stalls)
        lines.append(f"top stalls (warp cycles per issued instruction): {top}")
    if profile.duration_ms is not None:
        lines.append(f"kernel time under the profiler: {profile.duration_ms:.3g} ms")
    return lines


def section(profile: Profile, *, limit: int = SECTION_LIMIT) -> str:
    """The counters as a few lines for an LLM prompt, never longer than `limit` characters."""
    more = f", last of {profile.launches} launches" if profile.launches > 1 else ""
    lines = [
        f"Nsight Compute counters for kernel `{printable(profile.kernel)}`{more}:",
        f"- reading: {reading(profile)}",
        *(f"- {line}" for line in figures(profile)),
    ]
    text = "\n".join(lines)
    while len(text) > limit and len(lines) > 1:
        lines.pop()
        text = "\n".join(lines)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def printable(text: str, limit: int = 160) -> str:
    """One printable line (kernel names and tool lines go into prompts and messages)."""
    flat = "".join(c if c.isprintable() else " " for c in text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _stall(reason: str) -> str:
    return STALL_WORDS.get(reason, reason.replace("_", " "))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"

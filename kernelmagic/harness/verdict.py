"""What an evaluation concludes: a status, a message that says where, and the numbers."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from kernelmagic.harness.profile import Profile, reading

# Messages reach the terminal, the store and the LLM's prompt: a candidate must not be able
# to flood them (a 16 MB exception message, a compiler log full of its own #warnings).
MESSAGE_LIMIT = 4000
LOG_LIMIT = 16000


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` cut to at most about `limit` characters, keeping its head and its tail."""
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 5
    return f"{text[:head]}\n... ({len(text) - head - tail} characters cut) ...\n{text[-tail:]}"


class Status(str, enum.Enum):
    """Exactly one of these ends every evaluation."""

    CORRECT = "correct"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"
    WRONG_RESULT = "wrong_result"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    REJECTED = "rejected"
    UNVERIFIED = "unverified"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class Resources:
    """Per-kernel resource usage reported by the compiler (ptxas)."""

    kernel: str
    registers: int | None = None
    spill_stores_bytes: int | None = None
    spill_loads_bytes: int | None = None
    stack_frame_bytes: int | None = None
    shared_bytes: int | None = None
    barriers: int | None = None

    def summary(self) -> str:
        parts = []
        if self.registers is not None:
            parts.append(f"{self.registers} registers")
        if self.spill_stores_bytes or self.spill_loads_bytes:
            parts.append(
                f"spills {self.spill_stores_bytes or 0} B stored / "
                f"{self.spill_loads_bytes or 0} B loaded"
            )
        elif self.spill_stores_bytes is not None:
            parts.append("no spills")
        if self.stack_frame_bytes:
            parts.append(f"{self.stack_frame_bytes} B stack")
        if self.shared_bytes:
            parts.append(f"{self.shared_bytes} B static shared")
        return f"{self.kernel}: " + ", ".join(parts) if parts else self.kernel


@dataclasses.dataclass(frozen=True)
class CompileInfo:
    """What compiling the candidate produced: the compiler's log and resource usage."""

    ok: bool
    log: str = ""
    seconds: float | None = None
    arch: str | None = None
    resources: tuple[Resources, ...] = ()
    cached: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "log", clip(self.log, LOG_LIMIT))


@dataclasses.dataclass(frozen=True)
class Timing:
    """A latency measurement. `simulated` timings come from the CPU simulator: not GPU time."""

    median_ms: float
    min_ms: float
    spread: float  # interquartile range over the median
    samples: int
    simulated: bool = False
    method: str = "cuda events"

    def summary(self) -> str:
        label = " (simulated on the CPU, not a GPU timing)" if self.simulated else ""
        return (
            f"{self.median_ms:.4g} ms median{label}, spread {self.spread * 100:.1f}%, "
            f"{self.samples} samples, {self.method}"
        )


def speedup(old_ms: float | None, new_ms: float | None) -> float | None:
    """How many times faster `new_ms` is than `old_ms` (medians): the one speedup formula.

    None when either is missing or zero: no speedup is claimed without two timings.
    """
    return old_ms / new_ms if old_ms and new_ms else None


@dataclasses.dataclass(frozen=True)
class Roofline:
    """Achieved throughput against the device's peaks, where the problem states its work."""

    achieved_gbps: float | None = None
    peak_gbps: float | None = None
    achieved_gflops: float | None = None
    peak_gflops: float | None = None

    @property
    def bandwidth_fraction(self) -> float | None:
        if self.achieved_gbps is None or not self.peak_gbps:
            return None
        return self.achieved_gbps / self.peak_gbps

    @property
    def compute_fraction(self) -> float | None:
        if self.achieved_gflops is None or not self.peak_gflops:
            return None
        return self.achieved_gflops / self.peak_gflops

    def summary(self) -> str:
        parts = []
        if self.achieved_gbps is not None:
            frac = self.bandwidth_fraction
            parts.append(
                f"{self.achieved_gbps:.1f} GB/s"
                + (f" ({frac * 100:.0f}% of {self.peak_gbps:.0f} GB/s peak)" if frac else "")
            )
        if self.achieved_gflops is not None:
            frac = self.compute_fraction
            parts.append(
                f"{self.achieved_gflops:.1f} GFLOP/s"
                + (f" ({frac * 100:.0f}% of {self.peak_gflops:.0f} GFLOP/s peak)" if frac else "")
            )
        return ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The harness's answer about one candidate on one problem, backend and device."""

    status: Status
    message: str
    backend: str
    device: str
    source_sha256: str
    timing: Timing | None = None
    compile: CompileInfo | None = None
    roofline: Roofline | None = None
    cases_checked: int = 0
    flags: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()  # the verification seeds drawn: Problem(seeds=...) replays them
    profile: Profile | None = None  # hardware counters, read for a kernel that became the best

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", clip(self.message))
        object.__setattr__(self, "flags", tuple(clip(f) for f in self.flags))
        object.__setattr__(self, "warnings", tuple(clip(w) for w in self.warnings))

    @property
    def latency_ms(self) -> float | None:
        """Median latency, or None when the candidate was not timed."""
        return self.timing.median_ms if self.timing else None

    @property
    def ok(self) -> bool:
        return self.status is Status.CORRECT

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CLI's --json output)."""
        out: dict[str, Any] = {
            "status": self.status.value,
            "message": self.message,
            "latency_ms": self.latency_ms,
            "simulated": self.timing.simulated if self.timing else None,
            "backend": self.backend,
            "device": self.device,
            "source_sha256": self.source_sha256,
            "cases_checked": self.cases_checked,
            "flags": list(self.flags),
            "warnings": list(self.warnings),
            "seeds": list(self.seeds),
            "timing": dataclasses.asdict(self.timing) if self.timing else None,
            "compile": _compile_dict(self.compile),
            "roofline": _roofline_dict(self.roofline),
            "profile": self.profile.to_dict() if self.profile else None,
        }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """The verdict `to_dict` wrote (as kept in the session store)."""
        timing = Timing(**data["timing"]) if data.get("timing") else None
        info = data.get("compile")
        compile_info = (
            CompileInfo(
                **{**info, "resources": tuple(Resources(**r) for r in info.get("resources", ()))}
            )
            if info
            else None
        )
        roof = data.get("roofline")
        roofline = (
            Roofline(**{k: v for k, v in roof.items() if not k.endswith("_fraction")})
            if roof
            else None
        )
        counters = data.get("profile")  # absent from verdicts stored before profiling
        return cls(
            status=Status(data["status"]),
            message=data["message"],
            backend=data["backend"],
            device=data["device"],
            source_sha256=data["source_sha256"],
            timing=timing,
            compile=compile_info,
            roofline=roofline,
            cases_checked=data.get("cases_checked", 0),
            flags=tuple(data.get("flags", ())),
            warnings=tuple(data.get("warnings", ())),
            seeds=tuple(data.get("seeds", ())),
            profile=Profile.from_dict(counters) if isinstance(counters, dict) else None,
        )

    def __str__(self) -> str:
        lines = [f"{self.status.value}: {self.message}"]
        if self.timing:
            lines.append(f"  latency: {self.timing.summary()}")
        if self.roofline:
            lines.append(f"  roofline: {self.roofline.summary()}")
        if self.profile:
            lines.append(f"  counters (Nsight Compute): {reading(self.profile)}")
        if self.compile:
            # A kernel whose PTX said nothing worth a number (no assembler on a CPU) is left out.
            lines.extend(
                f"  resources: {res.summary()}"
                for res in self.compile.resources
                if res.summary() != res.kernel
            )
        lines.append(f"  backend: {self.backend} on {self.device}")
        lines.extend(f"  flag: {flag}" for flag in self.flags)
        lines.extend(f"  warning: {warning}" for warning in self.warnings)
        return "\n".join(lines)


def _compile_dict(info: CompileInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    out = dataclasses.asdict(info)
    out["resources"] = [dataclasses.asdict(r) for r in info.resources]
    return out


def _roofline_dict(roof: Roofline | None) -> dict[str, Any] | None:
    if roof is None:
        return None
    out = dataclasses.asdict(roof)
    out["bandwidth_fraction"] = roof.bandwidth_fraction
    out["compute_fraction"] = roof.compute_fraction
    return out

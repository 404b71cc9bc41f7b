"""What a GPU can do: the facts a roofline, a prompt and a compile target need.

Read off the device where there is one; named profiles (``h100``, ``a100``...) stand in
where there is none. Peak figures are datasheet numbers: leads for a roofline, not
measurements.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """A GPU's name, architecture and limits; `simulated` marks the CPU simulator."""

    name: str
    arch: str  # e.g. "sm_90"
    sm_count: int | None = None
    shared_per_block_bytes: int | None = None
    shared_per_block_optin_bytes: int | None = None
    l2_bytes: int | None = None
    memory_bytes: int | None = None
    peak_gbps: float | None = None
    peak_fp32_gflops: float | None = None
    peak_bf16_tensor_gflops: float | None = None
    simulated: bool = False

    def describe(self) -> str:
        if self.simulated:
            return "CPU simulator (numba-cuda)"
        return f"{self.name} ({self.arch})"


_KB = 1024
_MB = 1024 * 1024

PROFILES: dict[str, DeviceInfo] = {
    "h100": DeviceInfo(
        "NVIDIA H100 SXM",
        "sm_90",
        132,
        48 * _KB,
        227 * _KB,
        50 * _MB,
        80 * 1024 * _MB,
        3350.0,
        66_900.0,
        989_000.0,
    ),
    "h100-pcie": DeviceInfo(
        "NVIDIA H100 PCIe",
        "sm_90",
        114,
        48 * _KB,
        227 * _KB,
        50 * _MB,
        80 * 1024 * _MB,
        2000.0,
        51_200.0,
        756_000.0,
    ),
    "h200": DeviceInfo(
        "NVIDIA H200",
        "sm_90",
        132,
        48 * _KB,
        227 * _KB,
        60 * _MB,
        141 * 1024 * _MB,
        4800.0,
        66_900.0,
        989_000.0,
    ),
    "a100": DeviceInfo(
        "NVIDIA A100 SXM",
        "sm_80",
        108,
        48 * _KB,
        163 * _KB,
        40 * _MB,
        80 * 1024 * _MB,
        2039.0,
        19_500.0,
        312_000.0,
    ),
    "l4": DeviceInfo(
        "NVIDIA L4",
        "sm_89",
        58,
        48 * _KB,
        99 * _KB,
        48 * _MB,
        24 * 1024 * _MB,
        300.0,
        30_300.0,
        121_000.0,
    ),
    "rtx4090": DeviceInfo(
        "NVIDIA GeForce RTX 4090",
        "sm_89",
        128,
        48 * _KB,
        99 * _KB,
        72 * _MB,
        24 * 1024 * _MB,
        1008.0,
        82_600.0,
        165_000.0,
    ),
    "t4": DeviceInfo(
        "NVIDIA T4",
        "sm_75",
        40,
        48 * _KB,
        64 * _KB,
        4 * _MB,
        16 * 1024 * _MB,
        320.0,
        8_100.0,
        65_000.0,
    ),
}

SIMULATOR = DeviceInfo("CPU simulator", "sim", simulated=True)

# FP32 lanes per SM by compute capability major.minor, for devices without a profile.
_FP32_LANES = {
    (7, 0): 64,
    (7, 5): 64,
    (8, 0): 64,
    (8, 6): 128,
    (8, 7): 128,
    (8, 9): 128,
    (9, 0): 128,
    (10, 0): 128,
    (12, 0): 128,
}


def profile(name: str) -> DeviceInfo:
    """A named profile (``h100``, ``a100``, ...) or an architecture name (``sm_90``)."""
    key = name.strip().lower()
    if key in PROFILES:
        return PROFILES[key]
    arch = normalize_arch(key)
    for info in PROFILES.values():
        if info.arch == arch:
            return dataclasses.replace(info, name=f"{arch} (profile of {info.name})")
    return DeviceInfo(name=arch, arch=arch)


def normalize_arch(text: str) -> str:
    """'sm_90', '90', '9.0', 'compute_90' and 'sm_90a' -> 'sm_90' (or 'sm_90a')."""
    m = re.fullmatch(r"(?:sm_|compute_)?(\d+)\.?(\d)?([af]?)", text.strip().lower())
    if not m:
        raise ValueError(f"not a CUDA architecture: {text!r} (try sm_90)")
    major, minor, suffix = m.group(1), m.group(2), m.group(3)
    digits = major + minor if minor is not None else major
    if len(digits) < 2:
        raise ValueError(f"not a CUDA architecture: {text!r} (try sm_90)")
    return f"sm_{digits}{suffix}"


def from_properties(props: Mapping[str, Any]) -> DeviceInfo:
    """Build DeviceInfo from a device's properties, filling peaks from a matching profile."""
    name = str(props.get("name", "NVIDIA GPU"))
    major, minor = int(props.get("major", 0)), int(props.get("minor", 0))
    sm_count = props.get("multiProcessorCount")
    clock_khz = props.get("clockRate")
    mem_clock_khz = props.get("memoryClockRate")
    bus_bits = props.get("memoryBusWidth")
    known = _match_profile(name)
    peak_gbps = known.peak_gbps if known else None
    if peak_gbps is None and mem_clock_khz and bus_bits:
        peak_gbps = 2 * mem_clock_khz * 1e3 * bus_bits / 8 / 1e9
    peak_fp32 = known.peak_fp32_gflops if known else None
    if peak_fp32 is None and clock_khz and sm_count:
        lanes = _FP32_LANES.get((major, minor), 64)
        peak_fp32 = sm_count * lanes * 2 * clock_khz * 1e3 / 1e9
    return DeviceInfo(
        name=name,
        arch=f"sm_{major}{minor}",
        sm_count=int(sm_count) if sm_count else None,
        shared_per_block_bytes=props.get("sharedMemPerBlock"),
        shared_per_block_optin_bytes=props.get("sharedMemPerBlockOptin"),
        l2_bytes=props.get("l2CacheSize"),
        memory_bytes=props.get("totalGlobalMem"),
        peak_gbps=peak_gbps,
        peak_fp32_gflops=peak_fp32,
        peak_bf16_tensor_gflops=known.peak_bf16_tensor_gflops if known else None,
    )


def _match_profile(name: str) -> DeviceInfo | None:
    low = name.lower()
    for key in ("h200", "h100", "a100", "l4", "rtx 4090", "t4"):
        if key in low:
            if key == "h100" and "pcie" in low:
                return PROFILES["h100-pcie"]
            return PROFILES[key.replace(" ", "")]
    return None

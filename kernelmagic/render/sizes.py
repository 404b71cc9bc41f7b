"""The best kernel and the user's, size by size: the final comparison's runs split by the
timing sets' sizes, so a kernel tuned for one size that loses at another shows.
"""

from __future__ import annotations

from kernelmagic.harness.comparison import SizePoint
from kernelmagic.loop.session import Best
from kernelmagic.render.rows import fmt_ms, fmt_speedup

HEADERS = ("input size", "your kernel", "best", "speedup")
NOTE = "medians of the final comparison's interleaved runs on the timing sets of each size"


ONE_SIZE = (
    "every timing set has the same size ({size}): let timing_inputs(seed) vary the sizes to "
    "see the best kernel against yours size by size"
)


def size_points(best: Best | None) -> tuple[SizePoint, ...]:
    """The sizes of the best's confirmed comparison with the user's kernel; () without one."""
    return best.estimate.sizes if best is not None and best.estimate is not None else ()


def one_size(points: tuple[SizePoint, ...]) -> str:
    """What to say instead of a table of one row ("" unless there is exactly one size)."""
    return ONE_SIZE.format(size=points[0].size) if len(points) == 1 else ""


def size_rows(points: tuple[SizePoint, ...]) -> list[tuple[str, str, str, str]]:
    """One row per size: the shapes, both latencies and the speedup at that size."""
    return [(p.size, fmt_ms(p.a_ms), fmt_ms(p.b_ms), fmt_speedup(p.speedup)) for p in points]


def slower_sizes(points: tuple[SizePoint, ...]) -> list[str]:
    """Sizes where the best's median is slower than the user's kernel's."""
    return [p.size for p in points if p.speedup is not None and p.speedup < 1]

"""What every verdict of one evaluation shares, filled in as the evaluation learns it."""

from __future__ import annotations

import dataclasses

from kernelmagic.harness.verdict import CompileInfo, Roofline, Status, Timing, Verdict


@dataclasses.dataclass(frozen=True)
class VerdictBase:
    """What every verdict of one evaluation shares, filled in as the evaluation learns it."""

    sha256: str
    warnings: tuple[str, ...]
    seeds: tuple[int, ...] = ()
    backend: str = ""
    device: str = ""
    compile: CompileInfo | None = None

    def make(
        self,
        status: Status,
        message: str,
        *,
        backend: str | None = None,
        device: str | None = None,
        cases: int = 0,
        timing: Timing | None = None,
        roofline: Roofline | None = None,
        flags: tuple[str, ...] = (),
    ) -> Verdict:
        return Verdict(
            status=status,
            message=message,
            backend=backend or self.backend,
            device=device or self.device,
            source_sha256=self.sha256,
            timing=timing,
            compile=self.compile,
            roofline=roofline,
            cases_checked=cases,
            flags=flags,
            warnings=self.warnings,
            seeds=self.seeds,
        )

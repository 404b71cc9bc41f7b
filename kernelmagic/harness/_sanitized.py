"""The process compute-sanitizer (or Nsight Compute) watches: confine itself as a worker
does, then verify.

Usage (by `_sanitizer.run` and `_profiler.run` only):
``python -m kernelmagic.harness._sanitized JOB_FILE``.
The job file is written by the calling process; the exit code says whether the
verification itself failed, and the tool's report is what the caller reads.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    job = pickle.loads(Path(argv[1]).read_bytes())
    from kernelmagic.harness._sandbox import confine_standalone
    from kernelmagic.harness._worker import verify

    confine_standalone(scratch=str(Path(argv[1]).parent))
    report = verify(job, run=True)
    return 0 if report.failure is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

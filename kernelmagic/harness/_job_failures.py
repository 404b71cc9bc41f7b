"""How a job on the worker pool fails: the three outcomes the harness turns into verdicts,
and which of Dask's exceptions mean which."""

from __future__ import annotations

import asyncio

# Dask raises asyncio's TimeoutError, which is the built-in one only from Python 3.11 on: on
# 3.10, catching the built-in alone let a hung job's worker run on, and every job after it
# waited behind it.
TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError, asyncio.TimeoutError)

# What Dask raises when a job's worker, or one that held its data, went away mid-job.
LOST = ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError")


class JobTimeout(Exception):
    """The job did not finish in time; its worker was killed and replaced."""


class WorkerDied(Exception):
    """The worker process died while running the job; it was restarted."""


class LostData(Exception):
    """Data the job depends on was lost with a worker that died earlier; scatter it again."""

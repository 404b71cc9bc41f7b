"""The harness's side of the worker pool: a stage of an evaluation runs on a worker, and
what goes wrong there (a timeout, a dead worker, lost data) becomes a verdict.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kernelmagic.errors import KernelmagicError, WorkersUnavailable
from kernelmagic.harness._draws import SIM_SLOW_ELEMENTS, Draws
from kernelmagic.harness._job_failures import JobTimeout, LostData, WorkerDied
from kernelmagic.harness._verdict_base import VerdictBase
from kernelmagic.harness.backends import Plan
from kernelmagic.harness.cluster import (
    WorkerKind,
    WorkerPool,
    drop_shared_pool,
    shared_pool,
)
from kernelmagic.harness.jobs import Failure
from kernelmagic.harness.options import HarnessOptions
from kernelmagic.harness.verdict import Status, Verdict


class Workers:
    """The pool one harness uses: the process's shared one, or the caller's own."""

    def __init__(self, options: HarnessOptions, pool: WorkerPool | None, draws: Draws) -> None:
        self._options = options
        self._pool = pool
        self._own_pool = pool is not None  # the caller's pool: not ours to restart
        self.restarts = 0  # pools started after one failed; evaluations in flight compare it
        self.width = 1  # jobs meant to run at once: sizes a pool left to its default
        self._draws = draws
        self._lock = threading.Lock()  # evaluations of one round run in parallel threads
        self._early_failure: Exception | None = None

    @property
    def pool(self) -> WorkerPool:
        with self._lock:
            if self._early_failure is not None:  # the start `start_early` began failed
                failure, self._early_failure = self._early_failure, None
                raise failure
            if self._pool is None:
                self._pool = shared_pool(self._options.cluster.sized(self.width))
            return self._pool

    def start_early(self) -> None:
        """Start the pool in the background: it comes up while the caller draws the cases
        and parses the candidate. Its first use waits for it (and raises what it raised)."""

        def start() -> None:
            with self._lock:
                if self._pool is not None or self._early_failure is not None:
                    return
                try:
                    self._pool = shared_pool(self._options.cluster.sized(self.width))
                except Exception as exc:  # raised where the pool is first used
                    self._early_failure = exc

        threading.Thread(target=start, name="kernelmagic-pool-start", daemon=True).start()

    def restart(self, seen: int) -> bool:
        """After the workers failed, start a new pool (once per harness); False if not ours.

        `seen` is `restarts` when the failing evaluation began: if another one has started
        a new pool since, that pool is the one to try.
        """
        with self._lock:
            if self.restarts != seen:
                return True
            if self._own_pool or self.restarts:
                return False
            self.restarts += 1
            failed, self._pool = self._pool, None
        if failed is not None:
            drop_shared_pool(failed)
        return True

    def run(
        self,
        route: Plan,
        base: VerdictBase,
        stage: str,
        fn: Any,
        make_args: Callable[[], tuple[Any, ...]],
        *,
        prefer: str | None = None,
    ) -> tuple[Any, str] | Verdict:
        """`fn(*make_args())` on a worker of the route's kind, failures made verdicts.

        The arguments are made again for each try: a retry after a worker was replaced
        needs data scattered again (the copy held by the killed worker is gone).
        """
        assert route.worker is not None
        timeout = self._options.timeout_s if stage == "verification" else self.timing_timeout()
        # numba-cuda's simulator now and then stalls while starting a block's threads (seen
        # on a loaded 2-core machine, with no kernelmagic code involved): on the simulator a
        # timeout gets one more try on a fresh worker; a real endless loop times out again.
        retries = 1 if route.worker == "sim" else 0
        while True:
            try:
                return self.submit(
                    route.worker, stage, fn, make_args, timeout_s=timeout, prefer=prefer
                )
            except JobTimeout:
                if retries:
                    retries -= 1
                    continue
                tries = " (twice)" if route.worker == "sim" else ""
                return base.make(
                    Status.TIMEOUT,
                    f"{stage} did not finish within {timeout:g} s{tries} (an endless loop or a "
                    "hung kernel?); its worker was killed and replaced"
                    + (self._simulator_hint() if route.worker == "sim" else ""),
                    backend=route.backend,
                )
            except WorkerDied:
                return base.make(
                    Status.CRASHED,
                    f"the worker process died during {stage} (a segfault, os._exit or running "
                    "out of memory); a new worker replaced it",
                    backend=route.backend,
                )
            except KernelmagicError:
                raise
            except Exception as exc:  # a bug in kernelmagic's worker code, not the candidate's
                return base.make(
                    Status.RUNTIME_ERROR,
                    f"kernelmagic failed in the worker during {stage} "
                    f"({type(exc).__name__}: {exc}); please report this",
                    backend=route.backend,
                )

    def submit(
        self,
        kind: WorkerKind,
        stage: str,
        fn: Any,
        make_args: Callable[[], tuple[Any, ...]],
        *,
        timeout_s: float,
        prefer: str | None = None,
    ) -> tuple[Any, str]:
        """`pool.run` with the arguments made again, once, when the data they name was lost
        with a worker that died earlier (scattered timing sets live on the workers)."""
        try:
            return self.pool.run(kind, fn, *make_args(), timeout_s=timeout_s, prefer=prefer)
        except LostData:
            pass
        try:
            return self.pool.run(kind, fn, *make_args(), timeout_s=timeout_s, prefer=prefer)
        except LostData:
            raise WorkersUnavailable(
                f"{stage}: the data it needs was lost twice with its workers"
            ) from None

    def failed(self, failure: Failure, worker: str, base: VerdictBase) -> Verdict:
        if failure.replace_worker:
            self.pool.replace(worker)
        return base.make(failure.status, failure.message)

    def timing_timeout(self) -> float:
        """A timing job's bound: the stage timeout plus room for its timing budget."""
        return self._options.timeout_s + 3 * self._options.timing.budget_ms / 1e3

    def _simulator_hint(self) -> str:
        """What a simulator timeout may owe to the problem's sizes rather than the kernel."""
        largest = self._draws.largest_input()
        if largest < SIM_SLOW_ELEMENTS:
            return ""
        return (
            f". The CPU simulator runs about 10,000 GPU threads a second and the inputs have "
            f"up to {largest:,} elements: a slow but correct kernel can time out too; give "
            "inputs(seed) smaller sizes (time large ones on a GPU) or a larger --timeout"
        )

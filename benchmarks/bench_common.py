"""What the speed benchmarks share: CPU time, peak memory, first touches and spinning processes for a busy machine.

Used by ``gradient.py``, ``solvers.py`` and ``train_scale.py`` (run from the repository or from
``benchmarks/``; each puts this folder on ``sys.path`` as the script's own folder).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Callable


def cpu_s() -> float:
    """CPU seconds of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def first_touch(mb: float) -> tuple[float, float]:
    """Wall and kernel seconds to write the first byte of each 4 KB page of ``mb`` MB of fresh memory.

    What a first factorisation pays beyond a second one for its factor's memory
    (MKL maps fresh 4 KB pages).  On this VM the host takes back memory the
    guest frees (the balloon's free page reporting), so a first touch can cost
    the host's page fault too: 0.2-2.4 s a GB measured (docs/physics.md).
    """
    import mmap

    import numpy as np

    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with mmap.mmap(-1, int(mb * 2**20)) as region:
        pages = np.frombuffer(region, dtype=np.uint8)[::4096]
        pages[:] = 1
        del pages
    wall = time.perf_counter() - t0
    return wall, resource.getrusage(resource.RUSAGE_SELF).ru_stime - r0.ru_stime


def _busy_loop(seconds: float) -> None:  # pragma: no cover  (runs in a child process)
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


class BusyCores:
    """``count`` processes that spin for at most ``seconds``; killed on exit."""

    def __init__(self, count: int = 2, seconds: float = 120.0):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.procs = [ctx.Process(target=_busy_loop, args=(seconds,), daemon=True) for _ in range(count)]

    def __enter__(self):
        for p in self.procs:
            p.start()
        time.sleep(0.5)  # let them reach the loop
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.join()
        return False


def run_busy(busy: int, run: Callable[[], int]) -> int:
    """``run()`` as it is, or (``busy`` > 0) with that many spinning processes (at most 15 min)."""
    if not busy:
        return run()
    with BusyCores(busy, seconds=900.0):
        return run()


def pardiso_threads(net) -> list[int]:
    """The thread count of each PARDISO handle the network's solver cache holds."""
    return [v[0].threads for v in net._solver_cache.values() if hasattr(v[0], "threads")]


@contextlib.contextmanager
def solver_threads_env(value: str | None):
    """``LABMNN_SOLVER_THREADS`` set to ``value`` (None: unset) inside the block, the user's own after it."""
    old = os.environ.pop("LABMNN_SOLVER_THREADS", None)
    if value is not None:
        os.environ["LABMNN_SOLVER_THREADS"] = value
    try:
        yield
    finally:
        os.environ.pop("LABMNN_SOLVER_THREADS", None)
        if old is not None:
            os.environ["LABMNN_SOLVER_THREADS"] = old

"""Threads: BLAS single-threaded around many tiny solves; idle cores for big ones.

Training a small network does thousands of solves on matrices of a few dozen
unknowns; OpenBLAS threads only add synchronisation there (and, on a shared
machine, make a 0.5 s run take several seconds).  ``small_solves()`` limits
BLAS to one thread with ``threadpoolctl`` when it is installed, and does
nothing otherwise.

A large sparse factorisation, on the other hand, gains from a second core when
one is idle and loses when other processes hold it: ``busy_elsewhere_now()``
measures the cores other processes keep busy (from /proc/stat, less this
process's own CPU time) and ``threads_for`` turns that into a thread count.

Example
-------
>>> with small_solves():
...     pass
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import numpy as np


def small_solves():
    """A context manager limiting BLAS/OpenMP pools to one thread (if threadpoolctl is present)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


# ---------------------------------------------------------------- idle cores
# How many cores other processes leave free, from /proc/stat: the whole machine's
# busy time over a window, less this process's own CPU time over the same window.
# PARDISO takes a second thread for a large system only when a core is idle
# (labmnn.model.solver.solver_threads; figures in docs/physics.md).

IDLE_WINDOW_S = 0.1  # shortest window read (HZ = 100: 10 jiffies a core)
IDLE_REUSE_S = 1.0  # an estimate younger than this is reused as it stands
IDLE_STALE_S = 30.0  # a previous reading older than this starts a fresh window (an exact-model training
# step at 10^5 nodes takes ~16 s: its factorisations measure over the last step, without a wait)


@dataclass(frozen=True)
class CpuReading:
    """One look at the machine's and this process's CPU counters.

    Attributes
    ----------
    at : float
        ``time.monotonic()`` seconds.
    busy, total : int
        Jiffies of all cores from /proc/stat's ``cpu`` line: busy (not idle,
        not waiting for I/O) and in all.
    own : float
        CPU seconds of this process, all threads (``time.process_time``).
    """

    at: float
    busy: int
    total: int
    own: float


def read_cpu() -> CpuReading | None:
    """The counters now, or None where /proc/stat is not there (not Linux)."""
    try:
        with open("/proc/stat", "rb") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return CpuReading(time.monotonic(), sum(ticks) - idle, sum(ticks), time.process_time())


def others_busy(before: CpuReading, after: CpuReading, cores: int, clock_ticks: int = 100) -> float:
    """Cores kept busy by other processes between two readings (0 .. ``cores``)."""
    total = after.total - before.total
    if total <= 0:
        return 0.0
    others = (after.busy - before.busy) - (after.own - before.own) * clock_ticks
    return min(float(cores), max(0.0, cores * others / total))


def threads_for(n: int, busy_elsewhere: float | None, cores: int, parallel_from: int) -> int:
    """Threads for a sparse factorisation of ``n`` unknowns.

    One below ``parallel_from`` unknowns or when nothing is known of the load;
    else one thread for this process plus one for every core the other
    processes leave idle (rounded to the nearest whole core), at most ``cores``.
    """
    if n < parallel_from or busy_elsewhere is None or cores < 2:
        return 1
    spare = cores - 1 - busy_elsewhere
    return max(1, min(cores, 1 + int(np.floor(spare + 0.5))))


_LAST: CpuReading | None = None  # the previous reading
_ESTIMATE: tuple[float, float] | None = None  # (monotonic time, cores busy elsewhere)


def open_window() -> None:
    """Take a reading now, so that a later :func:`busy_elsewhere_now` need not wait for its window.

    Called where a large factorisation is about to be prepared (the ordering of
    a big network takes longer than the window): its thread choice then costs
    no 0.1 s wait.  Does nothing when a reading fresh enough to measure from
    is already there.
    """
    global _LAST
    if _LAST is None or time.monotonic() - _LAST.at > IDLE_STALE_S:
        _LAST = read_cpu()


def busy_elsewhere_now() -> float | None:
    """Cores other processes keep busy, measured since the previous reading (at most 30 s; None: unknown).

    Reuses an estimate for ``IDLE_REUSE_S``; otherwise measures over the time
    since the previous reading (:func:`open_window` makes one ahead of need)
    when that is at most ``IDLE_STALE_S`` old, waiting only for what is missing
    of ``IDLE_WINDOW_S``; else reads twice ``IDLE_WINDOW_S`` apart.  A reading
    costs ~20 us.
    """
    global _LAST, _ESTIMATE
    now = time.monotonic()
    if _ESTIMATE is not None and now - _ESTIMATE[0] < IDLE_REUSE_S:
        return _ESTIMATE[1]
    open_window()  # the previous reading if fresh enough, else one now
    before = _LAST
    if before is None:
        return None
    wait = IDLE_WINDOW_S - (time.monotonic() - before.at)
    if wait > 0:  # the window is not long enough yet: only what is missing of it
        time.sleep(wait)
    after = read_cpu()
    if after is None:
        return None
    _LAST = after
    busy = others_busy(before, after, os.cpu_count() or 1, _clock_ticks())
    _ESTIMATE = (after.at, busy)
    return busy


def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover
        return 100

"""Keep BLAS single-threaded around many tiny solves.

Training a small network does thousands of solves on matrices of a few dozen
unknowns; OpenBLAS threads only add synchronisation there (and, on a shared
machine, make a 0.5 s run take several seconds).  ``small_solves()`` limits
BLAS to one thread with ``threadpoolctl`` when it is installed, and does
nothing otherwise.

Example
-------
>>> with small_solves():
...     pass
"""

from __future__ import annotations

import contextlib


def small_solves():
    """A context manager limiting BLAS/OpenMP pools to one thread (if threadpoolctl is present)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)

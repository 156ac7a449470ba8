"""The printed network as training sees it: something to print and to measure.

Training methods that use a print (:mod:`labmnn.training.methods`) reach it only
through :class:`PrintedNetwork`; the command line plugs in the simulated print
world (``hardware_sim.print_world.PrintWorld``) or, one day, the rig.
:class:`BenchLog` wraps one and counts what the training cost: loadings hung,
prints made, bench hours.

Example
-------
>>> log = BenchLog(world)                           # doctest: +SKIP
>>> log.reprint(widths); U = log.measure(F)          # doctest: +SKIP
>>> log.loadings, log.prints                         # doctest: +SKIP
(16, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

SECONDS_PER_LOADING = 60.0  # hang the stacks, let them settle, photograph, unhang: by hand (an estimate)
SECONDS_PER_PRINT = 900.0   # unmount the old print, mount the new one, reference photographs (an estimate)


@runtime_checkable
class PrintedNetwork(Protocol):
    """A printed network on a bench."""

    def reprint(self, widths: np.ndarray) -> None:
        """Print the design with bar ``widths`` (m) and mount the print."""

    def measure(self, forces: np.ndarray) -> np.ndarray:
        """Hang each row of ``forces`` (S, n, 2) N in turn; measured displacements (S, n, 2) m."""

    def truth(self, forces: np.ndarray) -> np.ndarray:
        """Noise-free displacements of the current print (scoring; not a bench cost)."""


@dataclass
class BenchLog:
    """A :class:`PrintedNetwork` that counts loadings and prints.

    Attributes
    ----------
    printed : PrintedNetwork
    loadings, prints : int
    widths : ndarray or None
        Widths of the current print (m).
    """

    printed: PrintedNetwork
    loadings: int = 0
    prints: int = 0
    widths: np.ndarray | None = None
    seconds_per_loading: float = SECONDS_PER_LOADING
    seconds_per_print: float = SECONDS_PER_PRINT

    def reprint(self, widths) -> None:
        self.widths = np.array(widths, dtype=float)
        self.prints += 1
        self.printed.reprint(self.widths)

    def measure(self, forces) -> np.ndarray:
        F = np.asarray(forces, dtype=float)
        self.loadings += len(F)
        return self.printed.measure(F)

    def truth(self, forces) -> np.ndarray:
        return self.printed.truth(np.asarray(forces, dtype=float))

    @property
    def bench_hours(self) -> float:
        """Loadings and print changes, in hours at the bench."""
        return (self.loadings * self.seconds_per_loading + self.prints * self.seconds_per_print) / 3600.0

    def cost(self) -> dict:
        return {"loadings": int(self.loadings), "prints": int(self.prints), "bench_hours": float(self.bench_hours),
                "seconds_per_loading": self.seconds_per_loading, "seconds_per_print": self.seconds_per_print}

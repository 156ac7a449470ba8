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

from dataclasses import dataclass, field
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

    def remount(self, number: int) -> None:
        """Mount an earlier print again (1 = the first print made); nothing is printed."""


@dataclass
class BenchLog:
    """A :class:`PrintedNetwork` that counts loadings and prints.

    Attributes
    ----------
    printed : PrintedNetwork
    loadings, prints : int
    widths : ndarray or None
        Widths of the current print (m).
    current : int
        Number of the mounted print (1 = the first).
    remounts : int
        Earlier prints mounted again (each costs a print change, nothing printed).
    measured : dict
        Print number -> list of losses measured on it (filled by the training loop).
    """

    printed: PrintedNetwork
    loadings: int = 0
    prints: int = 0
    widths: np.ndarray | None = None
    current: int = 0
    remounts: int = 0
    measured: dict = field(default_factory=dict)
    shelf: dict = field(default_factory=dict)
    seconds_per_loading: float = SECONDS_PER_LOADING
    seconds_per_print: float = SECONDS_PER_PRINT

    def reprint(self, widths) -> None:
        self.widths = np.array(widths, dtype=float)
        self.prints += 1
        self.current = self.prints
        self.shelf[self.current] = self.widths
        self.printed.reprint(self.widths)

    def remount(self, number: int) -> None:
        """Mount print ``number`` again (a print change at the bench, no new print)."""
        if number == self.current:
            return
        self.printed.remount(number)
        self.widths = self.shelf[number].copy()
        self.current = number
        self.remounts += 1

    def best_measured(self, min_count: int = 1) -> int | None:
        """The print with the lowest mean measured loss (among those measured ``min_count`` times or more)."""
        ok = {k: float(np.mean(v)) for k, v in self.measured.items() if len(v) >= min_count}
        return min(ok, key=ok.get) if ok else None

    def measure(self, forces) -> np.ndarray:
        F = np.asarray(forces, dtype=float)
        self.loadings += len(F)
        return self.printed.measure(F)

    def truth(self, forces) -> np.ndarray:
        return self.printed.truth(np.asarray(forces, dtype=float))

    @property
    def bench_hours(self) -> float:
        """Loadings and print changes, in hours at the bench."""
        changes = self.prints + self.remounts
        return (self.loadings * self.seconds_per_loading + changes * self.seconds_per_print) / 3600.0

    def cost(self) -> dict:
        return {"loadings": int(self.loadings), "prints": int(self.prints), "remounts": int(self.remounts),
                "final_print": int(self.current), "bench_hours": float(self.bench_hours),
                "seconds_per_loading": self.seconds_per_loading, "seconds_per_print": self.seconds_per_print}

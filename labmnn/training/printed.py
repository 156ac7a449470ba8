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

    def wait(self, seconds: float) -> None:
        """Leave the mounted print unloaded for ``seconds`` (it ages; nothing is measured)."""


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
    condition_s : float
        Conditioning: every *new* print waits this long on the bench, unloaded,
        before its first loading (it ages past its fastest creep); a print
        never loaded (e.g. the final print of in-silico training) is not
        conditioned, a remounted print keeps its age.  Counted in
        :attr:`bench_hours` (the bench is busy) and in :meth:`cost` as
        ``condition_hours``.
    conditioned_s : float
        Conditioning time spent so far, s.
    age_s : float
        Bench age of the mounted print by the lab's clock (conditioning plus
        ``seconds_per_loading`` per loading hung on it), s.
    measured_age : dict
        Print number -> the age (middle of the loading batch) of each loss in :attr:`measured`.
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
    condition_s: float = 0.0
    conditioned_s: float = 0.0
    age_s: float = 0.0
    measured_age: dict = field(default_factory=dict)
    _ages: dict = field(default_factory=dict, repr=False)
    _last_age: float = field(default=0.0, repr=False)
    _to_condition: set = field(default_factory=set, repr=False)

    def reprint(self, widths) -> None:
        """Print ``widths`` and mount the print (conditioned before its first loading, :meth:`measure`)."""
        self.widths = np.array(widths, dtype=float)
        if self.current:
            self._ages[self.current] = self.age_s
        self.prints += 1
        self.current = self.prints
        self.shelf[self.current] = self.widths
        self.printed.reprint(self.widths)
        self.age_s = 0.0
        if self.condition_s > 0:
            self._to_condition.add(self.current)

    def remount(self, number: int) -> None:
        """Mount print ``number`` again (a print change at the bench, no new print)."""
        if number == self.current:
            return
        self.printed.remount(number)
        self._ages[self.current] = self.age_s
        self.widths = self.shelf[number].copy()
        self.age_s = self._ages.pop(number)
        self.current = number
        self.remounts += 1

    def note(self, loss: float) -> None:
        """Record ``loss`` as measured on the mounted print by the last :meth:`measure` (with its age)."""
        self.measured.setdefault(self.current, []).append(float(loss))
        self.measured_age.setdefault(self.current, []).append(self._last_age)

    def best_measured(self, min_count: int = 1, max_age_s: float | None = None) -> int | None:
        """The print with the lowest mean measured loss (among those measured ``min_count`` times or more).

        With ``max_age_s`` only losses measured on a print younger than that
        count (prints compared at like ages: the modulus creeps with age).
        """
        ok = {}
        for k, v in self.measured.items():
            v = np.asarray(v, dtype=float)
            if max_age_s is not None:
                v = v[np.asarray(self.measured_age.get(k, []), dtype=float) <= max_age_s]
            if len(v) >= max(min_count, 1):
                ok[k] = float(np.mean(v))
        return min(ok, key=ok.get) if ok else None

    def measure(self, forces) -> np.ndarray:
        F = np.asarray(forces, dtype=float)
        if self.current in self._to_condition:  # a new print: condition it before its first loading
            self._to_condition.discard(self.current)
            self.printed.wait(self.condition_s)
            self.conditioned_s += self.condition_s
            self.age_s += self.condition_s
        self.loadings += len(F)
        self._last_age = self.age_s + 0.5 * (len(F) - 1) * self.seconds_per_loading
        self.age_s += len(F) * self.seconds_per_loading
        return self.printed.measure(F)

    def truth(self, forces) -> np.ndarray:
        return self.printed.truth(np.asarray(forces, dtype=float))

    @property
    def bench_hours(self) -> float:
        """Loadings, print changes and conditioning, in hours at the bench."""
        changes = self.prints + self.remounts
        return (self.loadings * self.seconds_per_loading + changes * self.seconds_per_print
                + self.conditioned_s) / 3600.0

    def cost(self) -> dict:
        return {"loadings": int(self.loadings), "prints": int(self.prints), "remounts": int(self.remounts),
                "final_print": int(self.current), "bench_hours": float(self.bench_hours),
                "condition_s": float(self.condition_s), "condition_hours": float(self.conditioned_s / 3600.0),
                "seconds_per_loading": self.seconds_per_loading, "seconds_per_print": self.seconds_per_print}

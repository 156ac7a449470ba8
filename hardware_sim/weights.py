"""A box of calibrated-ish weights, each piece with its own true mass.

>>> ws = SimWeightSet({1: 4, 2: 4, 5: 4, 10: 4, 20: 2}, rel_error=0.003, seed=0)
>>> [p.nominal_g for p in ws.pick(13)]
[10.0, 2.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labmnn.errors import InputError

DEFAULT_SET = {1: 4, 2: 4, 5: 4, 10: 4, 20: 2}


@dataclass(frozen=True)
class WeightPiece:
    """One physical weight: ``nominal_g`` stamped on it, ``true_g`` what it weighs."""

    id: int
    nominal_g: float
    true_g: float


class SimWeightSet:
    """Weights by nominal grams and count; each piece's true mass is
    ``nominal * (1 + rel_error * N(0, 1))``, fixed by ``seed``.

    :meth:`pick` takes pieces out of the box (largest first) and
    :meth:`release` puts them back.
    """

    def __init__(self, pieces: dict | None = None, rel_error: float = 0.003, seed: int = 0):
        spec = dict(DEFAULT_SET if pieces is None else pieces)
        nominal = []
        for g, count in sorted(spec.items(), key=lambda kv: -float(kv[0])):
            if not float(g) > 0 or int(count) < 0:
                raise InputError("weight set", str(g), f"needs a positive mass and a count, got {count!r}")
            nominal += [float(g)] * int(count)
        rng = np.random.default_rng([int(seed), 5])
        true = np.asarray(nominal) * (1 + rel_error * rng.standard_normal(len(nominal)))
        self.pieces = [WeightPiece(i, g, float(t)) for i, (g, t) in enumerate(zip(nominal, true))]
        self._free = set(range(len(self.pieces)))

    def available(self) -> list[WeightPiece]:
        """Pieces still in the box, heaviest first."""
        return [p for p in self.pieces if p.id in self._free]

    def pick(self, nominal_grams: float) -> list[WeightPiece]:
        """Take out pieces whose nominal masses add up to ``nominal_grams``.

        Raises
        ------
        InputError
            If the free pieces cannot make that mass exactly.
        """
        target = float(nominal_grams)
        free = self.available()
        chosen = _subset_sum(np.array([p.nominal_g for p in free]), target)
        if chosen is None:
            have = ", ".join(f"{p.nominal_g:g}" for p in free) or "none"
            raise InputError("weight set", "nominal_grams",
                             f"cannot make {target:g} g from the free pieces ({have} g)")
        picked = [free[i] for i in chosen]
        self._free -= {p.id for p in picked}
        return picked

    def release(self, pieces) -> None:
        """Put pieces back in the box."""
        self._free |= {p.id for p in pieces}

    def release_all(self) -> None:
        self._free = set(range(len(self.pieces)))


def _subset_sum(values: np.ndarray, target: float, tol: float = 1e-6) -> list[int] | None:
    """Indices of a subset of ``values`` (sorted large first) summing to ``target``:
    greedy first, then an exact search over reachable sums on a 1 mg grid."""
    if target <= tol:
        return [] if abs(target) <= tol else None
    rest, chosen = target, []
    for i, v in enumerate(values):
        if v <= rest + tol:
            chosen.append(i)
            rest -= v
    if abs(rest) <= tol:
        return chosen
    q = np.round(values * 1000).astype(np.int64)
    goal = int(round(target * 1000))
    if abs(goal - target * 1000) > 1e-3 or np.any(np.abs(q - values * 1000) > 1e-3):
        return None
    reach = {0: []}
    for i, v in enumerate(q):
        reach.update({s + v: idx + [i] for s, idx in list(reach.items()) if s + v <= goal and s + v not in reach})
        if goal in reach:
            return reach[goal]
    return None

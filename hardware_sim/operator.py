"""The simulated operator: takes weights out of the box, weighs them, hangs them.

Implements :class:`labmnn.devices.Loader`.  What it hangs is the *true* mass of
the pieces it picked (each piece has its own manufacturing error), plus the
hanger; when the pieces for a load were just weighed, those same pieces are
hung (as a careful operator does).

Example
-------
>>> import labmnn
>>> from hardware_sim.rig import SimRig
>>> rig = SimRig(labmnn.Network.example("paper-triangle-n4"))
>>> op = SimOperator(rig)
>>> grams = op.put_on_balance(10)
>>> rig.pan_mass_g == grams
True
>>> op.apply(12, 10)
>>> round(rig.hung_grams[12], 6) == round(grams, 6)
True
"""

from __future__ import annotations

from labmnn.errors import InputError

from .weights import SimWeightSet, WeightPiece


class SimOperator:
    """Loads a :class:`SimRig` with pieces of a :class:`SimWeightSet`.

    Parameters
    ----------
    rig : SimRig
    weight_set : SimWeightSet, optional
        Default: ``rig.weights``.
    hanger_g : float
        Mass of the string and hook added to every load (true grams).
    """

    def __init__(self, rig, weight_set: SimWeightSet | None = None, hanger_g: float = 0.0):
        self.rig = rig
        self.weight_set = weight_set if weight_set is not None else rig.weights
        self.hanger_g = float(hanger_g)
        self.hung: list[tuple[int, tuple[float, float], list[WeightPiece]]] = []
        self.on_pan: list[WeightPiece] = []
        self._weighed: tuple[float, list[WeightPiece]] | None = None

    # -------------------------------------------------------------- Loader
    def apply(self, node: int, grams: float, direction=(0.0, -1.0)) -> None:
        """Hang weights of ``grams`` nominal on ``node``; reuses the pieces just weighed
        when their nominal total is ``grams``."""
        nominal = float(grams)
        if self._weighed is not None and abs(self._weighed[0] - nominal) < 1e-9:
            pieces = self._weighed[1]
            self._weighed = None
            self.on_pan = [p for p in self.on_pan if p not in pieces]
            self.rig.pan_mass_g = sum(p.true_g for p in self.on_pan)
        else:
            pieces = self.weight_set.pick(nominal)
        true_g = sum(p.true_g for p in pieces) + self.hanger_g
        try:
            self.rig.hang(node, true_g, direction)
        except InputError:
            self.weight_set.release(pieces)
            raise
        self.hung.append((int(node), tuple(direction), pieces))

    def clear(self) -> None:
        """Take every weight off the network and put it back in the box."""
        self.rig.clear()
        for _, _, pieces in self.hung:
            self.weight_set.release(pieces)
        self.hung.clear()

    # ------------------------------------------------------------- balance
    def put_on_balance(self, nominal_grams: float) -> float:
        """Put pieces making ``nominal_grams`` on the balance pan; returns their true grams."""
        pieces = self.weight_set.pick(float(nominal_grams))
        self.on_pan += pieces
        self._weighed = (float(nominal_grams), pieces)
        self.rig.pan_mass_g = sum(p.true_g for p in self.on_pan)
        return sum(p.true_g for p in pieces)

    def take_off_balance(self) -> None:
        """Empty the pan; pieces not hung go back in the box."""
        weighed = self._weighed[1] if self._weighed else []
        self.weight_set.release([p for p in self.on_pan if p not in weighed])
        self.on_pan = []
        self.rig.pan_mass_g = 0.0

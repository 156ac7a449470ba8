"""The devices a protocol runs on, bundled: camera, balance, tracker factory.

The engine sees only this bundle, so the same engine drives the real rig, the
simulated rig (``hardware_sim``) and the small fakes of the tests.

A tracker is made from a reference photograph and tracks later photographs
against it; ``track(path)`` returns an object with ``displacements_network_mm``
(n, 2), ``elongations_mm`` (m,) (geometric), ``confidence`` (n,) and ``lost``
(n,) bool, as :class:`labmnn.metrology.tracking.TrackResult` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from ..devices import Balance, Camera


class Tracker(Protocol):
    def track(self, image_path: Path) -> Any: ...


@dataclass
class Bench:
    """Everything the engine drives.

    Attributes
    ----------
    camera : Camera
    balance : Balance
    make_tracker : callable
        ``make_tracker(reference_image_path, network, settings) -> Tracker``.
    calibration : Path or None
        The calibration file in use (copied into the session).
    image_size : (width, height) or None
        The size the calibration was made at, checked against the first photo.
    install_network : callable or None
        Simulated rigs only: swap in an updated design (in-situ training).
    sim_operator : object or None
        The simulated operator, for :class:`~labmnn.protocol.operator.AutoOperator`.
    extra : dict
        Anything the bench wants recorded in the session's start record.
    """

    camera: Camera
    balance: Balance
    make_tracker: Callable[[Path, Any, dict], Tracker]
    calibration: Path | None = None
    image_size: tuple[int, int] | None = None
    install_network: Callable[[Any], None] | None = None
    sim_operator: Any = None
    extra: dict = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Release every device (errors while closing are ignored)."""
        for dev in (self.camera, self.balance):
            try:
                dev.close()
            except Exception:  # noqa: BLE001 - closing must not mask the run's outcome
                pass
        for fn in self.closers:
            try:
                fn()
            except Exception:  # noqa: BLE001
                pass


def track_arrays(result, n_nodes: int, n_bonds: int) -> dict:
    """A tracker result as recorded (millimetres, plain lists)."""
    lost = np.asarray(getattr(result, "lost", np.zeros(n_nodes, bool)), dtype=bool).reshape(n_nodes)
    conf = np.asarray(getattr(result, "confidence", np.ones(n_nodes)), dtype=float).reshape(n_nodes)
    return {
        "displacements_mm": np.asarray(result.displacements_network_mm, dtype=float).reshape(n_nodes, 2).tolist(),
        "elongations_geo_mm": np.asarray(result.elongations_mm, dtype=float).reshape(n_bonds).tolist(),
        "confidence": conf.tolist(),
        "lost": lost.tolist(),
    }

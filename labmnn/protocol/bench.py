"""The devices a protocol runs on, bundled: camera, balance, tracker factory.

The engine sees only this bundle, so the same engine drives the real rig, the
simulated rig (assembled by the command line, ``labmnn.cli.sim``) and the small
fakes of the tests.

A tracker is made from a reference photograph and tracks later photographs
against it; ``track(path)`` returns an object with ``displacements_network_mm``
(n, 2), ``elongations_mm`` (m,) (geometric), ``confidence`` (n,) and ``lost``
(n,) bool, as :class:`labmnn.metrology.tracking.TrackResult` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from labmnn.devices import Balance, Camera


class Tracker(Protocol):
    def track(self, image_path: Path) -> Any: ...


class TrackerFactory(Protocol):
    """``make_tracker(reference_image_path, network, settings, joints_px=None) -> Tracker``."""

    def __call__(self, reference_path: Path, network: Any, settings: dict, joints_px: Any = None, /) -> Tracker: ...


@dataclass
class Bench:
    """Everything the engine drives.

    Attributes
    ----------
    camera : Camera
    balance : Balance
    make_tracker : callable
        ``make_tracker(reference_image_path, network, settings, joints_px=None) -> Tracker``;
        ``joints_px`` are recorded joint pixels of that reference (reanalysis, resume).
        A tracker may expose ``reference.joints_px`` (recorded with the reference step).
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
    make_tracker: TrackerFactory
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


def metrology_tracker_factory(calibration_path: Path | None, joints_px=None):
    """``make_tracker`` built on :class:`labmnn.metrology.tracking.JointTracker`.

    ``joints_px`` gives rough joint pixels in the reference photo: an (n, 2) array, a
    callable ``joints_px(reference_path)``, or None (the ``joints`` file named in the
    protocol's ``[tracking]``, else automatic detection).
    """
    from labmnn.metrology.calibration import Calibration
    from labmnn.metrology.tracking import JointTracker

    cal = Calibration.load(calibration_path) if calibration_path is not None else None

    def make(reference_path: Path, net, settings: dict, recorded_joints_px=None):
        settings = dict(settings)
        if recorded_joints_px is not None:
            joints = np.asarray(recorded_joints_px, dtype=float)
        else:
            joints = joints_px(reference_path) if callable(joints_px) else joints_px
        joints_file = settings.pop("joints", None)
        if joints is None and joints_file is not None:
            from labmnn.metrology.jointsfile import read_joints_csv

            joints = read_joints_csv(joints_file, net.n_nodes)
        return _PathTracker(JointTracker(cal, net, str(reference_path), joints_px=joints, **settings))

    return make


class _PathTracker:
    takes_prediction = True  # track(path, displacements_network_mm=...) centres the search on a prediction

    def __init__(self, tracker):
        self.tracker = tracker
        self.reference = tracker.reference

    def track(self, image_path: Path, displacements_network_mm=None):
        """Track a photo; ``displacements_network_mm`` (n, 2), the model's prediction for the load
        hung, centres each joint's search where that load should have taken it."""
        pred = None if displacements_network_mm is None else self.tracker.predict_px(displacements_network_mm)
        return self.tracker.track(str(image_path), predicted_px=pred, from_model=pred is not None)


def open_bench(spec, net=None, calibration: Path | None = None) -> Bench:
    """The real rig's devices for a run: the tethered camera, the MT-SICS balance.

    The simulated rig is built by the command line (``labmnn.cli.sim.bench``) and
    handed to the runner as a ready bench or a factory.

    Parameters
    ----------
    spec : ProtocolSpec
        Camera and balance settings.
    net : Network, optional
        The network on the rig (unused by the real devices; the simulated
        benches take the same arguments).
    calibration : Path, optional
        Overrides the protocol's calibration file.

    Raises
    ------
    InputError
        If the protocol names no balance port.
    DeviceError
        If a device cannot be opened (with advice).
    """
    from labmnn.errors import InputError
    from labmnn.instruments.factory import open_balance, open_camera

    cal = calibration or spec.calibration
    if not spec.balance.get("port"):
        raise InputError(str(spec.path), "balance.port", "is missing: name the balance's serial port "
                         "(e.g. \"/dev/ttyUSB0\") in [balance], or run with --sim")
    cam = open_camera()
    bal = open_balance(port=spec.balance.get("port"), baud=spec.balance.get("baud", 9600),
                       timeout=spec.balance.get("timeout", 2.0),
                       settle_timeout=spec.balance.get("settle_timeout", 10.0))
    return Bench(camera=cam, balance=bal, make_tracker=metrology_tracker_factory(cal), calibration=cal,
                 image_size=calibration_size(cal), extra={"sim": False})


def calibration_size(cal: Path | None):
    """The ``image_size`` (width, height) recorded in calibration file ``cal``, or None."""
    if cal is None:
        return None
    try:
        import json

        data = json.loads(Path(cal).read_text())
        size = data.get("image_size")
        return tuple(size) if size else None
    except (OSError, ValueError, AttributeError):
        return None

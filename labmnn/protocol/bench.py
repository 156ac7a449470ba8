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

from labmnn.devices import Balance, Camera


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
    def __init__(self, tracker):
        self.tracker = tracker
        self.reference = tracker.reference

    def track(self, image_path: Path):
        return self.tracker.track(str(image_path))


def open_bench(spec, net, sim: bool = False, seed: int = 0, calibration: Path | None = None,
               mechanics: str = "linear", stiffness_error: float = 0.0, print_seed: int = 0) -> Bench:
    """The devices for a run: the simulated rig (``sim``) or the real one.

    Parameters
    ----------
    spec : ProtocolSpec
        Camera, balance and weight-set settings.
    net : Network
        The network on the rig (the simulated rig is built from it).
    sim : bool
    seed : int
        Seed of the simulated rig, camera noise and weight set.
    calibration : Path, optional
        Overrides the protocol's calibration file.
    mechanics : {"linear", "nonlinear"}
        Simulated rig only: the bar model, or the bars' exact large-rotation equilibrium.
    stiffness_error : float
        Simulated rig only: the "printed" part's bonds are off their design
        stiffness by a uniform random factor in ``[-stiffness_error, +stiffness_error]``
        (``print_seed`` fixes the pattern, so sessions on one print share it);
        for an identified network the errors apply to its design (``design_stiffness``).

    Raises
    ------
    DeviceError
        If a device cannot be opened (with advice), or the simulated rig is not installed.
    """
    from labmnn.errors import DeviceError
    from labmnn.instruments.factory import open_balance, open_camera

    cal = calibration or spec.calibration
    if not sim:
        from labmnn.errors import InputError

        if not spec.balance.get("port"):
            raise InputError(str(spec.path), "balance.port", "is missing: name the balance's serial port "
                             "(e.g. \"/dev/ttyUSB0\") in [balance], or run with --sim")
        cam = open_camera(sim=False)
        bal = open_balance(port=spec.balance.get("port"), baud=spec.balance.get("baud", 9600),
                           timeout=spec.balance.get("timeout", 2.0),
                           settle_timeout=spec.balance.get("settle_timeout", 10.0))
        return Bench(camera=cam, balance=bal, make_tracker=metrology_tracker_factory(cal), calibration=cal,
                     image_size=_calibration_size(cal), extra={"sim": False})
    try:
        from hardware_sim.operator import SimOperator
        from hardware_sim.rig import SimRig
        from hardware_sim.weights import SimWeightSet
    except ImportError as exc:
        raise DeviceError(f"the simulated rig is not available in this build ({exc})") from None
    weights = SimWeightSet(dict(zip(spec.weights.sizes_g, spec.weights.counts)), seed=seed)
    rig = SimRig(net, seed=seed, weights=weights, mechanics=mechanics)
    print_factor = printed_stiffness_factor(net.n_bonds, stiffness_error, print_seed)
    if stiffness_error:
        rig.true_stiffness = design_stiffness(net) * print_factor
    op = SimOperator(rig, weights)
    cam = open_camera(sim=True, rig=rig)
    bal = open_balance(sim=True, mass_fn=lambda: rig.pan_mass_g, timeout=spec.balance.get("timeout", 2.0),
                       settle_timeout=spec.balance.get("settle_timeout", 10.0))
    if cal is None:
        from labmnn.protocol.simcal import sim_calibration

        cal = sim_calibration(rig, cam)
    model = rig.camera.scaled(cam.width, cam.height)

    def rest_joints_px(_reference_path):  # the simulated operator clicks the joints exactly
        return model.project_plane(rig.network_to_plane_mm(rig.network.nodes))

    bench = Bench(camera=cam, balance=bal, make_tracker=metrology_tracker_factory(cal, rest_joints_px),
                  calibration=cal, image_size=_calibration_size(cal), sim_operator=op,
                  extra={"sim": True, "seed": seed, "mechanics": mechanics})
    if stiffness_error:
        bench.extra.update(stiffness_error=float(stiffness_error), print_seed=int(print_seed))

    def install(new_net):
        """Swap the printed design (in-situ training on a simulated rig)."""
        rig.network = new_net.copy()
        base = design_stiffness(rig.network) if stiffness_error else rig.network.stiffness
        rig.true_stiffness = base * print_factor   # a new print by the same printer: the same errors
        rig.clear()

    bench.install_network = install
    bench.rig = rig
    return bench


def design_stiffness(net):
    """Stiffness a print of ``net``'s design would have without printing errors (N/m).

    An identified network (``extra["identification"]``) is a model of one print,
    not a design: a new simulated print of it starts from the bar formula with
    the nominal modulus (the identified modulus divided by its factor), so the
    simulated printer's errors are not counted twice.
    """
    ident = (net.extra or {}).get("identification")
    if net.stiffness_override is None or not isinstance(ident, dict):
        return net.stiffness
    modulus = net.youngs_modulus / float(ident.get("modulus_factor", 1.0))
    return modulus * net.width * net.thickness / net.lengths


def printed_stiffness_factor(n_bonds: int, rel_error: float, print_seed: int = 0):
    """Per-bond factor (true / design stiffness) of a simulated print.

    Parameters
    ----------
    n_bonds : int
    rel_error : float
        Largest relative error, in [0, 0.9]; 0 gives a perfect print.
    print_seed : int

    Returns
    -------
    ndarray (n_bonds,)

    Example
    -------
    >>> printed_stiffness_factor(3, 0.0).tolist()
    [1.0, 1.0, 1.0]
    """
    import numpy as np

    from labmnn.errors import InputError

    if not 0.0 <= rel_error <= 0.9:
        raise InputError("--stiffness-error", "", f"must be in [0, 0.9], found {rel_error!r}")
    if rel_error == 0:
        return np.ones(n_bonds)
    return 1.0 + rel_error * np.random.default_rng([int(print_seed), 2026]).uniform(-1.0, 1.0, n_bonds)


def _calibration_size(cal: Path | None):
    if cal is None:
        return None
    try:
        import json

        data = json.loads(Path(cal).read_text())
        size = data.get("image_size")
        return tuple(size) if size else None
    except (OSError, ValueError, AttributeError):
        return None

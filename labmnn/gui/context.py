"""Build what the window drives: the simulated rig or the real one.

Example
-------
>>> ctx = sim_context("sessions")      # doctest: +SKIP
>>> ctx.sim, type(ctx.bench.camera).__name__
(True, 'LightCamera')
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DeviceError, InputError
from ..network import Network
from ..protocol.bench import Bench
from .light_sim import light_sim_bench
from .main_window import RigContext


def sim_context(sessions_root: str | Path, network: str = "paper-triangle-n4", width: int = 3000,
                height: int = 2000, seed: int = 0) -> RigContext:
    """The light simulated rig (drawn photos, truth tracking); the window installs the protocol's network."""
    bench = light_sim_bench(Network.open(network), width=width, height=height, seed=seed)
    return RigContext(bench=bench, sim=True, sessions_root=Path(sessions_root), balance_port="simulated")


def real_context(sessions_root: str | Path, balance_port: str | None, calibration: str | None) -> RigContext:
    """The rig's camera (gphoto2), balance (MT-SICS on ``balance_port``) and the metrology tracker."""
    try:
        from ..instruments.factory import open_balance, open_camera
        from ..metrology.calibration import Calibration
        from ..metrology.tracking import JointTracker
    except ImportError as exc:
        raise DeviceError(f"the instrument drivers are not installed ({exc.name}); use --sim") from None
    if not balance_port:
        raise InputError("--balance-port", "", "is required at a real rig (e.g. /dev/ttyUSB0)")
    cal = None
    if calibration:
        cal = Calibration.load(calibration)

    def make_tracker(reference, net, settings):
        if cal is None:
            raise InputError("--calibration", "", "a calibration is needed to track joints; run the wizard")
        import cv2

        ref = cv2.imread(str(reference), cv2.IMREAD_GRAYSCALE)
        return JointTracker(cal, net, ref, **settings)

    camera = open_camera(sim=False)
    balance = open_balance(port=balance_port)
    bench = Bench(camera=camera, balance=balance, make_tracker=make_tracker,
                  calibration=Path(calibration) if calibration else None,
                  image_size=tuple(cal.image_size) if cal is not None else None)
    return RigContext(bench=bench, sim=False, sessions_root=Path(sessions_root),
                      calibration=Path(calibration) if calibration else None,
                      calibration_rms=None if cal is None else float(cal.rms_px), balance_port=balance_port,
                      reopen_balance=lambda port: open_balance(port=port))

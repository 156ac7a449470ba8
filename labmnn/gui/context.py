"""Build what the window drives: the simulated rig or the real one.

Example
-------
>>> ctx = full_sim_context("sessions", "protocols/gradient.toml")      # doctest: +SKIP
>>> ctx.sim, type(ctx.bench.camera).__name__
(True, 'SimCamera')
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


def full_sim_context(sessions_root: str | Path, protocol: str | Path, seed: int = 0) -> RigContext:
    """The full simulated rig of ``hardware_sim``: rendered 6000x4000 photos through a
    distorting lens, the MT-SICS driver on a simulated balance (pty), the metrology
    tracker with the simulated camera's calibration.

    Raises
    ------
    DeviceError
        If ``hardware_sim`` is not installed (use :func:`sim_context`).
    """
    from ..protocol import load_protocol
    from ..protocol.bench import open_bench

    spec = load_protocol(protocol)
    net = Network.open(spec.network)
    bench = open_bench(spec, net, sim=True, seed=seed)
    cal = Path(bench.calibration) if bench.calibration is not None else None
    port = getattr(getattr(bench.balance, "server", None), "port", None) or "simulated (pty)"
    return RigContext(bench=bench, sim=True, sessions_root=Path(sessions_root), calibration=cal,
                      calibration_rms=_rms(cal), balance_port=str(port), board_rig=getattr(bench, "rig", None))


def _rms(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        from ..metrology.calibration import Calibration

        return float(Calibration.load(path).rms_px)
    except Exception:  # noqa: BLE001 - shown as "RMS ?" rather than failing the window
        return None


def real_context(sessions_root: str | Path, balance_port: str | None, calibration: str | None) -> RigContext:
    """The rig's camera (gphoto2), balance (MT-SICS on ``balance_port``) and the metrology tracker."""
    try:
        from ..instruments.factory import open_balance, open_camera
        from ..metrology.calibration import Calibration
        from ..protocol.bench import metrology_tracker_factory
    except ImportError as exc:
        raise DeviceError(f"the instrument drivers are not installed ({exc.name}); use --sim") from None
    if not balance_port:
        raise InputError("--balance-port", "", "is required at a real rig (e.g. /dev/ttyUSB0)")
    cal = Calibration.load(calibration) if calibration else None
    camera = open_camera(sim=False)
    balance = open_balance(port=balance_port)
    bench = Bench(camera=camera, balance=balance,
                  make_tracker=metrology_tracker_factory(Path(calibration) if calibration else None),
                  calibration=Path(calibration) if calibration else None,
                  image_size=tuple(cal.image_size) if cal is not None else None)
    return RigContext(bench=bench, sim=False, sessions_root=Path(sessions_root),
                      calibration=Path(calibration) if calibration else None,
                      calibration_rms=None if cal is None else float(cal.rms_px), balance_port=balance_port,
                      reopen_balance=lambda port: open_balance(port=port))

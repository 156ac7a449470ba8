"""What the window drives: the real rig built here, or a simulated one handed in.

The simulated rigs are assembled by the command line
(``labmnn.cli.sim.bench.sim_context`` / ``full_sim_context``) into the same
:class:`RigContext`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labmnn.errors import DeviceError, InputError
from labmnn.protocol.bench import Bench


@dataclass
class RigContext:
    """What the window drives.

    Attributes
    ----------
    bench : Bench
        Camera, balance, tracker factory (real or simulated).
    sim : bool
        Simulated rig: an AutoOperator acts after each confirmation.
    sessions_root : Path
        Where new sessions are created and past ones listed.
    calibration : Path or None
        Calibration file in use.
    calibration_rms : float or None
    balance_port : str
        Shown in the devices panel.
    reopen_balance : callable or None
        ``reopen_balance(port) -> Balance`` to switch ports (the window hands the
        new device to a new owner thread).
    board_rig : object or None
        Simulated rigs: has ``place_board(pose)``, ``remove_board()``, ``board_poses(n, seed)``
        for the calibration wizard.
    """

    bench: Bench
    sim: bool = False
    sessions_root: Path = Path("sessions")
    calibration: Path | None = None
    calibration_rms: float | None = None
    balance_port: str = ""
    reopen_balance: Callable[[str], Any] | None = None
    board_rig: Any = None
    board: Any = None
    notes: list[str] = field(default_factory=list)


def calibration_rms(path: Path | None) -> float | None:
    """The RMS reprojection error (px) of calibration file ``path``; None if unknown."""
    if path is None:
        return None
    try:
        from labmnn.metrology.calibration import Calibration

        return float(Calibration.load(path).rms_px)
    except Exception:  # noqa: BLE001 - shown as "RMS ?" rather than failing the window
        return None


def real_context(sessions_root: str | Path, balance_port: str | None, calibration: str | None) -> RigContext:
    """The rig's camera (gphoto2), balance (MT-SICS on ``balance_port``) and the metrology tracker.

    Devices are created unconnected: the window's owner threads connect them,
    so a camera that is off or a wrong port shows as an error state with a
    reconnect button instead of stopping the window from opening.
    """
    try:
        from labmnn.instruments.balance import MTSICSBalance
        from labmnn.instruments.gphoto2_camera import GPhoto2Camera
        from labmnn.protocol.bench import metrology_tracker_factory
    except ImportError as exc:
        raise DeviceError(f"the instrument drivers are not installed ({exc.name}); use --sim") from None
    if not balance_port:
        raise InputError("--balance-port", "", "is required at a real rig (e.g. /dev/ttyUSB0)")
    cal_path = Path(calibration) if calibration else None
    if cal_path is not None and not cal_path.is_file():
        raise InputError("--calibration", "", f"{cal_path} does not exist")
    bench = Bench(camera=_or_failed("camera", GPhoto2Camera),
                  balance=_or_failed("balance", MTSICSBalance, balance_port),
                  make_tracker=lambda ref, net, settings, joints_px=None: metrology_tracker_factory(
                      bench.calibration)(ref, net, settings, joints_px),
                  calibration=cal_path, image_size=_image_size(cal_path), extra={"sim": False})
    return RigContext(bench=bench, sim=False, sessions_root=Path(sessions_root), calibration=cal_path,
                      calibration_rms=calibration_rms(cal_path), balance_port=balance_port,
                      reopen_balance=lambda port: _or_failed("balance", MTSICSBalance, port))


def _image_size(path: Path | None):
    if path is None:
        return None
    try:
        from labmnn.metrology.calibration import Calibration

        return tuple(Calibration.load(path).image_size)
    except Exception:  # noqa: BLE001
        return None


class FailedDevice:
    """Stands for a device whose driver could not even be created; every call raises its error."""

    def __init__(self, name: str, error: Exception):
        self.name = name
        self.error = error

    def connect(self) -> None:
        raise DeviceError(f"{self.name}: {self.error}")

    def close(self) -> None:
        pass

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)

        def fail(*_a, **_k):
            raise DeviceError(f"{self.name}: {self.error}")

        return fail


def _or_failed(name: str, cls, *args):
    try:
        return cls(*args)
    except Exception as exc:  # noqa: BLE001 - shown as the device's error state in the window
        return FailedDevice(name, exc)

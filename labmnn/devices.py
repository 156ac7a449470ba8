"""Small typed interfaces of the rig's devices.

The app talks to devices only through these protocols; each has a real
backend (``labmnn.instruments``) and a simulated twin (``hardware_sim``), so
code never knows whether the camera is real.  One thread owns a device: a
backend may be called from one thread only, and the GUI calls none of them
directly (it goes through a worker).

Units: masses in grams, times in seconds, images as numpy arrays (H, W) uint8
(grey) or (H, W, 3) uint8 (BGR, OpenCV's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: importing the interfaces stays light
    import numpy as np


@dataclass
class CameraSettings:
    """Exposure and storage settings, as read back from the camera.

    ``None`` means "not known / not supported by this body".
    """

    iso: str | None = None
    aperture: str | None = None
    shutter_speed: str | None = None
    image_format: str | None = None  # "JPEG", "RAW" or "RAW+JPEG"
    capture_target: str | None = None  # "card" or "ram"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Capture:
    """One full-resolution photograph saved on disk.

    Attributes
    ----------
    path : Path
        The file exactly as the camera produced it (JPEG or RAW).
    time : float
        Unix time of the capture.
    settings : CameraSettings
        Settings read back right after the capture.
    exif : dict
        EXIF tags found in the file (may be empty).
    truth : dict
        Only from the simulated camera: the ground truth of the frame
        (joint positions in pixels, elongations, ...); empty for a real one.
    """

    path: Path
    time: float
    settings: CameraSettings
    exif: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)


@runtime_checkable
class Camera(Protocol):
    """A still camera with live view."""

    def connect(self) -> None:
        """Open the camera; raises :class:`~labmnn.errors.DeviceError` with advice on failure."""

    def close(self) -> None:
        """Release the camera (safe to call twice)."""

    def get_settings(self) -> CameraSettings:
        """Current settings, read from the camera."""

    def set_settings(self, **values: str) -> CameraSettings:
        """Set ``iso``, ``aperture``, ``shutter_speed``, ``image_format``, ``capture_target``;
        returns the settings read back (a body may ignore an invalid value)."""

    def capture(self, folder: Path) -> Capture:
        """Take a full-resolution photo, save it in ``folder`` and return it."""

    def preview(self) -> np.ndarray:
        """A low-resolution live-view frame (H, W, 3) uint8 BGR."""


@dataclass
class Reading:
    """One balance reading."""

    mass_g: float
    stable: bool


@runtime_checkable
class Balance(Protocol):
    """A laboratory balance (MT-SICS or its simulated twin)."""

    def connect(self) -> None:
        """Open the port; raises :class:`~labmnn.errors.DeviceError` on failure."""

    def close(self) -> None:
        """Close the port (safe to call twice)."""

    def read_stable(self) -> Reading:
        """Wait for and return a stable reading (bounded by the driver's timeout)."""

    def read_immediate(self) -> Reading:
        """The current reading, stable or not."""

    def zero(self) -> None:
        """Zero the balance."""

    def tare(self) -> float | None:
        """Tare the balance (a driver may return the tared mass, g)."""


@runtime_checkable
class Loader(Protocol):
    """Whoever hangs weights on the network: the operator at a real rig, or the
    simulated operator of ``hardware_sim``.  The protocol engine asks; the loader acts.

    ``grams`` maps node -> grams and ``direction`` the unit vector of the pull
    ((0, -1) for gravity, others through a pulley).
    """

    def apply(self, node: int, grams: float, direction: tuple[float, float] = (0.0, -1.0)) -> None:
        """Hang (add) ``grams`` on ``node``."""

    def clear(self) -> None:
        """Take every weight off."""

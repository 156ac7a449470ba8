"""A light simulated rig: drawn photos, truth tracking, no optics.

Used by ``labmnn gui --light-sim`` and by the GUI tests (it is fast); the
command line assembles these parts into a bench (``labmnn.cli.sim.bench``).
The network deforms by the linear bar model under the hung weights; the camera
draws it (bars, joints, frame, hanging weights) at any size; the tracker
returns the drawn joints (plus a little noise) instead of measuring them.

Example
-------
>>> from labmnn.model.network import Network
>>> rig = LightRig(Network.example("paper-triangle-n4"))
>>> cam = LightCamera(rig)
>>> cam.connect()
>>> cam.preview().shape
(427, 640, 3)
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

from labmnn.devices import CameraSettings, Capture, Reading
from labmnn.errors import DeviceError
from labmnn.model.network import GRAVITY, Network


class LightRig:
    """Loads on a network; positions from the linear bar model."""

    def __init__(self, net: Network):
        self.net = net
        self.loads: dict[int, np.ndarray] = {}
        self.pan_mass_g = 0.0

    def hang(self, node: int, grams: float, direction=(0.0, -1.0)) -> None:
        force = np.asarray(direction, float) * grams * 1e-3 * GRAVITY
        self.loads[node] = self.loads.get(node, np.zeros(2)) + force

    def clear(self) -> None:
        self.loads = {}

    def forces(self) -> np.ndarray:
        F = np.zeros((self.net.n_nodes, 2))
        for node, f in self.loads.items():
            F[node] += f
        return F

    def node_positions_m(self) -> np.ndarray:
        return self.net.nodes + self.net.solve(self.forces()).displacements


class LightCamera:
    """Draws the rig; implements :class:`labmnn.devices.Camera`.

    Parameters
    ----------
    rig : LightRig
    width, height : int
        Full-resolution photo size.
    preview_size : (int, int)
        Live-view frame size.
    """

    def __init__(self, rig: LightRig, width: int = 3000, height: int = 2000, preview_size=(640, 427), seed=0):
        self.rig = rig
        self.size = (int(width), int(height))
        self.preview_size = tuple(int(v) for v in preview_size)
        self.settings = CameraSettings(iso="800", aperture="5", shutter_speed="1/60", image_format="JPEG",
                                       capture_target="card")
        self.connected = False
        self.truth: dict[str, dict] = {}
        self.faults: dict[str, int] = {}
        self.rng = np.random.default_rng(seed)
        self.n = 0
        nodes_mm = rig.net.nodes * 1e3
        lo, hi = nodes_mm.min(axis=0), nodes_mm.max(axis=0)
        self._centre_mm = (lo + hi) / 2
        self._span_mm = max(float(np.max(hi - lo)), 1.0)

    def inject(self, kind: str, count: int = 1) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + count

    def _check(self) -> None:
        if not self.connected:
            raise DeviceError("camera: not connected (simulated)")
        for kind in ("disconnect", "busy", "timeout"):
            if self.faults.get(kind, 0) > 0:
                self.faults[kind] -= 1
                self.connected = kind != "disconnect" and self.connected
                raise DeviceError(f"camera {kind} (simulated): -7 I/O error")

    def connect(self) -> None:
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def get_settings(self) -> CameraSettings:
        return CameraSettings(**self.settings.as_dict())

    def set_settings(self, **values: str) -> CameraSettings:
        for k, v in values.items():
            if hasattr(self.settings, k):
                setattr(self.settings, k, str(v))
        return self.get_settings()

    def to_px(self, positions_mm: np.ndarray, size) -> np.ndarray:
        """Network millimetres (y up) to pixels of an image of ``size`` (w, h)."""
        w, h = size
        scale = 0.62 * min(w, h) / self._span_mm
        d = positions_mm - self._centre_mm
        return np.column_stack([w / 2 + scale * d[:, 0], h * 0.47 - scale * d[:, 1]])

    def render(self, size) -> tuple[np.ndarray, np.ndarray]:
        """(image BGR, joints_px) of the rig as it hangs now."""
        w, h = size
        net = self.rig.net
        pos_mm = self.rig.node_positions_m() * 1e3
        px = self.to_px(pos_mm, size)
        scale = 0.62 * min(w, h) / self._span_mm
        ramp = np.linspace(205, 170, h, dtype=np.float32)[:, None]
        img = np.repeat(np.repeat(ramp, w, axis=1)[:, :, None], 3, axis=2).astype(np.uint8)
        top = int(px[net.fixed_nodes, 1].min() - 2.5 * scale)
        cv2.rectangle(img, (0, 0), (w, max(top, 1)), (70, 70, 75), -1)
        for node in net.fixed_nodes:
            x, y = px[node]
            cv2.line(img, (int(x), top), (int(x), int(y)), (60, 60, 60), max(1, int(0.8 * scale)), cv2.LINE_AA)
        thick = np.maximum(1, np.round(net.width * 1e3 * scale)).astype(int)
        for (i, j), t in zip(net.bonds, thick):
            cv2.line(img, tuple(np.round(px[i]).astype(int)), tuple(np.round(px[j]).astype(int)),
                     (95, 95, 95), int(t), cv2.LINE_AA)
        r = max(2, int(2.2 * scale))
        for x, y in px:
            cv2.circle(img, (int(round(x)), int(round(y))), r, (30, 30, 30), -1, cv2.LINE_AA)
        for node, f in self.rig.loads.items():
            x, y = px[node]
            grams = np.hypot(*f) / GRAVITY * 1e3
            length = int(4 * scale)
            cv2.line(img, (int(x), int(y)), (int(x), int(y) + length), (20, 20, 20), max(1, int(0.3 * scale)))
            side = int((1.5 + 0.15 * grams) * scale)
            cv2.rectangle(img, (int(x) - side // 2, int(y) + length), (int(x) + side // 2, int(y) + length + side),
                          (90, 90, 90), -1)
        return img, px

    def preview(self) -> np.ndarray:
        self._check()
        img, _ = self.render(self.preview_size)
        noise = self.rng.integers(0, 6, size=(img.shape[0], 1, 1), dtype=np.uint8)
        return cv2.add(img, np.broadcast_to(noise, img.shape).copy())

    def capture(self, folder: Path) -> Capture:
        self._check()
        self.n += 1
        img, px = self.render(self.size)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IMG_{self.n:04d}.jpg"
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:  # pragma: no cover
            raise DeviceError("camera: could not encode the simulated photo")
        path.write_bytes(data.tobytes())
        positions = self.rig.node_positions_m()
        truth = {"joints_px": px, "positions_m": positions}
        self.truth[hashlib.sha256(data.tobytes()).hexdigest()] = truth
        return Capture(path=path, time=time.time(), settings=self.get_settings(), truth=truth)


class LightBalance:
    """A balance reading ``mass_fn()`` (with a little jitter when not stable)."""

    def __init__(self, mass_fn, seed: int = 0):
        self.mass_fn = mass_fn
        self.rng = np.random.default_rng(seed)
        self.connected = False
        self.port = "sim"

    def connect(self) -> None:
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def _check(self) -> None:
        if not self.connected:
            raise DeviceError("balance: not connected (simulated)")

    def read_stable(self) -> Reading:
        self._check()
        return Reading(round(float(self.mass_fn()), 3), True)

    def read_immediate(self) -> Reading:
        self._check()
        return Reading(round(float(self.mass_fn()) + float(self.rng.normal(0, 0.002)), 3), False)

    def zero(self) -> None:
        self._check()

    def tare(self) -> None:
        self._check()


class LightOperator:
    """Simulated hands: weighs stacks (true masses off by ``rel_error``) and hangs them."""

    def __init__(self, rig: LightRig, rel_error: float = 0.003, seed: int = 1):
        self.rig = rig
        self.rel_error = rel_error
        self.rng = np.random.default_rng(seed)
        self.last = 0.0

    def put_on_balance(self, nominal_grams: float) -> float:
        self.last = float(nominal_grams) * (1 + self.rng.normal(0, self.rel_error))
        self.rig.pan_mass_g = self.last
        return self.last

    def take_off_balance(self) -> None:
        self.rig.pan_mass_g = 0.0

    def apply(self, node: int, grams: float, direction=(0.0, -1.0)) -> None:
        self.rig.hang(node, self.last or grams, direction)

    def clear(self) -> None:
        self.rig.clear()


class TruthTracker:
    """Returns the drawn joints of a photo (looked up by its SHA-256) plus ``noise_mm``."""

    def __init__(self, camera: LightCamera, reference: Path, net: Network, noise_mm: float = 0.002, seed: int = 2):
        self.camera = camera
        self.net = net
        self.noise_mm = noise_mm
        self.rng = np.random.default_rng(seed)
        ref = self._truth(reference)
        self.ref_mm = ref["positions_m"] * 1e3
        self.reference = SimpleNamespace(joints_px=ref["joints_px"], joints_mm=self.ref_mm)

    def _truth(self, path) -> dict:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if digest not in self.camera.truth:
            raise DeviceError(f"tracking: {path} was not taken by the simulated camera")
        return self.camera.truth[digest]

    def track(self, path) -> SimpleNamespace:
        t = self._truth(path)
        pos = t["positions_m"] * 1e3 + self.rng.normal(0, self.noise_mm, self.ref_mm.shape)
        d = pos[self.net.bonds[:, 1]] - pos[self.net.bonds[:, 0]]
        n = self.net.n_nodes
        return SimpleNamespace(joints_px=t["joints_px"], displacements_network_mm=pos - self.ref_mm,
                               elongations_mm=np.hypot(d[:, 0], d[:, 1]) - self.net.lengths * 1e3,
                               confidence=np.full(n, 0.98), lost=np.zeros(n, bool))

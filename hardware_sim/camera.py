"""The simulated DSLR: a :class:`labmnn.devices.Camera` that photographs a :class:`SimRig`.

Each capture renders the rig as it is now (the loaded network, or the
checkerboard when one is placed), writes a JPEG with EXIF into the folder and
returns a :class:`~labmnn.devices.Capture` whose ``truth`` holds the frame's
ground truth.  Settings behave as on a body: an unknown value is ignored
silently (read it back); ISO, aperture and shutter speed set the exposure and
the noise.  Faults are injected with :meth:`SimCamera.inject`.

Example
-------
>>> import labmnn, tempfile
>>> from hardware_sim.rig import SimRig
>>> cam = SimCamera(SimRig(labmnn.Network.example("paper-triangle-n4")), width=1200, height=800)
>>> cam.connect()
>>> shot = cam.capture(tempfile.mkdtemp())
>>> shot.truth["joints_px"].shape
(14, 2)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from labmnn.devices import CameraSettings, Capture
from labmnn.errors import DeviceError, InputError
from labmnn.text_files import jsonable, write_atomic

from . import camera_faults
from .camera_model import SimCameraModel, rotation_matrix, rotation_vector
from .look import DEFAULT_LOOK, Look
from .render import Rendered, render_board, render_network

ISO = ("100", "200", "400", "800", "1600", "3200", "6400")
APERTURES = ("2.8", "4", "5", "5.6", "8", "11", "16")
SHUTTER = ("1/500", "1/250", "1/125", "1/60", "1/30", "1/15", "1/8", "1/4", "1/2", "1")
FORMATS = ("JPEG", "RAW", "RAW+JPEG")
TARGETS = ("card", "ram")
CHOICES = {"iso": ISO, "aperture": APERTURES, "shutter_speed": SHUTTER, "image_format": FORMATS,
           "capture_target": TARGETS}
PIXEL_PITCH_MM = 0.0039  # an APS-C sensor, 23.4 mm / 6000 px


def _seconds(shutter: str) -> float:
    num, _, den = shutter.partition("/")
    return float(num) / float(den or 1)


class SimCamera:
    """A simulated camera aimed at ``rig`` (it uses ``rig.camera`` as pose and lens).

    Parameters
    ----------
    rig : SimRig
    width, height : int
        Full-resolution size; the rig's camera model is rescaled to it.
    preview_size : (int, int)
        Live-view size.
    faults : dict, optional
        ``{"busy": 2, ...}``: faults armed from the start (see :meth:`inject`).
    jpeg_quality : int
    look : Look, optional
        Materials, light, blur and noise at the reference settings
        (ISO 800, f/5, 1/30 s).
    seed : int, optional
        Noise seed (default the rig's); frame k of a camera uses ``(seed, k)``.
    truth_sidecar : bool
        Also write ``<photo>.truth.json`` next to each photo.
    timeout_delay_s : float
        How long a "timeout" fault blocks before raising.
    retries : int
        Retries the real backend makes; appears in fault messages.
    pose_jitter_px : float
        Standard deviation of a random camera rotation per frame, in pixels of
        image shift (a tripod that settles, a mirror that slaps); 0 = rigid.
    flicker : float
        Relative standard deviation of the exposure from frame to frame.
    capture_delay_s : float
        Extra time a capture takes (shutter, writing, download), as a body's does.
    depth_of_field : bool
        Focus on the sample plane and blur what lies in front of or behind it
        (tilted checkerboards) as the set aperture does; off: all sharp.

    Notes
    -----
    ``image_format="RAW"`` saves the sensor's linear 12-bit data as a 16-bit
    PNG (``SIM_<k>.png``, values 0..4095) instead of a JPEG; ``"RAW+JPEG"``
    saves both and returns the JPEG.
    """

    def __init__(self, rig, width: int = 6000, height: int = 4000, preview_size=(640, 427),
                 faults: dict | None = None, jpeg_quality: int = 95, look: Look | None = None,
                 seed: int | None = None, truth_sidecar: bool = False, timeout_delay_s: float = 0.0,
                 retries: int = 3, pose_jitter_px: float = 0.0, flicker: float = 0.0,
                 capture_delay_s: float = 0.0, depth_of_field: bool = False):
        self.rig = rig
        for name, value in (("width", width), ("height", height), ("preview_size", preview_size[0]),
                            ("preview_size", preview_size[1])):
            if not 16 <= int(value) <= 20000:
                raise InputError("SimCamera", name, f"{value!r} pixels is not a usable image size")
        if not 1 <= int(jpeg_quality) <= 100:
            raise InputError("SimCamera", "jpeg_quality", f"{jpeg_quality!r} is not in 1..100")
        self.width, self.height = int(width), int(height)
        self.preview_size = (int(preview_size[0]), int(preview_size[1]))
        self.jpeg_quality = int(jpeg_quality)
        self.look = look or DEFAULT_LOOK
        self.seed = rig.seed if seed is None else int(seed)
        self.truth_sidecar = truth_sidecar
        self.timeout_delay_s = float(timeout_delay_s)
        self.retries = int(retries)
        self.pose_jitter_px = float(pose_jitter_px)
        self.flicker = float(flicker)
        self.capture_delay_s = float(capture_delay_s)
        self.depth_of_field = bool(depth_of_field)
        self.settings = CameraSettings(iso="800", aperture="5", shutter_speed="1/30", image_format="JPEG",
                                       capture_target="ram")
        self.connected = False
        self.clock = time.time  # capture times (and the EXIF DateTimeOriginal); tests fix it
        self.frames = 0
        self._faults: list[str] = []
        self._lock = threading.Lock()
        for kind, count in (faults or {}).items():
            self.inject(kind, count)

    # ---------------------------------------------------------- protocol
    def connect(self) -> None:
        """Open the camera (a pending "disconnect" fault makes this fail once more)."""
        with self._lock:
            if self._faults and self._faults[0] == "disconnect":
                self._faults.pop(0)
                raise DeviceError(camera_faults.advice(camera_faults.MODEL_NOT_FOUND, "connect")
                                  + f" (after {self.retries + 1} attempts)")
            self.connected = True

    def close(self) -> None:
        self.connected = False

    def get_settings(self) -> CameraSettings:
        self._check("reading settings")
        return replace(self.settings)

    def set_settings(self, **values: str) -> CameraSettings:
        """Set what the body accepts; unknown keys raise, invalid values are ignored."""
        self._check("changing settings")
        for key, value in values.items():
            if key not in CHOICES:
                raise InputError("camera settings", key, f"unknown setting (known: {', '.join(CHOICES)})")
            if str(value) in CHOICES[key]:
                setattr(self.settings, key, str(value))
        return replace(self.settings)

    def capture(self, folder: Path) -> Capture:
        """Render the rig at full resolution, save ``SIM_<k>.jpg`` in ``folder``."""
        self._check("capture", fault=True)
        taken = self.clock()
        if self.capture_delay_s > 0:
            time.sleep(self.capture_delay_s)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        k = self.frames
        self.frames += 1
        fmt = self.settings.image_format
        shot = self.render(self.width, self.height, frame=k, output="raw" if fmt == "RAW" else "bgr")
        stem = _free_stem(folder, k)  # like a real camera download: never over an earlier photo
        if fmt in ("RAW", "RAW+JPEG"):
            raw = shot.image if fmt == "RAW" else self.render(self.width, self.height, frame=k, output="raw").image
            raw_path = folder / f"{stem}.png"
            if not cv2.imwrite(str(raw_path), raw):  # pragma: no cover
                raise DeviceError(f"simulated camera could not write {raw_path}")
        exif = self._exif(taken)
        if fmt == "RAW":
            path = raw_path
        else:
            ok, buf = cv2.imencode(".jpg", shot.image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:  # pragma: no cover  (OpenCV encodes any uint8 BGR array)
                raise DeviceError("simulated camera could not encode its JPEG")
            path = folder / f"{stem}.jpg"
            write_atomic(path, _with_exif(buf.tobytes(), exif), fsync=False)
        truth = shot.truth
        if self.truth_sidecar:
            path.with_suffix(".truth.json").write_text(json.dumps(jsonable(truth), indent=1))
        return Capture(path=path, time=taken, settings=replace(self.settings), exif=exif, truth=truth)

    def preview(self) -> np.ndarray:
        """A live-view frame at ``preview_size`` (BGR uint8), JPEG-compressed like a body's."""
        self._check("live view", fault=True)
        w, h = self.preview_size
        shot = self.render(w, h, frame=self.frames + 1_000_000)
        ok, buf = cv2.imencode(".jpg", shot.image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)

    # -------------------------------------------------------------- faults
    def inject(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` operations fail with ``kind``.

        ``"busy"`` (-110) and ``"timeout"`` (-10, after ``timeout_delay_s``) fail
        the next captures/live views as the real backend does once its retries
        are spent; ``"disconnect"`` (-7, unplugged) fails one and drops the
        connection: later calls say "not connected" until :meth:`connect`, and
        each further count makes one connect attempt fail (-105, no camera).
        """
        if kind not in camera_faults.KINDS:
            raise InputError("camera fault", "kind", f"{kind!r} is not one of {', '.join(camera_faults.KINDS)}")
        if int(count) < 0:
            raise InputError("camera fault", "count", f"{count!r} is negative")
        with self._lock:
            self._faults += [kind] * int(count)

    @property
    def pending_faults(self) -> list[str]:
        return list(self._faults)

    def _check(self, what: str, fault: bool = False) -> None:
        with self._lock:
            if not self.connected:
                raise DeviceError(camera_faults.NOT_CONNECTED)
            if not fault or not self._faults:
                return
            kind = self._faults.pop(0)
            spec = camera_faults.FAULTS[kind]
            if spec.drops_connection:
                self.connected = False
        if kind == "timeout" and self.timeout_delay_s > 0:
            time.sleep(self.timeout_delay_s)
        attempts = 1 if spec.drops_connection else self.retries + 1
        raise DeviceError(camera_faults.message(kind, what, attempts))

    # ----------------------------------------------------------- rendering
    def exposure_look(self) -> Look:
        """The look at the current settings (reference: ISO 800, f/5, 1/30 s)."""
        s = self.settings
        iso = float(s.iso) / 800.0
        light = iso * (_seconds(s.shutter_speed) / (1 / 30)) * (5.0 / float(s.aperture)) ** 2
        look = self.look
        if self.depth_of_field:
            cam = self.rig.camera
            normal = cam.rotation @ np.array([0.0, 0.0, 1.0])
            look = replace(look, focus_mm=float(normal @ cam.tvec / normal[2]), aperture_f=float(s.aperture),
                           pixel_pitch_mm=PIXEL_PITCH_MM * 6000 / cam.width)
        return replace(look, exposure=self.look.exposure * light,
                       gain_dn_per_e=self.look.gain_dn_per_e * iso,
                       read_noise_dn=self.look.read_noise_dn * max(iso, 0.5) ** 0.5)

    def frame_camera(self, frame: int) -> SimCameraModel:
        """The rig's camera as it stood for ``frame`` (with the pose jitter)."""
        model = self.rig.camera
        if self.pose_jitter_px > 0:
            rng = np.random.default_rng([self.seed, int(frame), 31])
            wobble = rng.normal(0.0, self.pose_jitter_px / model.fx, 3) * [1.0, 1.0, 0.3]
            R = rotation_matrix(wobble)
            model = replace(model, rvec=rotation_vector(R @ model.rotation), tvec=R @ model.tvec)
        return model

    def render(self, width: int, height: int, frame: int = 0, output: str = "bgr") -> Rendered:
        """Render the rig now at ``width`` x ``height`` (no file), with full truth."""
        model = self.frame_camera(frame).scaled(width, height)
        look = self.exposure_look().at_scale(width / self.rig.camera.width)
        if self.flicker > 0:
            gain = 1 + self.flicker * np.random.default_rng([self.seed, int(frame), 37]).standard_normal()
            look = replace(look, exposure=look.exposure * gain)
        seed = (self.seed * 1_000_003 + int(frame)) & 0x7FFFFFFF
        pose = self.rig.board_pose
        if pose is not None:
            return render_board(model, self.rig.board, pose, look, seed=seed,
                                background=self.rig.scene().frame_layers(look), output=output)
        shot = render_network(model, self.rig.scene(), look, seed=seed, output=output)
        t = self.rig.truth()
        shot.truth.update({k: t[k] for k in ("positions_m", "displacements_m", "elongations_m",
                                             "elongations_linear_m", "forces_n", "hung_grams")})
        return shot

    def _exif(self, taken: float) -> dict:
        s = self.settings
        focal = self.rig.camera.fx * PIXEL_PITCH_MM * (6000 / self.rig.camera.width)
        return {"Make": "labmnn", "Model": "SimCamera", "ISOSpeedRatings": int(s.iso),
                "FNumber": float(s.aperture), "ExposureTime": _seconds(s.shutter_speed),
                "FocalLength": round(focal, 2), "ExifImageWidth": self.width, "ExifImageHeight": self.height,
                "DateTimeOriginal": time.strftime("%Y:%m:%d %H:%M:%S", time.localtime(taken))}


def _with_exif(jpeg: bytes, tags: dict) -> bytes:
    """Insert an EXIF APP1 segment right after the JPEG's SOI marker."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover  (Pillow comes with scikit-image)
        return jpeg
    from fractions import Fraction

    from PIL.TiffImagePlugin import IFDRational

    def rational(x: float) -> IFDRational:
        f = Fraction(x).limit_denominator(10000)
        return IFDRational(f.numerator, f.denominator)

    ex = Image.Exif()
    ex[0x010F], ex[0x0110] = tags["Make"], tags["Model"]
    sub = ex.get_ifd(0x8769)
    sub[0x8827] = tags["ISOSpeedRatings"]
    sub[0x829D] = rational(tags["FNumber"])
    sub[0x829A] = rational(tags["ExposureTime"])
    sub[0x920A] = rational(tags["FocalLength"])
    sub[0xA002], sub[0xA003] = tags["ExifImageWidth"], tags["ExifImageHeight"]
    sub[0x9003] = tags["DateTimeOriginal"]
    payload = ex.tobytes()
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def _free_stem(folder: Path, k: int) -> str:
    """``SIM_<k>``, or the next number whose JPEG and PNG are both not in ``folder`` yet."""
    while (folder / f"SIM_{k:04d}.jpg").exists() or (folder / f"SIM_{k:04d}.png").exists():
        k += 1
    return f"SIM_{k:04d}"

"""The engine's hands on the devices: photos, balance readings and weighings, with retries.

Every device call that can fail in the lab is retried here a bounded number of
times; between attempts the run pauses and the operator is asked to fix the
device (a ``device_fault`` record and a confirmed instruction).  What the
engine sees is either the result or a :class:`~labmnn.errors.DeviceError`
that ends the run resumably.

:class:`BenchIO` keeps no lifecycle of its own: it reaches the engine only
through four callables (``ask``, ``warn``, ``set_state``, ``emit``), so the
engine keeps pause, abort and checkpoints.

Example
-------
>>> io = BenchIO(bench, session, ask=engine.ask, warn=engine.warn,
...              set_state=engine.set_state, emit=engine.emit)          # doctest: +SKIP
>>> io.connect_camera(); info = io.capture("r0/reference", "reference")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from labmnn.errors import DeviceError, InputError, LabmnnError
from labmnn.protocol.bench import Bench
from labmnn.protocol.events import EngineEvent, ImageEvent
from labmnn.protocol.operator import Instruction
from labmnn.protocol.recorder import Session

CAMERA_ATTEMPTS = 20
BALANCE_ATTEMPTS = 5
WEIGH_ATTEMPTS = 3


class BenchIO:
    """Device I/O of one run.

    Parameters
    ----------
    bench : Bench
    session : Session
        Receives the capture, weighing and fault records.
    ask : callable
        ``ask(Instruction)``: log it and wait for the operator (checks pause/abort first).
    warn : callable
        ``warn(text)``: log and report a warning.
    set_state : callable
        ``set_state(state, reason="")``: the engine's state, reported.
    emit : callable
        ``emit(event)``: report an event to the engine's listener.
    """

    def __init__(self, bench: Bench, session: Session, *, ask: Callable[[Instruction], None],
                 warn: Callable[[str], None], set_state: Callable[..., None],
                 emit: Callable[[EngineEvent], None]):
        self.bench = bench
        self.session = session
        self.ask = ask
        self.warn = warn
        self.set_state = set_state
        self.emit = emit
        self._checked_size = False

    # ------------------------------------------------------------ connect
    def connect_camera(self) -> None:
        """Connect the camera, asking the operator to fix it between attempts."""
        for _ in range(CAMERA_ATTEMPTS):
            try:
                self.bench.camera.connect()
                return
            except DeviceError as exc:
                self.device_pause("camera", exc, "Connect the camera (USB cable, power, no other program "
                                  "holding it), then confirm.")
        raise DeviceError(f"camera: still not answering after {CAMERA_ATTEMPTS} attempts")

    def apply_camera_settings(self, wanted: dict) -> None:
        """Set the protocol's camera settings; warn about each one the camera reports otherwise."""
        got = self.bench.camera.set_settings(**wanted).as_dict()
        for k, want in wanted.items():
            if got.get(k) is not None and str(got[k]) != str(want):
                self.warn(f"camera {k}: asked {want}, the camera reports {got[k]} (value ignored by the body?)")

    def connect_balance(self) -> None:
        """Connect the balance and read it once (one attempt: the checks fail otherwise)."""
        try:
            self.bench.balance.connect()
            self.bench.balance.read_immediate()
        except DeviceError as exc:
            raise DeviceError(f"balance: {exc.one_line()}") from None

    def device_pause(self, device: str, exc: Exception, advice: str) -> None:
        """Pause the run on a device fault until the operator confirms it is fixed."""
        text = f"{device}: {exc if not isinstance(exc, LabmnnError) else exc.one_line()}"
        self.warn(text)
        self.set_state("paused", text)
        self.session.event("device_fault", device=device, error=text)
        self.ask(Instruction("device", "info", f"{text}. {advice}"))
        self.set_state("running")

    # ------------------------------------------------------------- camera
    def capture(self, key: str, role: str) -> dict:
        """Take a photo for step ``key``, file it in ``raw/`` and log it; returns the image record's fields."""
        cap = self._take_photo()
        info = self.session.file_image(cap.path, role, key)
        truth = {k: np.asarray(v).tolist() for k, v in (cap.truth or {}).items()}
        self.session.event("capture", key=key, path=info["path"], settings=cap.settings.as_dict(),
                           exif={k: str(v) for k, v in (cap.exif or {}).items()}, truth=truth)
        self.emit(ImageEvent(type="image", path=str(self.session.folder / info["path"]), role=role, key=key))
        self.check_image_size(self.session.folder / info["path"])
        return info

    def _take_photo(self):
        cam = self.bench.camera
        for _ in range(CAMERA_ATTEMPTS):
            try:
                return cam.capture(self.session.incoming)
            except DeviceError as exc:
                self.device_pause("camera", exc, "Check the camera (USB cable, power, battery), "
                                  "then confirm to reconnect and retake the photo.")
                try:
                    cam.close()
                    cam.connect()
                except DeviceError as exc2:
                    self.warn(f"camera: reconnect failed: {exc2.one_line()}")
        raise DeviceError(f"camera: no photo after {CAMERA_ATTEMPTS} attempts; fix the camera, then "
                          f"`labmnn resume {self.session.folder}`")

    def check_image_size(self, path: Path) -> None:
        """Once per run: the photo's size must match the calibration's (raises InputError)."""
        if self._checked_size or self.bench.image_size is None:
            return
        self._checked_size = True
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if img is None:
            return
        w, h = self.bench.image_size
        if abs(img.shape[1] * 8 - w) > 16 or abs(img.shape[0] * 8 - h) > 16:
            raise InputError(str(self.bench.calibration), "image_size",
                             f"calibration made at {w}x{h} px but the camera delivers about "
                             f"{img.shape[1] * 8}x{img.shape[0] * 8} px: recalibrate for this camera")

    # ------------------------------------------------------------ balance
    def read_balance(self) -> float:
        """A stable balance reading, g."""
        for _ in range(BALANCE_ATTEMPTS):
            try:
                return float(self.bench.balance.read_stable().mass_g)
            except DeviceError as exc:
                self.device_pause("balance", exc, "Check the balance (cable, draught, nothing touching "
                                  "the pan), then confirm to read it again.")
        raise DeviceError(f"balance: no stable reading after {BALANCE_ATTEMPTS} attempts; fix the balance, "
                          f"then `labmnn resume {self.session.folder}`")

    def weigh(self, step: str, stack) -> float:
        """Have the operator put ``stack`` on the balance until it weighs what it should; its mass, g."""
        pieces = " + ".join(f"{c} x {s:g} g" for s, c in sorted(stack.pieces.items(), reverse=True))
        text = f"Put the stack for node {stack.node} on the balance: {stack.nominal_g:g} g ({pieces})."
        for _ in range(WEIGH_ATTEMPTS):
            self.ask(Instruction(step, "weigh", text, node=stack.node, grams=stack.nominal_g,
                                 direction=stack.direction))
            mass = self.read_balance()
            self.session.event("weighed", step=step, node=stack.node, nominal_g=stack.nominal_g, mass_g=mass)
            if abs(mass - stack.nominal_g) <= max(0.5, 0.05 * stack.nominal_g):
                return mass
            self.warn(f"the balance reads {mass:.3f} g for the {stack.nominal_g:g} g stack of node "
                      f"{stack.node}: check the pieces")
            text = f"Re-check the pieces ({pieces}) and put them on the balance again."
        raise DeviceError(f"the {stack.nominal_g:g} g stack for node {stack.node} weighed {mass:.3f} g "
                          f"{WEIGH_ATTEMPTS} times: check the weight set")

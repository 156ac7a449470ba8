"""A tethered DSLR / mirrorless camera through python-gphoto2.

One worker thread owns the camera (:class:`~labmnn.instruments.device_thread.DeviceThread`):
every public method queues its work there and waits, bounded by
``command_timeout_s``.  A capture is: leave live view if it was on, capture,
download (``file_get``), delete the file from the camera, then drain pending
events (``wait_for_event`` until a timeout event), downloading any extra file
the body announces (the JPEG of RAW+JPEG).  Every setting is read back after it
is set.  Known libgphoto2 failures (-53, -110, -10, -105, -7) are retried with
exponential back-off, re-opening the camera when the handle is dead, and end
in a :class:`~labmnn.errors.DeviceError` whose message says what to do.

Example
-------
>>> cam = GPhoto2Camera()                                  # doctest: +SKIP
>>> cam.connect()                                          # doctest: +SKIP
>>> cam.set_settings(iso="200", image_format="JPEG", capture_target="ram")  # doctest: +SKIP
>>> shot = cam.capture(Path("photos"))                     # doctest: +SKIP
>>> cam.close()                                            # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from labmnn.devices import CameraSettings, Capture
from labmnn.errors import DeviceError, InputError
from labmnn.instruments import camera_settings as cs
from labmnn.instruments.device_thread import DeviceThread
from labmnn.instruments.exif import read_exif
from labmnn.instruments.gphoto2_errors import NEEDS_REOPEN, RETRYABLE, advice

DEFAULT_BACKOFF_S = 0.5


def _import_gphoto2():
    try:
        import gphoto2
    except ImportError as exc:
        raise DeviceError(f"python-gphoto2 is not installed ({exc}): pip install gphoto2") from None
    return gphoto2


def list_cameras(gp=None) -> list[tuple[str, str]]:
    """Cameras libgphoto2 detects now: ``[(model, port), ...]`` (e.g. ``("Nikon DSC D750",
    "usb:001,004")``)."""
    gp = gp or _import_gphoto2()
    try:
        found = gp.Camera.autodetect()
        return [(str(found.get_name(i)), str(found.get_value(i))) for i in range(found.count())]
    except gp.GPhoto2Error as exc:
        raise DeviceError(advice(exc.code, "detection", _detail(exc))) from None


def _detail(exc) -> str:
    return str(getattr(exc, "string", "") or "").strip()


class GPhoto2Camera:
    """:class:`labmnn.devices.Camera` on libgphoto2.

    Parameters
    ----------
    model : str, optional
        Camera model as ``list_cameras`` shows it; default the first one found.
    port : str, optional
        Port such as ``"usb:001,004"``; default the first camera's.
    gp : module, optional
        The ``gphoto2`` module, or a fake of it (tests).
    retries : int
        Extra attempts after a retryable error.
    backoff_s : float, optional
        First pause between attempts (default :data:`DEFAULT_BACKOFF_S`); doubled each time.
    command_timeout_s : float
        Longest a public call waits for the camera thread.
    event_timeout_ms : int
        ``wait_for_event`` timeout while draining events after a capture.
    max_events : int
        Most events drained after one capture.
    sleep : callable
        ``sleep(seconds)``; tests pass a recorder.

    Attributes
    ----------
    last_companions : list of Path
        Extra files of the last capture (e.g. the JPEG of RAW+JPEG).
    """

    def __init__(self, model: str | None = None, port: str | None = None, gp=None, *,
                 retries: int = 3, backoff_s: float | None = None, command_timeout_s: float = 60.0,
                 event_timeout_ms: int = 300, max_events: int = 50,
                 sleep: Callable[[float], None] = time.sleep):
        self.model = model
        self.port = port
        self._gp = gp
        self.retries = int(retries)
        self.backoff_s = DEFAULT_BACKOFF_S if backoff_s is None else float(backoff_s)
        self.command_timeout_s = float(command_timeout_s)
        self.event_timeout_ms = int(event_timeout_ms)
        self.max_events = int(max_events)
        self._sleep = sleep
        self._thread = DeviceThread("camera")
        self._camera = None
        self._live_view = False
        self.last_companions: list[Path] = []

    # -- public API: every call runs on the camera thread ----------------------------------
    def connect(self) -> None:
        """Open the camera (retrying -53, -105, ...); DeviceError with advice on failure.

        May be called again after :meth:`close` or after the camera was lost.
        """
        if self._thread.stopped:
            self._thread = DeviceThread("camera")
        self._call(self._open)

    def close(self) -> None:
        """Release the camera (safe to call twice)."""
        try:
            self._call(self._release, timeout_s=10.0)
        except DeviceError:
            pass
        self._thread.stop(timeout_s=2.0)

    def __enter__(self) -> GPhoto2Camera:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def summary(self) -> str:
        """The body's own summary text (model, serial, firmware, storage)."""
        return str(self._call(self._summary))

    def get_settings(self) -> CameraSettings:
        """ISO, aperture, shutter speed, image format, capture target, read from the body."""
        return self._call(self._read_settings)

    def choices(self, name: str) -> list[str]:
        """The values the body offers now for setting ``name`` (empty if it has no such widget)."""
        _check_names([name])
        return self._call(self._choices, name)

    def set_settings(self, **values: str) -> CameraSettings:
        """Set settings by name and return them as read back.

        A body may ignore a value silently (mode dial not on M, lens limits):
        compare with :func:`labmnn.instruments.camera_settings.check_applied`.

        Raises
        ------
        InputError
            Unknown setting name, or a value the body does not offer.
        DeviceError
            The body has no such setting, it is read-only now, or the camera failed.
        """
        _check_names(values)
        return self._call(self._write_settings, {k: str(v) for k, v in values.items()})

    def capture(self, folder: Path) -> Capture:
        """Take a photo, download it into ``folder``, delete it from the camera."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(str(folder), "", f"cannot save photos here: {exc.strerror or exc}") from None
        return self._call(self._capture, folder)

    def preview(self) -> np.ndarray:
        """One live-view frame, (H, W, 3) uint8 BGR."""
        return self._call(self._preview)

    # -- plumbing ------------------------------------------------------------------------
    def _call(self, fn, *args, timeout_s: float | None = None):
        return self._thread.call(self._guarded, fn, args,
                                 timeout_s=timeout_s or self.command_timeout_s)

    def _guarded(self, fn, args):
        """Camera thread: no raw GPhoto2Error escapes to the caller."""
        try:
            return fn(*args)
        except self.gp.GPhoto2Error as exc:
            what = fn.__name__.strip("_").replace("_", " ")
            raise DeviceError(advice(int(exc.code), what, _detail(exc))) from None

    @property
    def gp(self):
        if self._gp is None:
            self._gp = _import_gphoto2()
        return self._gp

    def _cam(self):
        if self._camera is None:
            raise DeviceError("camera is not connected: call connect() first")
        return self._camera

    def _retrying(self, what: str, action: Callable[[], Any]) -> Any:
        """Run ``action`` (camera thread), retrying known errors with back-off.

        A busy camera gets its pending events drained before the next attempt; a
        dead handle (-7 after an unplug, -105) is dropped and the camera opened
        again first.  The last error becomes a DeviceError with advice.
        """
        gp = self.gp
        reopen = False
        for attempt in range(self.retries + 1):
            try:
                if reopen:
                    self._camera = self._new_camera()
                    reopen = False
                return action()
            except gp.GPhoto2Error as exc:
                code = int(exc.code)
                if code not in RETRYABLE or attempt == self.retries:
                    if code in NEEDS_REOPEN:
                        self._drop_handle()
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise DeviceError(advice(code, what, _detail(exc)) + tries) from None
                self._sleep(self.backoff_s * 2 ** attempt)
                if code in NEEDS_REOPEN and what != "connect":
                    self._drop_handle()
                    reopen = True
                elif code == -110 and self._camera is not None:
                    self._drain_quietly()

    def _drain_quietly(self) -> None:
        try:
            self._drain_events(collect=False)
        except self.gp.GPhoto2Error:
            pass

    def _new_camera(self):
        """Open the camera asked for: ``model`` and/or ``port``, else the first one detected.

        A model without a port is looked up among the detected cameras (so two bodies
        on one computer can be told apart); a model or port that is not there now is
        -105 "no camera found" (retried: it may be switching on).
        """
        gp = self.gp
        camera = gp.Camera()
        port = self.port
        if self.model and not port:
            found = [p for m, p in list_cameras(gp) if m == self.model]
            if not found:
                raise gp.GPhoto2Error(gp.GP_ERROR_MODEL_NOT_FOUND)
            port = found[0]
        try:
            if port:
                ports = gp.PortInfoList()
                ports.load()
                camera.set_port_info(ports.get_info(ports.lookup_path(port)))
            if self.model:
                models = gp.CameraAbilitiesList()
                models.load()
                camera.set_abilities(models.get_abilities(models.lookup_model(self.model)))
        except gp.GPhoto2Error:
            raise gp.GPhoto2Error(gp.GP_ERROR_MODEL_NOT_FOUND) from None
        try:
            camera.init()
        except Exception:
            try:
                camera.exit()
            except Exception:  # never opened: nothing to release
                pass
            raise
        return camera

    def _drop_handle(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.exit()
            except Exception:  # a dead handle may fail to close; it is dropped anyway
                pass

    # -- camera-thread bodies ------------------------------------------------------------
    def _open(self) -> None:
        if self._camera is None:
            try:
                self._camera = self._retrying("connect", self._new_camera)
            except DeviceError as exc:
                if not (self.model or self.port):
                    raise
                try:
                    now = ", ".join(f"{m} on {p}" for m, p in list_cameras(self.gp)) or "none"
                except DeviceError:
                    now = "unknown"
                wanted = " on ".join(x for x in (self.model, self.port) if x)
                raise DeviceError(f"{exc} (asked for {wanted}; detected now: {now})") from None

    def _release(self) -> None:
        if self._camera is not None and self._live_view:
            try:
                self._leave_live_view()
            except self.gp.GPhoto2Error:
                pass  # closing anyway
        self._drop_handle()

    def _config(self):
        return self._retrying("reading settings", lambda: self._cam().get_config())

    def _widget(self, config, name: str):
        for widget_name in cs.SETTING_WIDGETS[name]:
            try:
                return config.get_child_by_name(widget_name)
            except self.gp.GPhoto2Error:
                continue
        return None

    def _summary(self):
        return self._retrying("summary", lambda: self._cam().get_summary())

    def _read_settings(self) -> CameraSettings:
        config = self._config()
        values = {}
        for name in cs.SETTING_NAMES:
            widget = self._widget(config, name)
            values[name] = cs.readback(name, widget.get_value() if widget is not None else None)
        return CameraSettings(**values)

    def _choices(self, name: str) -> list[str]:
        widget = self._widget(self._config(), name)
        return [] if widget is None else [str(c) for c in widget.get_choices()]

    def _write_settings(self, values: dict[str, str]) -> CameraSettings:
        config = self._config()
        for name, value in values.items():
            widget = self._widget(config, name)
            if widget is None:
                raise DeviceError(f"this camera has no {name} setting (looked for "
                                  f"{', '.join(cs.SETTING_WIDGETS[name])})")
            if widget.get_readonly():
                raise DeviceError(f"the camera does not let {name} be changed now: set the mode "
                                  "dial to M (manual) and try again")
            widget.set_value(_offered_choice(widget, name, value))
        self._retrying("changing settings", lambda: self._cam().set_config(config))
        return self._read_settings()

    def _leave_live_view(self) -> None:
        """Some bodies stay in live view (mirror up, captures refused) until told otherwise."""
        config = self._cam().get_config()
        try:
            widget = config.get_child_by_name("viewfinder")
        except self.gp.GPhoto2Error:
            widget = None
        if widget is not None:
            widget.set_value(0)
            self._cam().set_config(config)
        self._live_view = False

    def _capture(self, folder: Path) -> Capture:
        gp = self.gp
        if self._live_view:
            self._retrying("leaving live view", self._leave_live_view)
        t = time.time()
        where = self._retrying("capture", lambda: self._cam().capture(gp.GP_CAPTURE_IMAGE))
        path = self._download(where.folder, where.name, folder)
        self.last_companions = self._retrying(
            "event drain", lambda: self._drain_events(collect=True, into=folder))
        exif = read_exif(path)
        for companion in self.last_companions:  # RAW+JPEG: the JPEG carries readable EXIF
            exif = exif or read_exif(companion)
        return Capture(path=path, time=t, settings=self._read_settings(), exif=exif)

    def _download(self, cam_folder: str, name: str, folder: Path) -> Path:
        gp = self.gp
        target = _free_name(folder / Path(name).name)

        def get_and_save():
            self._cam().file_get(cam_folder, name, gp.GP_FILE_TYPE_NORMAL).save(str(target))

        self._retrying("download", get_and_save)
        try:  # the file is safe on disk: a failed delete must not fail the capture
            self._retrying("delete on camera", lambda: self._cam().file_delete(cam_folder, name))
        except DeviceError:
            pass
        return target

    def _drain_events(self, collect: bool, into: Path | None = None) -> list[Path]:
        """``wait_for_event`` until a timeout event; download files the body announces."""
        gp = self.gp
        saved = []
        for _ in range(self.max_events):
            kind, data = self._cam().wait_for_event(self.event_timeout_ms)
            if kind == gp.GP_EVENT_TIMEOUT:
                break
            if kind == gp.GP_EVENT_FILE_ADDED and collect and data is not None and into is not None:
                saved.append(self._download(data.folder, data.name, into))
        return saved

    def _preview(self) -> np.ndarray:
        import cv2

        file = self._retrying("live view", lambda: self._cam().capture_preview())
        self._live_view = True
        data = np.frombuffer(memoryview(file.get_data_and_size()), dtype=np.uint8)
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if frame is None:
            raise DeviceError(f"the camera sent an unreadable live-view frame ({data.size} bytes); "
                              "set the image format to JPEG or RAW+JPEG and retry")
        return frame


def _offered_choice(widget, name: str, value: str) -> str:
    """The widget choice that means ``value``; never anything the widget does not offer.

    libgphoto2 accepts any string in ``set_value`` and sends it to the body on
    ``set_config`` without complaint; reading the config back afterwards can then
    crash the process (seen with the virtual Nikon of libgphoto2 2.5.34 and a
    Nikon aperture outside the lens's range).  So the value is resolved against
    the choices here, and checked once more before it leaves.

    Raises
    ------
    InputError
        ``value`` matches none of the choices (the message lists them).
    """
    choices = [str(c) for c in widget.get_choices()]
    choice = cs.pick_choice(name, value, choices)
    if choice not in choices:  # pick_choice returns a listed choice; keep it that way
        raise InputError(f"--{name.replace('_', '-')}", "", f"{value!r} is not offered by this camera")
    return choice


def _check_names(names) -> None:
    for name in names:
        if name not in cs.SETTING_WIDGETS:
            raise InputError("camera settings", name,
                             f"unknown setting; known: {', '.join(cs.SETTING_NAMES)}")


def _free_name(path: Path) -> Path:
    """``path``, or ``stem-1.ext``, ``stem-2.ext``... if it exists already."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate

"""A fake of the python-gphoto2 API, scriptable to fail like real cameras do.

``FakeGPhoto2(body)`` looks like the ``gphoto2`` module to the backend:
``Camera`` (init, exit, capture, file_get, file_delete, wait_for_event,
capture_preview, get_config, set_config, get_summary, autodetect),
``GPhoto2Error`` with ``.code`` / ``.string``, ``CameraFilePath``,
``PortInfoList``, ``CameraAbilitiesList``, the constants, and a widget tree
(get_child_by_name, get_value, set_value, get_choices, get_readonly).

``FakeBody`` is the physical camera behind it: its RAM, its settings, which
values it silently ignores, whether it is plugged in, and a script of
failures: ``body.fail("capture", -110, -110)`` makes the next two captures
raise ``GPhoto2Error(-110)``; an entry may also be a callable (a side effect
such as unplugging the camera).

Where the real library (checked with the ``vusb`` virtual camera of the
``gphoto2`` wheel, see tests/test_camera_vusb.py) and this fake could differ,
the fake does what the library does: ``Widget.set_value`` takes any value,
offered or not, and ``set_config`` sends it; the next ``get_config`` then
raises :class:`LibraryCrash`, where libgphoto2 may crash the whole process.
"""

from __future__ import annotations

import copy
import threading

import cv2
import numpy as np

MESSAGES = {-53: "Could not claim the USB device", -110: "I/O in progress",
            -10: "Timeout reading from or writing to the port", -105: "Unknown model", -7: "I/O problem",
            -6: "Unsupported operation", -2: "Bad parameters",
            -108: "File not found"}


class GPhoto2Error(Exception):
    def __init__(self, code: int):
        self.code = code
        self.string = MESSAGES.get(code, "Unspecified error")
        super().__init__(f"[{code}] {self.string}")


class LibraryCrash(RuntimeError):
    """Where real libgphoto2 would crash the process: a config read after a value outside
    a widget's choices was sent to the body (a segmentation fault with the virtual Nikon
    of libgphoto2 2.5.34)."""


class CameraFilePath:
    def __init__(self, folder: str = "", name: str = ""):
        self.folder, self.name = folder, name


class CameraList:
    def __init__(self, pairs):
        self.pairs = pairs

    def count(self):
        return len(self.pairs)

    def get_name(self, i):
        return self.pairs[i][0]

    def get_value(self, i):
        return self.pairs[i][1]


class FakeFile:
    def __init__(self, data: bytes):
        self.data = data

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.data)

    def get_data_and_size(self):
        return memoryview(self.data)


class Widget:
    def __init__(self, name, value=None, choices=(), readonly=False, children=()):
        self.name, self.value, self.choices, self.readonly = name, value, list(choices), readonly
        self.children = list(children)

    def get_name(self):
        return self.name

    def get_value(self):
        return self.value

    def set_value(self, value):
        # Like real libgphoto2: any value is taken, listed among the choices or not
        # (FakeBody's set_config then records it, and the next read "crashes").
        self.value = value

    def offers(self, value) -> bool:
        return not self.choices or value in self.choices

    def get_choices(self):
        return iter(self.choices)

    def count_choices(self):
        return len(self.choices)

    def get_choice(self, i):
        return self.choices[i]

    def get_readonly(self):
        return int(self.readonly)

    def get_children(self):
        return iter(self.children)

    def get_child_by_name(self, name):
        for child in self.children:
            if child.name == name:
                return child
            try:
                return child.get_child_by_name(name)
            except GPhoto2Error:
                pass
        raise GPhoto2Error(-2)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


def tiny_jpeg(h=48, w=64, value=(10, 120, 240)) -> bytes:
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = value
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def canon_like_config():
    return Widget("main", children=[
        Widget("settings", children=[
            Widget("capturetarget", "Memory card", ["Internal RAM", "Memory card"]),
            Widget("viewfinder", 0, [0, 1]),
        ]),
        Widget("imgsettings", children=[
            Widget("iso", "100", ["Auto", "100", "200", "400", "800", "1600"]),
            Widget("imageformat", "Large Fine JPEG",
                   ["Large Fine JPEG", "Small Normal JPEG", "RAW", "RAW + Large Fine JPEG"]),
        ]),
        Widget("capturesettings", children=[
            Widget("aperture", "5.6", ["4", "5.6", "8", "11"]),
            Widget("shutterspeed", "1/60", ["1/30", "1/60", "1/125", "1/250"]),
        ]),
    ])


class FakeBody:
    """The camera on the other end of the cable."""

    def __init__(self, model="Canon EOS 5D Mark IV", port="usb:001,004", config=None):
        self.model, self.port = model, port
        self.config = config or canon_like_config()
        self.plugged = True
        self.claimed_elsewhere = False
        self.ignores: set[str] = set()     # widget names whose changes are silently dropped
        self.files: dict[tuple[str, str], bytes] = {}
        self.events: list[tuple[int, object]] = []
        self.script: dict[str, list] = {}
        self.calls: list[tuple[str, int]] = []  # (method, thread id)
        self.preview_bytes = tiny_jpeg()
        self.raw_bytes, self.raw_suffix = b"RAWDATA", "CR2"   # what a RAW capture holds (tests set a DNG)
        self.counter = 0
        self.viewfinder_history: list = []
        self.out_of_choices: list[tuple[str, object]] = []  # (widget, value) sent though not offered

    def fail(self, method: str, *entries) -> None:
        self.script.setdefault(method, []).extend(entries)

    def unplug(self) -> None:
        self.plugged = False

    def step(self, method: str) -> None:
        self.calls.append((method, threading.get_ident()))
        queue = self.script.get(method)
        if queue:
            entry = queue.pop(0)
            if callable(entry):
                entry()
            elif entry:
                raise GPhoto2Error(entry)
        if method not in ("init", "exit") and not self.plugged:
            raise GPhoto2Error(-7)

    def value(self, name):
        return self.config.get_child_by_name(name).value

    def take_photo(self):
        self.counter += 1
        fmt = self.value("imageformat")
        folder = "/" if self.value("capturetarget") == "Internal RAM" else "/store_00020001/DCIM/100CANON"
        raw = "RAW" in fmt
        jpeg = "JPEG" in fmt
        first = f"IMG_{self.counter:04d}.{self.raw_suffix if raw else 'JPG'}"
        self.files[(folder, first)] = self.raw_bytes if raw else _photo_bytes()
        if raw and jpeg:
            second = f"IMG_{self.counter:04d}.JPG"
            self.files[(folder, second)] = _photo_bytes()
            self.events.append((FakeGPhoto2.GP_EVENT_FILE_ADDED, CameraFilePath(folder, second)))
        self.events.append((FakeGPhoto2.GP_EVENT_CAPTURE_COMPLETE, None))
        return CameraFilePath(folder, first)


def _photo_bytes() -> bytes:
    """A small JPEG with EXIF (Make, Model, ISO) as a body writes it."""
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif.get_ifd(0x8769)[0x8827] = 100  # ISOSpeedRatings
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 200, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


class FakeGPhoto2:
    """Module-like object: ``FakeGPhoto2(body).Camera()`` talks to ``body``."""

    GP_CAPTURE_IMAGE = 0
    GP_FILE_TYPE_PREVIEW = 0
    GP_FILE_TYPE_NORMAL = 1
    GP_EVENT_UNKNOWN = 0
    GP_EVENT_TIMEOUT = 1
    GP_EVENT_FILE_ADDED = 2
    GP_EVENT_FOLDER_ADDED = 3
    GP_EVENT_CAPTURE_COMPLETE = 4
    GP_ERROR_IO_USB_CLAIM = -53
    GP_ERROR_CAMERA_BUSY = -110
    GP_ERROR_TIMEOUT = -10
    GP_ERROR_MODEL_NOT_FOUND = -105
    GP_ERROR_IO = -7
    GPhoto2Error = GPhoto2Error
    CameraFilePath = CameraFilePath

    def __init__(self, body: FakeBody | None):
        self.body = body
        self.cameras_made = 0
        gp = self

        class Camera:
            def __init__(self):
                gp.cameras_made += 1
                self.open = False
                self.port_info = self.abilities = None

            @staticmethod
            def autodetect():
                b = gp.body
                return CameraList([(b.model, b.port)] if b is not None and b.plugged else [])

            def _step(self, method):
                if gp.body is None:
                    raise GPhoto2Error(-105)
                gp.body.step(method)

            def set_port_info(self, info):
                self.port_info = info

            def set_abilities(self, abilities):
                self.abilities = abilities

            def init(self):
                self._step("init")
                b = gp.body
                if not b.plugged:
                    raise GPhoto2Error(-105)
                if b.claimed_elsewhere:
                    raise GPhoto2Error(-53)
                self.open = True

            def exit(self):
                if gp.body is not None:
                    gp.body.calls.append(("exit", threading.get_ident()))
                self.open = False

            def _need_open(self):
                if not self.open:
                    raise GPhoto2Error(-7)

            def get_summary(self):
                self._step("get_summary")
                return f"Model: {gp.body.model}\nSerial: 0042"

            def get_config(self):
                self._step("get_config")
                self._need_open()
                if gp.body.out_of_choices:
                    raise LibraryCrash(f"real libgphoto2 may crash here: {gp.body.out_of_choices} "
                                       "was sent though the widget does not offer it")
                return copy.deepcopy(gp.body.config)

            def set_config(self, config):
                self._step("set_config")
                self._need_open()
                live = {w.name: w for w in gp.body.config.walk()}
                for w in config.walk():
                    if w.name in live and not live[w.name].offers(w.value):
                        gp.body.out_of_choices.append((w.name, w.value))
                    if w.name in live and w.value != live[w.name].value and w.name not in gp.body.ignores:
                        live[w.name].value = w.value
                        if w.name == "viewfinder":
                            gp.body.viewfinder_history.append(w.value)

            def capture(self, kind):
                self._step("capture")
                self._need_open()
                if gp.body.value("viewfinder"):
                    raise GPhoto2Error(-110)  # busy while the mirror is up for live view
                return gp.body.take_photo()

            def file_get(self, folder, name, kind):
                self._step("file_get")
                self._need_open()
                if (folder, name) not in gp.body.files:
                    raise GPhoto2Error(-108)
                return FakeFile(gp.body.files[(folder, name)])

            def file_delete(self, folder, name):
                self._step("file_delete")
                self._need_open()
                gp.body.files.pop((folder, name), None)

            def wait_for_event(self, timeout_ms):
                self._step("wait_for_event")
                self._need_open()
                if gp.body.events:
                    return gp.body.events.pop(0)
                return (FakeGPhoto2.GP_EVENT_TIMEOUT, None)

            def capture_preview(self):
                self._step("capture_preview")
                self._need_open()
                live = gp.body.config.get_child_by_name("viewfinder")
                live.value = 1  # the body stays in live view afterwards
                return FakeFile(gp.body.preview_bytes)

        class PortInfoList:
            def load(self):
                pass

            def lookup_path(self, path):
                if gp.body is None or path != gp.body.port:
                    raise GPhoto2Error(-5)
                return 0

            def get_info(self, idx):
                return ("port-info", gp.body.port)

        class CameraAbilitiesList:
            def load(self):
                pass

            def lookup_model(self, model):
                if gp.body is None or model != gp.body.model:
                    raise GPhoto2Error(-105)
                return 0

            def get_abilities(self, idx):
                return ("abilities", gp.body.model)

        self.Camera = Camera
        self.PortInfoList = PortInfoList
        self.CameraAbilitiesList = CameraAbilitiesList

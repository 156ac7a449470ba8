"""Scenarios run against the real libgphoto2 and its virtual camera, one per process.

libgphoto2 reads ``IOLIBS`` (which port drivers to load: the wheel's ``vusb``
folder holds the virtual USB camera), ``VCAMERADIR`` (the folder the virtual
camera serves) and ``HOME`` (where it keeps settings) when it first loads, so
tests/test_camera_vusb.py runs this script in a fresh interpreter with those set::

    python tests/vusb_worker.py SCENARIO OUT.json [ARG ...]

Each scenario writes a JSON report to OUT.json; a step that raises is recorded
as ``{"error": class name, "message": ...}`` so that the test can assert on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _step(fn):
    """``fn()``'s result, or the error it raised, as JSON-safe data."""
    try:
        return {"ok": fn()}
    except Exception as exc:  # recorded for the test to check
        return {"error": type(exc).__name__, "message": str(exc)}


def _on_camera_thread(camera, fn):
    """``fn(raw gphoto2 camera)`` on the thread that owns the camera."""
    return camera._thread.call(lambda: fn(camera._camera), timeout_s=30.0)


def _camera_files(raw) -> list[str]:
    """Every file on the (virtual) camera's storage, by walking its folders."""
    out = []

    def walk(folder):
        files = raw.folder_list_files(folder)
        out.extend(f"{folder.rstrip('/')}/{files.get_name(i)}" for i in range(files.count()))
        sub = raw.folder_list_folders(folder)
        for i in range(sub.count()):
            walk(f"{folder.rstrip('/')}/{sub.get_name(i)}")

    walk("/")
    return out


def _pending_event_kinds(raw, most: int = 20) -> list[str]:
    """Names of the events waiting now, up to the first timeout."""
    import gphoto2 as gp

    names = {gp.GP_EVENT_UNKNOWN: "unknown", gp.GP_EVENT_FILE_ADDED: "file_added",
             gp.GP_EVENT_FOLDER_ADDED: "folder_added", gp.GP_EVENT_CAPTURE_COMPLETE: "capture_complete"}
    kinds = []
    for _ in range(most):
        kind, _ = raw.wait_for_event(10)
        if kind == gp.GP_EVENT_TIMEOUT:
            break
        kinds.append(names.get(kind, str(kind)))
    return kinds


def tour(out_dir: str) -> dict:
    """Detection, selection, settings, capture, download, delete, events, preview."""
    import gphoto2 as gp

    from labmnn.instruments.gphoto2_camera import GPhoto2Camera, list_cameras

    out_dir = Path(out_dir)
    rep: dict = {"library": gp.gp_library_version(gp.GP_VERSION_SHORT)[0]}
    rep["detected"] = _step(lambda: list_cameras())
    model, port = rep["detected"]["ok"][0]
    no_wait = {"retries": 0, "backoff_s": 0.0}
    for label, kw in (("wrong_model", {"model": "Canon EOS 5D Mark IV"}),
                      ("wrong_port", {"port": "usb:009,009"})):
        other = GPhoto2Camera(**kw, **no_wait)
        rep[label] = _step(other.connect)
        other.close()

    cam = GPhoto2Camera(model=model, port=port, event_timeout_ms=50, **no_wait)
    rep["connect"] = _step(cam.connect)
    rep["summary"] = _step(lambda: cam.summary()[:2000])
    rep["initial"] = _step(lambda: cam.get_settings().as_dict())
    rep["choices"] = {n: cam.choices(n) for n in ("aperture", "shutter_speed", "capture_target", "iso",
                                                  "image_format")}
    rep["set"] = _step(lambda: cam.set_settings(aperture="8", shutter_speed="1/50",
                                                capture_target="card").as_dict())
    rep["read_back"] = _step(lambda: cam.get_settings().as_dict())
    rep["set_iso"] = _step(lambda: cam.set_settings(iso="800"))
    rep["set_image_format"] = _step(lambda: cam.set_settings(image_format="JPEG"))
    # a value outside the widget's choices is refused before it reaches libgphoto2,
    # so the next read works (the library itself would take it, then crash here)
    rep["set_not_offered"] = _step(lambda: cam.set_settings(aperture="f/1.2"))
    rep["after_not_offered"] = _step(lambda: cam.get_settings().as_dict())

    shots = []
    for _ in range(2):
        shot = cam.capture(out_dir / "photos")
        shots.append({"path": str(shot.path), "settings": shot.settings.as_dict(),
                      "exif": {k: str(v) for k, v in shot.exif.items()},
                      "companions": [str(p) for p in cam.last_companions],
                      "files_on_camera": _on_camera_thread(cam, _camera_files)})
        # what is still pending after labmnn's drain (the body may report a property change
        # at any time, so the kinds are recorded, not just the first)
        shots[-1]["pending_events"] = _on_camera_thread(cam, _pending_event_kinds)
    rep["shots"] = shots
    rep["preview"] = _step(lambda: cam.preview().shape)
    rep["capture_after_preview"] = _step(lambda: cam.capture(out_dir / "photos").path.name)
    cam.close()
    rep["reconnect_capture"] = _step(lambda: (cam.connect(), cam.capture(out_dir / "again").path.name)[1])
    cam.close()
    return rep


def library_takes_any_value(out_dir: str) -> dict:
    """What libgphoto2 itself does with a value outside a widget's choices (no labmnn involved).

    Prints ``accepted`` before the config is read back: the read may kill the process.
    """
    import gphoto2 as gp

    camera = gp.Camera()
    camera.init()
    config = camera.get_config()
    config.get_child_by_name("f-number").set_value("f/1.2")
    camera.set_config(config)
    print("accepted", flush=True)
    value = camera.get_config().get_child_by_name("f-number").get_value()
    camera.exit()
    return {"read_back": value}


SCENARIOS = {"tour": tour, "library_takes_any_value": library_takes_any_value}

if __name__ == "__main__":
    name, out, *args = sys.argv[1:]
    Path(out).write_text(json.dumps(SCENARIOS[name](*args), indent=1))

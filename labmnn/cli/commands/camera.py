"""``labmnn camera list | capture | preview | settings``: the tethered camera at the bench.

Every sub-command takes ``--sim`` (the simulated rig's camera) and, for a real
camera, ``--model`` / ``--port`` to pick one of several (see ``camera list``).
"""

from __future__ import annotations

import json
from pathlib import Path

from labmnn.cli.args import refuse_session_path
from labmnn.errors import DeviceError, InputError
from labmnn.instruments import camera_settings as cs

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SETTING_FLAGS = {  # command-line flag -> setting name
    "iso": "iso", "aperture": "aperture", "shutter_speed": "shutter_speed",
    "format": "image_format", "target": "capture_target",
}


def register(sub) -> None:
    p = sub.add_parser("camera", help="list, capture with, preview or configure the camera",
                       description="Drive the tethered camera (gphoto2) or, with --sim, the "
                                   "simulated rig's camera.")
    actions = p.add_subparsers(dest="camera_action", metavar="ACTION")
    actions.required = True

    a = actions.add_parser("list", help="cameras detected on USB",
                           description="List the cameras gphoto2 sees on USB (model and port).")
    _device_options(a)
    a.set_defaults(func=run_list)

    a = actions.add_parser("capture", help="take one photo and download it",
                           description="Apply the settings given, take one photo and download it into --out.")
    _device_options(a)
    _setting_options(a)
    a.add_argument("--out", default=".", metavar="DIR", help="folder for the photo (default: current folder)")
    a.set_defaults(func=run_capture)

    a = actions.add_parser("preview", help="save one live-view frame as an image",
                           description="Grab one live-view frame (for framing and focus) and save it.")
    _device_options(a)
    a.add_argument("--out", default="preview.png", metavar="FILE",
                   help="image file to write, .png or .jpg (default preview.png)")
    a.set_defaults(func=run_preview)

    a = actions.add_parser("settings", help="show settings; set those given (read back)",
                           description="Print ISO, aperture, shutter speed, image format and capture target; "
                                       "the options given are set first and read back to check the camera "
                                       "took them.")
    _device_options(a)
    _setting_options(a)
    a.add_argument("--choices", action="store_true", help="also list the values the camera offers")
    a.set_defaults(func=run_settings)


def _device_options(p) -> None:
    p.add_argument("--sim", action="store_true", help="use the simulated rig's camera")
    p.add_argument("--model", help="camera model as 'camera list' shows it (default: first found)")
    p.add_argument("--port", help="camera port, e.g. usb:001,004 (default: first found)")
    p.add_argument("--network", default="paper-triangle-n4",
                   help="--sim only: network on the simulated rig (file or example name)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _setting_options(p) -> None:
    p.add_argument("--iso", help="ISO, e.g. 100")
    p.add_argument("--aperture", help="aperture, e.g. 8 or f/8")
    p.add_argument("--shutter-speed", dest="shutter_speed", help="shutter speed, e.g. 1/125")
    p.add_argument("--format", help="image format: JPEG, RAW or RAW+JPEG (or the camera's own name)")
    p.add_argument("--target", help="capture target: ram or card")


def _open(args):
    from labmnn.cli.sim.devices import open_camera

    if args.sim:
        return open_camera(sim=True, network=args.network)
    return open_camera(model=args.model, port=args.port)


def _requested(args) -> dict[str, str]:
    wanted = {name: cs.tidy(name, getattr(args, flag)) for flag, name in SETTING_FLAGS.items()
              if getattr(args, flag, None) is not None}
    fmt = wanted.get("image_format")
    if fmt is not None and not fmt.strip():
        raise InputError("--format", "", "is empty; give JPEG, RAW or RAW+JPEG")
    return wanted


def _apply(camera, wanted: dict[str, str]):
    if not wanted:
        return camera.get_settings()
    got = camera.set_settings(**wanted)
    cs.check_applied(wanted, got)
    return got


def run_list(args) -> int:
    if args.sim:
        found = [("labmnn simulated camera", "sim:")]
    else:
        from labmnn.instruments.gphoto2_camera import list_cameras

        found = list_cameras()
    if args.json:
        print(json.dumps([{"model": m, "port": p} for m, p in found]))
    elif not found:
        print("no camera detected: switch it on, plug the USB cable in, set its USB mode to "
              "PTP / PC connection; 'labmnn camera list' again")
    for model, port in found if not args.json else ():
        print(f"{model}\t{port}")
    return 0


def run_capture(args) -> int:
    wanted = _requested(args)
    refuse_session_path(args.out, "--out")
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("--out", "", f"cannot use {args.out!r} as a folder: {exc.strerror or exc}") from None
    camera = _open(args)
    try:
        settings = _apply(camera, wanted)
        shot = camera.capture(Path(args.out))
    finally:
        camera.close()
    if args.json:
        print(json.dumps({"path": str(shot.path), "time": shot.time,
                          "settings": shot.settings.as_dict(), "exif": shot.exif}))
    else:
        print(f"saved {shot.path}  ({_settings_line(shot.settings or settings)})")
    return 0


def run_preview(args) -> int:
    import cv2

    out = Path(args.out)
    refuse_session_path(out, "--out")
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError("--out", "", f"{str(out)!r} is not an image file name; end it in "
                         f"{', '.join(IMAGE_SUFFIXES)}")
    camera = _open(args)
    try:
        frame = camera.preview()
    finally:
        camera.close()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        written = cv2.imwrite(str(out), frame)
    except (OSError, cv2.error) as exc:
        raise InputError("--out", "", f"cannot write {out}: {' '.join(str(exc).split())}") from None
    if not written:
        raise InputError("--out", "", f"cannot write an image to {out}")
    h, w = frame.shape[:2]
    if args.json:
        print(json.dumps({"path": str(out), "width": w, "height": h}))
    else:
        print(f"saved live-view frame {w}x{h} to {out}")
    return 0


def run_settings(args) -> int:
    wanted = _requested(args)
    camera = _open(args)
    try:
        settings = _apply(camera, wanted)
        offered = _choices(camera) if args.choices else None
    finally:
        camera.close()
    if args.json:
        out = {"settings": settings.as_dict()}
        if offered is not None:
            out["choices"] = offered
        print(json.dumps(out))
        return 0
    for name, value in settings.as_dict().items():
        print(f"{name:15s} {value if value is not None else '-'}")
    for name, values in (offered or {}).items():
        print(f"{name + ' choices':15s} {', '.join(values) if values else '-'}")
    return 0


def _choices(camera) -> dict[str, list[str]]:
    if not hasattr(camera, "choices"):
        raise DeviceError("this camera cannot list its choices")
    return {name: camera.choices(name) for name in cs.SETTING_NAMES}


def _settings_line(settings) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.as_dict().items() if v is not None) or "settings unknown"

"""Camera settings by name: which config widget holds each, which choice a
user's value means, and whether the body kept what was asked.

Pure functions over strings; :mod:`labmnn.instruments.gphoto2_camera` applies
them to the widget tree.  Bodies name things differently (Canon
``imageformat`` "RAW + Large Fine JPEG", Nikon ``imagequality`` "NEF+Fine"),
so image format and capture target are reduced to ``JPEG`` / ``RAW`` /
``RAW+JPEG`` and ``card`` / ``ram``.

Example
-------
>>> pick_choice("image_format", "jpeg", ["RAW", "Small Normal JPEG", "Large Fine JPEG"])
'Large Fine JPEG'
>>> pick_choice("aperture", "8", ["5.6", "8", "11"])
'8'
"""

from __future__ import annotations

import re
from fractions import Fraction

from labmnn.devices import CameraSettings
from labmnn.errors import DeviceError, InputError

SETTING_WIDGETS: dict[str, tuple[str, ...]] = {
    "iso": ("iso", "isospeed"),
    "aperture": ("aperture", "f-number", "fnumber"),
    "shutter_speed": ("shutterspeed", "shutterspeed2", "exposuretime"),
    "image_format": ("imageformat", "imagequality"),
    "capture_target": ("capturetarget",),
}
SETTING_NAMES = tuple(SETTING_WIDGETS)

_RAW_WORDS = ("raw", "nef", "cr2", "cr3", "arw", "orf", "rw2", "dng", "pef", "raf", "srw")
_JPEG_WORDS = ("jpeg", "jpg", "fine", "normal", "basic", "large", "medium", "small")
_CANON_JPEG_SIZE = re.compile(r"^(l|m|s|s1|s2|s3|m1|m2)$")


def classify_format(choice: str) -> str | None:
    """``"JPEG"``, ``"RAW"``, ``"RAW+JPEG"`` or None (unrecognised) for a widget value."""
    s = choice.strip().lower()
    raw = any(w in s for w in _RAW_WORDS)
    jpeg = any(w in s for w in _JPEG_WORDS) or bool(_CANON_JPEG_SIZE.match(s))
    if raw and (jpeg or "+" in s):
        return "RAW+JPEG"
    return "RAW" if raw else "JPEG" if jpeg else None


def classify_target(choice: str) -> str | None:
    """``"ram"`` (camera memory, nothing on the card), ``"card"`` or None."""
    s = choice.strip().lower()
    if "ram" in s or "internal" in s:
        return "ram"
    return "card" if "card" in s else None


def normalise(name: str, value: str) -> str:
    """A value in canonical form, so that "f/8" == "8" and "1/125s" == "1/125"."""
    if name == "image_format":
        v = value.strip().upper().replace("JPG", "JPEG").replace(" ", "")
        return {"JPEG+RAW": "RAW+JPEG"}.get(v, v)
    if name == "capture_target":
        return value.strip().lower()
    v = value.strip().lower().replace(" ", "")
    v = v[2:] if v.startswith("f/") else v
    v = v[:-1] if len(v) > 1 and v.endswith("s") and v[-2].isdigit() else v
    try:
        return str(Fraction(v).limit_denominator(100000))
    except (ValueError, ZeroDivisionError):
        return v


def tidy(name: str, value: str) -> str:
    """A user's value in the plain form cameras list: "f/8" -> "8", "1/125s" -> "1/125",
    "jpeg" -> "JPEG", "RAM" -> "ram"; anything else unchanged.

    Example
    -------
    >>> tidy("aperture", "f/5.6"), tidy("shutter_speed", "1/125s"), tidy("image_format", "raw+jpg")
    ('5.6', '1/125', 'RAW+JPEG')
    """
    v = value.strip()
    if name == "aperture" and v.lower().startswith("f/"):
        return v[2:].strip()
    if name == "shutter_speed" and len(v) > 1 and v[-1] in "sS" and v[-2].isdigit():
        return v[:-1]
    if name in ("image_format", "capture_target"):
        canon = normalise(name, v)
        if canon in ("JPEG", "RAW", "RAW+JPEG", "card", "ram"):
            return canon
    return v


def _canonical_choice(name: str, choice: str) -> str:
    if name == "image_format":
        return classify_format(choice) or choice
    if name == "capture_target":
        return classify_target(choice) or choice
    return normalise(name, choice)


def _canonical_request(name: str, value: str) -> str:
    """What a request reads back as: "Large Fine JPEG" -> "JPEG", "Internal RAM" -> "ram"."""
    canon = normalise(name, value)
    if name == "image_format" and canon not in ("JPEG", "RAW", "RAW+JPEG"):
        return classify_format(value) or canon
    if name == "capture_target" and canon not in ("card", "ram"):
        return classify_target(value) or canon
    return canon


def _quality_rank(choice: str) -> int:
    s = choice.lower()
    return 2 * ("large" in s or s == "l") + 3 * ("fine" in s)


def pick_choice(name: str, value: str, choices: list[str]) -> str:
    """The widget choice that means ``value``.

    Parameters
    ----------
    name : str
        One of :data:`SETTING_NAMES`.
    value : str
        What the user asked for: an exact choice, or a canonical value
        (``"JPEG"``, ``"RAW"``, ``"RAW+JPEG"``, ``"card"``, ``"ram"``, ``"f/8"``...).
    choices : list of str
        The widget's choices.

    Returns
    -------
    str

    Raises
    ------
    InputError
        ``--<name>`` when no choice matches, listing the valid ones.
    """
    for c in choices:
        if c.strip().lower() == value.strip().lower():
            return c
    wanted = normalise(name, value)
    matches = [c for c in choices if _canonical_choice(name, c) == wanted]
    if name == "image_format" and matches:
        return max(matches, key=_quality_rank)  # the best JPEG that fits the request
    if matches:
        return matches[0]
    shown = ", ".join(repr(c) for c in choices[:40])
    raise InputError(f"--{name.replace('_', '-')}", "",
                     f"{value!r} is not offered by this camera; choices: {shown}")


def readback(name: str, value) -> str | None:
    """The widget's current value as reported in :class:`CameraSettings`."""
    if value is None:
        return None
    value = str(value)
    if name == "image_format":
        return classify_format(value) or value
    if name == "capture_target":
        return classify_target(value) or value
    return value


def ignored(requested: dict[str, str], got: CameraSettings) -> dict[str, tuple[str, str | None]]:
    """Settings the body did not take: ``{name: (asked, read back)}``.

    Example
    -------
    >>> ignored({"iso": "400"}, CameraSettings(iso="200"))
    {'iso': ('400', '200')}
    """
    out = {}
    for name, asked in requested.items():
        now = getattr(got, name)
        if now is None or normalise(name, str(now)) != _canonical_request(name, str(asked)):
            out[name] = (asked, now)
    return out


def check_applied(requested: dict[str, str], got: CameraSettings) -> None:
    """Raise :class:`DeviceError` naming every setting the camera ignored."""
    bad = ignored(requested, got)
    if bad:
        parts = "; ".join(f"{k}={a!r} (camera kept {g!r})" for k, (a, g) in bad.items())
        raise DeviceError(f"the camera ignored {parts}: set the mode dial to M (manual) and the "
                          "lens to manual focus, and check the lens supports that value")

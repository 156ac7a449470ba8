"""EXIF tags of a saved photo, as plain JSON-safe values (empty when unknown).

Uses Pillow when it is installed (it comes with scikit-image); RAW files and
files without EXIF give ``{}``.

Example
-------
>>> read_exif("does-not-exist.jpg")
{}
"""

from __future__ import annotations

from pathlib import Path

EXIF_SUB_IFD = 0x8769


def _plain(value):
    if isinstance(value, (int, str)):
        return value.strip("\x00 ") if isinstance(value, str) else value
    if isinstance(value, float):
        return value
    if isinstance(value, tuple) and len(value) <= 8:
        return [_plain(v) for v in value]
    try:
        return float(value)  # PIL's IFDRational
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def read_exif(path: str | Path) -> dict:
    """``{tag name: value}`` from the file's EXIF, main and Exif sub-directory."""
    try:
        from PIL import ExifTags, Image
    except ImportError:
        return {}
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            tags = dict(exif.items())
            tags.update(exif.get_ifd(EXIF_SUB_IFD).items())
    except Exception:  # unreadable, RAW, no EXIF: nothing to report
        return {}
    out = {}
    for tag_id, value in tags.items():
        name = ExifTags.TAGS.get(tag_id)
        plain = _plain(value)
        if name and plain is not None and name not in ("ExifOffset", "MakerNote"):
            out[name] = plain
    return out

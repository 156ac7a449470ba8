"""EXIF tags of a saved photo, as plain JSON-safe values (empty when unknown).

JPEG (and TIFF) through Pillow; camera RAW files (``.nef``, ``.cr2``, ``.dng``,
``.arw``...) through ``exifread``, which walks their TIFF directories as Pillow
does not (install both with ``pip install "labmnn[raw]"``).  Tag names are
EXIF's own (``ExposureTime``, ``ISOSpeedRatings``, ``FNumber``, ``LensModel``,
``Make``, ``Model``) whichever reader found them.

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


# The camera RAW suffixes (as labmnn.metrology.images.RAW_SUFFIXES; kept here because
# instruments do not import metrology).
RAW_SUFFIXES = {".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".pef", ".srw"}
_SKIP = ("ExifOffset", "MakerNote", "JPEGThumbnail", "TIFFThumbnail")


def read_exif(path: str | Path) -> dict:
    """``{tag name: value}`` from the file's EXIF, main and Exif sub-directory.

    Example
    -------
    >>> read_exif("photo.NEF")                     # doctest: +SKIP
    {'Make': 'NIKON CORPORATION', 'Model': 'NIKON D750', 'ExposureTime': 0.008, 'ISOSpeedRatings': 800, ...}
    """
    if Path(path).suffix.lower() in RAW_SUFFIXES:
        tags = _read_exifread(path)
        if tags is not None:
            return tags
    return _read_pillow(path)


def _read_exifread(path: str | Path) -> dict | None:
    """Tags through exifread; None if it is not installed."""
    try:
        import exifread
    except ImportError:
        return None
    try:
        with open(path, "rb") as f:
            raw = exifread.process_file(f, details=False)
    except Exception:  # unreadable or not a TIFF-based file: nothing to report
        return {}
    out = {}
    for key, tag in raw.items():
        group, _, name = key.partition(" ")
        if group not in ("Image", "EXIF") or not name or name.startswith("Tag ") or name in _SKIP:
            continue
        values = tag.values
        if isinstance(values, (list, tuple)):
            if not values or len(values) > 8:
                continue
            plain = [_plain(v) for v in values]
            value = plain[0] if len(plain) == 1 else plain
        else:
            value = _plain(values)
        if value is not None and name not in out:  # the main image's tag wins over a preview's
            out[name] = value
    return out


def _read_pillow(path: str | Path) -> dict:
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

"""A minimal DNG writer for tests: one uncompressed 16-bit Bayer (RGGB) mosaic with EXIF.

A DNG is a TIFF file: an 8-byte header, then image file directories (IFDs) of
12-byte entries ``(tag, type, count, value-or-offset)`` sorted by tag.  The raw
photo is IFD 0 with ``PhotometricInterpretation = 32803`` (colour filter array),
the CFA pattern tags, ``DNGVersion``, a colour matrix and the white level;
exposure, ISO, aperture and lens go into an EXIF sub-IFD as a camera writes them.
Enough for LibRaw (``rawpy``) to decode and for ``exifread`` to read.

Example
-------
>>> import numpy as np, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "grey.dng"
>>> write_dng(p, np.full((8, 12), 100.0))
>>> p.read_bytes()[:4]
b'II*\\x00'
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL = 1, 2, 3, 4, 5, 10
_FORMAT = {BYTE: "B", ASCII: "B", SHORT: "H", LONG: "I", RATIONAL: "I", SRATIONAL: "i"}
_SIZE = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SRATIONAL: 8}

WHITE_LEVEL = 16383  # a 14-bit sensor


def _entry_data(kind: int, value) -> tuple[int, bytes]:
    """(count, little-endian bytes) of one tag's value."""
    if kind == ASCII:
        raw = value.encode("ascii") + b"\0"
        return len(raw), raw
    if kind in (RATIONAL, SRATIONAL):
        pairs = [value] if isinstance(value, tuple) else list(value)
        flat = [int(x) for pair in pairs for x in pair]
        return len(pairs), struct.pack(f"<{len(flat)}{_FORMAT[kind]}", *flat)
    values = [value] if isinstance(value, int) else list(value)
    return len(values), struct.pack(f"<{len(values)}{_FORMAT[kind]}", *values)


def _ifd(tags: dict[int, tuple[int, object]], at: int) -> bytes:
    """An IFD placed at file offset ``at``: entries, next-IFD 0, then the values too long to inline."""
    n = len(tags)
    heap_at = at + 2 + 12 * n + 4
    entries, heap = [], b""
    for tag in sorted(tags):
        kind, value = tags[tag]
        count, data = _entry_data(kind, value)
        if len(data) <= 4:
            field = data.ljust(4, b"\0")
        else:
            field = struct.pack("<I", heap_at + len(heap))
            heap += data + b"\0" * (len(data) % 2)  # word-aligned values
        entries.append(struct.pack("<HHI", tag, kind, count) + field)
    return struct.pack("<H", n) + b"".join(entries) + struct.pack("<I", 0) + heap


def bayer_mosaic(grey: np.ndarray, white_level: int = WHITE_LEVEL, scale: float = 0.75) -> np.ndarray:
    """A grey scene (values 0..255) as a sensor's RGGB mosaic: every photosite sees the same
    grey (a neutral scene), scaled linearly so that 255 is ``scale`` of the white level."""
    raw = np.asarray(grey, float) / 255.0 * scale * white_level
    return np.clip(np.rint(raw), 0, white_level).astype("<u2")


def write_dng(path: str | Path, grey: np.ndarray, *, make: str = "NIKON CORPORATION",
              model: str = "NIKON D750", lens: str = "AF-S Micro NIKKOR 60mm f/2.8G ED",
              exposure_s: tuple[int, int] = (1, 125), f_number: tuple[int, int] = (8, 1),
              iso: int = 800) -> None:
    """Write the grey scene ``grey`` (H, W), values 0..255, as a Bayer DNG (even H and W)."""
    mosaic = bayer_mosaic(grey)
    h, w = mosaic.shape
    if h % 2 or w % 2:
        raise ValueError("a Bayer mosaic needs an even width and height")
    pixels = mosaic.tobytes()
    exif_tags = {
        33434: (RATIONAL, exposure_s),           # ExposureTime
        33437: (RATIONAL, f_number),             # FNumber
        34855: (SHORT, iso),                     # ISOSpeedRatings
        36864: (BYTE, list(b"0230")),            # ExifVersion (UNDEFINED in the standard)
        42036: (ASCII, lens),                    # LensModel
    }
    identity = [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]
    main = {
        254: (LONG, 0),                          # NewSubFileType: the full-size raw image
        256: (LONG, w), 257: (LONG, h),
        258: (SHORT, 16), 259: (SHORT, 1),       # 16 bits a sample, uncompressed
        262: (SHORT, 32803),                     # PhotometricInterpretation: CFA
        271: (ASCII, make), 272: (ASCII, model),
        273: (LONG, 0),                          # StripOffsets: patched below
        274: (SHORT, 1), 277: (SHORT, 1), 278: (LONG, h), 279: (LONG, len(pixels)), 284: (SHORT, 1),
        33421: (SHORT, [2, 2]),                  # CFARepeatPatternDim
        33422: (BYTE, [0, 1, 1, 2]),             # CFAPattern: R G / G B
        34665: (LONG, 0),                        # ExifIFD offset: patched below
        50706: (BYTE, [1, 4, 0, 0]),             # DNGVersion
        50707: (BYTE, [1, 1, 0, 0]),             # DNGBackwardVersion
        50708: (ASCII, f"{make} {model}"),       # UniqueCameraModel
        50717: (LONG, WHITE_LEVEL),
        50721: (SRATIONAL, identity),            # ColorMatrix1: XYZ -> camera
        50728: (RATIONAL, [(1, 1), (1, 1), (1, 1)]),   # AsShotNeutral
        50778: (SHORT, 21),                      # CalibrationIlluminant1: D65
    }
    # layout: header | IFD0 | EXIF IFD | pixels
    ifd0_at = 8
    size0 = len(_ifd(main, ifd0_at))
    exif_at = ifd0_at + size0 + size0 % 2
    exif = _ifd(exif_tags, exif_at)
    pixels_at = exif_at + len(exif) + len(exif) % 2
    main[273] = (LONG, pixels_at)
    main[34665] = (LONG, exif_at)
    ifd0 = _ifd(main, ifd0_at)
    assert len(ifd0) == size0
    out = (b"II*\0" + struct.pack("<I", ifd0_at) + ifd0 + b"\0" * (size0 % 2) + exif
           + b"\0" * (len(exif) % 2) + pixels)
    Path(path).write_bytes(out)

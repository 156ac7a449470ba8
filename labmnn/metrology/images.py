"""Reading photographs as grey float arrays.

JPEG, PNG and TIFF go through OpenCV; camera RAW files (``.cr2``, ``.nef``,
``.arw``, ``.dng``, ...) through the optional ``rawpy`` decoder (LibRaw; the
``raw`` extra), demosaiced linearly: no gamma, no automatic brightening, the
camera's white balance, so a grey level is proportional to the light.
Every failure is an :class:`~labmnn.errors.InputError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from labmnn.errors import InputError

MAX_PIXELS = 250_000_000  # larger than any camera photo; above this a header is corrupt or hostile
RAW_SUFFIXES = {".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".pef", ".srw"}


def read_grey(path: str | Path) -> np.ndarray:
    """Read a photograph as a grey ``float32`` array (H, W), values 0..255.

    Parameters
    ----------
    path : str or Path
        A JPEG/PNG/TIFF file, or a camera RAW file (needs ``rawpy``).

    Returns
    -------
    ndarray of float32, shape (H, W)

    Example
    -------
    >>> g = read_grey("tests/data/real-calibration/calibration2.jpg")
    >>> g.shape, g.dtype
    ((720, 1280), dtype('float32'))
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "", "image file not found")
    if path.suffix.lower() in RAW_SUFFIXES:
        return _read_raw(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), "", f"cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise InputError(str(path), "", "is empty (0 bytes): not an image")
    if data[:2] == b"\xff\xd8" and _jpeg_truncated(data):
        raise InputError(str(path), "", "is a truncated JPEG (it stops before its end marker): "
                                        "download it from the camera again")
    size = header_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise InputError(str(path), "", f"claims {size[0]}x{size[1]} px in its header, more than any camera "
                                        f"photo ({MAX_PIXELS / 1e6:.0f} megapixels at most): a corrupt file?")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:
        reason = str(exc).strip().splitlines()[-1][:120]
        raise InputError(str(path), "", f"not a readable image ({reason})") from None
    except MemoryError:
        raise InputError(str(path), "", "is too large to decode in the memory available") from None
    if img is None:
        raise InputError(str(path), "", "not a readable image (JPEG, PNG, TIFF or camera RAW)")
    if img.dtype == np.uint16:
        return img.astype(np.float32) * np.float32(255.0 / 65535.0)
    return img.astype(np.float32)


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) an image file's header claims, read without decoding the pixels
    (Pillow's lazy open); None when the header cannot be read that way."""
    try:
        import io
        import warnings

        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return None
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.MAX_IMAGE_PIXELS = None  # only the header is read: no bomb to defuse here
            with Image.open(io.BytesIO(data)) as im:
                return int(im.size[0]), int(im.size[1])
    except Exception:  # noqa: BLE001 - any header Pillow cannot read: leave it to OpenCV
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _jpeg_truncated(data: bytes) -> bool:
    """Whether a JPEG lacks the end-of-image marker after its last scan (an interrupted copy).

    Camera files may carry padding or a maker trailer after the marker, and an
    embedded thumbnail has its own scan and end marker before the main image's.
    """
    last_scan = data.rfind(b"\xff\xda")
    return last_scan < 0 or data.find(b"\xff\xd9", last_scan) < 0


def _read_raw(path: Path) -> np.ndarray:
    try:
        import rawpy
    except ImportError:
        raise InputError(str(path), "", "is a camera RAW file: install the optional decoder with "
                                        "'pip install \"labmnn[raw]\"' (or 'pip install rawpy'), "
                                        "or give the camera's JPEG") from None
    try:
        with rawpy.imread(str(path)) as raw:
            rgb = raw.postprocess(gamma=(1, 1), no_auto_bright=True, output_bps=16,
                                  use_camera_wb=True)
    except Exception as exc:  # rawpy raises its own LibRaw error classes
        raise InputError(str(path), "", f"cannot decode RAW file ({exc})") from None
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32) * np.float32(255.0 / 65535.0)


def as_grey(image) -> np.ndarray:
    """An image given as a path or an array, as grey float32 (H, W)."""
    if isinstance(image, (str, Path)):
        return read_grey(image)
    a = np.asarray(image)
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY) if a.shape[2] == 3 else a[..., 0]
    return a.astype(np.float32, copy=False)

"""Checkerboard camera calibration and the pixel -> sample-plane mapping.

:func:`calibrate` finds the inner corners of a checkerboard in each photo
(OpenCV's sector-based detector ``findChessboardCornersSB``, refined to
sub-pixel accuracy), estimates the camera matrix and the lens distortion, and
reports the overall and per-image RMS reprojection error.  With a photo of the
board lying in the sample plane it also fits the homography from undistorted
pixels to millimetres in that plane, so tracked joints can be expressed in mm.

Points are undistorted as points (``undistortPoints``, iterated to convergence); whole frames are
never remapped.

Example
-------
>>> board = BoardSpec(9, 6, 25.0)
>>> cal = calibrate(paths, board)                       # doctest: +SKIP
>>> cal.rms_px                                          # doctest: +SKIP
0.85
>>> cal.save("calibration.json")                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from labmnn import checks
from labmnn.errors import InputError
from labmnn.metrology.images import as_grey

FORMAT = "labmnn-calibration/1"
MAX_BYTES = 16 * 2**20  # a calibration file is a few kB
DETECT_MAX_SIDE = 2400      # larger photos are searched on a reduced copy, refined at full size
OUTLIER_FACTOR = 2.5        # an image is flagged when its RMS exceeds this times the median


@dataclass(frozen=True)
class BoardSpec:
    """A checkerboard: inner corners per row (``cols``) and per column (``rows``), square size in mm."""

    cols: int
    rows: int
    square_mm: float

    def __post_init__(self):
        if self.cols < 2 or self.rows < 2 or not self.square_mm > 0:
            raise InputError("--board", "", f"needs at least 2x2 inner corners and a square > 0 mm, "
                                            f"got {self.cols}x{self.rows}, {self.square_mm} mm")

    @classmethod
    def parse(cls, text: str, square_mm: float) -> BoardSpec:
        """From ``"9x6"`` (inner corners) and a square size in mm."""
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
        if not m:
            raise InputError("--board", "", f"expected COLSxROWS inner corners such as 9x6, got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)), float(square_mm))

    @property
    def pattern_size(self) -> tuple[int, int]:
        return (self.cols, self.rows)

    def object_points(self) -> np.ndarray:
        """Corner positions on the board (cols*rows, 3), mm, row by row as OpenCV orders them."""
        grid = np.mgrid[0:self.cols, 0:self.rows].T.reshape(-1, 2)
        pts = np.zeros((grid.shape[0], 3), np.float32)
        pts[:, :2] = grid * self.square_mm
        return pts


@dataclass
class Calibration:
    """Camera intrinsics, distortion and (optionally) the sample-plane homography.

    Attributes
    ----------
    camera_matrix : ndarray (3, 3)
    dist_coeffs : ndarray (k,)
        OpenCV's distortion coefficients (k1, k2, p1, p2, k3).
    image_size : tuple (w, h)
    rms_px : float
        Overall RMS reprojection error, pixels (as ``calibrateCamera`` returns it).
    per_image_rms_px : dict
        Image name -> RMS reprojection error of that image.
    rejected : dict
        Image name -> why it was not used (board not found, other size).
    outliers : list of str
        Used images whose RMS is much above the others'.
    plane_homography : ndarray (3, 3) or None
        Undistorted pixels -> plane millimetres.
    plane_rms_mm : float or None
        RMS residual of the plane corners after the homography.
    """

    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    image_size: tuple[int, int]
    rms_px: float
    per_image_rms_px: dict = field(default_factory=dict)
    rejected: dict = field(default_factory=dict)
    outliers: list = field(default_factory=list)
    board: BoardSpec | None = None
    plane_homography: np.ndarray | None = None
    plane_rms_mm: float | None = None
    plane_image: str | None = None

    # ---------------------------------------------------------------- mapping
    def undistort_points(self, px) -> np.ndarray:
        """Distorted image pixels (..., 2) -> ideal (undistorted) pixels, same shape."""
        px = np.asarray(px, dtype=np.float64)
        flat = px.reshape(-1, 1, 2)
        if flat.shape[0] == 0:
            return px.copy()
        out = cv2.undistortPoints(flat, self.camera_matrix, self.dist_coeffs, None, None,
                                  self.camera_matrix,
                                  (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12))
        return out.reshape(px.shape)

    @property
    def has_plane(self) -> bool:
        return self.plane_homography is not None

    def to_plane_mm(self, px) -> np.ndarray:
        """Distorted image pixels (..., 2) -> millimetres in the sample plane (..., 2)."""
        if self.plane_homography is None:
            raise InputError("calibration", "plane_homography",
                             "missing: calibrate again with --plane IMAGE (a photo of the board in the sample plane)")
        und = self.undistort_points(px)
        return apply_homography(self.plane_homography, und)

    # ---------------------------------------------------------------- files
    def to_dict(self) -> dict:
        d = {
            "format": FORMAT,
            "camera_matrix": self.camera_matrix.tolist(),
            "dist_coeffs": np.ravel(self.dist_coeffs).tolist(),
            "image_size": [int(self.image_size[0]), int(self.image_size[1])],
            "rms_px": float(self.rms_px),
            "per_image_rms_px": {k: float(v) for k, v in self.per_image_rms_px.items()},
            "rejected": dict(self.rejected),
            "outliers": list(self.outliers),
        }
        if self.board is not None:
            d["board"] = {"cols": self.board.cols, "rows": self.board.rows, "square_mm": self.board.square_mm}
        if self.plane_homography is not None:
            d["plane_homography"] = self.plane_homography.tolist()
            d["plane_rms_mm"] = self.plane_rms_mm
            d["plane_image"] = self.plane_image
        return d

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a ``calibration.json``; bad content raises :class:`InputError` naming the field."""
        path = Path(path)
        if not path.exists():
            raise InputError(str(path), "", "calibration file not found")
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise InputError(str(path), "", f"is larger than {MAX_BYTES // 2**20} MiB: not a calibration file")
            d = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(str(path), "", f"not valid JSON ({exc})") from None
        except OSError as exc:
            raise InputError(str(path), "", f"cannot be read ({exc.strerror or exc})") from None
        except (RecursionError, ValueError) as exc:
            raise InputError(str(path), "", f"not a usable JSON file ({type(exc).__name__})") from None
        if not isinstance(d, dict):
            raise InputError(str(path), "", f"must hold a JSON object, found {type(d).__name__}")
        if d.get("format", FORMAT) != FORMAT:
            raise InputError(str(path), "format", f"must be {FORMAT!r} (a file from 'labmnn calibrate'), "
                                                  f"found {d['format']!r}")
        return cls.from_dict(d, str(path))

    @classmethod
    def from_dict(cls, d: dict, source: str = "<calibration>") -> Calibration:
        def matrix(key, shape):
            if key not in d:
                raise InputError(source, key, "missing")
            try:
                a = np.asarray(d[key], dtype=np.float64)
            except (TypeError, ValueError):
                raise InputError(source, key, f"not a numeric array: {d[key]!r}") from None
            if shape is not None and a.shape != shape or not np.all(np.isfinite(a)):
                raise InputError(source, key, f"expected finite {shape} numbers, got {d[key]!r}")
            return a

        for key in ("camera_matrix", "dist_coeffs", "image_size", "plane_homography", "rms_px"):
            if checks.holds_bool(d.get(key)):
                raise InputError(source, key, f"must hold numbers, found {str(d.get(key))[:80]}")
        if "rms_px" in d and not (isinstance(d["rms_px"], (int, float)) and d["rms_px"] >= 0):
            raise InputError(source, "rms_px", f"must be a number >= 0, found {d['rms_px']!r}")
        K = matrix("camera_matrix", (3, 3))
        if not (1.0 <= K[0, 0] <= 1e7 and 1.0 <= K[1, 1] <= 1e7 and abs(K[0, 1]) <= 1e7
                and np.all(np.abs(K[:2, 2]) <= 1e7) and np.allclose(K[2], [0, 0, 1])):
            raise InputError(source, "camera_matrix", "must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with focal "
                                                      f"lengths 1..1e7 px, got {d['camera_matrix']!r}"[:300])
        D = matrix("dist_coeffs", None).ravel()
        if D.size not in (4, 5, 8, 12, 14):
            raise InputError(source, "dist_coeffs", f"expected 4, 5, 8, 12 or 14 coefficients, got {D.size}")
        if np.any(np.abs(D) > 1e6):
            raise InputError(source, "dist_coeffs", f"must be numbers within +-1e6, got {D.tolist()!r}"[:300])
        size = matrix("image_size", (2,))
        if not np.all((size >= 1) & (size <= 1e6) & (size == np.round(size))):
            raise InputError(source, "image_size", f"expected [width, height] in pixels, got {d['image_size']!r}")
        H = matrix("plane_homography", (3, 3)) if d.get("plane_homography") is not None else None
        if H is not None and not (abs(np.linalg.det(H)) > 0 and np.linalg.cond(H) < 1e15):
            raise InputError(source, "plane_homography", "is singular (determinant 0): calibrate again with --plane")
        board = d.get("board")
        if board is not None:
            if (not isinstance(board, dict) or set(board) != {"cols", "rows", "square_mm"}
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in board.values())):
                raise InputError(source, "board", f"expected {{cols, rows, square_mm}} numbers, got {board!r}")
            try:
                board = BoardSpec(int(board["cols"]), int(board["rows"]), float(board["square_mm"]))
            except InputError as exc:
                raise InputError(source, "board", exc.message) from None
        return cls(K, D, (int(size[0]), int(size[1])), float(d.get("rms_px", float("nan"))),
                   dict(d.get("per_image_rms_px", {})), dict(d.get("rejected", {})),
                   list(d.get("outliers", [])),
                   board,
                   H, d.get("plane_rms_mm"), d.get("plane_image"))


def apply_homography(H: np.ndarray, pts) -> np.ndarray:
    """Apply a 3x3 homography to points (..., 2)."""
    pts = np.asarray(pts, float)
    h = pts @ H[:, :2].T + H[:, 2]
    return h[..., :2] / h[..., 2:3]


# -------------------------------------------------------------------- corners
def find_corners(image, board: BoardSpec) -> np.ndarray | None:
    """Sub-pixel inner corners of ``board`` in ``image`` (path or array), (cols*rows, 2), or None.

    Corners are listed row by row from the one nearer the image's top-left corner.

    Large photos are searched on a reduced copy; the corners are then refined
    on the full-size image with ``cornerSubPix`` in a window scaled to the squares.
    """
    grey = as_grey(image)
    g8 = np.clip(grey, 0, 255).astype(np.uint8)
    scale = min(1.0, DETECT_MAX_SIDE / max(g8.shape))
    small = g8 if scale == 1.0 else cv2.resize(g8, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    flags = cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
    ok, corners = cv2.findChessboardCornersSB(small, board.pattern_size, flags=flags)
    if not ok:
        return None
    corners = corners.reshape(-1, 2).astype(np.float64)
    if scale != 1.0:
        corners = (corners + 0.5) / scale - 0.5
        grid = corners.reshape(board.rows, board.cols, 2)
        spacing = np.median(np.linalg.norm(np.diff(grid, axis=1), axis=-1))
        half = int(np.clip(spacing * 0.3, 3, 40))
        c32 = corners.astype(np.float32).reshape(-1, 1, 2)
        cv2.cornerSubPix(g8, c32, (half, half), (-1, -1),
                         (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4))
        corners = c32.reshape(-1, 2).astype(np.float64)
    # canonical order: the first corner is the one nearer the image's top-left
    # (OpenCV may return a board with cols != rows in either of two 180-degree orders)
    if corners[0].sum() > corners[-1].sum():
        corners = corners[::-1].copy()
    return corners


# ---------------------------------------------------------------- calibration
def calibrate(image_paths, board: BoardSpec, plane_image=None, progress=None) -> Calibration:
    """Calibrate a camera from checkerboard photos.

    Parameters
    ----------
    image_paths : sequence of str or Path
        Photos of the board in varied poses (at least 3 where it is found).
    board : BoardSpec
        Inner corners and square size.
    plane_image : str or Path, optional
        A photo of the board lying in the sample plane; gives the plane homography.
    progress : callable, optional
        Called as ``progress(name, found)`` after each photo.

    Returns
    -------
    Calibration

    Example
    -------
    >>> cal = calibrate(sorted(Path("photos").glob("*.jpg")), BoardSpec(9, 6, 20.0))  # doctest: +SKIP
    """
    paths = [Path(p) for p in image_paths]
    if not paths:
        raise InputError("IMAGES", "", "no calibration photo given")
    found: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    rejected: dict[str, str] = {}
    for p in paths:
        grey = as_grey(p)
        corners = find_corners(grey, board)
        size = (grey.shape[1], grey.shape[0])
        if corners is None:
            rejected[p.name] = f"board {board.cols}x{board.rows} not found"
        else:
            found[p.name] = (corners, size)
        if progress:
            progress(p.name, corners is not None)
    if not found:
        raise InputError("IMAGES", "", f"the {board.cols}x{board.rows} board was found in none of "
                                       f"{len(paths)} photos (check --board: it counts inner corners)")
    size = Counter(s for _, s in found.values()).most_common(1)[0][0]
    for name, (_, s) in list(found.items()):
        if max(abs(s[0] - size[0]), abs(s[1] - size[1])) > 2:
            rejected[name] = f"image size {s[0]}x{s[1]} differs from {size[0]}x{size[1]}"
            del found[name]
    if len(found) < 3:
        raise InputError("IMAGES", "", f"the board was found in only {len(found)} photo(s); "
                                       f"at least 3 varied poses are needed ({_fmt_rejected(rejected)})")
    names = list(found)
    obj = [board.object_points()] * len(names)
    img = [found[n][0].astype(np.float32).reshape(-1, 1, 2) for n in names]
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    rms, K, D, rvecs, tvecs = cv2.calibrateCamera(obj, img, size, None, None, criteria=criteria)
    per_image = {}
    for n, o, i, r, t in zip(names, obj, img, rvecs, tvecs):
        proj, _ = cv2.projectPoints(o, r, t, K, D)
        per_image[n] = float(np.sqrt(np.mean(np.sum((proj - i) ** 2, axis=-1))))
    med = float(np.median(list(per_image.values())))
    outliers = [n for n, v in per_image.items() if v > OUTLIER_FACTOR * med and v > 0.3]
    cal = Calibration(K, D.ravel(), size, float(rms), per_image, rejected, outliers, board)
    if plane_image is not None:
        set_plane(cal, plane_image, board)
    return cal


def set_plane(cal: Calibration, plane_image, board: BoardSpec) -> Calibration:
    """Fit the undistorted-pixel -> plane-mm homography from a photo of the board in the sample plane."""
    corners = find_corners(plane_image, board)
    if corners is None:
        raise InputError(str(plane_image), "", f"--plane: the {board.cols}x{board.rows} board was not found")
    und = cal.undistort_points(corners)
    mm = board.object_points()[:, :2].astype(np.float64)
    H, _ = cv2.findHomography(und, mm, 0)
    res = apply_homography(H, und) - mm
    cal.plane_homography = H
    cal.plane_rms_mm = float(np.sqrt(np.mean(np.sum(res ** 2, axis=-1))))
    cal.plane_image = Path(plane_image).name if isinstance(plane_image, (str, Path)) else None
    return cal


def _fmt_rejected(rejected: dict) -> str:
    return "; ".join(f"{k}: {v}" for k, v in rejected.items()) or "none rejected"

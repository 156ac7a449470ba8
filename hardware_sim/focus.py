"""Depth of field: defocus blur that grows with the distance from the focused plane.

The depth seen at each pixel is that of the front-most layer there (layers are
flat: the sample plane or a board), found on a coarse grid.  A thin lens focused
at ``look.focus_mm`` blurs a point at depth z into a disc of diameter

    c = f^2 |z - s| / (N z (s - f))      (on the sensor; f focal length, N f-number)

approximated by a Gaussian of sigma c / 4 (that of a uniform disc).  The image is
blurred at a ladder of sigmas (large ones on a reduced copy) and each pixel
interpolates between the two rungs around its own sigma.
"""

from __future__ import annotations

import cv2
import numpy as np

from .camera_model import SimCameraModel
from .look import Look
from .raster import Box, coverage

STEP = 16  # coarse grid, pixels
RUNGS = np.array([0.0, 0.7, 1.4, 2.8, 5.6, 11.2, 22.4])


def _plane(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point and unit normal of the (flat) layer, world mm."""
    p = np.asarray(polygons, dtype=float).reshape(-1, 3)
    a = p[0]
    far = p[np.argmax(np.linalg.norm(p - a, axis=1))]
    u = far - a
    v = p - a
    n = np.cross(u, v)
    k = np.argmax(np.linalg.norm(n, axis=1))
    normal = n[k] / np.linalg.norm(n[k])
    return a, normal


def sigma_map(model: SimCameraModel, layers, look: Look) -> np.ndarray:
    """Defocus sigma (pixels) on a grid of ``STEP`` pixels, (ceil(H/STEP)+1, ceil(W/STEP)+1)."""
    W, H = model.width, model.height
    gw, gh = W // STEP + 2, H // STEP + 2
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float64) * STEP
    pts = np.stack([gx.ravel(), gy.ravel()], axis=-1).reshape(-1, 1, 2)
    rays = cv2.undistortPoints(pts, model.camera_matrix, model.dist).reshape(gh, gw, 2)
    d = np.concatenate([rays, np.ones((gh, gw, 1))], axis=-1)  # camera-frame ray directions, z = 1
    R, t = model.rotation, model.tvec
    # the sample plane (world Z = 0) behind everything
    n0 = R @ np.array([0.0, 0.0, 1.0])
    depth = (n0 @ t) / (d @ n0)
    small = Box(0, 0, gw, gh)
    for layer in layers:
        if layer.polygons.size == 0:
            continue
        p0, nw = _plane(layer.polygons)
        nc, pc = R @ nw, R @ p0 + t
        if abs(nw[2]) > 1 - 1e-9 and abs(p0[2]) < 1e-9:
            continue  # in the sample plane: already there
        px = model.project(layer.polygons) / STEP
        inside = coverage(px, small) > 0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (nc @ pc) / (d @ nc)
        depth = np.where(inside & np.isfinite(z) & (z > 0), z, depth)
    f_mm = model.fx * look.pixel_pitch_mm
    s = float(look.focus_mm)
    c_mm = f_mm ** 2 * np.abs(depth - s) / (look.aperture_f * depth * max(s - f_mm, 1e-6))
    return (c_mm / look.pixel_pitch_mm / 4).astype(np.float32)


def _blurred(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of sigma (pixels) as float32; large sigmas on a reduced copy."""
    if sigma <= 0:
        return img.astype(np.float32)
    shrink = 1
    while sigma / shrink > 3.0 and min(img.shape) // (2 * shrink) > 8:
        shrink *= 2
    src = img.astype(np.float32)
    if shrink == 1:
        return cv2.GaussianBlur(src, (0, 0), sigma)
    h, w = img.shape
    small = cv2.resize(src, (max(w // shrink, 1), max(h // shrink, 1)), interpolation=cv2.INTER_AREA)
    # area reduction already blurs by about shrink / sqrt(12)
    rest = np.sqrt(max((sigma / shrink) ** 2 - 1 / 12, 0.09))
    small = cv2.GaussianBlur(small, (0, 0), rest)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def defocus(raw: np.ndarray, sigma_coarse: np.ndarray, box: Box) -> None:
    """Blur ``raw`` (uint16) in ``box`` by the per-pixel sigma of the coarse map, in place."""
    if box.empty or float(sigma_coarse.max()) < 0.3:
        return
    gh, gw = sigma_coarse.shape
    # coarse node (i, j) sits at pixel (j * STEP, i * STEP): sample it at the box's pixels
    xs = (np.arange(box.x0, box.x0 + box.w, dtype=np.float32) / STEP)[None, :].repeat(box.h, 0)
    ys = (np.arange(box.y0, box.y0 + box.h, dtype=np.float32) / STEP)[:, None].repeat(box.w, 1)
    sig = cv2.remap(sigma_coarse, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sig = np.clip(sig, 0, RUNGS[-1])
    sl = box.slices
    sub = raw[sl]
    out = np.zeros(sub.shape, np.float32)
    top = int(np.searchsorted(RUNGS, float(sig.max()))) + 1
    for k in range(min(top, len(RUNGS))):
        lo = RUNGS[k - 1] if k else -1.0
        mid = RUNGS[k]
        hi = RUNGS[k + 1] if k + 1 < len(RUNGS) else 2 * mid
        # hat weight of rung k at each pixel's sigma
        w = np.where(sig <= mid, (sig - lo) / (mid - lo), (hi - sig) / (hi - mid)) if k else \
            np.clip((hi - sig) / (hi - mid), 0, 1)
        w = np.clip(w, 0, 1).astype(np.float32)
        if not w.any():
            continue
        out += w * _blurred(sub, float(mid))
    raw[sl] = np.clip(out + 0.5, 0, 65535).astype(np.uint16)

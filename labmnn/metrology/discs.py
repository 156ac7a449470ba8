"""Precise centre and radius of dark disc markers, robust to the bars leaving them.

From a rough centre, the image is sampled along rays; on each ray the disc edge
is where the profile first crosses half-way between the ink and background
levels (sub-pixel, by linear interpolation).  A circle is fitted to these edge
points by least squares, rays that run along a bar (their edge lies far beyond
the circle) are rejected, and the fit is repeated from the new centre.  The
rays rejected in the last pass give the angular sectors occupied by bars.

Example
-------
>>> from labmnn.metrology.synthetic import draw_joints
>>> img = draw_joints((160, 160), [[80.4, 79.6]], radius=18, bar_angles=[[0.3, 2.5]])
>>> fit = fit_discs(img, [[82, 77]])
>>> np.round(fit.centres, 1).tolist(), round(float(fit.radii[0]), 1)
([[80.4, 79.6]], 18.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

N_RAYS = 180
STEP_PX = 0.25


@dataclass
class DiscFit:
    """Fitted discs.

    Attributes
    ----------
    centres : ndarray (n, 2)
        Disc centres, pixels (x, y).
    radii : ndarray (n,)
        Disc radii, pixels.
    bar_rays : ndarray bool (n, N_RAYS)
        Rays (angle ``2 pi k / N_RAYS``, image axes) whose edge is not the disc's.
    rms_px : ndarray (n,)
        RMS distance of the kept edge points to the circle.
    ok : ndarray bool (n,)
        False where too few rays saw the disc edge (not a disc marker there).
    """

    centres: np.ndarray
    radii: np.ndarray
    bar_rays: np.ndarray
    rms_px: np.ndarray
    ok: np.ndarray

    @property
    def ray_angles(self) -> np.ndarray:
        return ray_angles(self.bar_rays.shape[1])


def ray_angles(n_rays: int = N_RAYS) -> np.ndarray:
    return np.arange(n_rays) * (2 * np.pi / n_rays)


def _edge_radii(image: np.ndarray, centres: np.ndarray, r_max: np.ndarray, n_rays: int):
    """Radius of the first half-level crossing on every ray: (n, n_rays), NaN if none."""
    n = len(centres)
    steps = int(np.ceil(r_max.max() / STEP_PX)) + 1
    r = np.arange(steps) * STEP_PX                                   # (s,)
    ang = ray_angles(n_rays)
    dirs = np.stack([np.cos(ang), np.sin(ang)], -1)                  # (k, 2)
    pts = centres[:, None, None, :] + r[None, None, :, None] * dirs[None, :, None, :]
    mx = pts[..., 0].reshape(n * n_rays, steps).astype(np.float32)
    my = pts[..., 1].reshape(n * n_rays, steps).astype(np.float32)
    prof = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    prof = prof.reshape(n, n_rays, steps)
    inside = r[None, None, :] <= r_max[:, None, None]
    lo = np.nanpercentile(np.where(inside, prof, np.nan).reshape(n, -1), 5, axis=1)
    hi = np.nanpercentile(np.where(inside, prof, np.nan).reshape(n, -1), 95, axis=1)
    mid = 0.5 * (lo + hi)[:, None, None]
    above = (prof > mid) & inside
    first = np.argmax(above, axis=2)                                 # (n, k)
    found = above.any(axis=2) & (first > 0)
    idx = np.clip(first, 1, steps - 1)
    p1 = np.take_along_axis(prof, idx[..., None], 2)[..., 0]
    p0 = np.take_along_axis(prof, (idx - 1)[..., None], 2)[..., 0]
    frac = (mid[..., 0] - p0) / np.where(p1 != p0, p1 - p0, 1.0)
    rad = (idx - 1 + np.clip(frac, 0, 1)) * STEP_PX
    contrast = (hi - lo)
    return np.where(found, rad, np.nan), dirs, contrast


def _fit_circles(points: np.ndarray, weights: np.ndarray):
    """Weighted algebraic (Kasa) circle fit, batched: points (n, k, 2), weights (n, k)."""
    x, y = points[..., 0], points[..., 1]
    A = np.stack([x, y, np.ones_like(x)], -1) * weights[..., None]
    b = (x * x + y * y) * weights
    AtA = np.einsum("nki,nkj->nij", A, A) + 1e-9 * np.eye(3)
    Atb = np.einsum("nki,nk->ni", A, b)
    sol = np.linalg.solve(AtA, Atb[..., None])[..., 0]
    cx, cy = sol[:, 0] / 2, sol[:, 1] / 2
    rad = np.sqrt(np.maximum(sol[:, 2] + cx ** 2 + cy ** 2, 0.0))
    return np.stack([cx, cy], -1), rad


def fit_discs(image, rough_px, r_max=None, n_rays: int = N_RAYS, passes: int = 3) -> DiscFit:
    """Fit the dark disc around each rough centre.

    Parameters
    ----------
    image : ndarray (H, W)
        Grey image (float32 preferred).
    rough_px : array (n, 2)
        Rough centres (a few pixels off is fine; must lie inside the disc).
    r_max : float or array (n,), optional
        Longest ray, pixels; default 0.45 of the distance to the nearest other
        centre (or 60 px for a single joint).
    n_rays : int
        Number of rays around each centre.
    passes : int
        Fit / re-centre passes.

    Returns
    -------
    DiscFit
    """
    img = np.ascontiguousarray(image, dtype=np.float32)
    c = np.atleast_2d(np.asarray(rough_px, float)).copy()
    n = len(c)
    if r_max is None:
        if n > 1:
            d = np.linalg.norm(c[:, None] - c[None], axis=-1) + np.diag(np.full(n, np.inf))
            r_max = 0.45 * d.min(axis=1)
        else:
            r_max = np.full(n, 60.0)
    r_max = np.broadcast_to(np.asarray(r_max, float), (n,)).copy()
    radii = np.full(n, np.nan)
    keep = np.zeros((n, n_rays), bool)
    rms = np.full(n, np.nan)
    for _ in range(passes):
        rad, dirs, _ = _edge_radii(img, c, r_max, n_rays)
        valid = np.isfinite(rad)
        radv = np.where(valid, rad, 0.0)
        # the disc edge is the common, shortest crossing: start from a low quantile, then trim
        ref = np.nanpercentile(np.where(valid, rad, np.nan), 30, axis=1)
        keep = valid & (np.abs(radv - ref[:, None]) < np.maximum(2.0, 0.15 * ref[:, None]))
        for _trim in range(2):
            pts = c[:, None, :] + radv[..., None] * dirs[None]
            new_c, new_r = _fit_circles(pts, keep.astype(float))
            resid = np.linalg.norm(pts - new_c[:, None], axis=-1) - new_r[:, None]
            mad = np.sqrt(np.sum(keep * resid ** 2, 1) / np.maximum(keep.sum(1), 1))
            keep = valid & (np.abs(resid) < np.maximum(3 * mad[:, None], 0.5))
        c, radii = new_c, new_r
        rms = mad
        # later passes only need rays a little longer than the disc
        r_max = np.where(np.isfinite(radii) & (radii > 0), np.minimum(r_max, 1.6 * radii + 4), r_max)
    rad, dirs, _ = _edge_radii(img, c, r_max, n_rays)
    bar = ~(np.isfinite(rad) & (np.abs(np.where(np.isfinite(rad), rad, 0) - radii[:, None])
                                < np.maximum(1.5, 0.08 * radii[:, None])))
    ok = (keep.sum(1) >= n_rays // 4) & np.isfinite(radii) & (radii > 2) & (radii < r_max)
    return DiscFit(c, radii, bar, rms, ok)

"""Sub-pixel correlation of many small masked subsets at once.

Each joint is followed with a zero-normalised sum of squared differences
(ZNSSD) criterion on a *masked* subset: an annulus across the disc's edge from
which the angular sectors holding bars are removed (:func:`annulus_masks`).
The disc edge is rotation-symmetric, so the rotating bars, which bias a plain
square template, never enter the match.

The refinement is an inverse-compositional Gauss-Newton (IC-GN) on a
translation, as in DIC codes: the reference subset is taken at integer pixels
(its gradient and Hessian computed once), the deformed image is sampled with
cubic B-spline interpolation (prefiltered, so the interpolant passes through
the pixels; no pixel locking), and iteration stops when the update is below
``tol_px``.  Outlier pixels (a thread across the subset) are down-weighted with
Tukey's biweight.  All subsets are processed together as (n, S, S) arrays.

Example
-------
>>> from labmnn.metrology.synthetic import draw_joints
>>> ref = draw_joints((120, 120), [[60.0, 60.0]], radius=15, bar_angles=[[0.0]], noise=0)
>>> cur = draw_joints((120, 120), [[60.3, 59.8]], radius=15, bar_angles=[[0.05]], noise=0)
>>> masks = annulus_masks(np.array([[60.0, 60.0]]), np.array([15.0]), np.zeros((1, 180), bool), 22)
>>> sub = ReferenceSubsets(ref, np.array([[60.0, 60.0]]), masks)
>>> res = sub.refine(cur, np.zeros((1, 2)))
>>> np.round(res.shift, 2).tolist()
[[0.3, -0.2]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SPLINE_PAD = 4          # extra pixels around a patch for the B-spline support and prefilter
TUKEY_C = 4.685


def annulus_masks(centres, radii, bar_rays, half, inner=None, outer=None, margin_deg=8.0):
    """Weights (n, S, S), S = 2*half+1, on the integer grid around ``round(centres)``.

    The annulus spans ``inner..outer`` radii (defaults: radius -/+ max(4, radius/4));
    rays flagged in ``bar_rays`` (n, k) are removed with ``margin_deg`` (scalar or per
    subset) on each side.
    """
    centres = np.asarray(centres, float)
    n, k = bar_rays.shape
    radii = np.asarray(radii, float)
    width = np.maximum(4.0, 0.25 * radii)
    inner = radii - width if inner is None else inner
    outer = radii + width if outer is None else outer
    g = np.arange(-half, half + 1, dtype=float)
    base = np.round(centres)
    dx = g[None, None, :] + (base[:, 0] - centres[:, 0])[:, None, None]
    dy = g[None, :, None] + (base[:, 1] - centres[:, 1])[:, None, None]
    r = np.hypot(dx, dy)
    ring = (r >= np.asarray(inner)[:, None, None]) & (r <= np.asarray(outer)[:, None, None])
    # remove every ray within margin_deg of a bar ray (per-joint margins allowed)
    step = 360.0 / k
    idx = np.arange(k)
    gap = np.abs(idx[:, None] - idx[None, :])
    gap = np.minimum(gap, k - gap) * step                               # (k, k) degrees
    near = np.where(bar_rays[:, None, :], gap[None], np.inf).min(axis=2)  # (n, k)
    blocked = near <= np.broadcast_to(np.asarray(margin_deg, float), (n,))[:, None] + 1e-9
    ray = np.round(np.mod(np.arctan2(dy, dx), 2 * np.pi) / (2 * np.pi / k)).astype(int) % k
    free = ~np.take_along_axis(blocked, ray.reshape(n, -1), 1).reshape(ring.shape)
    return (ring & free).astype(np.float64)


def _bspline_weights(t):
    """Cubic B-spline weights for fractions t (...,) -> (..., 4) at offsets -1, 0, 1, 2."""
    t = np.asarray(t, float)
    s = 1.0 - t
    return np.stack([s ** 3 / 6, (3 * t ** 3 - 6 * t ** 2 + 4) / 6,
                     (-3 * t ** 3 + 3 * t ** 2 + 3 * t + 1) / 6, t ** 3 / 6], -1)


def _gradient(img, y0, x0, half):
    """4th-order central differences on (n, S, S) windows; img padded so windows fit."""
    S = 2 * half + 1
    ys = y0[:, None] + np.arange(-2, S + 2)[None]
    xs = x0[:, None] + np.arange(-2, S + 2)[None]
    w = img[ys[:, :, None], xs[:, None, :]].astype(np.float64)
    gx = (-w[:, 2:-2, 4:] + 8 * w[:, 2:-2, 3:-1] - 8 * w[:, 2:-2, 1:-3] + w[:, 2:-2, :-4]) / 12
    gy = (-w[:, 4:, 2:-2] + 8 * w[:, 3:-1, 2:-2] - 8 * w[:, 1:-3, 2:-2] + w[:, :-4, 2:-2]) / 12
    return w[:, 2:-2, 2:-2], gx, gy


@dataclass
class RefineResult:
    """Outcome of :meth:`ReferenceSubsets.refine` for every subset.

    Attributes
    ----------
    shift : ndarray (n, 2)
        Displacement of each subset from the reference, pixels (x, y).
    zncc : ndarray (n,)
        Zero-normalised cross-correlation at the solution (1 = identical).
    inlier_fraction : ndarray (n,)
        Share of mask weight kept by the robust weights (1 = no outlier pixel).
    sigma_px : ndarray (n,)
        Standard uncertainty of the shift from the residual noise, pixels.
    converged : ndarray bool (n,)
    iterations : int
    inside : ndarray bool (n,)
        False where the subset left the frame.
    """

    shift: np.ndarray
    zncc: np.ndarray
    inlier_fraction: np.ndarray
    sigma_px: np.ndarray
    converged: np.ndarray
    iterations: int
    inside: np.ndarray


class ReferenceSubsets:
    """Masked reference subsets with their precomputed IC-GN quantities.

    Parameters
    ----------
    reference : ndarray (H, W)
        Reference image.
    centres : ndarray (n, 2)
        Subset centres in the reference, pixels (x, y); the subsets lie on the
        integer grid around ``round(centres)``.
    masks : ndarray (n, S, S)
        Non-negative pixel weights (see :func:`annulus_masks`).
    """

    def __init__(self, reference, centres, masks):
        self.centres = np.asarray(centres, float)
        self.masks = np.asarray(masks, float)
        self.n, S, _ = self.masks.shape
        self.half = (S - 1) // 2
        self.base = np.round(self.centres).astype(int)          # integer subset centre (x, y)
        pad = self.half + 4
        img = np.pad(np.asarray(reference, np.float64), pad, mode="edge")
        f, gx, gy = _gradient(img, self.base[:, 1] - self.half + pad, self.base[:, 0] - self.half + pad, self.half)
        self.f, self.gx, self.gy = f, gx, gy

    def refine(self, image, start, masks=None, tol_px=1e-4, max_iter=40, margin=6, robust=True) -> RefineResult:
        """Find each subset in ``image`` starting from shifts ``start`` (n, 2).

        Parameters
        ----------
        image : ndarray (H, W)
        start : ndarray (n, 2)
            Initial shifts (x, y), pixels, within about 2 px of the answer.
        masks : ndarray (n, S, S), optional
            Pixel weights for this image (e.g. bar sectors widened for the bars'
            predicted rotation); default the reference masks.
        tol_px : float
            Stop when every update is below this.
        max_iter : int
        margin : int
            Extra pixels read around each subset; the patch is re-read when a
            shift leaves it.
        robust : bool
            Tukey down-weighting of outlier pixels.
        """
        image = np.asarray(image, np.float32)
        H, W = image.shape
        n, h = self.n, self.half
        S = 2 * h + 1
        p = np.asarray(start, float).copy()
        w = self.masks if masks is None else np.asarray(masks, float)
        f = self.f
        converged = np.zeros(n, bool)
        failed = np.zeros(n, bool)
        inside = np.ones(n, bool)
        it = 0
        rw = w.copy()
        while it < max_iter:
            # read prefiltered patches around the current estimate
            origin = np.floor(p).astype(int)                     # integer part of the shift
            span = S + 2 * (margin + SPLINE_PAD)
            x0 = self.base[:, 0] + origin[:, 0] - h - margin - SPLINE_PAD
            y0 = self.base[:, 1] + origin[:, 1] - h - margin - SPLINE_PAD
            inside &= (x0 >= 0) & (y0 >= 0) & (x0 + span <= W) & (y0 + span <= H)
            xs = np.clip(x0[:, None] + np.arange(span)[None], 0, W - 1)
            ys = np.clip(y0[:, None] + np.arange(span)[None], 0, H - 1)
            patch = image[ys[:, :, None], xs[:, None, :]].astype(np.float64)
            coef = ndimage.spline_filter1d(patch, 3, axis=1, mode="mirror")
            coef = ndimage.spline_filter1d(coef, 3, axis=2, mode="mirror")
            while it < max_iter:
                it += 1
                k = np.floor(p).astype(int) - origin            # offset inside the patch
                if np.any(np.abs(k) > margin):
                    break                                        # re-read patches
                t = p - np.floor(p)
                wx, wy = _bspline_weights(t[:, 0]), _bspline_weights(t[:, 1])
                oy = margin + SPLINE_PAD - 1 + k[:, 1]
                ox = margin + SPLINE_PAD - 1 + k[:, 0]
                rows = oy[:, None] + np.arange(S + 3)[None]
                cols = ox[:, None] + np.arange(S + 3)[None]
                blk = coef[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
                v = sum(wy[:, a, None, None] * blk[:, a:a + S, :] for a in range(4))
                g = sum(wx[:, b, None, None] * v[:, :, b:b + S] for b in range(4))
                sw = rw.sum((1, 2))
                sw_safe = np.where(sw > 0, sw, 1.0)
                fm = (rw * f).sum((1, 2)) / sw_safe
                gm = (rw * g).sum((1, 2)) / sw_safe
                fc = f - fm[:, None, None]
                gc = g - gm[:, None, None]
                df = np.sqrt((rw * fc ** 2).sum((1, 2)))
                dg = np.sqrt((rw * gc ** 2).sum((1, 2)))
                r = fc - (df / np.maximum(dg, 1e-12))[:, None, None] * gc
                if robust and it > 2:
                    scale = np.maximum(1.4826 * _weighted_median(np.abs(r), w), 0.005 * df / np.sqrt(sw_safe)) + 1e-9
                    u = r / (TUKEY_C * scale[:, None, None])
                    rw = w * np.where(np.abs(u) < 1, (1 - u ** 2) ** 2, 0.0)
                Hxx = (rw * self.gx ** 2).sum((1, 2))
                Hxy = (rw * self.gx * self.gy).sum((1, 2))
                Hyy = (rw * self.gy ** 2).sum((1, 2))
                bx = (rw * self.gx * r).sum((1, 2))
                by = (rw * self.gy * r).sum((1, 2))
                det = Hxx * Hyy - Hxy ** 2
                det = np.where(np.abs(det) > 1e-12, det, np.inf)
                dpx = -(Hyy * bx - Hxy * by) / det
                dpy = -(-Hxy * bx + Hxx * by) / det
                dp = np.stack([dpx, dpy], -1)
                failed |= ~np.isfinite(dp).all(1) | (sw <= 0)
                dp = np.where(failed[:, None], 0.0, np.clip(dp, -2.0, 2.0))
                p -= dp
                converged = (np.hypot(dp[:, 0], dp[:, 1]) < tol_px) & ~failed
                if (converged | failed).all():
                    break
            else:
                continue
            if (converged | failed).all():
                break
        with np.errstate(invalid="ignore", divide="ignore"):
            zncc = 1.0 - 0.5 * (rw * (fc / df[:, None, None] - gc / dg[:, None, None]) ** 2).sum((1, 2))
            inlier = rw.sum((1, 2)) / np.maximum(w.sum((1, 2)), 1e-12)
        zncc = np.where(failed, 0.0, np.nan_to_num(zncc, nan=0.0))
        dof = np.maximum(rw.sum((1, 2)) - 4, 1)
        noise = np.sqrt((rw * r ** 2).sum((1, 2)) / dof)
        sigma = noise * np.sqrt(np.maximum(Hxx + Hyy, 0) / np.maximum(det, 1e-12))
        return RefineResult(p, zncc, inlier, sigma, converged, it, inside)


def _weighted_median(a, w):
    """Median of |a| over pixels with w > 0, per subset (n, S, S) -> (n,)."""
    vals = np.where(w > 0, a, np.nan).reshape(len(a), -1)
    return np.nanmedian(vals, axis=1)

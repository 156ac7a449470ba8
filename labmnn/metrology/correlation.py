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

import warnings
from dataclasses import dataclass

import cv2
import numpy as np

SPLINE_PAD = 6          # extra pixels around a patch for the B-spline support and prefilter
TUKEY_C = 4.685
SETTLED_PX = 0.01       # an update this small at the last iteration still counts as converged
NOISE_FLOOR = 0.3       # grey levels (of 255): quantisation noise of 8-bit images
N_SECTORS = 24          # angular sectors checked for outliers after convergence
SECTOR_RMS = 3.0        # a sector whose RMS residual exceeds this many times the typical sector's is dropped


def annulus_geometry(centres, radii, bar_rays, half, inner=None, outer=None):
    """The annulus across each disc edge and each pixel's angular distance to the nearest bar.

    Returns
    -------
    ring : ndarray bool (n, S, S), S = 2*half+1
        Pixels (integer grid around ``round(centres)``) with radius in ``inner..outer``
        (defaults: radius -/+ max(4, radius/4)).
    bar_deg : ndarray (n, S, S)
        Angle from each pixel's ray to the nearest ray flagged in ``bar_rays`` (n, k),
        degrees (inf when a joint has no bar).
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
    idx = np.arange(k)
    gap = np.abs(idx[:, None] - idx[None, :])
    gap = np.minimum(gap, k - gap) * (360.0 / k)                          # (k, k) degrees
    near = np.where(bar_rays[:, None, :], gap[None], np.inf).min(axis=2)  # (n, k)
    ray = np.round(np.mod(np.arctan2(dy, dx), 2 * np.pi) / (2 * np.pi / k)).astype(int) % k
    bar_deg = np.take_along_axis(near, ray.reshape(n, -1), 1).reshape(ring.shape)
    return ring, bar_deg


def annulus_masks(centres, radii, bar_rays, half, inner=None, outer=None, margin_deg=8.0):
    """Weights (n, S, S), S = 2*half+1: the annulus of :func:`annulus_geometry` without the
    rays within ``margin_deg`` (scalar or per subset) of a bar ray."""
    ring, bar_deg = annulus_geometry(centres, radii, bar_rays, half, inner, outer)
    margin = np.broadcast_to(np.asarray(margin_deg, float), (len(ring),))[:, None, None]
    return (ring & (bar_deg > margin + 1e-9)).astype(np.float64)


_Z = np.sqrt(3.0) - 2.0
_PREFILTER = (np.sqrt(3.0) * _Z ** np.abs(np.arange(-SPLINE_PAD * 2, SPLINE_PAD * 2 + 1))).astype(np.float32)


def bspline_prefilter(patches):
    """Cubic B-spline coefficients of a stack of patches (n, h, w), float32.

    The exact recursive prefilter is the two-sided geometric filter sqrt(3) z^|k|
    (z = sqrt(3) - 2); it is applied here as a symmetric FIR truncated at |k| = 8
    (z^8 ~ 3e-5), along rows then columns, with mirrored borders.
    """
    n, h, w = patches.shape
    one = np.ones(1, np.float32)
    a = cv2.sepFilter2D(np.ascontiguousarray(patches, np.float32).reshape(n * h, w), -1, _PREFILTER, one,
                        borderType=cv2.BORDER_REFLECT_101).reshape(n, h, w)
    b = np.ascontiguousarray(a.transpose(0, 2, 1)).reshape(n * w, h)
    b = cv2.sepFilter2D(b, -1, _PREFILTER, one, borderType=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(b.reshape(n, w, h).transpose(0, 2, 1))


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
        Share of the mask's weight kept after dropping outlier sectors (and robust
        weights): 1 = nothing covered the subset.
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
    bar_deg : ndarray (n, S, S), optional
        Each pixel's angular distance to the nearest bar (:func:`annulus_geometry`);
        lets :meth:`refine` drop, per image, the pixels within ``margin_deg`` of a bar.
    """

    def __init__(self, reference, centres, masks, bar_deg=None):
        self.centres = np.asarray(centres, float)
        self.masks = np.asarray(masks, float)
        self.n, S, _ = self.masks.shape
        self.half = (S - 1) // 2
        self.base = np.round(self.centres).astype(int)          # integer subset centre (x, y)
        pad = self.half + 4
        img = np.pad(np.asarray(reference, np.float64), pad, mode="edge")
        f, gx, gy = _gradient(img, self.base[:, 1] - self.half + pad, self.base[:, 0] - self.half + pad, self.half)
        self.f, self.gx, self.gy = f, gx, gy
        # image noise, from second differences (robust to the few edge pixels)
        lap = f[:, :, 1:-1] - 0.5 * (f[:, :, :-2] + f[:, :, 2:])
        self.noise = max(float(1.4826 * np.median(np.abs(lap)) / np.sqrt(1.5)), NOISE_FLOOR)
        self._layout(self.masks, bar_deg)

    def _layout(self, masks, bar_deg=None):
        """Pack each subset's weighted pixels into rows of a padded (n, L) layout."""
        n = self.n
        active = masks.reshape(n, -1) > 0
        counts = active.sum(1)
        L = max(int(counts.max()), 1)
        order = np.argsort(~active, axis=1, kind="stable")[:, :L]      # active pixels first
        valid = np.arange(L)[None] < counts[:, None]
        self.idx = order

        def take(a):  # each subset's active pixels, padded with zeros to the longest
            return np.where(valid, np.take_along_axis(a.reshape(n, -1), order, 1), 0.0).astype(np.float32)

        self.w_p = take(masks)
        self.f_p, self.gx_p, self.gy_p = take(self.f), take(self.gx), take(self.gy)
        self.bar_deg_p = take(bar_deg) if bar_deg is not None else np.full((n, L), np.inf)
        self.bar_deg_p[~valid] = np.inf
        g = np.arange(-self.half, self.half + 1)
        ang = np.mod(np.arctan2(g[:, None] + 0 * g[None], g[None, :] + 0 * g[:, None]), 2 * np.pi)
        sector = (ang / (2 * np.pi / N_SECTORS)).astype(int) % N_SECTORS
        self.sector_p = np.take_along_axis(np.broadcast_to(sector.ravel(), (n, sector.size)), order, 1)
        # each packed pixel's direction from the subset centre, degrees (image axes)
        dx = g[None, None, :] + (self.base[:, 0] - self.centres[:, 0])[:, None, None] + 0 * g[None, :, None]
        dy = g[None, :, None] + (self.base[:, 1] - self.centres[:, 1])[:, None, None] + 0 * g[None, None, :]
        ang_full = np.degrees(np.arctan2(dy, dx)).reshape(n, -1)
        self.angle_p = np.take_along_axis(ang_full, order, 1)

    def refine(self, image, start, masks=None, margin_deg=None, keep=None, tol_px=2e-4, max_iter=40,
               margin=6, robust=False, reject_sectors=True) -> RefineResult:
        """Find each subset in ``image`` starting from shifts ``start`` (n, 2).

        Parameters
        ----------
        image : ndarray (H, W)
        start : ndarray (n, 2)
            Initial shifts (x, y), pixels, within about 2 px of the answer.
        masks : ndarray (n, S, S), optional
            Pixel weights for this image instead of the reference masks.
        margin_deg : float or array (n,), optional
            Drop the pixels within this angle of a bar (needs ``bar_deg``), e.g. the
            bars' predicted rotation plus a margin.
        keep : ndarray bool (n, L), optional
            Per packed pixel (``angle_p`` gives their directions): False drops it
            for this image (e.g. the sectors swept by the bars' predicted rotation).
        tol_px : float
            Stop when every update is below this.
        max_iter : int
        margin : int
            Extra pixels read around each subset; the patch is re-read when a
            shift leaves it.
        robust : bool
            Tukey down-weighting of outlier pixels (off by default: the weights then
            depend on the sub-pixel position through the edge pixels' interpolation
            residuals, which biases the result by up to 0.1 px on small discs; the
            sector rejection below handles threads without that bias).
        reject_sectors : bool
            After converging, drop the angular sectors (``N_SECTORS`` around each
            centre) whose RMS residual exceeds ``SECTOR_RMS`` times that of the
            subset's typical sector and the noise (a thread or hook over the edge),
            and refine again without them.
        """
        if masks is not None:
            self._layout(np.asarray(masks, float))
        fit = self._start(start, margin_deg, keep)
        n_rounds = 2 if reject_sectors else 1
        for rnd in range(n_rounds):
            self._iterate(np.asarray(image, np.float32), fit, tol_px, max_iter, margin, robust)
            if rnd + 1 == n_rounds or not self._reject_sectors(fit):
                break
        return self._final_statistics(fit)

    # -------------------------------------------------------------- stages of refine
    def _start(self, start, margin_deg, keep) -> _Fit:
        """The per-subset state at the start: shifts, this image's pixel weights, no statistics."""
        n, L = self.n, self.f_p.shape[1]
        w = self.w_p
        if margin_deg is not None:
            m = np.broadcast_to(np.asarray(margin_deg, float), (n,))[:, None]
            w = w * (self.bar_deg_p > m)
        if keep is not None:
            w = w * np.asarray(keep, bool)
        return _Fit(p=np.asarray(start, float).copy(), w=w, w0=w, rw=w.copy(),
                    converged=np.zeros(n, bool), failed=np.zeros(n, bool), inside=np.ones(n, bool),
                    fc=np.zeros((n, L), np.float32), gc=np.zeros((n, L), np.float32),
                    r=np.zeros((n, L), np.float32), df=np.ones(n), dg=np.ones(n),
                    det=np.full(n, np.inf), trace=np.zeros(n), step=np.full(n, np.inf))

    def _iterate(self, image, fit: _Fit, tol_px, max_iter, margin, robust) -> None:
        """Gauss-Newton iterations of the subsets not yet done, until all converge or fail
        or ``max_iter`` is reached; patches are re-read when a shift leaves them."""
        it_round = 0
        while it_round < max_iter and not (fit.converged | fit.failed).all():
            origin, coef = self._read_patches(image, fit, margin)
            blocks = _Blocks(self.n, 2 * self.half + 1)
            act = np.flatnonzero(~(fit.converged | fit.failed))     # subsets still iterating
            while it_round < max_iter and act.size:
                fit.it += 1
                it_round += 1
                k = np.floor(fit.p[act]).astype(int) - origin[act]   # offset inside the patch
                if np.any(np.abs(k) > margin):
                    break                                            # re-read patches
                g = self._interpolate(coef, blocks, act, fit.p[act], k, margin)
                act = self._gauss_newton_step(fit, act, g, tol_px, robust)
            else:
                break

    def _read_patches(self, image, fit: _Fit, margin):
        """Prefiltered patches around the current estimates (subsets that left the frame are
        marked in ``fit.inside``); returns the integer part of each shift and the B-spline
        coefficients (n, P, P)."""
        H, W = image.shape
        h = self.half
        S = 2 * h + 1
        origin = np.floor(np.nan_to_num(fit.p)).astype(int)      # integer part of the shift
        span = S + 2 * (margin + SPLINE_PAD)
        x0 = self.base[:, 0] + origin[:, 0] - h - margin - SPLINE_PAD
        y0 = self.base[:, 1] + origin[:, 1] - h - margin - SPLINE_PAD
        fit.inside &= (x0 >= 0) & (y0 >= 0) & (x0 + span <= W) & (y0 + span <= H)
        xs = np.clip(x0[:, None] + np.arange(span)[None], 0, W - 1)
        ys = np.clip(y0[:, None] + np.arange(span)[None], 0, H - 1)
        patch = image[ys[:, :, None], xs[:, None, :]]
        return origin, bspline_prefilter(patch)

    def _interpolate(self, coef, blocks: _Blocks, act, p, k, margin):
        """The deformed subsets ``act`` at shifts ``p`` (cubic B-spline), packed (len(act), L)."""
        S = 2 * self.half + 1
        t = p - np.floor(p)
        wx = _bspline_weights(t[:, 0]).astype(np.float32)
        wy = _bspline_weights(t[:, 1]).astype(np.float32)
        oy = margin + SPLINE_PAD - 1 + k[:, 1]
        ox = margin + SPLINE_PAD - 1 + k[:, 0]
        blk, blk_k = blocks.coef, blocks.offset
        moved = (blk_k[act] != k).any(1)                 # re-read only where the integer part changed
        if moved.any():
            m_ = act[moved]
            rows = oy[moved, None] + np.arange(S + 3)[None]
            cols = ox[moved, None] + np.arange(S + 3)[None]
            blk[m_] = coef[m_[:, None, None], rows[:, :, None], cols[:, None, :]]
            blk_k[m_] = k[moved]
        ba = blk[act]
        v = wy[:, 0, None, None] * ba[:, 0:S, :]
        for a in range(1, 4):
            v += wy[:, a, None, None] * ba[:, a:a + S, :]
        gs = wx[:, 0, None, None] * v[:, :, 0:S]
        for b in range(1, 4):
            gs += wx[:, b, None, None] * v[:, :, b:b + S]
        return np.take_along_axis(gs.reshape(len(act), -1), self.idx[act], 1)

    def _gauss_newton_step(self, fit: _Fit, act, g, tol_px, robust):
        """One IC-GN update of the subsets ``act`` given their deformed pixels ``g``; records
        the statistics and returns the subsets still iterating."""
        fa, wa, gxa, gya = self.f_p[act], fit.w[act], self.gx_p[act], self.gy_p[act]
        rwa = fit.rw[act]
        sw = rwa.sum(1)
        sw_safe = np.where(sw > 0, sw, 1.0)
        fc = fa - ((rwa * fa).sum(1) / sw_safe)[:, None]
        gc = g - ((rwa * g).sum(1) / sw_safe)[:, None]
        df = np.sqrt((rwa * fc * fc).sum(1))
        dg = np.sqrt((rwa * gc * gc).sum(1))
        ratio = df / np.where(dg > 0, dg, 1.0)
        r = fc - ratio[:, None] * gc
        if robust and fit.it > 2:
            # residual scale of each subset: its own residuals' MAD (edges carry
            # more interpolation and compression error than flat areas), floored
            mad = 1.4826 * np.nanmedian(np.where(wa > 0, np.abs(r), np.nan), axis=1)
            scale = np.maximum(np.nan_to_num(mad, nan=0.0), self.noise * np.sqrt(1 + ratio ** 2))
            u = r / (TUKEY_C * scale[:, None])
            rwa = wa * np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
            fit.rw[act] = rwa
        rgx, rgy = rwa * gxa, rwa * gya
        Hxx, Hxy, Hyy = (rgx * gxa).sum(1), (rgx * gya).sum(1), (rgy * gya).sum(1)
        bx, by = (rgx * r).sum(1), (rgy * r).sum(1)
        det = Hxx * Hyy - Hxy ** 2
        det = np.where(np.abs(det) > 1e-12, det, np.inf)
        dp = -np.stack([(Hyy * bx - Hxy * by) / det, (-Hxy * bx + Hxx * by) / det], -1)
        bad = ~np.isfinite(dp).all(1) | (sw <= 0)
        fit.failed[act] |= bad
        dp = np.where(bad[:, None], 0.0, np.clip(dp, -2.0, 2.0))
        fit.p[act] -= dp
        step = np.hypot(dp[:, 0], dp[:, 1])
        fit.step[act] = step
        done = (step < tol_px) & ~bad
        fit.converged[act] = done
        # keep what the final statistics need, per subset
        fit.fc[act], fit.gc[act], fit.r[act] = fc, gc, r
        fit.df[act], fit.dg[act], fit.det[act], fit.trace[act] = df, dg, det, Hxx + Hyy
        return act[~(done | bad)]

    def _reject_sectors(self, fit: _Fit) -> bool:
        """Drop the sectors whose residual is well above the noise (a thread, a hook, a
        shadow) from the subsets that have them; True when any subset must be refined again."""
        n = self.n
        scale = np.maximum(self.noise * np.sqrt(1 + (fit.df / np.maximum(fit.dg, 1e-12)) ** 2), 1e-6)
        on = (fit.w > 0).astype(np.float32)
        key = (np.arange(n)[:, None] * N_SECTORS + self.sector_p).ravel()
        r2 = np.bincount(key, (on * fit.r ** 2).ravel(), n * N_SECTORS).reshape(n, N_SECTORS)
        cnt = np.bincount(key, on.ravel(), n * N_SECTORS).reshape(n, N_SECTORS)
        sector_ms = r2 / np.maximum(cnt, 1)
        with warnings.catch_warnings():       # a subset with no full sector: all-NaN row
            warnings.simplefilter("ignore", RuntimeWarning)
            typical = np.nanmedian(np.where(cnt >= 8, sector_ms, np.nan), axis=1)
        level = np.maximum(np.nan_to_num(typical, nan=0.0), scale ** 2)
        noisy = (cnt >= 8) & (sector_ms > SECTOR_RMS ** 2 * level[:, None])
        redo = noisy.any(1) & ~fit.failed
        if not redo.any():
            return False
        drop = np.take_along_axis(noisy, self.sector_p, 1)
        fit.w = np.where(drop & redo[:, None], 0.0, fit.w).astype(np.float32)
        fit.rw = np.where(redo[:, None], fit.w, fit.rw).astype(np.float32)
        fit.converged &= ~redo
        fit.p[redo] = np.where(np.isfinite(fit.p[redo]), fit.p[redo], 0.0)
        return True

    def _final_statistics(self, fit: _Fit) -> RefineResult:
        """ZNCC, inlier share and shift uncertainty at the solution."""
        rw, r, df, dg = fit.rw, fit.r, fit.df, fit.dg
        converged = fit.converged | ((fit.step < SETTLED_PX) & ~fit.failed)  # still moving by < SETTLED_PX: settled
        with np.errstate(invalid="ignore", divide="ignore"):
            d = fit.fc / df[:, None] - fit.gc / dg[:, None]
            zncc = 1.0 - 0.5 * (rw * d * d).sum(1)
            inlier = rw.sum(1) / np.maximum(fit.w0.sum(1), 1e-12)
        zncc = np.where(fit.failed, 0.0, np.nan_to_num(zncc, nan=0.0))
        dof = np.maximum(rw.sum(1) - 4, 1)
        noise = np.sqrt((rw * r * r).sum(1) / dof)
        sigma = noise * np.sqrt(np.maximum(fit.trace, 0) / np.maximum(fit.det, 1e-12))
        return RefineResult(fit.p, zncc, inlier, sigma, converged, fit.it, fit.inside)


@dataclass
class _Fit:
    """The working state of one :meth:`ReferenceSubsets.refine` call, per subset.

    ``p`` shifts (n, 2); ``w`` this image's pixel weights (``w0`` before sector rejection,
    ``rw`` with robust weights); ``fc``, ``gc``, ``r`` the centred reference and deformed
    pixels and residuals, ``df``, ``dg`` their norms, ``det``, ``trace`` of the Hessian and
    ``step`` the last update, all at each subset's last iteration; ``it`` iterations so far.
    """

    p: np.ndarray
    w: np.ndarray
    w0: np.ndarray
    rw: np.ndarray
    converged: np.ndarray
    failed: np.ndarray
    inside: np.ndarray
    fc: np.ndarray
    gc: np.ndarray
    r: np.ndarray
    df: np.ndarray
    dg: np.ndarray
    det: np.ndarray
    trace: np.ndarray
    step: np.ndarray
    it: int = 0


class _Blocks:
    """Per subset, the (S+3, S+3) block of spline coefficients the interpolation needs, and the
    integer offset it was read at (re-read only when a subset's integer shift changes)."""

    def __init__(self, n: int, S: int):
        self.coef = np.zeros((n, S + 3, S + 3), np.float32)
        self.offset = np.full((n, 2), 1 << 20)

"""Integer-level search of each joint in a predicted window (normalised cross-correlation).

Windows and templates are reduced by ``factor`` (so a disc spans ~12 px), matched with
OpenCV's ``TM_CCOEFF_NORMED`` and the peak located to a fraction of a reduced pixel by a
parabola.  This only seeds the sub-pixel refinement; it tells too whether the joint is
in the window at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class CoarseResult:
    """shift (n, 2) px; peak (n,) NCC; status (n,) str: "ok", "edge" (peak on the window's
    border: the joint may lie outside), "outside" (window leaves the frame) or "weak"."""

    shift: np.ndarray
    peak: np.ndarray
    status: np.ndarray


def _subpixel_peak(score: np.ndarray):
    iy, ix = np.unravel_index(int(np.argmax(score)), score.shape)
    dx = dy = 0.0
    if 0 < ix < score.shape[1] - 1:
        a, b, c = score[iy, ix - 1], score[iy, ix], score[iy, ix + 1]
        den = a - 2 * b + c
        dx = 0.5 * (a - c) / den if den < 0 else 0.0
    if 0 < iy < score.shape[0] - 1:
        a, b, c = score[iy - 1, ix], score[iy, ix], score[iy + 1, ix]
        den = a - 2 * b + c
        dy = 0.5 * (a - c) / den if den < 0 else 0.0
    return ix + dx, iy + dy, (ix, iy)


class CoarseSearch:
    """Templates of the joints in the reference, reduced by ``factor``.

    Parameters
    ----------
    reference : ndarray (H, W)
    centres : ndarray (n, 2)
        Joint centres in the reference (x, y).
    half : int
        Template half-size, full-resolution pixels.
    factor : int
        Reduction factor for the search.
    """

    def __init__(self, reference, centres, half: int, factor: int):
        self.factor = max(1, int(factor))
        self.half = int(half)
        self.base = np.round(np.asarray(centres, float)).astype(int)
        ref = np.asarray(reference, np.float32)
        self.templates = [self._reduce(_crop(ref, x, y, self.half)) for x, y in self.base]

    def _reduce(self, a):
        if self.factor == 1:
            return a
        f = self.factor
        h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
        return cv2.resize(a[:h, :w], (w // f, h // f), interpolation=cv2.INTER_AREA)

    def search(self, image, predicted_shift, search_px: int, min_peak=0.5) -> CoarseResult:
        """Search each joint within +-``search_px`` of ``base + predicted_shift``."""
        image = np.asarray(image, np.float32)
        H, W = image.shape
        pred = np.round(np.asarray(predicted_shift, float)).astype(int)
        n = len(self.base)
        shift = np.zeros((n, 2))
        peak = np.zeros(n)
        status = np.full(n, "ok", dtype=object)
        f = self.factor
        hw = self.half + int(search_px) + 2 * f      # a peak within search_px stays off the border
        for i in range(n):
            x, y = self.base[i] + pred[i]
            if x - hw < 0 or y - hw < 0 or x + hw + 1 > W or y + hw + 1 > H:
                status[i] = "outside"
                shift[i] = pred[i]
                continue
            win = self._reduce(image[y - hw:y + hw + 1, x - hw:x + hw + 1])
            score = cv2.matchTemplate(win, self.templates[i], cv2.TM_CCOEFF_NORMED)
            sx, sy, (ix, iy) = _subpixel_peak(score)
            peak[i] = score[iy, ix]
            # template top-left at reduced offset s <-> full-resolution shift s*f - (hw - half)
            shift[i] = pred[i] + np.array([sx, sy]) * f - (hw - self.half)
            if ix in (0, score.shape[1] - 1) or iy in (0, score.shape[0] - 1):
                status[i] = "edge"
            elif peak[i] < min_peak:
                status[i] = "weak"
        return CoarseResult(shift, peak, status)


def _crop(img, x, y, half):
    H, W = img.shape
    pad = np.pad(img, half, mode="edge") if (x - half < 0 or y - half < 0 or x + half >= W or y + half >= H) else None
    if pad is not None:
        return pad[y:y + 2 * half + 1, x:x + 2 * half + 1].copy()
    return img[y - half:y + half + 1, x - half:x + half + 1].copy()

"""Finding the joint markers without clicks: dark discs matched to the network's geometry.

The photo is reduced, thresholded (Otsu) into ink and background, and the
distance transform of the ink is taken: disc centres are its local maxima with
the largest values (bars are thinner than the discs).  The candidates are then
matched to the network's nodes by a similarity transform (rotation, reflection,
scale, shift) found by iterated closest-point assignment from several starting
orientations; the upright, y-flipped view (a camera facing the network) wins ties.

Example
-------
>>> px = find_joints(image, net)          # doctest: +SKIP
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from labmnn.errors import InputError
from labmnn.metrology.frames import fit_procrustes

WORK_SIDE = 1600   # the search runs on a copy at most this many pixels wide


def disc_candidates(image, expected: int = 1, min_ratio=0.7) -> tuple[np.ndarray, np.ndarray]:
    """Centres (m, 2) and radii (m,) of dark disc-like blobs, full-resolution pixels.

    Ink is what is darker than 35 % of the way from the darkest (0.05th percentile)
    to the typical (median) grey, so mid-grey objects (a frame, weights) are not
    ink.  Disc centres are the distance transform's peaks at least ``min_ratio``
    times the ``expected``-th largest peak.
    """
    img = np.asarray(image, np.float32)
    scale = min(1.0, WORK_SIDE / max(img.shape))
    small = img if scale == 1.0 else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    dark, typical = np.percentile(small, [0.05, 50])
    ink = (small < dark + 0.35 * (typical - dark)).astype(np.uint8)
    dist = cv2.distanceTransform(ink, cv2.DIST_L2, 5)
    if dist.max() <= 1:
        return np.zeros((0, 2)), np.zeros(0)
    peaks = (dist == ndimage.maximum_filter(dist, size=5)) & (dist > 1)
    values = np.sort(dist[peaks])[::-1]
    if values.size == 0:
        return np.zeros((0, 2)), np.zeros(0)
    peaks &= dist >= min_ratio * values[min(expected, values.size) - 1]
    lab, n = ndimage.label(peaks)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0)
    cy_cx = np.array(ndimage.center_of_mass(peaks, lab, range(1, n + 1)))
    r = np.array(ndimage.maximum(dist, lab, range(1, n + 1)))
    order = np.argsort(-r)
    cy_cx, r = cy_cx[order], r[order]
    keep: list[int] = []   # non-maximum suppression: one candidate per disc
    for i, p in enumerate(cy_cx):
        if all(np.hypot(*(p - cy_cx[j])) > r[j] for j in keep):
            keep.append(i)
    cy_cx, r = cy_cx[keep], r[keep]
    centres = (cy_cx[:, ::-1] + 0.5) / scale - 0.5
    return centres, r / scale


def match_to_network(candidates, nodes_mm, max_iter=30) -> tuple[np.ndarray, float]:
    """Assign candidates (m, 2 px) to network nodes (n, 2 mm, y up).

    Returns the pixel position of every node (matched candidate, or the fitted
    mapping of the node where no candidate was close) and the RMS residual in
    units of the nodes' nearest-neighbour spacing.
    """
    C = np.asarray(candidates, float)
    N = np.asarray(nodes_mm, float)
    n = len(N)
    nn = np.linalg.norm(N[:, None] - N[None], axis=-1) + np.diag(np.full(n, np.inf))
    spacing = np.median(nn.min(1))
    best: tuple[float, np.ndarray] = (np.inf, np.full((n, 2), np.nan))  # no fit: every node unknown
    s0 = np.sqrt(np.sum(np.var(C, 0)) / np.sum(np.var(N, 0)))
    for flip in (True, False):
        for k, angle in enumerate(np.radians([0, 90, 180, 270, 45, 135, 225, 315])):
            c, s = np.cos(angle), np.sin(angle)
            R = np.array([[c, -s], [s, c]]) @ (np.diag([1, -1]) if flip else np.eye(2))
            mapped = s0 * (N - N.mean(0)) @ R.T + C.mean(0)
            for _ in range(max_iter):
                d = np.linalg.norm(mapped[:, None] - C[None], axis=-1)
                rows, cols = linear_sum_assignment(d)
                near = d[rows, cols] < 0.4 * spacing * s0
                if near.sum() < max(3, n // 2):
                    break
                fit = fit_procrustes(N[rows[near]], C[cols[near]], with_scale=True)
                new = fit.apply(N)
                s0 = fit.scale
                if np.allclose(new, mapped, atol=1e-3):
                    break
                mapped = new
            d = np.linalg.norm(mapped[:, None] - C[None], axis=-1)
            rows, cols = linear_sum_assignment(d)
            dist = d[rows, cols] / (spacing * s0)
            unmatched = n - np.sum(dist < 0.4)
            score = np.sqrt(np.mean(np.minimum(dist, 0.4) ** 2)) + unmatched + 1e-3 * (k + (0 if flip else 8))
            if score < best[0]:
                out = mapped.copy()
                ok = dist < 0.4
                out[rows[ok]] = C[cols[ok]]
                best = (score, out)
    return best[1], best[0]


def find_joints(image, network) -> np.ndarray:
    """Rough pixel positions (n, 2) of every joint of ``network`` in ``image``.

    Raises :class:`InputError` when the dark markers cannot be matched to the
    network (too few found, or a geometry that does not fit).
    """
    n = network.n_nodes
    centres, _ = disc_candidates(image, expected=n)
    if len(centres) < n:
        raise InputError("--reference", "", f"found {len(centres)} dark joint markers for {n} nodes; "
                                            f"give their positions with --joints joints.csv")
    px, score = match_to_network(centres, np.asarray(network.nodes) * 1e3)
    if px is None or score >= 1.0:
        raise InputError("--reference", "", "the dark markers found do not match the network's "
                                            "geometry; give the joints with --joints joints.csv")
    return px

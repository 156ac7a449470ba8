"""Synthetic photographs of joint markers, with exact ground truth (for tests and benchmarks).

A joint is a dark disc with bars (dark strips) leaving it at chosen angles, on a
light background.  Edges are drawn from the exact signed distance to the shapes
with the profile of a Gaussian-blurred edge (optics, sampled without aliasing),
then given Gaussian noise (sensor).

Example
-------
>>> img = draw_joints((200, 300), [[100.3, 80.7]], radius=20, bar_angles=[[0.0, 2.1]])
>>> img.shape, img.dtype
((200, 300), dtype('float32'))
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _segment_distance(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(px - ax - t * dx, py - ay - t * dy)


def draw_joints(shape, centres, radius=20.0, bar_angles=None, bar_width=None, bar_length=None,
                background=200.0, ink=40.0, blur=1.0, noise=1.0, seed=0, strings=None,
                segments=None) -> np.ndarray:
    """Render dark discs with bars on a light background.

    Parameters
    ----------
    shape : (H, W)
    centres : array (n, 2)
        Disc centres, pixels (x, y); pixel centres are at integer coordinates.
    radius : float or array (n,)
        Disc radii, pixels.
    bar_angles : list of arrays, optional
        Per joint, the angles (radians, image axes) of the bars leaving it.
    bar_width, bar_length : float
        Bar width and length from the centre, pixels (defaults 0.5 and 3 radii).
    background, ink : float
        Grey levels of the background and of the printed parts.
    blur : float
        Gaussian blur sigma of the edges, pixels (0: sharp, anti-aliased edges).
    noise : float
        Sensor noise sigma, grey levels.
    strings : list of ((x0, y0), (x1, y1), width), optional
        Thin dark strings (a weight's thread) drawn across the scene.
    segments : array (m, 2, 2), optional
        Bars drawn from point to point (e.g. joint to joint), ``bar_width`` wide.

    Returns
    -------
    ndarray float32 (H, W)
    """
    H, W = shape
    centres = np.atleast_2d(np.asarray(centres, float))
    n = len(centres)
    radii = np.broadcast_to(np.asarray(radius, float), (n,))
    sd = np.full((H, W), np.inf, np.float32)
    for i, (cx, cy) in enumerate(centres):
        r = radii[i]
        angles = [] if bar_angles is None else np.atleast_1d(bar_angles[i])
        bw = 0.5 * r if bar_width is None else bar_width
        bl = 3.0 * r if bar_length is None else bar_length
        reach = (bl + bw if len(angles) else r) + 3
        x0, x1 = int(max(0, np.floor(cx - reach))), int(min(W, np.ceil(cx + reach) + 1))
        y0, y1 = int(max(0, np.floor(cy - reach))), int(min(H, np.ceil(cy + reach) + 1))
        if x0 >= x1 or y0 >= y1:
            continue
        py, px = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        d = np.hypot(px - cx, py - cy) - r
        for a in angles:
            d = np.minimum(d, _segment_distance(px, py, cx, cy, cx + bl * np.cos(a), cy + bl * np.sin(a)) - bw / 2)
        sd[y0:y1, x0:x1] = np.minimum(sd[y0:y1, x0:x1], d)
    bw_seg = (0.5 * float(np.max(radii)) if n else 1.0) if bar_width is None else bar_width
    for (a, b) in ([] if segments is None else np.asarray(segments, float)):
        reach = bw_seg + 3
        x0, x1 = int(max(0, np.floor(min(a[0], b[0]) - reach))), int(min(W, np.ceil(max(a[0], b[0]) + reach) + 1))
        y0, y1 = int(max(0, np.floor(min(a[1], b[1]) - reach))), int(min(H, np.ceil(max(a[1], b[1]) + reach) + 1))
        if x0 >= x1 or y0 >= y1:
            continue
        py, px = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        d = _segment_distance(px, py, a[0], a[1], b[0], b[1]) - bw_seg / 2
        sd[y0:y1, x0:x1] = np.minimum(sd[y0:y1, x0:x1], d)
    for (a, b, w) in strings or []:
        py, px = np.mgrid[0:H, 0:W].astype(np.float64)
        sd = np.minimum(sd, (_segment_distance(px, py, a[0], a[1], b[0], b[1]) - w / 2).astype(np.float32))
    if blur > 0:   # the edge profile of a straight edge seen through a Gaussian blur
        cover = 0.5 * special.erfc(sd / (np.sqrt(2.0) * blur))
    else:
        cover = np.clip(0.5 - sd, 0.0, 1.0)
    img = (background + (ink - background) * cover).astype(np.float32)
    if noise > 0:
        img += np.random.default_rng(seed).normal(0.0, noise, img.shape).astype(np.float32)
    return img


def network_scene(network, displacements_m=None, px_per_mm=15.0, radius_mm=3.0, margin_mm=12.0,
                  noise=1.0, seed=0, strings=None, blur=1.0):
    """A photo of a whole network seen square-on (image y down), and its true joint pixels.

    Parameters
    ----------
    network : labmnn.Network
    displacements_m : array (n, 2), optional
        Node displacements, metres (network frame, y up).
    px_per_mm : float
        Scale of the photo.
    radius_mm : float
        Joint disc radius; bars are ``network.width`` wide.

    Returns
    -------
    image : ndarray float32 (H, W)
    joints_px : ndarray (n, 2)
    """
    nodes = np.asarray(network.nodes, float) * 1e3
    lo, hi = nodes.min(0) - margin_mm, nodes.max(0) + margin_mm
    W, H = (np.ceil((hi - lo) * px_per_mm)).astype(int)
    pos = nodes + (0 if displacements_m is None else np.asarray(displacements_m) * 1e3)
    px = np.stack([(pos[:, 0] - lo[0]) * px_per_mm, (hi[1] - pos[:, 1]) * px_per_mm], -1)
    b = np.asarray(network.bonds, int)
    segs = np.stack([px[b[:, 0]], px[b[:, 1]]], 1)
    bar_w = float(np.median(network.width)) * 1e3 * px_per_mm
    img = draw_joints((H, W), px, radius=radius_mm * px_per_mm, segments=segs, bar_width=bar_w,
                      noise=noise, seed=seed, strings=strings, blur=blur)
    return img, px

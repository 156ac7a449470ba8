"""Outlines of what is drawn, in plane millimetres, as stacks of polygons.

Every builder is vectorised over its items (bonds, joints, strings) and returns
an array (items, vertices, 2) with the same vertex count for all items, so a
whole layer is projected through the lens and rasterised in one call.  Edges
are subdivided finely enough that lens distortion bends them as it bends the
real outline.
"""

from __future__ import annotations

import numpy as np


def densify(outline: np.ndarray, max_segment: float) -> np.ndarray:
    """Subdivide every edge of closed polygons (P, V, 2) into equal pieces no
    longer than ``max_segment`` (same count for all edges)."""
    P = np.asarray(outline, dtype=float)
    nxt = np.roll(P, -1, axis=1)
    longest = float(np.max(np.linalg.norm(nxt - P, axis=-1), initial=0.0))
    k = max(1, int(np.ceil(longest / max_segment)))
    if k == 1:
        return P
    t = (np.arange(k) / k)[None, None, :, None]
    pts = P[:, :, None, :] + t * (nxt - P)[:, :, None, :]
    return pts.reshape(P.shape[0], -1, 2)


def disc_vertex_count(radius_px: float, tolerance_px: float = 0.005) -> int:
    """Vertices a polygon needs to stay within ``tolerance_px`` of a circle."""
    r = max(float(radius_px), 1e-6)
    n = np.pi / np.arccos(max(1.0 - tolerance_px / r, -1.0))
    return int(np.clip(np.ceil(n / 8) * 8, 24, 1024))


def discs(centres: np.ndarray, radii: np.ndarray, n_vertices: int) -> np.ndarray:
    """Polygons (n, V, 2) with the same area as circles of ``radii`` about ``centres``."""
    c = np.asarray(centres, dtype=float).reshape(-1, 2)
    r = np.broadcast_to(np.asarray(radii, dtype=float), (len(c),))
    a = np.linspace(0.0, 2 * np.pi, n_vertices, endpoint=False)
    # inscribed polygon enlarged so its area equals pi r^2
    r_eq = r * np.sqrt(2 * np.pi / (n_vertices * np.sin(2 * np.pi / n_vertices)))
    ring = np.stack([np.cos(a), np.sin(a)], axis=-1)
    return c[:, None, :] + r_eq[:, None, None] * ring[None]


def necked_bars(start: np.ndarray, end: np.ndarray, width: np.ndarray, r_start: np.ndarray,
                r_end: np.ndarray, neck_length: float, taper_length: float,
                tuck: float = 0.6) -> np.ndarray:
    """Outlines (m, 12, 2) of straight bars with necked ends.

    A bar runs from inside the joint disc at ``start`` (``tuck`` * its radius
    from the centre) to inside the disc at ``end``.  Next to each disc it is
    ``width / 2`` wide for ``neck_length`` (the printed hinge), widens over
    ``taper_length`` and is ``width`` wide in between (Li & Mao, Methods).
    """
    a = np.asarray(start, dtype=float).reshape(-1, 2)
    b = np.asarray(end, dtype=float).reshape(-1, 2)
    d = b - a
    L = np.hypot(d[:, 0], d[:, 1])
    u = d / L[:, None]
    nrm = np.stack([-u[:, 1], u[:, 0]], axis=-1)
    ri = np.broadcast_to(np.asarray(r_start, dtype=float), L.shape)
    rj = np.broadcast_to(np.asarray(r_end, dtype=float), L.shape)
    half = np.broadcast_to(np.asarray(width, dtype=float), L.shape) / 2
    mid = L / 2
    s_a = tuck * ri
    s_f = L - tuck * rj
    s_c = np.minimum(ri + neck_length + taper_length, mid)
    s_d = np.maximum(L - rj - neck_length - taper_length, mid)
    s_b = np.minimum(ri + neck_length, s_c)
    s_e = np.maximum(L - rj - neck_length, s_d)
    s = np.stack([s_a, s_b, s_c, s_d, s_e, s_f], axis=1)  # (m, 6)
    h = np.stack([half / 2, half / 2, half, half, half / 2, half / 2], axis=1)
    s_all = np.concatenate([s, s[:, ::-1]], axis=1)
    h_all = np.concatenate([h, -h[:, ::-1]], axis=1)
    return a[:, None, :] + s_all[..., None] * u[:, None, :] + h_all[..., None] * nrm[:, None, :]


def strips(start: np.ndarray, end: np.ndarray, width) -> np.ndarray:
    """Rectangles (k, 4, 2) of ``width`` centred on the segments start -> end."""
    a = np.asarray(start, dtype=float).reshape(-1, 2)
    b = np.asarray(end, dtype=float).reshape(-1, 2)
    d = b - a
    L = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-12)
    nrm = np.stack([-d[:, 1], d[:, 0]], axis=-1) / L[:, None]
    h = (np.broadcast_to(np.asarray(width, dtype=float), L.shape) / 2)[:, None]
    return np.stack([a + h * nrm, b + h * nrm, b - h * nrm, a - h * nrm], axis=1)


def rectangles(x0, y0, x1, y1) -> np.ndarray:
    """Axis-aligned rectangles (k, 4, 2) from corner coordinates."""
    x0, y0, x1, y1 = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x0, y0, x1, y1))
    return np.stack([np.stack([x0, y0], -1), np.stack([x1, y0], -1),
                     np.stack([x1, y1], -1), np.stack([x0, y1], -1)], axis=1)

"""An overlay PNG of what was tracked: joints numbered, bonds coloured by elongation.

Example
-------
>>> write_overlay("overlay.png", image, result, network.bonds)    # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_SIDE = 2000   # the photo is reduced to at most this many pixels for the figure


def write_overlay(path, image, joints_px, bonds, elongations_mm, lost=None, title="", scale=1) -> Path:
    """Draw the photo, bonds coloured by elongation (um, diverging map, colour bar), numbered joints.

    Parameters
    ----------
    path : str or Path
        PNG to write.
    image : ndarray (H, W)
        Grey photo.
    joints_px : array (n, 2)
        Joint centres, full-frame pixels (NaN where lost).
    bonds : array (m, 2)
    elongations_mm : array (m,)
    lost : array bool (n,), optional
        Lost joints are marked with a red cross.
    title : str
    scale : int
        Pixels of the full photo per pixel of ``image`` (when a reduced photo is drawn), for the crop note.
    """
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import patheffects
    from matplotlib.collections import LineCollection
    from matplotlib.colors import TwoSlopeNorm

    img = np.asarray(image, np.float32)
    pts = np.asarray(joints_px, float)
    # show the network, not the whole frame: its bounding box with a quarter-span margin
    H0, W0 = img.shape[:2]
    fin = pts[np.isfinite(pts).all(1)]
    x0 = y0 = 0
    if len(fin):
        lo, hi = fin.min(0), fin.max(0)
        pad = max(50.0, 0.25 * float(np.max(hi - lo)))
        x0, y0 = int(max(0, lo[0] - pad)), int(max(0, lo[1] - pad))
        x1, y1 = int(min(W0, hi[0] + pad)), int(min(H0, hi[1] + pad))
        img = img[y0:y1, x0:x1]
        pts = pts - [x0, y0]
    H, W = img.shape[:2]
    step = max(1, int(np.ceil(max(H, W) / MAX_SIDE)))
    small = img[::step, ::step]
    bonds = np.asarray(bonds, int)
    e_um = np.asarray(elongations_mm, float) * 1e3
    lost = np.zeros(len(pts), bool) if lost is None else np.asarray(lost, bool)
    fig, ax = plt.subplots(figsize=(10, 10 * H / W + 0.6), dpi=120)
    ax.imshow(small, cmap="gray", extent=(-0.5, W - 0.5, H - 0.5, -0.5), vmin=0, vmax=255)
    segs = pts[bonds]
    good = np.isfinite(segs).all(axis=(1, 2)) & np.isfinite(e_um)
    lim = float(np.nanmax(np.abs(e_um[good]))) if good.any() else 1.0
    lim = lim if lim > 0 else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    lc = LineCollection(segs[good], cmap="coolwarm", norm=norm, linewidths=3)
    lc.set_array(e_um[good])
    ax.add_collection(lc)
    cb = fig.colorbar(lc, ax=ax, fraction=0.04, pad=0.02)
    cb.set_label("bond elongation (µm)")
    ok = np.isfinite(pts).all(1) & ~lost
    ax.plot(pts[ok, 0], pts[ok, 1], "o", ms=5, mfc="none", mec="yellow")
    for i in np.flatnonzero(ok):
        ax.annotate(str(i), pts[i], xytext=(6, -6), textcoords="offset points", color="yellow",
                    fontsize=9, weight="bold", path_effects=[patheffects.withStroke(linewidth=2.5, foreground="k")])
    bad = np.isfinite(pts).all(1) & lost
    ax.plot(pts[bad, 0], pts[bad, 1], "x", ms=10, color="red", mew=2)
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_axis_off()
    if x0 or y0:
        ax.text(0.01, 0.01, f"crop at ({x0 * scale}, {y0 * scale}) px", transform=ax.transAxes, fontsize=7,
                color="black")
    n_lost = int(lost.sum())
    ax.set_title((title + "  " if title else "") + (f"{n_lost} joint(s) lost" if n_lost else ""), fontsize=10)
    path = Path(path)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path

"""Thumbnails of a session's photos and the tracking overlay of each loading, for the report.

Everything is written into the report's folder (``thumbs/``, ``overlays/``);
the raw photos are only read.  Photos are decoded at reduced size (JPEG DCT
scaling), so a 24-megapixel photo costs a fraction of a second.

Example
-------
>>> thumbs = write_thumbnails(folder, photos, out)     # doctest: +SKIP
>>> overlays = write_overlays(folder, net, steps, out) # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

THUMB_WIDTH = 320     # px
MAX_OVERLAYS = 24     # loadings drawn (the first ones of a long training session)


@dataclass
class Overlay:
    """The tracking overlay of one loaded photo."""

    key: str        # step key
    photo: str      # raw photo, relative to the session folder
    png: str        # relative to the report folder
    caption: str


def _read(path: Path, reduce: int, grey: bool):
    import cv2

    flags = {(2, True): cv2.IMREAD_REDUCED_GRAYSCALE_2, (4, True): cv2.IMREAD_REDUCED_GRAYSCALE_4,
             (8, True): cv2.IMREAD_REDUCED_GRAYSCALE_8, (2, False): cv2.IMREAD_REDUCED_COLOR_2,
             (4, False): cv2.IMREAD_REDUCED_COLOR_4, (8, False): cv2.IMREAD_REDUCED_COLOR_8}
    try:
        return cv2.imread(str(path), flags[(reduce, grey)])
    except cv2.error:
        return None


def write_thumbnails(folder: Path, photos: list, out: Path) -> dict[str, str]:
    """Small JPEGs of the photos that decode; returns photo path -> thumbnail path (relative to ``out``)."""
    import cv2

    (out / "thumbs").mkdir(parents=True, exist_ok=True)
    done = {}
    for p in photos:
        src = folder / p.path
        img = _read(src, 8, grey=False) if src.exists() else None
        if img is None or img.size == 0:
            continue
        h, w = img.shape[:2]
        if w > THUMB_WIDTH:
            img = cv2.resize(img, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
        rel = f"thumbs/{Path(p.path).stem}.jpg"
        cv2.imwrite(str(out / rel), img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        done[p.path] = rel
    return done


def plane_map(net, joints_px) -> np.ndarray:
    """The 2x2 linear part of the affine map from network millimetres to photo pixels (least squares)."""
    px = np.asarray(joints_px, float)
    mm = np.asarray(net.nodes, float) * 1e3
    ok = np.isfinite(px).all(axis=1)
    A = np.c_[mm[ok], np.ones(ok.sum())]
    coef, *_ = np.linalg.lstsq(A, px[ok], rcond=None)
    return coef[:2].T


def _load_text(d: dict) -> str:
    parts = []
    for st, m in zip(d["loading"].get("stacks", []), d.get("masses_g", [])):
        parts.append(f"{m:.2f} g on node {st['node']}")
    return ", ".join(parts) or "no load"


def write_overlays(folder: Path, net, steps: dict, out: Path) -> list[Overlay]:
    """The tracking overlay of every loaded photo (up to :data:`MAX_OVERLAYS`).

    Joint positions in the loaded photo are the reference photo's tracked
    joints moved by the measured displacements (mapped to pixels by the
    reference's fitted plane); bonds are coloured by the measured elongation,
    lost joints get a red cross.
    """
    from labmnn.metrology.overlay import write_overlay
    from labmnn.protocol.report_data import step_words

    refs = {d["image"]: d["joints_px"] for d in steps.values() if "joints_px" in d and "image" in d}
    made: list[Overlay] = []
    for key, d in steps.items():
        if len(made) >= MAX_OVERLAYS:
            break
        if not {"image", "reference", "displacements_mm", "loading"} <= d.keys() or d["reference"] not in refs:
            continue
        src = folder / d["image"]
        reduce = 4
        img = _read(src, reduce, grey=True) if src.exists() else None
        if img is None or img.size == 0:
            continue
        ref_px = np.asarray(refs[d["reference"]], float)
        A = plane_map(net, ref_px)
        px = (ref_px + np.asarray(d["displacements_mm"], float) @ A.T) / reduce
        lost = np.asarray(d.get("lost", np.zeros(net.n_nodes, bool)), bool)
        elong = np.asarray(d.get("elongations_geo_mm", np.full(len(net.bonds), np.nan)), float)
        (out / "overlays").mkdir(parents=True, exist_ok=True)
        rel = f"overlays/{Path(d['image']).stem}_overlay.png"
        write_overlay(out / rel, img, px, net.bonds, elong, lost, title=f"{step_words(key)}: {_load_text(d)}",
                      scale=reduce)
        n_lost = int(lost.sum())
        made.append(Overlay(key, d["image"], rel, f"{key}: {_load_text(d)}"
                            + (f"; {n_lost} joint(s) lost (red crosses)" if n_lost else "; every joint tracked")))
    return made

"""How exactly a rendered disc sits where the geometry says: labmnn's rasteriser vs OpenCV's.

Run from the worktree root:  python benchmarks/raster_accuracy.py [--discs 200]

Draws discs of radius 15-25 px at random sub-pixel centres, with
``hardware_sim.raster.coverage`` (exact area) and with ``cv2.fillPoly``
(fixed-point vertices, 8 shift bits) anti-aliased at native resolution and
binary on a 4x and 8x supersampled canvas reduced with INTER_AREA; prints the
mean (bias) and largest error of each disc's intensity centroid and the area
error, and the error ratios to the exact rasteriser.  Then the same for whole
photos: the joint centroids of a sharp, undistorted, noiseless SimRig frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from hardware_sim.raster import Box, coverage  # noqa: E402
from hardware_sim.shapes import discs  # noqa: E402

SIZE = 100


def centroid(img: np.ndarray) -> np.ndarray:
    w = img.astype(float)
    ys, xs = np.indices(w.shape)
    return np.array([(w * xs).sum(), (w * ys).sum()]) / w.sum()


def exact(c, r):
    return coverage(discs(c, r, 256), Box(0, 0, SIZE, SIZE)).astype(float)


def fillpoly_aa(c, r):
    img = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(img, [np.round(discs(c, r, 256)[0] * 256).astype(np.int32)], 255, cv2.LINE_AA, 8)
    return img / 255.0


def fillpoly_ss(ss):
    def draw(c, r):
        big = np.zeros((SIZE * ss, SIZE * ss), np.uint8)
        pts = ((discs(c, r, 256)[0] + 0.5) * ss - 0.5) * 256
        cv2.fillPoly(big, [np.round(pts).astype(np.int32)], 255, cv2.LINE_8, 8)
        return cv2.resize(big, (SIZE, SIZE), interpolation=cv2.INTER_AREA) / 255.0
    return draw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--discs", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    cases = [(np.array([SIZE / 2, SIZE / 2]) + rng.random(2), 15 + 10 * rng.random()) for _ in range(args.discs)]
    methods = {"labmnn exact coverage": exact, "cv2.fillPoly LINE_AA": fillpoly_aa,
               "cv2.fillPoly 4x supersampled": fillpoly_ss(4), "cv2.fillPoly 8x supersampled": fillpoly_ss(8)}
    print(f"{args.discs} discs, radius 15-25 px, random sub-pixel centres")
    print(f"{'method':32s} {'bias x':>8s} {'bias y':>8s} {'max err':>8s} {'area err':>9s} {'ms/disc':>8s} "
          f"{'max-err ratio':>13s}")
    base = None
    for name, draw in methods.items():
        t = time.perf_counter()
        errs, areas = [], []
        for c, r in cases:
            img = draw(c, r)
            errs.append(centroid(img) - c)
            areas.append(img.sum() / (np.pi * r * r) - 1)
        ms = 1e3 * (time.perf_counter() - t) / len(cases)
        e = np.array(errs)
        worst = float(np.abs(e).max())
        base = base or worst
        print(f"{name:32s} {e[:, 0].mean():+8.4f} {e[:, 1].mean():+8.4f} {worst:8.4f} "
              f"{np.abs(areas).max():9.2e} {ms:8.2f} {worst / base:13.1f}")

    import labmnn
    from hardware_sim import Look, SimCameraModel, SimRig
    from hardware_sim.render import render_network

    cam = SimCameraModel.framing(target_mm=(80, 50), width=3000, height=2000, px_per_mm=15,
                                 tilt_deg=(0, 0), roll_deg=0, dist=(0, 0, 0, 0, 0))
    rig = SimRig(labmnn.Network.example("paper-triangle-n4"), camera=cam)
    rig.hang(12, 10.0)
    for label, look in (("sharp, noiseless", Look().clean()), ("default look (blur, noise, JPEG-less)", Look())):
        out = render_network(cam, rig.scene(), look, seed=1, parts=("joints",))
        grey = out.image[..., 1].astype(float)
        err = []
        for x, y in out.truth["joints_px"]:
            x0, y0 = int(round(x)) - 36, int(round(y)) - 36
            win = grey[y0:y0 + 73, x0:x0 + 73]
            ring = np.r_[win[0], win[-1], win[:, 0], win[:, -1]]
            err.append(centroid(np.clip(np.median(ring) - win, 0, None)) + [x0, y0] - [x, y])
        print(f"SimRig joints at 15 px/mm, square-on camera, {label}: largest centroid error "
              f"{np.abs(err).max():.4f} px")


if __name__ == "__main__":
    main()

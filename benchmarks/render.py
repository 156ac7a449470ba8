"""Time a full-resolution simulated photograph against a plain OpenCV baseline.

Run from the worktree root:  python benchmarks/render.py [--width 6000 --height 4000 --repeat 3]

Prints, per step, the median and best wall time and the median CPU time of: the baseline (GaussianBlur + JPEG
encode of a same-size noisy colour frame), a network photo (render + JPEG +
EXIF + write, via SimCamera.capture), a checkerboard photo, and a preview;
and the ratio of each to the baseline.  The target is a 6000x4000 network
frame in <= 2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import labmnn  # noqa: E402
from hardware_sim import SimCamera, SimRig  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, float, float]:
    """Median and best wall time, and median CPU time (all threads) of ``fn``."""
    fn()  # warm-up (allocations, OpenCV thread pool)
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    W, H = args.width, args.height
    rng = np.random.default_rng(0)
    frame = np.clip(200 + rng.normal(0, 2, (H, W)), 0, 255).astype(np.uint8)
    frame = cv2.merge([frame, frame, frame])

    def baseline():
        blurred = cv2.GaussianBlur(frame, (0, 0), 0.8)
        ok, buf = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, 95])
        return buf

    rig = SimRig(labmnn.Network.example("paper-triangle-n4"), seed=1)
    rig.hang(12, 10.0)
    rig.hang(1, 5.0)
    cam = SimCamera(rig, width=W, height=H)
    cam.connect()
    out = Path(tempfile.mkdtemp(prefix="labmnn-bench-"))
    poses = rig.board_poses(1, seed=0)

    def network_photo():
        cam.capture(out)

    def board_photo():
        rig.place_board(poses[0])
        try:
            cam.capture(out)
        finally:
            rig.remove_board()

    t_base = timed(baseline, args.repeat)
    rows = [("baseline GaussianBlur+imencode", t_base),
            ("network photo (capture)", timed(network_photo, args.repeat)),
            ("checkerboard photo (capture)", timed(board_photo, args.repeat)),
            ("preview 640x427", timed(cam.preview, args.repeat))]
    print(f"{W}x{H}, {cv2.getNumThreads()} OpenCV threads, {args.repeat} runs; load average "
          f"{os.getloadavg()[0]:.1f} (other jobs inflate wall times: compare the best and the CPU ratios)")
    print(f"{'':34s} {'median':>8s} {'best':>8s} {'cpu':>8s}   ratios to baseline (median/best/cpu)")
    for name, (med, best, cpu) in rows:
        print(f"{name:34s} {med:7.3f}s {best:7.3f}s {cpu:7.3f}s   "
              f"{med / t_base[0]:5.2f} {best / t_base[1]:5.2f} {cpu / t_base[2]:5.2f}")
    for p in out.iterdir():
        p.unlink()
    out.rmdir()


if __name__ == "__main__":
    main()

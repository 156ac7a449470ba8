"""Live-view rate of the window on the simulated camera (preview size 640x427).

Prints, measured in the same run:
- the camera's own rate: ``SimCamera.preview()`` called back to back (the baseline);
- the rate the window shows while idle (camera owner thread -> channel -> ImageItem);
- the rate it shows during a whole simulated gradient run, overall and between
  full-resolution captures (while the camera thread takes a photo the live view
  waits: one owner per device, as with a real DSLR);
and the ratios of the window's rates to the baseline.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/gui_preview.py [--seconds 5] [--light]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6 import QtCore, QtWidgets  # noqa: E402

import labmnn.gui  # noqa: E402,F401  (PySide6 6.12 refcount workaround)


def pump(app, seconds: float, until=None) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not (until and until()):
        app.processEvents(QtCore.QEventLoop.AllEvents, 20)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--light", action="store_true", help="the light simulated rig instead of hardware_sim")
    args = ap.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from labmnn.cli.sim.bench import full_sim_context, sim_context
    from labmnn.gui.autopilot import Autopilot
    from labmnn.gui.main_window import MainWindow

    protocol = Path(__file__).resolve().parents[1] / "labmnn" / "data" / "protocols" / "gradient.toml"
    root = Path(tempfile.mkdtemp(prefix="labmnn-bench-gui-"))
    ctx = sim_context(root) if args.light else full_sim_context(root, protocol)
    cam = ctx.bench.camera

    cam.connect()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        frame = cam.preview()
        n += 1
    raw = n / (time.perf_counter() - t0)
    cam.close()

    win = MainWindow(ctx, protocol=protocol)
    win.resize(1440, 900)
    win.show()
    view = win.camera_view
    pump(app, 5.0, until=lambda: view.frames_shown > 5)
    f0, t0 = view.frames_shown, time.perf_counter()
    pump(app, args.seconds)
    idle = (view.frames_shown - f0) / (time.perf_counter() - t0)

    pilot = Autopilot(win, delay_ms=40)
    win.start()
    pilot.attach()
    f0, t0, j0 = view.frames_shown, time.perf_counter(), win.camera_owner.job_seconds
    pump(app, 600, until=lambda: win.outcome is not None)
    run_s = time.perf_counter() - t0
    busy_s = win.camera_owner.job_seconds - j0
    during = (view.frames_shown - f0) / run_s
    between = (view.frames_shown - f0) / max(run_s - busy_s, 1e-9)
    win.shutdown()

    print(f"camera: {type(cam).__name__}, preview {frame.shape[1]}x{frame.shape[0]} px")
    print(f"baseline: preview() back to back       {raw:7.1f} frames/s")
    print(f"window, idle                           {idle:7.1f} frames/s  ratio {idle / raw:.2f}")
    print(f"window, during a run ({run_s:.0f} s, {win.outcome['status']})  {during:7.1f} frames/s  "
          f"ratio {during / raw:.2f}")
    print(f"  of which the camera thread spent {busy_s:.1f} s on full-resolution captures (no live view);")
    print(f"  between captures                     {between:7.1f} frames/s  ratio {between / raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of ``labmnn demo`` against one simulated capture + tracking (measured in the same run).

usage: python benchmarks/protocol_demo.py

Prints the demo's wall time, its budget (60 s), and the ratio to a baseline of
one full-resolution simulated photo tracked by the metrology tracker, so the
figure travels between machines.  Also prints the demo's accuracy.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def baseline_seconds() -> float:
    import labmnn
    from hardware_sim.camera import SimCamera
    from hardware_sim.rig import SimRig
    from labmnn.metrology.tracking import JointTracker

    net = labmnn.Network.example()
    rig = SimRig(net)
    cam = SimCamera(rig)
    cam.connect()
    folder = Path(tempfile.mkdtemp())
    ref = cam.capture(folder)
    tracker = JointTracker(None, net, str(ref.path), joints_px=ref.truth["joints_px"])
    rig.hang(12, 10.0)
    t = time.perf_counter()
    shot = cam.capture(folder)
    tracker.track(str(shot.path))
    return time.perf_counter() - t


def main() -> None:
    base = baseline_seconds()
    out = Path(tempfile.mkdtemp())
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "labmnn", "demo", "--out", str(out)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    demo = time.perf_counter() - t
    s = json.loads((out / "summary.json").read_text())
    print(f"baseline (one simulated photo + tracking): {base:.2f} s")
    print(f"labmnn demo: {demo:.1f} s wall ({demo / 60:.0%} of the 60 s budget), "
          f"{demo / base:.1f} x baseline")
    print(f"measured gradient: relative error {s['relative_error']:.2%}, cosine {s['cosine']:.5f}")


if __name__ == "__main__":
    main()

"""A calibration for the simulated rig, made the way an operator makes one.

Photos of the rig's checkerboard in varied poses plus one lying in the sample
plane, through the same :func:`labmnn.metrology.calibration.calibrate` as at a
real bench.  The result is cached per rig seed and camera size, so a demo does
not re-render the board every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

N_POSES = 8
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "sim"


def _cache_dir() -> Path:
    base = Path(os.environ.get("LABMNN_CACHE", Path(tempfile.gettempdir()) / f"labmnn-cache-{os.getuid()}"))
    base.mkdir(parents=True, exist_ok=True)
    return base


def calibration_name(rig, camera, n_poses: int = N_POSES) -> str:
    """File name keyed by the simulated camera (pose, lens, size), the board and the poses."""
    key = json.dumps({"camera": rig.camera.to_dict(), "w": camera.width, "h": camera.height,
                      "board": [rig.board.cols, rig.board.rows, rig.board.square_mm], "n": n_poses},
                     sort_keys=True, default=str)
    return f"simcal-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def sim_calibration(rig, camera, n_poses: int = N_POSES) -> Path:
    """Calibrate the simulated ``camera`` on ``rig`` (cached); returns the calibration file.

    Parameters
    ----------
    rig : hardware_sim.rig.SimRig
    camera : hardware_sim.camera.SimCamera
    n_poses : int
        Tilted board photos (plus one in the sample plane).
    """
    from labmnn.metrology.calibration import BoardSpec, calibrate
    from labmnn.text_files import replacing

    name = calibration_name(rig, camera, n_poses)
    shipped = SHIPPED / name
    if shipped.exists():
        return shipped
    path = _cache_dir() / name
    if path.exists():
        return path
    work = Path(tempfile.mkdtemp(prefix="labmnn-simcal-"))
    shots = []
    try:
        for pose in rig.board_poses(n_poses, seed=rig.seed):
            rig.place_board(pose)
            shots.append(camera.capture(work).path)
        rig.place_board(rig.plane_board_pose())
        plane = camera.capture(work).path
    finally:
        rig.remove_board()
    board = BoardSpec(rig.board.cols, rig.board.rows, rig.board.square_mm)
    cal = calibrate(shots, board, plane_image=plane)
    with replacing(path, fsync=False) as tmp:
        cal.save(tmp)
    for p in work.iterdir():
        p.unlink()
    work.rmdir()
    return path


if __name__ == "__main__":  # regenerate the shipped calibration of the default simulated rig
    import shutil

    from hardware_sim.camera import SimCamera
    from hardware_sim.rig import SimRig
    from labmnn.model.network import Network

    rig = SimRig(Network.example("paper-triangle-n4"))
    cam = SimCamera(rig)
    cam.connect()
    made = sim_calibration(rig, cam)
    SHIPPED.mkdir(parents=True, exist_ok=True)
    if made.parent != SHIPPED:
        shutil.copyfile(made, SHIPPED / made.name)
    print(SHIPPED / made.name)

"""A calibration for the simulated rig, made the way an operator makes one.

Photos of the rig's checkerboard in varied poses plus one lying in the sample
plane, through the same :func:`labmnn.metrology.calibration.calibrate` as at a
real bench.  The default simulated rig's calibration is shipped as
``calibration/simulated-rig.json`` (found through
:func:`labmnn.resources.calibration_dir`); any other rig's is made once and
cached per camera, board and poses, so a demo does not re-render the board
every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from labmnn.resources import calibration_dir

N_POSES = 8
# calibration_name() of the default simulated rig (paper network, seed 0, default camera),
# whose calibration is shipped as SHIPPED_FILE; regenerate both with
# `python -m labmnn.cli.sim.calibration` when the simulated camera or board changes.
SHIPPED_NAME = "simcal-3488cb8a0cfc1ece.json"
SHIPPED_FILE = "simulated-rig.json"


def shipped_calibration() -> Path:
    """The shipped calibration of the default simulated rig."""
    return calibration_dir() / SHIPPED_FILE


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
    if name == SHIPPED_NAME and shipped_calibration().is_file():
        return shipped_calibration()
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
    name = calibration_name(rig, cam)
    if name != SHIPPED_NAME:
        print(f"the default simulated rig's key is now {name}: set SHIPPED_NAME to it")
    made = sim_calibration(rig, cam)
    if made != shipped_calibration():
        shutil.copyfile(made, shipped_calibration())
    print(shipped_calibration())

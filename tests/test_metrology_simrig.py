"""Tracking on the simulated rig's photographs (hardware_sim), with its ground truth."""

import numpy as np
import pytest

import labmnn

sim = pytest.importorskip("hardware_sim.camera")
from hardware_sim.rig import SimRig  # noqa: E402
from labmnn.metrology.images import read_grey  # noqa: E402
from labmnn.metrology.tracking import JointTracker  # noqa: E402


@pytest.mark.slow
def test_tracks_sim_rig_jpegs_with_threads(tmp_path):
    net = labmnn.Network.example("paper-triangle-n4")
    rig = SimRig(net)
    cam = sim.SimCamera(rig, width=3000, height=2000)       # ~7.5 px/mm, joint discs ~15 px radius
    cam.connect()
    ref = cam.capture(tmp_path)
    rig.hang(12, 20.0)
    rig.hang(13, 10.0)                                      # threads hang across joints 12 and 13
    shot = cam.capture(tmp_path)
    tracker = JointTracker(None, net, read_grey(ref.path))  # joints found automatically
    assert np.abs(tracker.reference.joints_px - ref.truth["joints_px"]).max() < 1.0
    res = tracker.track(read_grey(shot.path))
    assert not res.lost.any()
    d_true = np.asarray(shot.truth["joints_px"]) - np.asarray(ref.truth["joints_px"])
    err = (res.joints_px - tracker.reference.joints_px) - d_true
    assert np.sqrt(np.mean(err ** 2)) < 0.03
    # network-frame displacements match the truth; without a calibration (no undistortion,
    # scale from the network's geometry) to within the lens's mild distortion
    u_true = np.asarray(shot.truth["displacements_m"]) * 1e3
    assert np.abs(res.displacements_network_mm - u_true).max() < 0.05

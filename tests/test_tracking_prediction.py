"""Centring the tracker's search on the model's predicted joint positions (DLTdv-style)."""

import numpy as np
import pytest

import labmnn
from labmnn.cli import main
from labmnn.metrology.synthetic import network_scene
from labmnn.metrology.tracking import JointTracker

NET = labmnn.Network.example("paper-triangle-n4")


def displacements(grams):
    F = np.zeros((NET.n_nodes, 2))
    F[12, 1] = -grams * 1e-3 * labmnn.GRAVITY
    return NET.solve(F).displacements


@pytest.fixture(scope="module")
def far_scene():
    ref, px0 = network_scene(NET, seed=1)
    u = displacements(30.0)  # joint 12 moves ~36 px at 15 px/mm
    img, px1 = network_scene(NET, u, seed=2)
    return ref, px0, img, px1, u


def test_prediction_finds_a_joint_beyond_the_search_window(far_scene):
    ref, px0, img, px1, u = far_scene
    tr = JointTracker(None, NET, ref, joints_px=px0, search_px=12, predict="reference")
    moved = np.linalg.norm(px1 - px0, axis=1)
    assert moved.max() > 2 * 12  # well outside a window centred on the reference
    blind = tr.track(img)
    assert blind.lost[int(np.argmax(moved))]
    assert "window" in blind.reasons[int(np.argmax(moved))]
    np.testing.assert_allclose(tr.predict_px(np.zeros((NET.n_nodes, 2))), tr.reference.joints_px, atol=1e-6)
    pred = tr.predict_px(u * 1e3)
    assert np.abs(pred - (tr.reference.joints_px + px1 - px0)).max() < 0.5
    res = tr.track(img, predicted_px=pred)
    assert not res.lost.any()
    err = (res.joints_px - tr.reference.joints_px) - (px1 - px0)
    assert np.sqrt(np.mean(err ** 2)) < 0.03
    # the exact model's prediction differs from this (linear) scene by a few px only: still found
    F = np.zeros((NET.n_nodes, 2))
    F[12, 1] = -30e-3 * labmnn.GRAVITY
    exact = NET.solve(F, mechanics="nonlinear").displacements * 1e3
    assert not tr.track(img, predicted_px=tr.predict_px(exact)).lost.any()


def test_cli_predict_load_bad_value_is_one_line(tmp_path, capsys):
    args = ["track", "--calibration", str(tmp_path / "c.json"), "--network", "paper-triangle-n4",
            "--reference", str(tmp_path / "r.png"), str(tmp_path / "l.png")]
    for bad in ("12", "99:5", "12:x"):
        assert main(args + ["--predict-load", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--predict-load" in err[0]

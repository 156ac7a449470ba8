"""``labmnn sim-photos``."""

import json

import cv2
import numpy as np

from labmnn.cli import main


def test_sim_photos_writes_photos_and_truth(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["sim-photos", "--out", str(out), "--case", "12:10,10:5", "--boards", "2", "--plane-board",
                 "--width", "600", "--height", "400", "--seed", "3"]) == 0
    truth = json.loads((out / "truth.json").read_text())
    photos = truth["photos"]
    assert sorted(photos) == ["calibration/SIM_0002.jpg", "calibration/SIM_0003.jpg", "network/SIM_0000.jpg",
                              "network/SIM_0001.jpg", "plane/SIM_0004.jpg"]
    loaded = photos["network/SIM_0001.jpg"]
    assert loaded["hung_grams"] == {"12": 10.0, "10": 5.0}
    ref = photos["network/SIM_0000.jpg"]
    assert np.abs(np.array(loaded["joints_px"]) - np.array(ref["joints_px"])).max() > 1  # px at 600 wide
    assert len(photos["plane/SIM_0004.jpg"]["board_corners_px"]) == 54
    assert truth["camera"]["width"] == 600
    assert cv2.imread(str(out / "network" / "SIM_0001.jpg")).shape == (400, 600, 3)


def test_sim_photos_bad_case_is_one_line_exit_2(tmp_path, capsys):
    assert main(["sim-photos", "--out", str(tmp_path / "x"), "--case", "12:-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labmnn: error: --case") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_sim_photos_bad_tilt(tmp_path, capsys):
    assert main(["sim-photos", "--out", str(tmp_path / "x"), "--tilt-deg", "5"]) == 2
    assert "--tilt-deg" in capsys.readouterr().err

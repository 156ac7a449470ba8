"""``labmnn track`` end to end on small simulated photos: results, and lost joints never silent."""

import json

import cv2
import numpy as np
import pytest

from labmnn.cli import main


@pytest.mark.slow
def test_track_writes_results_and_flags_a_black_frame(tmp_path, capfd):
    d = tmp_path
    assert main(["sim-photos", "--out", str(d / "photos"),
                 "--px-per-mm", "15", "--case", "12:10"]) == 0
    ref, loaded = d / "photos" / "network" / "SIM_0000.jpg", d / "photos" / "network" / "SIM_0001.jpg"
    truth = json.loads((d / "photos" / "truth.json").read_text())
    cam = truth["camera"]
    (d / "cal.json").write_text(json.dumps({
        "format": "labmnn-calibration/1", "camera_matrix": cam["camera_matrix"], "dist_coeffs": cam["dist_coeffs"],
        "image_size": [cam["width"], cam["height"]], "rms_px": 0.1}))
    cv2.imwrite(str(d / "black.png"), np.zeros((4000, 6000), np.uint8))
    capfd.readouterr()

    out = d / "result.json"
    base = ["track", "--calibration", str(d / "cal.json"), "--network", "paper-triangle-n4",
            "--reference", str(ref), "-o", str(out), "--no-overlay"]
    assert main([*base[:1], str(loaded), *base[1:]]) == 0
    good = json.loads(out.read_text())["images"][0]
    assert not any(good["lost"]) and len(good["elongations_mm"]) == 28
    # node 12 carries the 10 g: it moves down in the network frame
    assert good["displacements_network_mm"][12][1] < -0.5

    capfd.readouterr()
    rc = main([*base[:1], str(loaded), str(d / "black.png"), *base[1:]])
    err = capfd.readouterr().err
    assert rc == 3
    res = json.loads(out.read_text())
    assert len(res["images"]) == 2 and all(res["images"][1]["lost"])
    assert "black.png (14/14 lost)" in err and err.count("\n") == 1 and "Traceback" not in err

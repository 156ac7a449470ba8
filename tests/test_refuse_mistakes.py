"""Mistakes are refused, not measured: fixed nodes, absurd sizes, suspect reference joints,
one R^2, and the small ones a new user meets (issue 15)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import labmnn
from labmnn.cli import main
from labmnn.errors import InputError
from labmnn.metrology.calibration import Calibration
from labmnn.metrology.jointsfile import read_joints_csv, write_joints_csv
from labmnn.metrology.synthetic import network_scene
from labmnn.metrology.tracking import JointTracker
from labmnn.protocol.spec import load_protocol

ROOT = Path(__file__).resolve().parents[1]
NET = labmnn.Network.example("paper-triangle-n4")  # fixed nodes 0 and 4; bonds 16 mm


def _protocol(tmp_path, name, *edits, source="gradient.toml"):
    text = (ROOT / "protocols" / source).read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("labmnn: error:") and "\n" not in err, err
    return err


# ------------------------------------------------------------------ fixed nodes
@pytest.mark.parametrize("edit,key", [
    (("node = 12", "node = 4"), "forward[0].node"),
    (("node = 13, axis", "node = 0, axis"), "loss.targets[0]"),
])
def test_load_or_target_on_a_fixed_node_is_refused_before_any_session(tmp_path, capsys, edit, key):
    proto = _protocol(tmp_path, "p.toml", edit)
    assert main(["run", str(proto), "--sim", "--auto", "--out", str(tmp_path / "s")]) == 2
    err = _error(capsys)
    assert key in err and "fixed to the frame" in err and str(proto) in err
    assert not (tmp_path / "s").exists()


def test_load_series_on_a_fixed_node_is_refused(tmp_path):
    proto = _protocol(tmp_path, "v.toml", ("node = 10", "node = 4"), source="validate.toml")
    with pytest.raises(InputError, match="series.node: node 4 is fixed to the frame"):
        load_protocol(proto).check_network(NET)


def test_validate_report_node_on_the_frame_is_refused(tmp_path, capsys):
    from labmnn.fabrication.load_series import hanging_plan, simulate_cases, write_load_series

    F, labels = hanging_plan(NET, grams=(2, 4), nodes=[12])
    series = tmp_path / "load_series.json"
    NET.save(tmp_path / "network.json")
    write_load_series(series, simulate_cases(NET, F, labels), "network.json")
    assert main(["validate-report", str(series), "--out", str(tmp_path / "v"), "--node", "0"]) == 2
    assert "--node: node 0 is fixed to the frame" in _error(capsys)


def test_a_load_the_rig_cannot_hang_is_refused_before_any_session(tmp_path, capsys):
    proto = _protocol(tmp_path, "p.toml", ("grams = 10", "grams = 30"))
    assert main(["run", str(proto), "--sim", "--auto", "--out", str(tmp_path / "s")]) == 2
    err = _error(capsys)
    assert "forward loading: node 12 needs 30 g" in err and "[adjoint]" not in err
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------ bounds
@pytest.mark.parametrize("edit,words", [
    (("counts = [4, 4, 4, 4, 2]", "counts = [100000, 100000, 100000, 100000, 100000]"),
     "weights.counts[0]: must be between 0 and 100, found 100000"),
    (("counts = [4, 4, 4, 4, 2]", "counts = [1e9, 4, 4, 4, 2]"), "weights.counts[0]"),
    (("sizes_g = [1, 2, 5, 10, 20]", "sizes_g = [1e-9, 2, 5, 10, 20]"), "weights.sizes_g[0]"),
    (("sizes_g = [1, 2, 5, 10, 20]", "sizes_g = [1e308, 2, 5, 10, 20]"), "found 1e+308"),
    (("repeats = 3", "repeats = 1000000000000"), "protocol.repeats: must be between 1 and 1000"),
    (("grams = 10", "grams = 1e308"), "forward[0].grams"),
])
def test_typo_sized_values_in_a_protocol_are_refused(tmp_path, edit, words):
    with pytest.raises(InputError, match=re.escape(words)):
        load_protocol(_protocol(tmp_path, "p.toml", edit))


def test_train_steps_are_bounded(tmp_path):
    path = _protocol(tmp_path, "t.toml", source="train.toml")
    text = re.sub(r"(?m)^steps = .*$", "steps = 1000000000", path.read_text())
    path.write_text(text)
    with pytest.raises(InputError, match=r"train.steps: must be between 1 and 10000, found 1000000000"):
        load_protocol(path)


@pytest.mark.parametrize("key,value,words", [
    ("thickness_mm", 1e-300, "thickness_mm: must be between"),
    ("youngs_modulus_pa", 1e308, "youngs_modulus_pa: must be between"),
    ("width_mm", 1e9, "width_mm: must be between"),
])
def test_typo_sized_values_in_a_network_are_refused(tmp_path, key, value, words):
    d = NET.to_dict()
    d[key] = value
    (tmp_path / "n.json").write_text(json.dumps(d))
    with pytest.raises(InputError, match=words):
        labmnn.Network.load(tmp_path / "n.json")


def test_huge_coordinates_in_a_network_are_refused(tmp_path):
    d = NET.to_dict()
    d["nodes_mm"][3] = [1e308, 0.0]
    (tmp_path / "n.json").write_text(json.dumps(d))
    with pytest.raises(InputError, match=r"nodes_mm\[3\]: must be between"):
        labmnn.Network.load(tmp_path / "n.json")


def test_endless_or_deeply_nested_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="larger than"):
        labmnn.Network.load("/dev/zero")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply|not valid JSON"):
        labmnn.Network.load(tmp_path / "deep.json")
    (tmp_path / "cal.json").write_text("{\"a\": " + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="cal.json"):
        Calibration.load(tmp_path / "cal.json")


def test_a_zero_camera_matrix_is_refused(tmp_path):
    d = {"format": "labmnn-calibration/1", "camera_matrix": [[0, 0, 0]] * 3, "dist_coeffs": [0] * 5,
         "image_size": [100, 100], "rms_px": 0.1}
    (tmp_path / "cal.json").write_text(json.dumps(d))
    with pytest.raises(InputError, match="camera_matrix"):
        Calibration.load(tmp_path / "cal.json")


def test_an_image_header_claiming_60000_px_is_refused_before_decoding(tmp_path):
    import cv2

    from labmnn.metrology.images import read_grey

    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8), np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = (60000).to_bytes(2, "big") * 2
    (tmp_path / "huge.jpg").write_bytes(bytes(data))
    with pytest.raises(InputError, match="claims 60000x60000 px"):
        read_grey(tmp_path / "huge.jpg")


def test_joints_with_a_lost_decimal_point_are_refused(tmp_path):
    ref, px0 = network_scene(NET, seed=1)
    bad = px0.copy()
    bad[3, 0] *= 100
    write_joints_csv(tmp_path / "j.csv", bad)
    joints = read_joints_csv(tmp_path / "j.csv", NET.n_nodes)  # a photo may be large...
    with pytest.raises(InputError, match=r"node 3: .* outside the \d+x\d+ px reference photo"):
        JointTracker(None, NET, ref, joints_px=joints)  # ...but not this one
    (tmp_path / "k.csv").write_text("node,x,y\n0,1e12,5\n")
    with pytest.raises(InputError, match="line 2: position 1e\\+12"):
        read_joints_csv(tmp_path / "k.csv", NET.n_nodes)


# ------------------------------------------------------------------ track's own checks
@pytest.fixture(scope="module")
def scene():
    return network_scene(NET, seed=1)


def test_swapped_joint_rows_are_named_and_lost(scene):
    ref, px0 = scene
    swapped = px0.copy()
    swapped[[3, 9]] = swapped[[9, 3]]
    tracker = JointTracker(None, NET, ref, joints_px=swapped)
    assert sorted(tracker.suspects) == [3, 9]
    res = tracker.track(ref)
    assert res.lost.tolist() == [i in (3, 9) for i in range(NET.n_nodes)]
    assert np.isnan(res.displacements_network_mm[[3, 9]]).all()
    assert np.abs(res.displacements_network_mm[~res.lost]).max() < 0.01
    right = JointTracker(None, NET, ref, joints_px=px0)
    assert right.suspects == {} and not right.track(ref).lost.any()


def test_a_calibration_with_the_wrong_scale_makes_every_joint_suspect(scene):
    ref, px0 = scene
    h, w = ref.shape
    K = np.array([[1000.0, 0, w / 2], [0, 1000.0, h / 2], [0, 0, 1]])
    good = np.diag([1 / 15, -1 / 15, 1.0])
    cal = Calibration(K, np.zeros(5), (w, h), 0.1, plane_homography=good)
    assert JointTracker(cal, NET, ref, joints_px=px0).suspects == {}
    cal.plane_homography = np.diag([1 / 7.5, -1 / 7.5, 1.0])  # twice the real scale
    tracker = JointTracker(cal, NET, ref, joints_px=px0)
    assert len(tracker.suspects) == NET.n_nodes
    assert "scale check 0.5 (1 expected" in tracker.suspects[0]
    assert tracker.track(ref).lost.all()


# ------------------------------------------------------------------ one R^2
def test_series_figures_are_those_of_validate():
    from labmnn.fabrication.load_series import hanging_plan, simulate_cases
    from labmnn.fabrication.validation import series_figures, validate

    F, labels = hanging_plan(NET, grams=(2, 4, 6), nodes=[12])
    cases = simulate_cases(NET, F, labels, noise_m=2e-6, seed=1)
    fig = series_figures(NET, cases)
    v = validate(NET, cases)
    assert fig["r_squared"] == v.r2 and fig["rms_error_mm"] == pytest.approx(v.rms_error_m * 1e3)
    assert 0.9 < fig["r_squared"] < 1.0


@pytest.mark.slow
def test_run_and_report_give_the_same_figures(tmp_path, capsys):
    proto = _protocol(tmp_path, "v.toml", ("grams = [0, 2, 4, 6, 8, 10, 12]", "grams = [0, 6, 12]"),
                      source="validate.toml")
    assert main(["run", str(proto), "--sim", "--auto", "--out", str(tmp_path / "s"),
                 "--stiffness-error", "0.1", "--print-seed", "1"]) == 0
    (folder,) = (tmp_path / "s").iterdir()
    ran = json.loads((folder / "results.json").read_text())
    assert main(["report", str(folder)]) == 0
    html = (folder / "report" / "index.html").read_text()
    shown = {float(x) for x in re.findall(r"R²</th><td>([-0-9.]+)<", html)}
    shown |= {float(x) for x in re.findall(r"r_squared</th><td>([-0-9.]+)<", html)}
    assert shown and all(abs(x - ran["r_squared"]) < 1e-5 for x in shown), (shown, ran["r_squared"])
    assert f"validation: R² {ran['r_squared']:.5f}" in capsys.readouterr().out


# ------------------------------------------------------------------ the smaller ones
def test_sessions_of_a_missing_folder_is_an_error(tmp_path, capsys):
    assert main(["sessions", str(tmp_path / "nosuch")]) == 2
    assert "no such folder" in _error(capsys)


def test_export_refuses_a_neck_longer_than_the_bond(tmp_path, capsys):
    assert main(["export", "paper-triangle-n4", "--neck-length", "100", "--svg", str(tmp_path / "x.svg")]) == 2
    assert "--neck-length: 100 mm" in _error(capsys)
    assert not (tmp_path / "x.svg").exists()


def test_calibrate_output_must_be_json(tmp_path, capsys):
    img = tmp_path / "b.png"
    img.write_bytes(b"x")
    assert main(["calibrate", "--board", "9x6", "--square", "20", str(img), "-o", str(tmp_path / "o.png")]) == 2
    assert "should end in .json" in _error(capsys)


def test_sim_photos_without_boards_suggests_no_track_without_calibration(tmp_path, capsys):
    assert main(["sim-photos", "--out", str(tmp_path / "p"), "--case", "12:10", "--width", "600",
                 "--height", "400"]) == 0
    out = capsys.readouterr().out
    assert "labmnn track --network" not in out and "needs a calibration" in out


def _bare_session(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "raw").mkdir()
    (folder / "protocol.toml").write_text((ROOT / "protocols" / "gradient.toml").read_text())
    NET.save(folder / "network.json")
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_resume_of_an_empty_log_says_so(tmp_path, capsys):
    folder = _bare_session(tmp_path / "s", [])
    assert main(["resume", str(folder)]) == 2
    err = _error(capsys)
    assert "no start record" in err and "balance" not in err


def test_report_with_unknown_results_names_the_option_not_resume(tmp_path, capsys):
    folder = _bare_session(tmp_path / "s", [
        {"seq": 1, "time": 0.0, "kind": "start", "protocol": "p", "protocol_kind": "gradient"},
        {"seq": 2, "time": 1.0, "kind": "stop", "status": "success"}])
    assert main(["report", str(folder), "--results", "nosuch"]) == 2
    err = _error(capsys)
    assert "--results" in err and "nosuch" in err and "resume" not in err

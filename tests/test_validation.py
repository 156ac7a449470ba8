import json

import numpy as np
import pytest

from labmnn import Network
from labmnn.cli import main
from labmnn.fabrication.load_series import (
    hanging_plan,
    simulate_cases,
    write_load_series,
)
from labmnn.fabrication.validation import load_series_groups, validation_report

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def net():
    return Network.example("paper-triangle-n4")


def series(net):
    F1, l1 = hanging_plan(net, grams=(2, 4, 6, 8, 10, 12), nodes=[12])
    F2, l2 = hanging_plan(net, grams=(4, 8), nodes=[9])
    return np.concatenate([F1, F2]), l1 + l2


def test_perfect_measurements(net, tmp_path):
    F, labels = series(net)
    rep = validation_report(net, simulate_cases(net, F, labels), tmp_path)
    assert rep["r2"] == pytest.approx(1.0, abs=1e-12)
    assert rep["rms_error_mm"] == pytest.approx(0.0, abs=1e-12)
    assert rep["n_cases"] == 8 and rep["n_measurements"] == 8 * 12
    names = sorted(p.split("/")[-1] for p in rep["files"])
    assert names == ["displacement_vs_load_0.png", "displacement_vs_load_1.png", "parity.png",
                     "validation.csv", "validation.json"]
    for name in names:
        if name.endswith(".png"):
            assert (tmp_path / name).read_bytes()[:8] == PNG
    assert json.loads((tmp_path / "validation.json").read_text())["n_cases"] == 8
    rows = (tmp_path / "validation.csv").read_text().splitlines()
    assert len(rows) == 1 + 8 * 12 and rows[0].startswith("case,node,valid")


def test_largest_error_is_found_and_invalid_nodes_skipped(net, tmp_path):
    F, labels = series(net)
    cases = simulate_cases(net, F, labels)
    cases[4].displacements_m[7] += [0.0, 0.05e-3]  # 50 um off at node 7 in case 4
    cases[2].displacements_m[11] += [1e-3, 0.0]  # a 1 mm outlier, but flagged lost
    cases[2].valid[11] = False
    rep = validation_report(net, cases, tmp_path, plots=False)
    big = rep["largest_error"]
    assert big["node"] == 7 and big["case"] == labels[4]
    assert big["mm"] == pytest.approx(0.05, rel=1e-9)
    assert rep["n_measurements"] == 8 * 12 - 1
    assert 0.99 < rep["r2"] < 1.0
    node7 = next(r for r in rep["per_node"] if r["node"] == 7)
    assert node7["max_error_mm"] == pytest.approx(0.05, rel=1e-9)
    assert rep["files"] == [str(tmp_path / "validation.json"), str(tmp_path / "validation.csv")]


def test_a_stiffer_prototype_lowers_r2(net, tmp_path):
    F, labels = series(net)
    good = validation_report(net, simulate_cases(net, F, labels, noise_m=1e-6), tmp_path / "a", plots=False)
    stiff = simulate_cases(net, F, labels, stiffness=net.stiffness * 1.3, noise_m=1e-6)
    bad = validation_report(net, stiff, tmp_path / "b", plots=False)
    assert bad["r2"] < good["r2"] and bad["rms_error_mm"] > 20 * good["rms_error_mm"]


def test_series_groups():
    F = np.zeros((5, 3, 2))
    F[0, 1, 1], F[1, 2, 1], F[2, 1, 1], F[3, 1, 1], F[4, 2, 1] = -3, -1, -1, -2, -2
    groups = load_series_groups(F)
    assert [g.tolist() for g in groups] == [[2, 3, 0], [1, 4]]


def test_validate_report_command(net, tmp_path, capsys):
    F, labels = series(net)
    net.save(tmp_path / "network.json")
    write_load_series(tmp_path / "load_series.json", simulate_cases(net, F, labels, noise_m=1e-6), "network.json")
    assert main(["validate-report", str(tmp_path), "--out", str(tmp_path / "rep"), "--node", "13"]) == 0
    out = capsys.readouterr().out
    assert "R^2 = " in out and "largest error" in out
    assert (tmp_path / "rep" / "displacement_vs_load_0.png").exists()
    assert main(["validate-report", str(tmp_path), "--out", str(tmp_path / "rep"), "--node", "99"]) == 2
    assert "--node" in capsys.readouterr().err


def test_accepts_raw_load_series_cases(net, tmp_path):
    from labmnn.fabrication.load_series import load_series_to_dict

    F, labels = series(net)
    cases = simulate_cases(net, F, labels, noise_m=1e-6, seed=4)
    raw = load_series_to_dict(cases)["cases"]
    a = validation_report(net, cases, tmp_path / "a", plots=False)
    b = validation_report(net, raw, tmp_path / "b", plots=False)
    assert b["r2"] == pytest.approx(a["r2"]) and b["largest_error"] == a["largest_error"]
    raw[1]["valid"] = "yes"
    from labmnn import InputError

    with pytest.raises(InputError, match=r"cases\[1\].valid"):
        validation_report(net, raw, tmp_path / "c")


def test_no_valid_measurement_is_an_input_error(net, tmp_path):
    from labmnn import InputError

    F, labels = series(net)
    cases = simulate_cases(net, F[:2], labels[:2])
    for c in cases:
        c.valid[:] = False
    with pytest.raises(InputError, match="no valid measurement"):
        validation_report(net, cases, tmp_path)

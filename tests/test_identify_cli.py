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


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    net = Network.example("paper-triangle-n4")
    rng = np.random.default_rng(11)
    k_true = net.stiffness * (1 + rng.uniform(-0.1, 0.1, net.n_bonds))
    folder = tmp_path_factory.mktemp("session")
    net.save(folder / "network.json")
    F, labels = hanging_plan(net, grams=(5, 10))
    write_load_series(folder / "load_series.json",
                      simulate_cases(net, F, labels, stiffness=k_true, noise_m=1.3e-6, seed=2), "network.json")
    return folder, k_true


def test_identify_session_writes_identified_network(session, tmp_path, capsys):
    folder, k_true = session
    out = tmp_path / "identified.json"
    assert main(["identify", str(folder), "-o", str(out), "--regularization", "0.01"]) == 0
    text = capsys.readouterr().out
    assert "effective Young's modulus" in text and "held-out" in text and "cuts the held-out" in text
    data = json.loads(out.read_text())
    assert data["format"] == "labmnn-network/1" and len(data["stiffness_n_per_m"]) == 28
    net = Network.load(out)
    nominal = Network.example("paper-triangle-n4")
    assert np.linalg.norm(net.stiffness / k_true - 1) < 0.3 * np.linalg.norm(nominal.stiffness / k_true - 1)


def test_identify_json_summary_two_sessions(session, tmp_path, capsys):
    folder, _ = session
    out = tmp_path / "id.json"
    assert main(["identify", str(folder), str(folder / "load_series.json"), "-o", str(out),
                 "--modulus-only", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["corrections"]["min"] == summary["corrections"]["max"] == 1.0
    assert len(summary["fit_cases"]) + len(summary["heldout_cases"]) == 48
    assert summary["heldout_cases"][0].split("/")[0] == folder.name


@pytest.mark.parametrize("extra, match", [
    (["--regularization", "-1"], "--regularization"),
    (["--holdout", "1.5"], "--holdout"),
    (["--holdout-label", "nope"], "no load case"),
    (["--network", "missing.json"], "missing.json"),
])
def test_identify_bad_arguments(session, tmp_path, capsys, extra, match):
    folder, _ = session
    assert main(["identify", str(folder), "-o", str(tmp_path / "x.json"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labmnn: error:") and match in err and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()


def test_identify_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"cases": [{"forces_n": [[0, 0]], "displacements_mm": [[0, 0]]}]}')
    assert main(["identify", str(bad), "-o", str(tmp_path / "x.json")]) == 2
    assert "give --network" in capsys.readouterr().err
    assert main(["identify", str(bad), "-o", str(tmp_path / "x.json"), "--network", "paper-triangle-n4"]) == 2
    assert "has 1 nodes but network" in capsys.readouterr().err
    assert main(["identify", str(tmp_path), "-o", str(tmp_path / "x.json")]) == 2
    assert "without load_series.json" in capsys.readouterr().err
    assert main(["identify", str(bad), "-o", str(tmp_path / "no" / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_holdout_whole_session(session, tmp_path, capsys):
    folder, _ = session
    other = tmp_path / "other"
    other.mkdir()
    (other / "load_series.json").write_text((folder / "load_series.json").read_text())
    (other / "network.json").write_text((folder / "network.json").read_text())
    out = tmp_path / "id.json"
    assert main(["identify", str(folder), str(other), "-o", str(out), "--holdout-session", str(other),
                 "--regularization", "0.01", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["heldout_cases"] and all(c.startswith("other/") for c in summary["heldout_cases"])
    assert len(summary["heldout_cases"]) == 24 and len(summary["per_bond"]) == 28
    assert main(["identify", str(folder), "-o", str(out), "--holdout-session", str(other)]) == 2
    assert "is not one of the inputs" in capsys.readouterr().err

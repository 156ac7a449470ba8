import json

import numpy as np
import pytest

from labmnn import InputError, Network
from labmnn.fabrication.load_series import (
    FILE_NAME,
    hanging_plan,
    read_load_series,
    simulate_cases,
    stack_cases,
    write_load_series,
)


@pytest.fixture(scope="module")
def net():
    return Network.example("paper-triangle-n4")


def test_write_read_round_trip(net, tmp_path):
    F, labels = hanging_plan(net, grams=(2, 4), nodes=[12])
    cases = simulate_cases(net, F, labels, noise_m=1e-6)
    cases[1].valid[5] = False
    write_load_series(tmp_path / FILE_NAME, cases, "network.json")
    back = read_load_series(tmp_path)  # a session folder
    assert back.network_path == tmp_path / "network.json"
    assert [c.label for c in back.cases] == ["node12-2g", "node12-4g"]
    F2, U2, V2 = stack_cases(back.cases, net.n_nodes)
    assert np.allclose(F2, F)
    assert np.allclose(U2, np.stack([c.displacements_m for c in cases]), atol=1e-12)
    assert V2.sum() == 2 * net.n_nodes - 1 and not V2[1, 5]


def test_hanging_plan_forces(net):
    F, labels = hanging_plan(net, grams=(5, 10), nodes=[9, 12])
    assert F.shape == (4, net.n_nodes, 2)
    assert labels == ["node9-5g", "node9-10g", "node12-5g", "node12-10g"]
    assert F[3, 12, 1] == pytest.approx(-0.098)
    assert np.count_nonzero(F) == 4


def test_simulated_noise_and_fixed_nodes(net):
    F, labels = hanging_plan(net, grams=(10,), nodes=[12])
    clean = simulate_cases(net, F, labels)[0]
    noisy = simulate_cases(net, np.repeat(F, 400, axis=0), None, noise_m=2e-6)
    d = np.stack([c.displacements_m for c in noisy]) - clean.displacements_m
    free = np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)
    assert np.std(d[:, free]) == pytest.approx(2e-6, rel=0.05)
    assert np.all(d[:, net.fixed_nodes] == 0)


@pytest.mark.parametrize("payload, match", [
    ("[1, 2]", "must hold a JSON object"),
    ('{"cases": []}', "cases: must be a non-empty list"),
    ('{"cases": [{"forces_n": [[0, 0]]}]}', r"cases\[0\].displacements_mm: is missing"),
    ('{"cases": [{"forces_n": [[0, 0], [0, 1]], "displacements_mm": [[0, 0]]}]}',
     r"cases\[0\].displacements_mm: must have the shape"),
    ('{"cases": [{"forces_n": [[0, "a"]], "displacements_mm": [[0, 0]]}]}', r"cases\[0\].forces_n"),
    ('{"cases": [{"forces_n": [[0, 0]], "displacements_mm": [[0, 0]], "valid": [1]}]}',
     r"cases\[0\].valid: must be a list of true/false"),
    ('{"cases": [{"forces_n": [[0, 0]], "displacements_mm": [[0, 0]]}, '
     '{"forces_n": [[0, 0], [1, 1]], "displacements_mm": [[0, 0], [0, 0]]}]}', r"cases\[1\].forces_n"),
    ('{"network": 3, "cases": [{"forces_n": [[0, 0]], "displacements_mm": [[0, 0]]}]}', "network: must be a file name"),
    ("{not json", "is not valid JSON"),
])
def test_bad_files_give_one_line_errors(tmp_path, payload, match):
    p = tmp_path / "series.json"
    p.write_text(payload)
    with pytest.raises(InputError, match=match) as exc:
        read_load_series(p)
    assert str(p) in str(exc.value) and "\n" not in exc.value.one_line()


def test_folder_without_series(tmp_path):
    with pytest.raises(InputError, match="without load_series.json"):
        read_load_series(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        read_load_series(tmp_path / "nope.json")


def test_missing_valid_means_all_valid(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"cases": [{"forces_n": [[0, 0], [0, -1]], "displacements_mm": [[0, 0], [0, -2]]}]}))
    case = read_load_series(p).cases[0]
    assert case.valid.tolist() == [True, True]
    assert case.displacements_m[1, 1] == pytest.approx(-2e-3)
    assert case.label == "case0"

"""Reading, writing and rejecting labmnn-network/1 files."""

import copy
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labmnn import InputError, Network
from labmnn.model.network import EXAMPLES_DIR

PAPER = json.loads((EXAMPLES_DIR / "paper-triangle-n4.json").read_text())


def write(tmp_path, data, name="net.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return p


def test_paper_network_loads_with_si_units():
    net = Network.example("paper-triangle-n4")
    assert (net.n_nodes, net.n_bonds) == (14, 28)
    assert net.fixed_nodes.tolist() == [0, 4]
    assert np.allclose(net.lengths, 0.016, rtol=1e-6)
    # k = E w t / L = 0.55e6 * 2e-3 * 2e-3 / 16e-3
    assert np.allclose(net.stiffness, 137.5, rtol=1e-6)


def test_round_trip_keeps_every_field(tmp_path):
    data = copy.deepcopy(PAPER)
    data["width_mm"] = [1.5 + 0.03 * b for b in range(28)]
    data["stiffness_n_per_m"] = [100.0 + b for b in range(28)]
    data["operator_note"] = "kept"
    net = Network.load(write(tmp_path, data))
    net.save(tmp_path / "out.json")
    back = json.loads((tmp_path / "out.json").read_text())
    assert back["width_mm"] == pytest.approx(data["width_mm"])
    assert np.allclose(back["nodes_mm"], data["nodes_mm"])
    assert back["bonds"] == data["bonds"]
    assert back["stiffness_n_per_m"] == pytest.approx(data["stiffness_n_per_m"])
    assert back["operator_note"] == "kept"
    assert Network.load(tmp_path / "out.json").stiffness == pytest.approx(data["stiffness_n_per_m"])


BAD = [
    (lambda d: d.pop("bonds"), "bonds", "missing"),
    (lambda d: d.update(format="labmnn-network/2"), "format", "labmnn-network/2"),
    (lambda d: d["nodes_mm"].__setitem__(3, [1.0, float("nan")]), "nodes_mm[3]", "finite"),
    (lambda d: d["nodes_mm"].__setitem__(2, ["a", 1.0]), "nodes_mm[2]", "'a'"),
    (lambda d: d["bonds"].__setitem__(5, [2, 99]), "bonds[5]", "99"),
    (lambda d: d["bonds"].__setitem__(5, [2, 2]), "bonds[5]", "itself"),
    (lambda d: d["bonds"].append([1, 0]), "bonds[28]", "duplicates bonds[0]"),
    (lambda d: d["nodes_mm"].__setitem__(1, [0.0, 0.0]), "bonds[0]", "zero length"),
    (lambda d: d.update(fixed_nodes=[]), "fixed_nodes", "at least one"),
    (lambda d: d.update(width_mm=3.0), "width_mm", "outside width_bounds_mm"),
    (lambda d: d.update(width_mm=[2.0] * 27), "width_mm", "27 entries"),
    (lambda d: d.update(thickness_mm=-1), "thickness_mm", "positive"),
    (lambda d: d.update(youngs_modulus_pa="soft"), "youngs_modulus_pa", "'soft'"),
    (lambda d: d.update(fixed_nodes=[0, 1.5]), "fixed_nodes[1]", "1.5"),
    (lambda d: d.update(width_bounds_mm=[2.5, 1.5]), "width_bounds_mm", "above"),
]


@pytest.mark.parametrize("mutate,key,fragment", BAD)
def test_each_rule_gives_a_one_line_error_naming_file_key_and_value(tmp_path, mutate, key, fragment):
    data = copy.deepcopy(PAPER)
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(InputError) as exc:
        Network.load(path)
    msg = exc.value.one_line()
    assert str(path) in msg and key in msg and fragment in msg
    assert "\n" not in msg


def test_not_json_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="not valid JSON"):
        Network.load(write(tmp_path, "{nodes: "))
    with pytest.raises(InputError, match="no such file"):
        Network.load(tmp_path / "absent.json")


def test_cli_exit_code_2_and_no_traceback(tmp_path):
    data = copy.deepcopy(PAPER)
    data["bonds"][7] = [3, 40]
    path = write(tmp_path, data)
    proc = subprocess.run([sys.executable, "-m", "labmnn", "simulate", str(path), "--grams", "12:10"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "Traceback" not in proc.stderr
    assert "bonds[7]" in proc.stderr and "40" in proc.stderr


# ----------------------------------------------------------- property-based
def _poison():
    return st.one_of(
        st.none(), st.booleans(), st.text(max_size=3), st.just(float("nan")), st.just(float("inf")),
        st.integers(-5, 40), st.floats(-10, 10, allow_nan=False), st.lists(st.integers(-2, 20), max_size=3),
    )


@st.composite
def mutated_network(draw):
    data = copy.deepcopy(PAPER)
    key = draw(st.sampled_from(["nodes_mm", "bonds", "width_mm", "thickness_mm", "youngs_modulus_pa",
                                "fixed_nodes", "width_bounds_mm", "format", "name"]))
    how = draw(st.sampled_from(["replace", "entry", "drop"]))
    if how == "drop":
        data.pop(key)
    elif how == "replace" or not isinstance(data[key], list):
        data[key] = draw(_poison())
    else:
        idx = draw(st.integers(0, len(data[key]) - 1))
        data[key][idx] = draw(_poison())
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated_network())
def test_any_malformed_file_is_accepted_or_rejected_with_input_error(tmp_path, data):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(data, allow_nan=True))
    try:
        net = Network.load(path)
    except InputError as exc:
        assert str(path) in str(exc) and "\n" not in exc.one_line()
        return
    # Accepted: it must then obey every rule of the format.
    assert np.all(np.isfinite(net.nodes)) and np.all(net.width > 0) and net.fixed_nodes.size >= 1
    assert np.all(net.lengths > 0) and net.bonds.min() >= 0 and net.bonds.max() < net.n_nodes
    assert math.isfinite(net.thickness) and net.thickness > 0

"""``[series] nodes``: one load series over several nodes (the identification loadings on the rig)."""

import json

import pytest

from labmnn.errors import InputError
from labmnn.model.network import Network
from labmnn.protocol.planner import preflight
from labmnn.protocol.spec import load_protocol
from labmnn.protocol.task_protocol import series_protocol_text

HEAD = '''[protocol]
format = "labmnn-protocol/1"
kind = "load_series"
[network]
file = "paper-triangle-n4"
[weights]
sizes_g = [1, 2, 5, 10, 20]
counts = [4, 4, 4, 4, 2]
[series]
'''


def _spec(tmp_path, series: str):
    path = tmp_path / "s.toml"
    path.write_text(HEAD + series)
    return load_protocol(path)


def test_nodes_in_turn(tmp_path):
    spec = _spec(tmp_path, "nodes = [12, 13, 10]\ngrams = [10]\n")
    assert spec.series.all_nodes == (12, 13, 10) and spec.series.node == 12 and spec.series.grams == (10.0,)
    net = Network.open(spec.network)
    spec.check_network(net)
    assert "nodes 12, 13, 10 in turn" in preflight(spec, net, None).lines[0]


def test_one_node_keeps_its_meaning(tmp_path):
    spec = _spec(tmp_path, "node = 10\ngrams = [0, 2, 4]\n")
    assert spec.series.all_nodes == (10,) and spec.series.nodes == ()


@pytest.mark.parametrize("series, needle", [
    ("node = 10\nnodes = [12]\ngrams = [10]\n", "series.nodes: give either series.node or series.nodes"),
    ("nodes = []\ngrams = [10]\n", "series.nodes: must list at least one node"),
    ("nodes = [12, 12]\ngrams = [10]\n", "series.nodes: lists a node twice"),
    ("nodes = [12, 'x']\ngrams = [10]\n", "series.nodes[1]"),
    ("node = 10\ngrams = [10]\n", "series.grams: must list at least two masses"),
    ("nodes = [12]\ngrams = []\n", "series.grams: must list at least one mass"),
])
def test_bad_series_nodes(tmp_path, series, needle):
    with pytest.raises(InputError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        _spec(tmp_path, series)


def test_a_fixed_node_in_the_list_is_refused(tmp_path):
    spec = _spec(tmp_path, "nodes = [12, 0]\ngrams = [10]\n")
    net = Network.open(spec.network)
    with pytest.raises(InputError, match=r"series.nodes\[1\].*node 0 is fixed"):
        spec.check_network(net)
    spec = _spec(tmp_path, "nodes = [12, 99]\ngrams = [10]\n")
    with pytest.raises(InputError, match=r"series.nodes\[1\].*out of range"):
        spec.check_network(net)


def test_written_series_protocol_parses(tmp_path):
    path = tmp_path / "id.toml"
    path.write_text(series_protocol_text([1, 2, 5], [10.0], "identify-x", "identification"))
    (tmp_path / "network.json").write_text(json.dumps(Network.open("paper-triangle-n4").to_dict()))
    spec = load_protocol(path)
    assert spec.kind == "load_series" and spec.series.all_nodes == (1, 2, 5) and spec.series.direction == (0.0, -1.0)

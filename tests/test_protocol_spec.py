"""Protocol files: the shipped ones parse; malformed ones give one line naming file, key and value."""

from pathlib import Path

import numpy as np
import pytest

from labmnn.cli import main
from labmnn.errors import InputError
from labmnn.protocol.spec import load_protocol

ROOT = Path(__file__).resolve().parents[1]
GOOD = (ROOT / "protocols" / "gradient.toml").read_text()


def test_shipped_protocols_parse_and_have_one_source():
    from labmnn.resources import protocols_dir

    assert protocols_dir() == ROOT / "protocols"  # in a checkout, the top-level folder is what ships
    for name in ("gradient", "validate", "train"):
        spec = load_protocol(ROOT / "protocols" / f"{name}.toml")
        assert spec.network == "paper-triangle-n4"
    g = load_protocol(ROOT / "protocols" / "gradient.toml")
    assert g.kind == "gradient" and g.repeats == 3
    F = g.forward_forces(14)
    assert F[12, 1] == pytest.approx(-0.010 * 9.8) and np.count_nonzero(F) == 1
    assert g.weights.sizes_g == (1, 2, 5, 10, 20)
    v = load_protocol(ROOT / "protocols" / "validate.toml")
    assert v.series.node == 10 and v.series.grams == (0, 2, 4, 6, 8, 10, 12)


@pytest.mark.parametrize("old,new,key,value", [
    ('grams = 10', 'grams = "ten"', "forward[0].grams", "'ten'"),
    ('node = 12', 'node = -3', "forward[0].node", "-3"),
    ('repeats = 3', 'repeats = 0', "protocol.repeats", "0"),
    ('counts = [4, 4, 4, 4, 2]', 'counts = [4, 4]', "weights.counts", "[4, 4]"),
    ('direction = "down"', 'direction = "sideways"', "forward[0].direction", "'sideways'"),
    ('max_g = 10', 'max_g = 10\nmin_g2 = 1', "adjoint.min_g2", "known"),
    ('kind = "gradient"', 'kind = "gradients"', "protocol.kind", "'gradients'"),
    ('scale = "auto"', 'scale = -2', "adjoint.scale", "-2"),
    ('axis = "y"', 'axis = "z"', "targets[0].axis", "'z'"),
])
def test_malformed_protocol_names_file_key_value(tmp_path, old, new, key, value):
    p = tmp_path / "bad.toml"
    assert old in GOOD
    p.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(InputError) as exc:
        spec = load_protocol(p)
        spec.build_loss(14)
    msg = exc.value.one_line()
    assert str(p) in msg and key in msg and value in msg
    assert "\n" not in msg


def test_bad_toml_and_missing_file(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("[protocol\nformat=1")
    with pytest.raises(InputError, match="not valid TOML"):
        load_protocol(p)
    with pytest.raises(InputError, match="no such protocol file"):
        load_protocol(tmp_path / "nope.toml")


def test_cli_reports_malformed_protocol_as_one_line(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text(GOOD.replace("grams = 10", "grams = [10]"))
    assert main(["run", str(p), "--sim", "--auto", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "forward[0].grams" in err[0] and "[10]" in err[0]


def test_node_out_of_range_is_reported(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(GOOD.replace("node = 12", "node = 99"))
    spec = load_protocol(p)
    with pytest.raises(InputError, match="node 99 is out of range"):
        spec.check_nodes(14)

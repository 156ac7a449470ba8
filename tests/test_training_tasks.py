"""Task files, data sets and splits."""

import numpy as np
import pytest

from labmnn.cli import main
from labmnn.errors import InputError
from labmnn.training import datasets
from labmnn.training.tasks import TASKS_DIR, load_task

SHIPPED = ["iris", "regression", "regression-noise", "behaviour-ce-left", "behaviour-ce-right", "behaviour-mse"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_tasks_parse(name):
    task = load_task(name)
    assert task.name == name
    assert task.network.n_nodes == 14
    lo, hi = task.widths.bounds
    assert 0 < lo < hi < 5e-3


def test_task_kinds_and_shapes():
    iris = load_task("iris")
    assert iris.kind == "classification"
    assert iris.dataset.features.shape == (150, 4)
    assert load_task("regression").kind == "regression"
    assert load_task("behaviour-mse").kind == "behaviour"
    tr, _ = datasets.split_indices(150, 0.7, 0)
    F = iris.forces(tr, iris.feature_scale(tr))
    # four downward forces on the paper's input nodes, the largest exactly 5 g per feature
    assert F.shape == (105, 14, 2)
    assert np.all(F[:, [13, 11, 12, 9], 1] < 0)
    assert np.allclose(F[:, [13, 11, 12, 9], 1].min(axis=0), -0.049)
    assert np.all(F[:, :, 0] == 0)


def _write(tmp_path, text):
    p = tmp_path / "t.toml"
    base = (TASKS_DIR / "iris.toml").read_text()
    p.write_text(text(base))
    return p


@pytest.mark.parametrize("edit, key", [
    (lambda s: s.replace("lr = 0.006", "lr = -1.0"), "optimizer.lr"),
    (lambda s: s.replace("nodes = [13, 11, 12, 9]", "nodes = [13, 11, 12, 99]"), "inputs.nodes[3]"),
    (lambda s: s.replace("nodes = [13, 11, 12, 9]", "nodes = [13, 11, 12]"), "inputs.nodes"),
    (lambda s: s.replace('kind = "iris"', 'kind = "mnist"'), "dataset.kind"),
    (lambda s: s.replace("bounds_mm = [1.5, 2.5]", "bounds_mm = [2.5, 1.5]"), "widths.bounds_mm"),
    (lambda s: s.replace('method = "projection"', 'method = "clamp"'), "widths.method"),
    (lambda s: s.replace("outputs = [7, 1, 2]", "outputs = [7, 1]"), "loss.outputs"),
    (lambda s: s.replace("train_fraction = 0.7", "train_fraction = 1.5"), "split.train_fraction"),
    (lambda s: s.replace("epochs = 100", "epochs = \"many\""), "optimizer.epochs"),
])
def test_bad_values_name_file_key_and_value(tmp_path, edit, key):
    p = _write(tmp_path, edit)
    with pytest.raises(InputError) as exc:
        load_task(p)
    msg = str(exc.value)
    assert str(p) in msg and key in msg
    assert "\n" not in exc.value.one_line()


def test_cli_bad_task_is_one_line_exit_2(tmp_path, capsys):
    p = _write(tmp_path, lambda s: s.replace("lr = 0.006", "lr = 0"))
    assert main(["train", str(p), "--out", str(tmp_path / "o")]) == 2
    assert "optimizer.lr" in capsys.readouterr().err
    assert main(["train", "no-such-task"]) == 2
    assert main(["train", "iris", "--seed", "-1", "--out", str(tmp_path / "o")]) == 2
    assert main(["train", "iris", "--prune", "99", "--out", str(tmp_path / "o")]) == 2
    assert main(["train", "iris", "--init", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("labmnn: error:") for line in err)
    assert "--seed" in err[1] and "99" in err[2] and "missing.json" in err[3]


def test_bad_toml_syntax(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("format = \n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_task(p)


def test_split_is_seeded_disjoint_and_complete():
    a = datasets.split_indices(150, 0.7, seed=3)
    b = datasets.split_indices(150, 0.7, seed=3)
    c = datasets.split_indices(150, 0.7, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    tr, te = a
    assert len(tr) == 105 and len(te) == 45
    assert np.intersect1d(tr, te).size == 0
    assert np.array_equal(np.union1d(tr, te), np.arange(150))


def test_linear_response_follows_eq9():
    ds = datasets.linear_response(200, (-0.196, 0.196), [12, 12, 13, 13], [0, 1, 0, 1],
                                  [0.0, 0.016, 0.004, 0.016], seed=1)
    X = ds.features[:, 0]
    assert X.min() >= -0.196 and X.max() <= 0.196
    assert np.allclose(ds.targets, X[:, None] * [0.0, 0.016, 0.004, 0.016])
    noisy = datasets.linear_response(2000, (-0.196, 0.196), [12], [1], [0.016], noise_sd_m=1e-4, seed=1)
    resid = noisy.targets - noisy.clean_targets
    assert 0.9e-4 < resid.std() < 1.1e-4


def test_iris_loader():
    ds = datasets.iris()
    assert ds.class_names == ["setosa", "versicolor", "virginica"]
    assert np.bincount(ds.labels).tolist() == [50, 50, 50]


def test_feature_scale_uses_training_samples_only():
    task = load_task("iris")
    tr = np.arange(0, 100)  # setosa and versicolor only: smaller maxima than virginica's
    offset, divisor = task.feature_scale(tr)
    assert np.allclose(divisor, task.dataset.features[tr].max(axis=0))
    assert divisor[2] < task.dataset.features[:, 2].max()


def test_mechanics_key_parses_and_defaults_to_linear(tmp_path):
    assert load_task("iris").mechanics == "linear"
    p = _write(tmp_path, lambda s: s.replace('network = "paper-triangle-n4"',
                                             'network = "paper-triangle-n4"\nmechanics = "nonlinear"'))
    assert load_task(p).mechanics == "nonlinear"


@pytest.mark.parametrize("value", ['"exact"', "1", '"Linear"'])
def test_bad_mechanics_names_file_key_and_value(tmp_path, value):
    p = _write(tmp_path, lambda s: s.replace('network = "paper-triangle-n4"',
                                             f'network = "paper-triangle-n4"\nmechanics = {value}'))
    with pytest.raises(InputError) as exc:
        load_task(p)
    line = exc.value.one_line()
    assert str(p) in line and "mechanics" in line and value.strip('"') in line and "\n" not in line
    assert main(["train", str(p), "--out", str(tmp_path / "o")]) == 2

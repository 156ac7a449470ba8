"""The training loop, retraining and the ``labmnn train`` command (few epochs: real learning, fast)."""

import csv
import json

import numpy as np
import pytest

from labmnn.cli import main
from labmnn.errors import ZeroModeError
from labmnn.model.network import Network
from labmnn.training.loop import prepare_network, train
from labmnn.training.tasks import load_task


@pytest.fixture(scope="module")
def iris_run():
    return train(load_task("iris"), seed=1, epochs=15)


def test_iris_learns_in_a_few_epochs(iris_run):
    h = iris_run.history
    assert h[-1]["train_loss"] < 0.2 * h[0]["train_loss"]
    # chance is 1/3; the held-out split must be far above it
    assert iris_run.metrics["test_accuracy"] >= 0.75
    assert iris_run.metrics["initial_test_accuracy"] < 0.5
    assert np.intersect1d(iris_run.train_idx, iris_run.test_idx).size == 0


def test_widths_stay_inside_the_bounds(iris_run):
    w = iris_run.network.width
    assert w.min() >= 1.5e-3 - 1e-12 and w.max() <= 2.5e-3 + 1e-12
    assert np.ptp(w) > 0.5e-3  # it did move the widths


def test_one_factorisation_per_step_serves_the_batch(monkeypatch):
    import labmnn.model.network as netmod

    calls = {"n": 0}
    real = netmod.Equilibrium.__init__

    def counting(self, *a, **k):
        calls["n"] += 1
        real(self, *a, **k)

    monkeypatch.setattr(netmod.Equilibrium, "__init__", counting)
    task = load_task("iris")
    train(task, seed=0, epochs=2)
    steps = 2 * int(np.ceil(105 / task.optimizer.batch_size))
    # one per step plus one per recorded epoch (and the initial record)
    assert calls["n"] <= steps + 3


@pytest.mark.parametrize("side, big, small", [("left", 13, 12), ("right", 12, 13)])
def test_behaviour_cross_entropy_reaches_both_asymmetric_outcomes(side, big, small):
    task = load_task(f"behaviour-ce-{side}")
    r = train(task, epochs=60)
    u = r.metrics["outputs_mm"]
    assert abs(u[str(big)][1]) > abs(u[str(small)][1]) + 0.05
    assert r.metrics["loss"] < r.metrics["initial_loss"]


def test_behaviour_mse_hits_targets():
    r = train(load_task("behaviour-mse"), epochs=300)
    assert r.metrics["max_target_relative_error"] < 0.01


def test_regression_fits_held_out_data():
    r = train(load_task("regression"), epochs=25)
    assert r.metrics["test_relative_error"] < 0.02
    assert r.metrics["initial_test_relative_error"] > 0.2


def test_prune_zero_mode_is_reported_clearly():
    task = load_task("iris")
    with pytest.raises(ZeroModeError, match=r"without bond 1 \(0-5\).*zero mode"):
        prepare_network(task, prune=[1])


def test_damage_then_retraining_recovers(iris_run):
    task = load_task("iris")
    damaged = prepare_network(task, init=iris_run.network, prune=[21])
    assert damaged.n_bonds == 27
    r = train(task, seed=1, epochs=15, network=damaged)
    assert r.history[0]["test_accuracy"] < iris_run.metrics["test_accuracy"] - 0.2
    assert r.metrics["test_accuracy"] > r.history[0]["test_accuracy"] + 0.2


@pytest.mark.slow
def test_train_command_writes_everything(tmp_path, capsys):
    out = tmp_path / "iris"
    assert main(["train", "iris", "--epochs", "12", "--seed", "2", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in ("train_accuracy", "test_accuracy", "loss"):
        assert key in m
    assert m["test_accuracy"] > 0.6 and m["epochs"] == 12 and m["seed"] == 2
    with open(out / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows][:2] == [0, 1] and int(rows[-1]["epoch"]) == 12
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    net = Network.load(out / "network.json")
    assert net.n_bonds == 28 and net.width.min() >= 1.5e-3 - 1e-12
    for png in ("loss.png", "network.png", "confusion.png", "classes.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test accuracy" in capsys.readouterr().out

    # retraining from it, damaged
    out2 = tmp_path / "damaged"
    assert main(["train", "iris", "--epochs", "3", "--init", str(out / "network.json"), "--prune", "21",
                 "--out", str(out2), "--no-plots"]) == 0
    m2 = json.loads((out2 / "metrics.json").read_text())
    assert m2["pruned_bonds"] == [21] and m2["n_bonds"] == 27
    # a prune that leaves a mechanism: one clear line, exit 2
    assert main(["train", "iris", "--prune", "11", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "zero mode" in err and "bond 11" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_regression_command_reports_relative_error(tmp_path):
    out = tmp_path / "reg"
    assert main(["train", "regression", "--epochs", "15", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["test_relative_error"] < 0.05 and "train_relative_error" in m
    assert (out / "regression.png").exists()


def test_input_encoding_gradient_matches_finite_differences():
    from labmnn.training.loop import input_gradients

    task = load_task("iris-learned-inputs")
    idx = np.arange(0, 150, 7)
    scale = task.feature_scale(np.arange(150))
    X = task.scaled_features(idx, scale)
    net = task.network
    gain, pre = np.array([0.8, 1.2, 1.5, 0.6]), np.array([0.1, 0.0, 0.3, 0.2])

    def L(g, p):
        return float(np.mean(task.loss(idx)(net.solve(task.forces(idx, scale, (g, p))).displacements)[0]))

    res = net.gradient(task.forces(idx, scale, (gain, pre)), task.loss(idx), return_details=True)
    dg, dp = input_gradients(task, res.adjoint.displacements, X)
    h = 1e-6
    fd_g = np.array([(L(gain + h * e, pre) - L(gain - h * e, pre)) / (2 * h) for e in np.eye(4)])
    fd_p = np.array([(L(gain, pre + h * e) - L(gain, pre - h * e)) / (2 * h) for e in np.eye(4)])
    assert np.allclose(dg, fd_g, rtol=1e-5, atol=1e-9 * np.abs(fd_g).max())
    assert np.allclose(dp, fd_p, rtol=1e-5, atol=1e-9 * np.abs(fd_p).max())


def test_learned_encoding_is_saved_and_reused(tmp_path):
    task = load_task("iris-learned-inputs")
    r = train(task, seed=0, epochs=5)
    enc = r.network.extra["input_encoding"]
    assert enc["nodes"] == [13, 11, 12, 9] and not np.allclose(enc["gain"], 1.0)
    assert all(0 <= g <= 3 for g in enc["gain"]) and all(0 <= p <= 1 for p in enc["preload"])
    path = tmp_path / "n.json"
    r.network.save(path)
    again = train(task, seed=0, epochs=0, network=Network.load(path))
    assert again.history[0]["test_accuracy"] == pytest.approx(r.metrics["test_accuracy"])


@pytest.mark.parametrize("name", ["behaviour-ce-left", "regression", "iris"])
def test_progress_bar_on_a_terminal(name, monkeypatch, capsys):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    train(load_task(name), epochs=2, progress=True)
    assert "epoch" in capsys.readouterr().err


def test_trained_design_outside_the_networks_bounds_still_loads(tmp_path):
    # behaviour-mse trains in [1, 3] mm while the paper network's file says [1.5, 2.5] mm:
    # the written design must carry the bounds it was trained in, or it cannot be loaded.
    assert main(["train", "behaviour-mse", "--epochs", "200", "--out", str(tmp_path), "--no-plots"]) == 0
    net = Network.load(tmp_path / "network.json")
    assert net.width.min() < 1.5e-3 and np.allclose(net.width_bounds, [1e-3, 3e-3])


def test_linear_training_is_also_scored_with_exact_mechanics(iris_run):
    m = iris_run.metrics
    assert m["mechanics"] == "linear" and iris_run.mechanics == "linear"
    for key in ("train_accuracy_exact", "test_accuracy_exact"):
        assert 0.0 <= m[key] <= 1.0
    # the exact scoring solves the large-rotation model: its outputs differ from the linear ones
    F = iris_run.task.forces(iris_run.test_idx, iris_run.feature_scale)
    u_nl = iris_run.network.solve(F, mechanics="nonlinear").displacements
    pred = iris_run.task.loss(iris_run.test_idx).predict(u_nl)
    assert m["test_accuracy_exact"] == pytest.approx(np.mean(pred == iris_run.task.dataset.labels[iris_run.test_idx]))


def test_nonlinear_training_uses_exact_solves_and_gradients(monkeypatch):
    task = load_task("iris")
    seen = []
    orig = Network.gradient

    def spy(self, *a, **kw):
        seen.append(kw.get("mechanics"))
        return orig(self, *a, **kw)

    monkeypatch.setattr(Network, "gradient", spy)
    r = train(task, seed=0, epochs=5, mechanics="nonlinear")
    assert seen and set(seen) == {"nonlinear"}
    m = r.metrics
    assert m["mechanics"] == "nonlinear"
    assert m["test_accuracy_exact"] == m["test_accuracy"] and m["train_accuracy_exact"] == m["train_accuracy"]
    assert m["train_accuracy"] > m["initial_train_accuracy"] + 0.2


def test_train_command_mechanics_option(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["train", "behaviour-mse", "--epochs", "3", "--mechanics", "nonlinear", "--out", str(out),
                 "--no-plots"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["mechanics"] == "nonlinear" and m["outputs_mm_exact"] == m["outputs_mm"]
    assert "nonlinear mechanics" in capsys.readouterr().out
    out = tmp_path / "r"
    assert main(["train", "regression", "--epochs", "2", "--out", str(out), "--no-plots"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["mechanics"] == "linear"
    assert m["test_relative_error_exact"] != m["test_relative_error"] and m["test_relative_error_exact"] > 0
    assert "scored with exact mechanics: train relative error" in capsys.readouterr().out
    assert main(["train", "regression", "--mechanics", "exact", "--out", str(out)]) == 2

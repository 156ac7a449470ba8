"""Training the printed network: the print world, the methods, their cost, the comparison, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hardware_sim.print_world import PrintWorld, PrintWorldParams, bending_stiffness
from labmnn.cli import main
from labmnn.cli.sim.print_world import make_print_world
from labmnn.errors import InputError
from labmnn.model.network import Network
from labmnn.training.compare import compare
from labmnn.training.methods import MethodSettings, adjoint_loadings, run_method
from labmnn.training.printed import BenchLog, PrintedNetwork
from labmnn.training.tasks import load_task

QUIET = dict(stiffness_error=0.0, reprint_variation=0.0, joint_fixity=0.0, creep_per_decade=0.0, mass_error=0.0,
             tracking_noise_m=0.0)


def _load(node=12, grams=10.0):
    F = np.zeros((1, 14, 2))
    F[0, node, 1] = -grams * 9.8e-3
    return F


def test_perfect_print_is_the_exact_model():
    net = Network.example("paper-triangle-n4")
    world = PrintWorld(net, PrintWorldParams(**QUIET))
    world.reprint(net.width)
    U = world.measure(_load())
    assert np.allclose(U[0], net.solve(_load()[0], mechanics="nonlinear").displacements, atol=1e-12)
    assert world.loadings == 1 and world.prints == 1


def test_print_world_effects_each_move_the_response():
    net = Network.example("paper-triangle-n4")
    base = PrintWorld(net, PrintWorldParams(**QUIET))
    base.reprint(net.width)
    u0 = base.truth(_load())[0, 13, 1]
    for key, value in (("stiffness_error", 0.1), ("joint_fixity", 1.0), ("reprint_variation", 0.02)):
        w = PrintWorld(net, PrintWorldParams(**dict(QUIET, **{key: value})), seed=1)
        w.reprint(net.width)
        assert abs(w.truth(_load())[0, 13, 1] - u0) > 1e-7, key
    # rigid joints only stiffen the pin-jointed bars
    stiff = PrintWorld(net, PrintWorldParams(**dict(QUIET, joint_fixity=1.0)))
    stiff.reprint(net.width)
    assert abs(stiff.truth(_load())[0, 13, 1]) < abs(u0)
    K = bending_stiffness(net, 1.0)
    assert np.allclose(K, K.T) and np.linalg.eigvalsh(K).min() > -1e-9 * np.abs(K).max()


def test_systematic_error_stays_and_reprint_varies():
    net = Network.example("paper-triangle-n4")
    w = PrintWorld(net, PrintWorldParams(), seed=3)
    w.reprint(net.width)
    sys1, f1 = w.systematic.copy(), w.factor.copy()
    w.reprint(net.width)
    assert np.array_equal(w.systematic, sys1) and not np.array_equal(w.factor, f1)
    assert np.all(np.abs(sys1 - 1) <= 0.1)


def test_creep_softens_and_noise_is_calibrated():
    net = Network.example("paper-triangle-n4")
    w = PrintWorld(net, PrintWorldParams(**dict(QUIET, creep_per_decade=0.01)))
    w.reprint(net.width)
    a = w.measure(_load())[0, 13, 1]
    w.measure(np.repeat(_load(), 50, axis=0))
    b = w.measure(_load())[0, 13, 1]
    assert b < a < 0  # softer after 50 minutes on the bench
    n = PrintWorld(net, PrintWorldParams(**dict(QUIET, tracking_noise_m=1e-6)))
    n.reprint(net.width)
    U = n.measure(np.repeat(_load(), 200, axis=0))
    assert 0.8e-6 < float(np.std(U[:, 13, 1])) < 1.2e-6


def test_world_needs_a_print_and_checks_mismatch():
    net = Network.example("paper-triangle-n4")
    with pytest.raises(InputError, match="reprint"):
        PrintWorld(net).measure(_load())
    with pytest.raises(InputError, match=r"\[0, 0.5\]"):
        PrintWorldParams(stiffness_error=0.6)


def test_the_world_is_a_printed_network_and_the_log_counts():
    world = make_print_world(Network.example("paper-triangle-n4").to_dict(), 0.05, 0)
    assert isinstance(world, PrintedNetwork)
    log = BenchLog(world)
    log.reprint(world.net.width)
    log.measure(np.repeat(_load(), 3, axis=0))
    log.truth(_load())
    assert (log.loadings, log.prints) == (3, 1)
    assert log.bench_hours == pytest.approx((3 * 60 + 900) / 3600)


def test_adjoint_loadings_split_by_direction_and_sum_back():
    adj = np.zeros((1, 14, 2))
    adj[0, 7, 0], adj[0, 1, 0], adj[0, 2, 1] = 0.02, -0.01, -0.005
    parts, scale = adjoint_loadings(adj, 10.0)
    assert len(parts) == 3  # +x, -x, -y
    total = sum(p for _, p in parts)
    assert np.allclose(total / scale[0], adj[0], atol=0.5 * 9.8e-3 / scale[0])
    assert all(np.count_nonzero(p) >= 1 for _, p in parts)


@pytest.mark.parametrize("method", ["insilico", "identify", "pat", "insitu", "hybrid"])
def test_every_method_counts_its_cost(method):
    task = load_task("behaviour-mse")
    world = make_print_world(task.network.to_dict(), 0.1, 0)
    res = run_method(task, MethodSettings(method=method, epochs=6, hybrid_steps=3, identify_regularization=0.01),
                     world)
    m = res.metrics
    expected = {"insilico": (0, 1), "identify": (9, 2)}
    if method in expected:
        assert (m["loadings"], m["prints"]) == expected[method]
    else:
        assert m["loadings"] >= (6 if method != "hybrid" else 3) and m["prints"] >= 1
    if method == "insitu":
        assert m["loadings"] > 6  # adjoint loadings are hung too
    changes = m["prints"] + m["remounts"]  # an earlier print mounted again costs a print change, no print
    # every new print is conditioned before its first loading (300 s unloaded by default), counted in bench hours
    conditioned = m["condition_hours"] * 3600 / 300
    assert conditioned == pytest.approx(round(conditioned)) and 0 <= round(conditioned) <= m["prints"]
    assert round(conditioned) == {"insilico": 0, "identify": 1}.get(method, round(conditioned))
    assert m["bench_hours"] == pytest.approx((m["loadings"] * 60 + changes * 900) / 3600 + m["condition_hours"])
    assert 0 <= m["print_max_target_relative_error"] < 1


def test_pat_gradient_on_a_perfect_print_is_the_exact_gradient():
    from labmnn.training.methods import _pat_gradient

    task = load_task("behaviour-mse")
    net = task.network
    world = PrintWorld(net, PrintWorldParams(**QUIET))
    world.reprint(net.width)
    F = task.forces(np.array([0]), (np.zeros(1), np.ones(1)))
    U = world.measure(F)
    _, dLdu = task.loss(np.array([0]))(U)
    g = _pat_gradient(net, U, np.asarray(dLdu), "nonlinear")
    exact = net.gradient(F, task.loss(np.array([0])), mechanics="nonlinear")
    assert np.allclose(g, exact, rtol=1e-6, atol=1e-9 * np.abs(exact).max())


class _Inline:
    def submit(self, fn, *args):
        class Done:
            def __init__(self, value):
                self.value = value

            def result(self):
                return self.value
        return Done(fn(*args))


def test_comparison_schema():
    comp = compare("behaviour-mse", make_print_world, prints=2, methods=["insilico", "pat"],
                   settings={"epochs": 5}, executor=_Inline())
    assert set(comp) == {"task", "metric", "higher_is_better", "methods"}
    assert comp["metric"] == "max_target_relative_error" and comp["higher_is_better"] is False
    for r in comp["methods"].values():
        assert set(r) == {"mean", "sd", "per_print", "loadings", "prints", "bench_hours"}
        assert len(r["per_print"]) == 2
    assert comp["methods"]["insilico"]["loadings"] == 0


@pytest.mark.parametrize("argv, needle", [
    (["train", "behaviour-mse", "--method", "magic", "--on", "sim"], "--method: must be one of"),
    (["train", "behaviour-mse", "--method", "pat"], "pat measures a print"),
    (["train", "behaviour-mse", "--method", "pat", "--on", "rig", "--sim", "--hybrid-steps", "2"],
     "belongs to --method hybrid"),
    (["train", "iris", "--method", "insilico", "--on", "rig", "--sim"], "behaviour tasks only"),
    (["train", "behaviour-mse", "--method", "insitu", "--on", "rig", "--auto"], "add --sim"),
    (["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--auto"], "belongs to --on rig"),
    (["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--mismatch", "0.7"], "[0, 0.5]"),
    (["compare-methods", "behaviour-mse", "--prints", "0"], "--prints: must be >= 1"),
    (["compare-methods", "behaviour-mse", "--hybrid-lr", "0"], "--hybrid-lr: must be > 0"),
    (["compare-methods", "behaviour-mse", "--mismatch", "-0.1"], "[0, 0.5]"),
    (["compare-methods", "behaviour-mse", "--methods", "pat,magic"], "--methods: must be one of"),
    (["compare-methods", "behaviour-mse", "--condition-s", "-60"], "--condition-s: must be a finite number"),
    (["compare-methods", "behaviour-mse", "--condition-s", "nan"], "--condition-s: must be a finite number"),
    (["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--condition-s", "-1"], "--condition-s: must be"),
    (["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--condition-s", "inf"], "--condition-s: must be"),
])
def test_bad_input_is_one_line_exit_2(argv, needle, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labmnn: error:") and err.count("\n") == 1 and needle in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_train_method_cli_writes_cost(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--epochs", "4", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["loadings"] == 4 + 1 and m["prints"] >= 1 and m["bench_hours"] > 0  # + the last print, measured once
    assert m["print_world"]["stiffness_error"] == 0.1
    assert "bench hours" in capsys.readouterr().out


def test_an_earlier_print_can_be_mounted_again():
    net = Network.example("paper-triangle-n4")
    world = PrintWorld(net, PrintWorldParams(**dict(QUIET, reprint_variation=0.02)), seed=2)
    world.reprint(net.width)
    first = world.truth(_load())
    world.reprint(net.width * 1.1)
    assert not np.allclose(world.truth(_load()), first)
    world.remount(1)
    assert np.array_equal(world.truth(_load()), first)  # the same object, fresh variation and all
    assert world.prints == 2 and world.current == 1
    with pytest.raises(InputError, match="no print 5"):
        world.remount(5)


def test_the_final_print_is_the_best_measured_one():
    task = load_task("behaviour-mse")
    world = make_print_world(task.network.to_dict(), 0.1, 0)
    res = run_method(task, MethodSettings(method="pat", epochs=40, resolution_m=1e-5), world)
    m = res.metrics
    log_best = m["final_print"]
    assert m["final"] == "best" and 1 <= log_best <= m["prints"]
    assert np.allclose(res.network.width, world.net.width)  # the network written is the one mounted
    last = run_method(task, MethodSettings(method="pat", epochs=40, resolution_m=1e-5, final="last"),
                      make_print_world(task.network.to_dict(), 0.1, 0)).metrics
    assert last["remounts"] == 0 and last["final_print"] == last["prints"]


def test_best_measured_print_is_the_lowest_mean_loss():
    log = BenchLog(make_print_world(Network.example("paper-triangle-n4").to_dict(), 0.0, 0))
    log.measured = {1: [3.0, 1.0], 2: [1.5], 3: [0.5, 4.0]}
    assert log.best_measured() == 2
    assert log.best_measured(min_count=2) == 1


def test_conditioning_ages_a_new_print_and_is_counted():
    net = Network.example("paper-triangle-n4")
    creep = dict(QUIET, creep_per_decade=0.01)
    aged = PrintWorld(net, PrintWorldParams(**creep))
    aged.reprint(net.width)
    aged.measure(np.repeat(_load(), 5, axis=0))  # five loadings: 300 s on the bench
    world = PrintWorld(net, PrintWorldParams(**creep))
    log = BenchLog(world, condition_s=300.0)
    log.reprint(net.width)
    assert world.age_s == log.age_s == 0.0 and log.bench_hours == pytest.approx(900 / 3600)  # not loaded yet
    assert np.array_equal(log.measure(_load()), aged.measure(_load()))  # conditioned first: the same creep state
    assert world.age_s == log.age_s == 360.0 and world.loadings == 1  # 300 s unloaded, one loading
    assert log.bench_hours == pytest.approx((60 + 900 + 300) / 3600)
    log.reprint(net.width * 1.05)
    log.measure(_load())
    log.remount(1)  # an earlier print keeps its age: not conditioned again
    assert world.age_s == log.age_s == 360.0
    log.measure(_load())
    assert world.age_s == log.age_s == 420.0
    cost = log.cost()
    assert cost["condition_hours"] == pytest.approx(600 / 3600) and cost["remounts"] == 1
    assert cost["bench_hours"] == pytest.approx((3 * 60 + 3 * 900 + 600) / 3600)
    with pytest.raises(InputError, match="--condition-s"):
        MethodSettings(method="pat", condition_s=float("nan"))
    with pytest.raises(InputError, match="wait"):
        world.wait(-1.0)


def test_without_conditioning_the_bench_clock_is_loadings_only():
    task = load_task("behaviour-mse")
    world = make_print_world(task.network.to_dict(), 0.1, 0)
    m = run_method(task, MethodSettings(method="pat", epochs=4, condition_s=0.0), world).metrics
    assert m["condition_hours"] == 0.0
    assert m["bench_hours"] == pytest.approx((m["loadings"] * 60 + (m["prints"] + m["remounts"]) * 900) / 3600)


def test_best_print_is_ranked_on_losses_measured_young():
    log = BenchLog(make_print_world(Network.example("paper-triangle-n4").to_dict(), 0.0, 0))
    log.measured = {1: [1.0, 1.0], 2: [2.0, 0.1, 0.1]}
    log.measured_age = {1: [100.0, 200.0], 2: [100.0, 5000.0, 6000.0]}
    assert log.best_measured() == 2  # every loss: print 2's old, crept losses win
    assert log.best_measured(max_age_s=1200.0) == 1  # at like ages print 1 is better


def test_hybrid_defaults_by_task_kind():
    task = load_task("behaviour-mse")
    world = make_print_world(task.network.to_dict(), 0.1, 0)
    m = run_method(task, MethodSettings(method="hybrid", epochs=6), world).metrics
    assert m["hybrid"]["start"] == "identify" and m["hybrid"]["steps"] == 80
    assert m["identify_cases"] == 9 and m["loadings"] >= 9 + 80
    from labmnn.training.methods import hybrid_defaults

    assert hybrid_defaults(load_task("iris")) == ("identify", 40)

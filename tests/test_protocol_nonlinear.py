"""The exact (large-rotation) gradient on the bench: spec option, increment plans, analysis."""

from pathlib import Path

import numpy as np
import pytest

import labmnn
from labmnn.errors import InputError
from labmnn.model import losses
from labmnn.protocol import analysis
from labmnn.protocol.planner import held_forward, increment_plan, preflight
from labmnn.protocol.spec import load_protocol

ROOT = Path(__file__).resolve().parents[1]
NONLINEAR = ROOT / "protocols" / "gradient-nonlinear.toml"
G = 9.8e-3  # newtons per gram


@pytest.fixture(scope="module")
def paper():
    net = labmnn.Network.example("paper-triangle-n4")
    loss = losses.from_spec({"kind": "mse", "targets": [{"node": 13, "axis": "y", "value": -0.025}]}, "t", 14)
    return net, loss


def test_shipped_nonlinear_protocol_parses():
    spec = load_protocol(NONLINEAR)
    assert spec.mechanics == "nonlinear" and spec.linearize == "none"
    assert spec.adjoint.increments == 2
    F = spec.forward_forces(14)
    assert F[12, 1] == pytest.approx(-20 * G) and np.count_nonzero(F) == 1
    assert load_protocol(ROOT / "protocols" / "gradient.toml").mechanics == "linear"


@pytest.mark.parametrize("old,new,key,value", [
    ('mechanics = "nonlinear"', 'mechanics = "exact"', "protocol.mechanics", "'exact'"),
    ('mechanics = "nonlinear"', 'mechanics = "nonlinear"\nlinearize = "two_level"', "protocol.linearize",
     "'two_level'"),
    ("increments = 2", "increments = 3", "adjoint.increments", "3"),
])
def test_bad_mechanics_options_name_file_key_value(tmp_path, old, new, key, value):
    text = NONLINEAR.read_text()
    assert old in text
    p = tmp_path / "bad.toml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(InputError) as exc:
        load_protocol(p)
    msg = exc.value.one_line()
    assert str(p) in msg and key in msg and value in msg and "\n" not in msg


def test_increment_is_added_to_the_held_forward_stack(paper):
    net, loss = paper
    spec = load_protocol(NONLINEAR)
    plan_f = held_forward(spec, 14)
    (fwd,) = plan_f.loadings
    assert [(s.node, s.nominal_g) for s in fwd.stacks] == [(12, 20.0)]
    F = fwd.forces(14)
    _, dLdu = loss(net.solve(F, mechanics="nonlinear").displacements)
    plan = increment_plan(spec, net, -np.asarray(dLdu), fwd, F)
    for ld in plan.loadings:
        # the forward stack stays on; the increment is added, never put in its place
        assert [(s.node, s.nominal_g) for s in ld.held] == [(12, 20.0)]
        assert all(s.node == 13 for s in ld.stacks)
        assert spec.adjoint.min_g <= max(s.nominal_g for s in ld.stacks) <= spec.adjoint.max_g
        np.testing.assert_allclose(ld.held_forces(14), F)
    assert any("kept on: 20 g" in line for line in plan.describe())
    assert any("added on top" in line for line in plan.describe())
    # the plan survives the session log's JSON
    again = type(plan).from_dict(plan.to_dict())
    assert again.loadings[0].held[0].nominal_g == 20.0
    # the limits left by the forward stack bound the increment: 20 g more on node 12 is refused
    Fa = np.zeros((14, 2))
    Fa[12, 1] = -1.0
    with pytest.raises(labmnn.protocol.planner.PlanError, match="on top of the 20 g kept on it"):
        increment_plan(spec, net, Fa, fwd, F, scale=20 * G)
    pre = preflight(spec, net, loss)
    assert any("added on top" in line for line in pre.lines)


def test_incremental_elongations_reproduce_the_exact_gradient(paper):
    """Noise-free displacements at the forward state and with two increments added on top,
    assembled as on the bench, give net.gradient(..., mechanics="nonlinear")."""
    net, loss = paper
    F = np.zeros((14, 2))
    F[12, 1] = -20 * G
    u = net.solve(F, mechanics="nonlinear").displacements
    _, dLdu = loss(u)
    Fa = -np.asarray(dLdu)
    exact = net.gradient(F, loss, mechanics="nonlinear")
    e_fwd = analysis.geometric_elongations(net, u)
    np.testing.assert_allclose(e_fwd, net.solve(F, mechanics="nonlinear").elongations, atol=1e-15)

    def measured(size):
        loaded = net.solve(F + size * Fa, mechanics="nonlinear").displacements
        return analysis.incremental_elongations(net, u, loaded) / size

    s1 = 10 * G / np.linalg.norm(Fa)  # a 10 g and a 5 g increment
    one = measured(s1) * e_fwd
    two = analysis.extrapolate_increments(measured(s1), s1, measured(s1 / 2), s1 / 2) * e_fwd
    assert analysis.relative_error(two, exact) < 1e-3
    assert analysis.relative_error(one, exact) > 10 * analysis.relative_error(two, exact)
    # the linear model's gradient is not what is measured here
    assert analysis.relative_error(two, net.gradient(F, loss)) > 0.05


def test_combine_increments_undoes_scale_and_correction(paper):
    net, loss = paper
    spec = load_protocol(NONLINEAR)
    (fwd,) = held_forward(spec, 14).loadings
    F = fwd.forces(14)
    u = net.solve(F, mechanics="nonlinear").displacements
    _, dLdu = loss(u)
    plan = increment_plan(spec, net, -np.asarray(dLdu), fwd, F)
    steps = []
    for ld in plan.loadings:
        grams = [s.nominal_g * 1.004 for s in ld.stacks]  # weighed a little heavy
        loaded = net.solve(F + ld.forces(14, grams), mechanics="nonlinear").displacements
        steps.append({"masses_g": grams, "base_displacements_mm": (u * 1e3).tolist(),
                      "displacements_mm": (loaded * 1e3).tolist()})
    got = analysis.combine_increments(net, plan, steps)
    np.testing.assert_allclose(got["forces"], -np.asarray(dLdu), rtol=1e-9, atol=1e-15)
    exact = net.gradient(F, loss, mechanics="nonlinear", return_details=True)
    # one increment of 20 g on top of 20 g: a first-order bias of several percent, no more
    assert 0.005 < analysis.relative_error(got["elongations"], exact.adjoint.elongations) < 0.1
    assert got["size"] == pytest.approx(plan.scale * 1.004, rel=1e-6)  # heavier: a larger increment


def test_a_pruned_copy_does_not_reuse_the_exact_models_tangent_pattern(paper):
    net, _ = paper
    F = np.zeros((2, 14, 2))
    F[:, 12, 1] = -10 * G
    net.solve(F, mechanics="nonlinear")  # caches the tangent's pattern on net
    pruned = net.without_bonds([24])
    u = pruned.solve(F, mechanics="nonlinear").displacements
    assert u.shape == (2, 14, 2) and np.all(np.isfinite(u))


@pytest.mark.slow
def test_gradient_nonlinear_on_the_simulated_rig(tmp_path):
    pytest.importorskip("hardware_sim.rig")
    import json

    from labmnn.cli.sim.bench import open_sim_bench
    from labmnn.protocol.runner import start_run

    engine = start_run(NONLINEAR, out=tmp_path / "s", sim=True, auto=True, repeats=1, mechanics="nonlinear",
                       sim_bench=open_sim_bench)
    try:
        out = engine.run()
    finally:
        engine.bench.close()
    assert out["status"] == "success"
    s = out["summary"]
    assert s["mechanics"] == "nonlinear" and s["relative_error"] < 0.04 and s["cosine"] > 0.999
    assert s["relative_error_linear_model"] > 0.05  # the linear model's gradient is not what was measured
    texts = [r["text"] for r in engine.session.records if r.get("name") == "instruction"]
    assert any(t.startswith("Leave the forward weights on") for t in texts)
    results = json.loads((engine.session.folder / "results.json").read_text())
    assert results["mechanics"] == "nonlinear"
    cases = json.loads((engine.session.folder / "load_series.json").read_text())["cases"]
    # every increment photo is a load case with the forward load in it, and so is its forward-only photo
    inc = [c for c in cases if "increment" in c["label"] and not c["label"].endswith("/base")]
    assert inc and all(c["forces_n"][12][1] < -0.19 and c["forces_n"][13][1] < 0 for c in inc)
    # the session report draws the exact model beside the measurement
    from labmnn.cli import main

    assert main(["report", str(engine.session.folder)]) == 0
    assert (engine.session.folder / "report" / "elongation_maps.png").stat().st_size > 1000

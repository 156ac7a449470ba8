"""Geometrically exact mechanics: equilibrium, the exact adjoint gradient, bad loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_sim.mechanics import internal_forces
from hardware_sim.mechanics import solve_nonlinear as independent_solve
from labmnn import GRAVITY, Network
from labmnn.errors import InputError
from labmnn.model import losses
from labmnn.model.gradcheck import finite_difference_gradient, relative_error
from labmnn.model.lattice import triangle_patch, triangular_lattice
from labmnn.model.nonlinear import LINEAR_REGIME, NoEquilibrium, nonlinearity

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def paper():
    return Network.example("paper-triangle-n4")


def hang(net, grams_by_node):
    F = np.zeros((net.n_nodes, 2))
    for node, g in grams_by_node.items():
        F[node, 1] = -g * 1e-3 * GRAVITY
    return F


FIG1_LOSS = {"kind": "mse", "targets": [{"node": 13, "axis": "y", "value": -0.025}]}


def test_paper_network_under_10_g_moves_less_than_the_linear_model_says(paper):
    F = hang(paper, {12: 10})
    exact = paper.solve(F, mechanics="nonlinear")
    assert exact.displacements[13, 1] * 1e3 == pytest.approx(-0.784, abs=5e-4)
    assert paper.solve(F).displacements[13, 1] * 1e3 == pytest.approx(-0.805, abs=5e-4)
    # an independent large-rotation model (the simulated rig's) agrees to round-off
    np.testing.assert_allclose(exact.displacements, independent_solve(paper, F), atol=1e-12)
    # elongations are the geometric length changes l - L
    i, j = paper.bonds.T
    x = paper.nodes + exact.displacements
    np.testing.assert_allclose(exact.elongations, np.hypot(*(x[j] - x[i]).T) - paper.lengths, atol=1e-15)


def test_tiny_loads_reduce_to_the_linear_model(paper):
    F = hang(paper, {12: 0.01})
    lin, geo = paper.solve(F), paper.solve(F, mechanics="nonlinear")
    assert relative_error(geo.displacements, lin.displacements) < 1e-3
    assert nonlinearity(paper, F) < 1e-3 < LINEAR_REGIME


@pytest.mark.parametrize("grams", [10, 20])
def test_exact_gradient_matches_finite_differences_on_the_paper_network(paper, grams):
    F = hang(paper, {12: grams})
    loss = losses.from_spec(FIG1_LOSS)
    g = paper.gradient(F, loss, mechanics="nonlinear")
    fd = finite_difference_gradient(paper, F, loss, mechanics="nonlinear")
    assert relative_error(g, fd) < 1e-6
    # and it is not the linear gradient: the printed network is measurably nonlinear
    assert relative_error(paper.gradient(F, loss), g) > 0.05 * grams / 10


def test_batch_cross_entropy_gradient_wrt_width_matches_finite_differences(paper):
    rng = np.random.default_rng(3)
    F = np.zeros((12, 14, 2))
    F[:, [9, 10, 11], 1] = -rng.uniform(0.02, 0.15, (12, 3))
    labels = [int(c) for c in rng.integers(0, 2, 12)]
    loss = losses.from_spec({"kind": "cross_entropy", "outputs": [12, 13], "axis": "x", "label": labels}, n_nodes=14)
    g = paper.gradient(F, loss, wrt="width", mechanics="nonlinear")
    w0 = paper.width.copy()

    def mean_loss(w):
        net = paper.copy()
        net.set_widths(w)
        return float(np.mean(loss(net.solve(F, mechanics="nonlinear").displacements)[0]))

    fd = np.empty_like(w0)
    for b in range(paper.n_bonds):
        h = np.zeros_like(w0)
        h[b] = 1e-4 * w0[b]
        fd[b] = (mean_loss(w0 + h) - mean_loss(w0 - h)) / (2 * h[b])
    assert relative_error(g, fd) < 1e-6


def test_batch_equals_one_sample_at_a_time(paper):
    rng = np.random.default_rng(0)
    F = np.zeros((6, 14, 2))
    F[:, 9:, :] = rng.normal(scale=0.05, size=(6, 5, 2))
    batch = paper.solve(F, mechanics="nonlinear")
    for s in range(6):
        one = paper.solve(F[s], mechanics="nonlinear")
        np.testing.assert_allclose(batch.displacements[s], one.displacements, atol=1e-14)
        np.testing.assert_allclose(batch.elongations[s], one.elongations, atol=1e-14)


# 16 x 16 has 480 unknowns: the sparse, ordered path (2 x 1400 nonlinear solves: slow lane)
@pytest.mark.parametrize("n", [6, pytest.param(16, marks=pytest.mark.slow)])
def test_exact_gradient_on_lattices_matches_finite_differences(n):
    net = triangular_lattice(n, n)
    rng = np.random.default_rng(n)
    net.stiffness_override = net.stiffness * rng.uniform(0.7, 1.3, net.n_bonds)
    F = np.zeros((net.n_nodes, 2))
    bottom = np.argsort(net.nodes[:, 1])[:3]
    F[bottom] = [0.01, -0.05]
    loss = losses.from_spec({"kind": "mse", "targets": [{"node": int(bottom[0]), "axis": "y", "value": -0.002},
                                                         {"node": int(bottom[1]), "axis": "x", "value": 0.001}]})
    g = net.gradient(F, loss, mechanics="nonlinear")
    assert relative_error(g, finite_difference_gradient(net, F, loss, mechanics="nonlinear")) < 1e-6
    np.testing.assert_allclose(net.solve(F, mechanics="nonlinear").displacements, independent_solve(net, F),
                               atol=1e-12)


def test_the_tangent_keeps_one_symbolic_pattern_across_newton_steps_and_loads(monkeypatch):
    from labmnn.model import solver

    net = triangular_lattice(16, 16)
    calls = []
    real = solver.factorize

    def spy(A, backend=None, cache=None, ordered=False):
        calls.append((A.shape, A.nnz, A.indptr.tobytes(), ordered))
        return real(A, backend=backend, cache=cache, ordered=ordered)

    monkeypatch.setattr(solver, "factorize", spy)
    bottom = np.argsort(net.nodes[:, 1])[:3]
    for grams in (5, 30):
        F = np.zeros((net.n_nodes, 2))
        F[bottom, 1] = -grams * 9.8e-3
        net.solve(F, mechanics="nonlinear")
    tangent_calls = [c for c in calls if c[3]][1:]  # past the linear model's own factorisation
    assert len(tangent_calls) >= 4  # several Newton steps, two loads
    assert len({c[:3] for c in tangent_calls}) == 1  # one sparsity pattern: one symbolic analysis
    assert all(c[3] for c in tangent_calls)  # assembled in the elimination order: no ordering step


def test_overload_is_a_clear_error_naming_the_load(paper):
    with pytest.raises(NoEquilibrium, match=r"on node 12.*beyond what the network carries"):
        paper.solve(hang(paper, {12: 100000}), mechanics="nonlinear")
    F = np.zeros((14, 2))
    F[12] = [0.0, 20.0]  # pushing node 12 up through the frame: the structure snaps through
    with pytest.raises(NoEquilibrium, match="node 12"):
        paper.solve(F, mechanics="nonlinear")


def test_non_finite_forces_and_unknown_mechanics_are_refused(paper):
    F = hang(paper, {12: 10})
    F[12, 0] = np.nan
    with pytest.raises(NoEquilibrium, match="NaN"):
        paper.solve(F, mechanics="nonlinear")
    with pytest.raises(InputError, match="mechanics.*'quadratic'"):
        paper.solve(hang(paper, {12: 10}), mechanics="quadratic")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "labmnn", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_simulate_nonlinear_flags_the_regime_and_records_the_mechanics():
    proc = _cli("simulate", "paper-triangle-n4", "--grams", "12:10", "--mechanics", "nonlinear", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["mechanics"] == "nonlinear"
    assert out["displacements_mm"][13][1] == pytest.approx(-0.784, abs=5e-4)
    assert out["nonlinearity"] > out["linear_regime_threshold"]
    assert "outside the linear regime" in proc.stderr and "threshold 1 %" in proc.stderr
    quiet = _cli("simulate", "paper-triangle-n4", "--grams", "12:0.5", "--json")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_simulate_overload_is_one_line_and_exit_2():
    proc = _cli("simulate", "paper-triangle-n4", "--grams", "12:100000", "--mechanics", "nonlinear")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("labmnn: error: paper-triangle-n4: the load") and "Traceback" not in proc.stderr


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(top=st.integers(3, 5), rows=st.integers(2, 4), seed=st.integers(0, 10_000),
       grams=st.floats(0.0, 400.0), angle=st.floats(0.0, 2 * np.pi))
def test_random_networks_and_loads_solve_exactly_or_refuse_clearly(top, rows, seed, grams, angle):
    rng = np.random.default_rng(seed)
    net = triangle_patch(top=top, rows=min(rows, top))
    net.stiffness_override = net.stiffness * rng.uniform(0.5, 1.5, net.n_bonds)
    free = np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)
    F = np.zeros((net.n_nodes, 2))
    F[rng.choice(free)] = grams * 9.8e-3 * np.array([np.cos(angle), np.sin(angle)])
    try:
        res = net.solve(F, mechanics="nonlinear")
    except NoEquilibrium as exc:
        assert "node" in str(exc) or "bond" in str(exc)
        return
    assert np.all(np.isfinite(res.displacements))
    # in equilibrium by the simulated rig's own (independent) bar forces
    unbalanced = (F + internal_forces(net, res.displacements, net.stiffness))[free]
    round_off = 1e-12 * np.max(net.stiffness * net.lengths)  # newtons
    assert np.abs(unbalanced).max() <= 1e-9 * np.abs(F).max() + round_off

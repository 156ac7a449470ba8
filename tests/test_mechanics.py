"""The bar model and its exact gradients."""

import numpy as np
import pytest

from labmnn import GRAVITY, Network, ZeroModeError, losses
from labmnn.model.gradcheck import finite_difference_gradient, relative_error
from labmnn.model.lattice import triangle_patch, triangular_lattice
from labmnn.paper.data import figure1_gradient, match_bonds_by_value


@pytest.fixture
def paper():
    return Network.example("paper-triangle-n4")


def fig1_setup(net):
    F = np.zeros((net.n_nodes, 2))
    F[12, 1] = -0.010 * GRAVITY
    loss = losses.from_spec({"kind": "mse", "targets": [{"node": 13, "axis": "y", "value": -0.025}]})
    return F, loss


def test_solution_is_in_equilibrium(paper):
    rng = np.random.default_rng(1)
    F = rng.normal(scale=0.05, size=(paper.n_nodes, 2))
    res = paper.solve(F)
    # Bond tensions t = k e pull on the nodes; at every free node they balance the applied force.
    t = paper.stiffness * res.elongations
    internal = (paper.compatibility_matrix.T @ t).reshape(-1, 2)
    free = np.setdiff1d(np.arange(paper.n_nodes), paper.fixed_nodes)
    assert np.allclose(internal[free], F[free], atol=1e-12)
    assert np.all(res.displacements[paper.fixed_nodes] == 0)


def test_elongations_are_the_projected_displacements(paper):
    F, _ = fig1_setup(paper)
    res = paper.solve(F)
    u = res.displacements
    i, j = paper.bonds.T
    assert np.allclose(res.elongations, np.sum(paper.directions * (u[j] - u[i]), axis=1))


def test_batch_equals_one_by_one(paper):
    rng = np.random.default_rng(2)
    F = rng.normal(scale=0.05, size=(7, paper.n_nodes, 2))
    batch = paper.solve(F)
    assert batch.displacements.shape == (7, 14, 2) and batch.elongations.shape == (7, 28)
    for s in range(7):
        assert np.allclose(batch.displacements[s], paper.solve(F[s]).displacements, rtol=1e-12, atol=1e-18)


def test_gradient_matches_central_finite_differences(paper):
    F, loss = fig1_setup(paper)
    g = paper.gradient(F, loss)
    fd = finite_difference_gradient(paper, F, loss)
    assert relative_error(g, fd) < 1e-6


def test_gradient_matches_the_papers_grad_sim(paper):
    F, loss = fig1_setup(paper)
    g = paper.gradient(F, loss)
    theirs = match_bonds_by_value(g, figure1_gradient("grad_sim"))
    assert relative_error(theirs, g) < 0.02
    # adjoint force: the paper hangs the equivalent of about 5 g on node 13
    res = paper.gradient(F, loss, return_details=True)
    assert -res.adjoint_forces[13, 1] / GRAVITY * 1e3 == pytest.approx(4.94, abs=0.02)


def test_batch_gradient_is_the_mean_and_width_gradient_chains(paper):
    rng = np.random.default_rng(3)
    F = np.zeros((5, paper.n_nodes, 2))
    F[:, [9, 11, 12, 13], 1] = -rng.uniform(0, 0.05, size=(5, 4))
    loss = losses.CrossEntropyLoss([7, 1, 2], 0, labels=rng.integers(0, 3, 5), form="softmax", scale=2e-4)
    g = paper.gradient(F, loss)
    fd = finite_difference_gradient(paper, F, loss)
    assert relative_error(g, fd) < 1e-6
    gw = paper.gradient(F, loss, wrt="width")
    assert np.allclose(gw, g * paper.youngs_modulus * paper.thickness / paper.lengths)


def test_mechanism_raises_a_clear_zero_mode_error(paper):
    # Bonds 26 (11-13) and 27 (12-13) hold node 13; removing both leaves it hanging by one bar.
    weak = paper.without_bonds([26, 27])
    F, _ = fig1_setup(weak)
    with pytest.raises(ZeroModeError) as exc:
        weak.solve(F)
    assert exc.value.n_zero_modes == 1
    assert 13 in exc.value.free_nodes
    assert "1 zero mode" in str(exc.value)


def test_floating_node_counts_two_zero_modes():
    net = triangle_patch(4, 3)
    nodes = np.vstack([net.nodes, [[0.5, 0.5]]])
    floating = Network(nodes, net.bonds, net.width, net.thickness, net.youngs_modulus, net.fixed_nodes)
    with pytest.raises(ZeroModeError) as exc:
        floating.solve(np.zeros((floating.n_nodes, 2)))
    assert exc.value.n_zero_modes == 2 and exc.value.free_nodes == [floating.n_nodes - 1]


def test_triangle_patch_reproduces_the_paper_network(paper):
    built = triangle_patch(5, 4)
    assert np.allclose(built.nodes, paper.nodes, atol=1e-8)
    assert np.array_equal(built.bonds, paper.bonds)
    assert built.fixed_nodes.tolist() == [0, 4]


@pytest.mark.parametrize("backend", ["scipy", "cholmod", "dense"])
def test_solver_backends_agree(backend, monkeypatch):
    from labmnn.model import solver as linear_solver

    if backend not in linear_solver.available_backends() + ["dense"]:
        pytest.skip(f"{backend} not installed")
    net = triangular_lattice(12, 10)
    F = np.zeros((net.n_nodes, 2))
    F[-1, 1] = -0.05
    ref = net.solve(F).displacements
    monkeypatch.setenv("LABMNN_SOLVER", backend)
    other = Network(net.nodes, net.bonds, net.width, net.thickness, net.youngs_modulus, net.fixed_nodes)
    assert np.allclose(other.solve(F).displacements, ref, rtol=1e-9, atol=1e-15)
    assert other.equilibrium().factor.backend == backend


def test_refactorisation_after_width_change_is_used(paper):
    F, loss = fig1_setup(paper)
    u0 = paper.solve(F).displacements.copy()
    paper.set_widths(paper.width * 1.25)
    u1 = paper.solve(F).displacements
    assert np.allclose(u1, u0 / 1.25)


@pytest.mark.slow
def test_refactorisation_survives_pattern_changes():
    # Perturbing one bond can make a cancelling entry of D non-zero (or zero): the
    # cached symbolic analysis must follow the pattern, not just its size.
    net = triangular_lattice(30, 30)
    F = np.zeros((net.n_nodes, 2))
    F[-1, 1] = -0.1
    k0 = net.stiffness.copy()
    ref = net.solve(F).displacements
    for b in range(0, net.n_bonds, 7):
        k = k0.copy()
        k[b] *= 1 + 1e-6
        u = net.solve(F, stiffness=k).displacements
        assert np.allclose(u, ref, rtol=1e-4, atol=1e-12)

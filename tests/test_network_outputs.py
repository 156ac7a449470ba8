"""The output-space adjoint: the batch gradient through the loss's output components only.

Every check compares it with the per-sample path (forward and adjoint solve of
every sample's whole field), which a loss without a declared support still takes.
"""

import numpy as np
import pytest

from labmnn import Network, losses
from labmnn.model.gradcheck import finite_difference_gradient, relative_error
from labmnn.model.lattice import lattice_with_nodes


def per_sample(loss):
    """The same loss with no declared support: the gradient takes the per-sample path."""
    return lambda u: loss(u)


def free_nodes(net):
    return np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)


def make_losses(net, S):
    """MSE on two components (one target repeated) and both cross-entropy forms, one per sample or single."""
    free = free_nodes(net)
    shape = (S,) if S else ()
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=shape) if S else 2
    return [
        losses.MSELoss([free[-1], free[-2], free[-1]], [1, 0, 1], rng.normal(scale=1e-3, size=shape + (3,))),
        losses.CrossEntropyLoss([free[-1], free[-3], free[len(free) // 2]], 1, labels, scale=2e-4),
        losses.CrossEntropyLoss([free[-1], free[-3], free[len(free) // 2]], 0, labels, form="ratio"),
    ]


def forces(net, S, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.02, size=((S,) if S else ()) + (net.n_nodes, 2))


NETWORKS = {"paper": lambda: Network.example("paper-triangle-n4"),
            "lattice": lambda: lattice_with_nodes(700)}  # 1300+ unknowns: the sparse (PARDISO/ordered) path


@pytest.fixture(params=["one solve", "two solves"])
def solves(request, monkeypatch):
    """Both ways of the output-space adjoint: one solve of [P | F], or two of the r output columns."""
    from labmnn.model import network

    monkeypatch.setattr(network, "SOLVE_PASS_COLUMNS", 1000 if request.param == "one solve" else -1000)
    return request.param


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("S", [0, 1, 9])  # 0: a single sample, forces (n, 2)
def test_output_adjoint_equals_the_per_sample_gradient(name, S, solves):
    net = NETWORKS[name]()
    F = forces(net, S)
    for loss in make_losses(net, S):
        out = net.equilibrium().output_adjoint(F, loss)
        g = net.gradient(F, per_sample(loss))
        assert relative_error(out.gradient, g) < 1e-10, type(loss).__name__
        value, _ = loss(net.solve(F).displacements)
        assert np.allclose(out.value, value, rtol=1e-10, atol=0)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_gradient_takes_the_output_path_when_it_pays_and_agrees(name, monkeypatch):
    net = NETWORKS[name]()
    S = 9
    F = forces(net, S, seed=4)
    loss = make_losses(net, S)[1]
    eq = net.equilibrium()
    assert eq.outputs_pay(F, loss)  # 3 outputs, 9 samples
    assert not eq.outputs_pay(F, per_sample(loss))  # no declared support
    taken = []
    original = type(eq).output_adjoint
    monkeypatch.setattr(type(eq), "output_adjoint", lambda self, *a: taken.append(1) or original(self, *a))
    for wrt in ("stiffness", "width"):
        g = net.gradient(F, loss, wrt=wrt)
        assert relative_error(g, net.gradient(F, per_sample(loss), wrt=wrt)) < 1e-10
    assert len(taken) == 2


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_per_sample_solve_is_kept_when_samples_are_fewer_than_outputs(name):
    net = NETWORKS[name]()
    eq = net.equilibrium()
    assert not eq.outputs_pay(forces(net, 2), make_losses(net, 2)[1])  # 3 outputs, 2 samples
    assert not eq.outputs_pay(forces(net, 0), make_losses(net, 0)[1])  # 3 outputs, one sample
    assert eq.outputs_pay(forces(net, 3), make_losses(net, 3)[1])  # 3 outputs, 3 samples
    assert eq.outputs_pay(forces(net, 0), losses.MSELoss([free_nodes(net)[-1]], [1], [0.0]))  # 1 output, 1 sample


@pytest.mark.parametrize("S", [0, 9])
def test_details_of_the_output_path_equal_the_full_fields(S, solves):
    net = NETWORKS["lattice"]()
    F = forces(net, S, seed=5)
    loss = make_losses(net, S)[2]
    fast = net.gradient(F, loss, return_details=True, wrt="width")
    full = net.gradient(F, per_sample(loss), return_details=True, wrt="width")
    assert relative_error(fast.gradient, full.gradient) < 1e-10
    assert fast.loss == pytest.approx(full.loss, rel=1e-12)
    for field in ("forward", "adjoint"):
        a, b = getattr(fast, field), getattr(full, field)
        assert a.displacements.shape == b.displacements.shape
        assert relative_error(a.displacements, b.displacements) < 1e-10
        assert relative_error(a.elongations, b.elongations) < 1e-10
    assert fast.adjoint_forces.shape == full.adjoint_forces.shape
    assert np.allclose(fast.adjoint_forces, full.adjoint_forces, rtol=1e-12, atol=0)


def test_an_output_on_a_fixed_node_reads_zero_and_adds_nothing(solves):
    net = Network.example("paper-triangle-n4")
    free = free_nodes(net)
    S = 5
    F = forces(net, S, seed=6)
    loss = losses.CrossEntropyLoss([free[-1], net.fixed_nodes[0]], 1, np.arange(S) % 2, form="ratio")
    out = net.equilibrium().output_adjoint(F, loss)
    assert relative_error(out.gradient, net.gradient(F, per_sample(loss))) < 1e-10


def test_output_path_matches_finite_differences(solves):
    net = Network.example("paper-triangle-n4")
    S = 6
    F = forces(net, S, seed=7)
    loss = make_losses(net, S)[1]
    assert net.equilibrium().outputs_pay(F, loss)
    assert relative_error(net.gradient(F, loss), finite_difference_gradient(net, F, loss)) < 1e-6

"""The exact model's batched sparse path: the same answers, gradients and refusals as one by one."""

from __future__ import annotations

import numpy as np
import pytest

from labmnn import GRAVITY, Network
from labmnn.model import losses, nonlinear
from labmnn.model import solver as linear_solver
from labmnn.model.gradcheck import finite_difference_gradient, relative_error
from labmnn.model.lattice import triangular_lattice
from labmnn.model.nonlinear import NoEquilibrium, NonlinearStatics
from labmnn.model.nonlinear_batch import BatchStatics


def _lattice(nx=20, ny=24, seed=1):
    """A lattice of 920 unknowns (the sparse path), with uneven stiffnesses."""
    net = triangular_lattice(nx, ny)
    rng = np.random.default_rng(seed)
    net.stiffness_override = net.stiffness * rng.uniform(0.7, 1.3, net.n_bonds)
    return net


def _loads(net, S, grams=5.0, sideways=2.0, seed=2):
    """S random loads (grams) on the bottom row: down, and some sideways."""
    rng = np.random.default_rng(seed)
    bottom = np.argsort(net.nodes[:, 1])[:12]
    F = np.zeros((S, net.n_nodes, 2))
    F[:, bottom, 1] = -rng.uniform(0, grams, (S, bottom.size)) * 1e-3 * GRAVITY
    F[:, bottom, 0] = rng.normal(0, sideways, (S, bottom.size)) * 1e-3 * GRAVITY
    return F, bottom


def _mse(bottom, S, seed=3):
    rng = np.random.default_rng(seed)
    return losses.MSELoss(bottom[:3], [1, 1, 0], rng.normal(0, 1e-3, (S, 3)))


def _one(loss, s):
    return losses.MSELoss(loss.nodes, loss.axes, loss.values[s])


def _solve_batched(net, F):
    """Displacements by the batched path, and its BatchStatics (to see that it did the work)."""
    net.equilibrium()
    statics = NonlinearStatics(net, net.stiffness)
    U, _ = statics.solve(F)
    assert statics.batch is not None
    return U, statics.batch


def test_batch_equals_one_by_one_in_displacements_and_gradients():
    net = _lattice()
    S = 5
    F, bottom = _loads(net, S)
    U, batch = _solve_batched(net, F)
    assert batch.careful == 0 and batch.solves >= 3  # settled by the batch, not handed back
    one = np.stack([net.solve(F[s], mechanics="nonlinear").displacements for s in range(S)])
    assert relative_error(U, one) < 1e-10
    assert np.abs(net.solve(F, mechanics="nonlinear").displacements - one).max() < 1e-10 * np.abs(one).max()
    loss = _mse(bottom, S)
    g = net.gradient(F, loss, mechanics="nonlinear")
    per_sample = np.mean([net.gradient(F[s], _one(loss, s), mechanics="nonlinear") for s in range(S)], axis=0)
    assert relative_error(g, per_sample) < 1e-9
    # and the exact model differs from the linear one here: the test sees the nonlinearity
    assert relative_error(net.gradient(F, loss), g) > 1e-3


def test_batched_gradient_matches_finite_differences(monkeypatch):
    # a small lattice, put on the sparse path by naming a backend, so every bond can be perturbed
    monkeypatch.setenv("LABMNN_SOLVER", linear_solver.available_backends()[0])
    net = _lattice(6, 6, seed=4)
    F, bottom = _loads(net, 3, grams=40.0, sideways=15.0, seed=5)
    loss = _mse(bottom, 3, seed=6)
    assert NonlinearStatics(net, net.stiffness)._batched(3)
    g = net.gradient(F, loss, mechanics="nonlinear")
    fd = finite_difference_gradient(net, F, loss, mechanics="nonlinear")
    assert relative_error(g, fd) < 1e-6
    assert relative_error(net.gradient(F, loss), g) > 1e-3  # not the linear gradient


def test_a_sample_the_batch_cannot_settle_goes_one_by_one_and_agrees():
    net = _lattice()
    F, bottom = _loads(net, 4)
    F[2] *= 12  # strongly nonlinear: modified Newton from the linear answer stalls; Newton settles it
    U, batch = _solve_batched(net, F)
    assert batch.careful >= 1
    for s in range(4):
        one = net.solve(F[s], mechanics="nonlinear").displacements
        assert np.abs(U[s] - one).max() <= 1e-10 * np.abs(one).max()


@pytest.mark.parametrize("bad", [0, 1])
def test_an_overload_in_a_batch_is_refused_with_the_one_by_one_message(monkeypatch, bad):
    monkeypatch.setenv("LABMNN_SOLVER", linear_solver.available_backends()[0])
    paper = Network.example("paper-triangle-n4")
    F = np.zeros((3, 14, 2))
    F[:, 12, 1] = -0.010 * GRAVITY
    if bad == 0:
        F[1, 12, 1] = -100.0 * GRAVITY  # 100 kg: beyond any equilibrium
    else:
        F[1, 12] = [0.0, 20.0]  # pushing node 12 up through the frame: snap-through
    with pytest.raises(NoEquilibrium) as single:
        paper.solve(F[1], mechanics="nonlinear")
    with pytest.raises(NoEquilibrium) as batched:
        paper.solve(F, mechanics="nonlinear")
    assert str(batched.value) == str(single.value)
    assert "\n" not in str(batched.value) and "node 12" in str(batched.value)


def test_the_lower_bound_is_below_every_tangent(monkeypatch):
    # the stability certificate rests on sum_b B_b^T M_b B_b <= K_t(u_s) for every sample of a group
    monkeypatch.setenv("LABMNN_SOLVER", linear_solver.available_backends()[0])
    net = _lattice(8, 8, seed=7)
    net.equilibrium()
    F, _ = _loads(net, 3, grams=20.0, sideways=10.0, seed=8)
    statics = NonlinearStatics(net, net.stiffness)
    batch = BatchStatics(statics)
    X, converged = batch.forward(batch.to_ordered(F), statics.tolerance(batch.to_ordered(F)))
    assert converged.all()
    beta = batch.final(X)[1]
    np.testing.assert_array_equal(beta, batch.betas(X).min(axis=0))
    assert np.all(np.isfinite(beta)) and beta.min() < 0  # compression bonds: the bound is not trivial
    n0 = net.directions
    nn = n0[:, :, None] * n0[:, None, :]
    block = 0.5 * statics.k[:, None, None] * nn + beta[:, None, None] * (np.eye(2) - nn)
    full = np.concatenate([np.concatenate([block, -block], 2), np.concatenate([-block, block], 2)], 1)
    lower = statics.pattern.assemble(full.reshape(1, -1, 16)).toarray()
    for s in range(3):
        tangent = statics.tangent(batch.final(X[s:s + 1])[0]).toarray()
        gap = np.linalg.eigvalsh(tangent - lower)
        assert gap.min() >= -1e-9 * np.abs(gap).max()
    assert np.linalg.eigvalsh(lower).min() > 0  # and here it certifies the group


def test_doubtful_samples_get_the_exact_check(monkeypatch):
    net = _lattice()
    F, _ = _loads(net, 4)
    calls = []
    real = BatchStatics.exact_check

    def spy(self, X):
        calls.append(X.shape[0])
        return real(self, X)

    monkeypatch.setattr(BatchStatics, "lower_bound_factors", lambda self, beta: False)  # no group certified
    monkeypatch.setattr(BatchStatics, "exact_check", spy)
    U, batch = _solve_batched(net, F)
    assert calls == [1, 1, 1, 1] and batch.careful == 0
    one = net.solve(F[3], mechanics="nonlinear").displacements
    assert np.abs(U[3] - one).max() <= 1e-10 * np.abs(one).max()


def test_one_sample_takes_the_batched_path_only_on_large_networks(monkeypatch):
    net = _lattice()  # 920 unknowns: one sample is solved one by one, as before
    F, bottom = _loads(net, 1)
    net.equilibrium()
    statics = NonlinearStatics(net, net.stiffness)
    statics.solve(F)
    assert statics.batch is None and net.free_dofs.size < nonlinear.BATCH_ONE_FROM
    monkeypatch.setattr(nonlinear, "BATCH_ONE_FROM", 500)  # as if it were large
    U, batch = _solve_batched(net, F)
    assert batch.careful == 0
    monkeypatch.setattr(nonlinear, "BATCH_ONE_FROM", 10**9)
    one = net.solve(F[0], mechanics="nonlinear").displacements
    assert np.abs(U[0] - one).max() <= 1e-10 * np.abs(one).max()


def test_the_batched_statics_go_with_their_last_reference(monkeypatch):
    # no reference cycle: a training step's old statics (and the linear factor they hold) are freed at
    # once, so the next step's D is refactorised in the same handle instead of analysed anew
    import gc
    import weakref

    monkeypatch.setenv("LABMNN_SOLVER", linear_solver.available_backends()[0])
    net = _lattice(8, 8, seed=7)
    F, _ = _loads(net, 3, seed=8)
    gc.disable()
    try:
        statics = NonlinearStatics(net, net.stiffness * 1.1)  # not the network's own stiffness: eq not cached
        statics.solve(F)
        assert statics.batch is not None
        gone = [weakref.ref(statics), weakref.ref(statics.batch), weakref.ref(statics.batch.eq)]
        del statics
        assert [r() for r in gone] == [None, None, None]
    finally:
        gc.enable()

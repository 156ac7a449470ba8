"""The compiled bond kernels of the exact model's batched path: the NumPy path's numbers, on any thread count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labmnn import GRAVITY
from labmnn.model import bond_kernels, losses
from labmnn.model.lattice import triangular_lattice
from labmnn.model.nonlinear import NonlinearStatics
from labmnn.model.nonlinear_batch import BatchStatics

pytest.importorskip("numba")


@pytest.fixture(scope="module")
def lattice():
    """A lattice on the sparse path (920 unknowns), uneven stiffnesses, its top row fixed."""
    net = triangular_lattice(20, 24)
    net.stiffness_override = net.stiffness * np.random.default_rng(1).uniform(0.7, 1.3, net.n_bonds)
    net.equilibrium()
    return net


_KEPT: list = []  # the statics of the batches made here (a batch holds its statics weakly)


def _batch(net) -> BatchStatics:
    statics = NonlinearStatics(net, net.stiffness)
    _KEPT[:] = _KEPT[-3:] + [statics]
    return BatchStatics(statics)


def _both(net, monkeypatch):
    """The batched statics twice: with the kernels and on the NumPy path."""
    monkeypatch.delenv(bond_kernels.ENV, raising=False)
    fast = _batch(net)
    monkeypatch.setenv(bond_kernels.ENV, "numpy")
    plain = _batch(net)
    monkeypatch.delenv(bond_kernels.ENV)
    assert fast.kernels is not None and plain.kernels is None
    return fast, plain


def _fields(batch, S, scale, seed):
    """S displacement rows (a fraction ``scale`` of the mean bond length) and S probe rows."""
    rng = np.random.default_rng(seed)
    n = batch.ops.dofs.size
    X = scale * batch.net.lengths.mean() * rng.standard_normal((S, n))
    return X, rng.standard_normal((S, n))


def _close(a, b, tol=1e-12):
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(np.nanmax(np.abs(b[np.isfinite(b)]), initial=0), 1e-300),
                               equal_nan=True)


def _every_piece(batch, X, P, rows, active):
    """What the batched path reads at X: forces, the answer's fields, the bound, tangent products, elongations."""
    G, finite = batch.internal(X)
    F = np.nan_to_num(np.roll(G, 1, axis=0), nan=0.0, posinf=0.0, neginf=0.0) + 1e-3  # finite forces
    R, res, ok = batch.residual(X, F)
    state, beta = batch.final(X, rows)
    collapsed = batch.collapsed.copy()
    Q = np.empty_like(X)
    pq = batch.tangent_product(state, P.copy(), active, Q)
    Q[~active] = 0.0  # the NumPy path fills whole blocks of samples; the kernels zero what is inactive
    pq[~active] = 0.0
    return {"G": G, "finite": finite, "R": R, "res": res, "ok": ok, "lengths": state.lengths,
            "directions": state.directions, "stretch": state.stretch, "tension": state.tension,
            "collapsed": collapsed, "beta": beta, "betas": batch.betas(X), "Q": Q, "pq": pq,
            "elongations": batch.elongations_along(state, P), **_iteration_updates(batch, X, P, R),
            "to_nodes": batch.to_nodes(X), "round_trip": batch.to_ordered(batch.to_nodes(X))}


def _iteration_updates(batch, X, P, R):
    """One Anderson step of the forward iteration and one CG update of the adjoint, on copies."""
    rng = np.random.default_rng(7)
    S, n = X.shape
    Z, Zp, Rp, dX, Q = (rng.standard_normal((S, n)) for _ in range(5))
    Xa = X.copy()
    step = batch._anderson_step(Xa, (dX.copy(), Zp.copy(), Rp.copy()), Z, np.nan_to_num(R))
    V, Rc, Pc = X.copy(), np.nan_to_num(R), np.nan_to_num(P)
    alpha, beta = rng.uniform(0.5, 1.5, S), rng.uniform(0, 1, S)
    alpha[0] = 0.0  # a sample that is not active any more
    if batch.kernels is not None:
        batch.kernels.cg_update(V, Rc, Pc, Q, alpha)
        batch.kernels.cg_direction(Pc, Z, beta)
    else:
        V += Pc * alpha[:, None]
        Rc -= Q * alpha[:, None]
        Pc = Z + beta[:, None] * Pc
    return {"anderson_X": Xa, "anderson_step": step, "cg_V": V, "cg_R": Rc, "cg_P": Pc}


def test_the_kernels_give_the_numpy_paths_numbers(lattice, monkeypatch):
    fast, plain = _both(lattice, monkeypatch)
    X, P = _fields(fast, 6, 0.05, seed=0)
    rows, active = np.array([0, 2, 5]), np.array([1, 1, 0, 1, 0, 1], dtype=bool)
    got, want = _every_piece(fast, X, P, rows, active), _every_piece(plain, X, P, rows, active)
    for name in want:
        _close(got[name], want[name])
    assert np.isfinite(want["beta"]).all() and not want["collapsed"].any()  # a case that certifies


def test_collapsed_bonds_and_broken_samples_read_the_same(lattice, monkeypatch):
    fast, plain = _both(lattice, monkeypatch)
    X, P = _fields(fast, 3, 0.01, seed=1)
    b = int(np.flatnonzero((fast.ops.ends >= 0).all(axis=1))[0])  # a bond with both ends free
    ix, iy, jx, jy = fast.ops.ends[b]
    X[1, [ix, iy]], X[1, [jx, jy]] = 0.0, -fast.ops.vectors[b]  # sample 1: bond b shrunk to nothing, exactly
    X[2, 0] = np.nan  # sample 2: a broken iterate
    rows, active = np.arange(3), np.ones(3, dtype=bool)
    with np.errstate(all="ignore"):
        got, want = _every_piece(fast, X, P, rows, active), _every_piece(plain, X, P, rows, active)
    for name in want:
        _close(got[name], want[name])
    assert got["collapsed"].tolist() == [False, True, True]
    assert got["finite"].tolist() == [True, False, False]
    assert not np.all(np.isfinite(got["beta"]))  # no certificate from such a group


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(S=st.integers(1, 5), scale=st.sampled_from([1e-4, 1e-2, 0.1]), threads=st.integers(2, 4),
       seed=st.integers(0, 2**16))
def test_the_thread_count_does_not_change_a_bit(lattice, S, scale, threads, seed):
    batch = _batch(lattice)
    X, P = _fields(batch, S, scale, seed)
    rows, active = np.arange(0, S, 2), np.arange(S) % 3 != 1
    batch.kernels.threads = 1
    one = _every_piece(batch, X, P, rows, active)
    batch.kernels.threads = threads
    many = _every_piece(batch, X, P, rows, active)
    for name in one:
        np.testing.assert_array_equal(many[name], one[name])


def test_a_batch_gradient_is_the_same_with_and_without_the_kernels(lattice, monkeypatch):
    S = 4
    rng = np.random.default_rng(2)
    bottom = np.argsort(lattice.nodes[:, 1])[:12]
    F = np.zeros((S, lattice.n_nodes, 2))
    F[:, bottom, 1] = -rng.uniform(0, 5, (S, bottom.size)) * 1e-3 * GRAVITY
    F[:, bottom, 0] = rng.normal(0, 2, (S, bottom.size)) * 1e-3 * GRAVITY
    loss = losses.MSELoss(bottom[:3], [1, 1, 0], rng.normal(0, 1e-3, (S, 3)))
    monkeypatch.delenv(bond_kernels.ENV, raising=False)
    fast = lattice.gradient(F, loss, mechanics="nonlinear")
    monkeypatch.setenv(bond_kernels.ENV, "numpy")
    plain = lattice.gradient(F, loss, mechanics="nonlinear")
    assert np.linalg.norm(fast - plain) <= 1e-9 * np.linalg.norm(plain)
    assert np.linalg.norm(plain) > 0

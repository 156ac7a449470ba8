"""The small dense path runs BLAS on one thread, whatever the libraries' own setting."""

import numpy as np
import pytest
import scipy.linalg

from labmnn import GRAVITY, Network
from labmnn.model import losses
from labmnn.model import solver as linear_solver

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads():
    return sorted({lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"})


def _iris_like_batch(net, samples=105):
    rng = np.random.default_rng(0)
    F = np.zeros((samples, net.n_nodes, 2))
    F[:, [13, 11, 12, 9], 1] = -rng.uniform(0.2, 1.0, size=(samples, 4)) * 0.005 * GRAVITY
    loss = losses.CrossEntropyLoss([7, 1, 2], 0, labels=rng.integers(0, 3, samples), scale=2e-4)
    return F, loss


def test_batch_gradient_of_the_paper_network_solves_on_one_blas_thread(monkeypatch):
    net = Network.example("paper-triangle-n4")  # 24 unknowns, 105 right-hand sides
    F, loss = _iris_like_batch(net)
    seen = {"factor": [], "solve": []}
    real_factor, real_solve = scipy.linalg.cho_factor, scipy.linalg.cho_solve

    def factor_spy(*a, **k):
        seen["factor"].append(_blas_threads())
        return real_factor(*a, **k)

    def solve_spy(c, b, **k):
        seen["solve"].append((np.shape(b), _blas_threads()))
        return real_solve(c, b, **k)

    monkeypatch.setattr(scipy.linalg, "cho_factor", factor_spy)
    monkeypatch.setattr(scipy.linalg, "cho_solve", solve_spy)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # as numpy starts on a 2-core machine
        assert _blas_threads() == [2]
        g = net.gradient(F, loss)
        assert _blas_threads() == [2]  # restored afterwards: no global setting
    assert np.all(np.isfinite(g))
    assert seen["factor"] and all(t == [1] for t in seen["factor"])
    assert [shape for shape, _ in seen["solve"]] == [(24, 105), (24, 105)]  # forward and adjoint, one call each
    assert all(t == [1] for _, t in seen["solve"])


def test_one_blas_thread_nests_restores_and_leaves_large_systems_alone():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with linear_solver.one_blas_thread(24):
            assert _blas_threads() == [1]
            with linear_solver.one_blas_thread(10):
                assert _blas_threads() == [1]
            assert _blas_threads() == [1]
        assert _blas_threads() == [2]
        with linear_solver.one_blas_thread(linear_solver.ONE_BLAS_THREAD_BELOW):
            assert _blas_threads() == [2]

"""Identification with the exact (large-rotation) bar model: Jacobian, recovery, CLI and the residual check."""

import json

import numpy as np
import pytest

from hardware_sim.mechanics import solve_nonlinear
from labmnn import Network
from labmnn.cli import main
from labmnn.fabrication.identify import (
    LoadCase,
    _jacobian_nonlinear,
    _Misfit,
    _modulus_factor,
    _weights,
    identify,
)
from labmnn.fabrication.load_series import hanging_plan, write_load_series


@pytest.fixture(scope="module")
def net():
    return Network.example("paper-triangle-n4")


def printed(net, seed, spread=0.10):
    rng = np.random.default_rng(seed)
    return net.stiffness * (1 + rng.uniform(-spread, spread, net.n_bonds))


def exact_cases(net, F, labels, k_true, noise=0.0, seed=0):
    """Measured cases from the simulated rig's own exact model (independent of labmnn's)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in range(len(F)):
        u = solve_nonlinear(net, F[s], k_true, tol=1e-13) + noise * rng.standard_normal((net.n_nodes, 2))
        u[net.fixed_nodes] = 0.0
        out.append(LoadCase(F[s], u, None, labels[s]))
    return out


def test_exact_jacobian_matches_finite_differences(net):
    F, _ = hanging_plan(net, grams=(20,), nodes=[9, 12, 13])
    k = printed(net, 1)
    U = net.solve(F, stiffness=k, mechanics="nonlinear").displacements
    W = _weights(net, np.ones(U.shape[:2], dtype=bool))
    J = _jacobian_nonlinear(net, k, U, W)
    mask = W.reshape(len(F), -1) > 0
    for b in (0, 5, 13, 27):
        h = 1e-5
        up = net.solve(F, stiffness=k * np.exp(np.eye(net.n_bonds)[b] * h), mechanics="nonlinear").displacements
        um = net.solve(F, stiffness=k * np.exp(-np.eye(net.n_bonds)[b] * h), mechanics="nonlinear").displacements
        fd = ((up - um) / (2 * h)).reshape(len(F), -1)[mask]
        assert np.linalg.norm(J[:, b] - fd) <= 1e-6 * np.linalg.norm(fd)
    # and it is not the linear Jacobian: the rotation matters at 20 g
    lin = net.solve(F, stiffness=k * np.exp(np.eye(net.n_bonds)[5] * h)).displacements
    lin0 = net.solve(F, stiffness=k).displacements
    assert np.linalg.norm(((lin - lin0) / h).reshape(len(F), -1)[mask] - J[:, 5]) > 1e-3 * np.linalg.norm(J[:, 5])


def test_exact_misfit_gradient_matches_finite_differences(net):
    F, _ = hanging_plan(net, grams=(15,), nodes=[10, 13])
    U = net.solve(F, stiffness=printed(net, 2), mechanics="nonlinear").displacements
    W = _weights(net, np.ones(U.shape[:2], dtype=bool))
    loss = _Misfit(U, W)
    k = net.stiffness
    g = net.gradient(F, loss, stiffness=k, mechanics="nonlinear")
    for b in (2, 17):
        h = k[b] * 1e-5
        kp, km = k.copy(), k.copy()
        kp[b] += h
        km[b] -= h
        fd = (np.mean(loss(net.solve(F, stiffness=kp, mechanics="nonlinear").displacements)[0])
              - np.mean(loss(net.solve(F, stiffness=km, mechanics="nonlinear").displacements)[0])) / (2 * h)
        assert g[b] == pytest.approx(fd, rel=1e-6)


def test_exact_modulus_factor_is_recovered(net):
    F, _ = hanging_plan(net, grams=(10, 20), nodes=[12, 13])
    U = np.array([solve_nonlinear(net, f, net.stiffness * 0.8, tol=1e-13) for f in F])
    W = _weights(net, np.ones(U.shape[:2], dtype=bool))
    assert _modulus_factor(net, net.stiffness, F, U, W, mechanics="nonlinear") == pytest.approx(0.8, rel=1e-8)
    # the linear closed form is biased by the rotation
    assert abs(_modulus_factor(net, net.stiffness, F, U, W) - 0.8) > 1e-3


def test_exact_identification_recovers_a_known_stiffness(net):
    k_true = printed(net, 3)
    F, labels = hanging_plan(net, grams=(10, 20))
    cases = exact_cases(net, F, labels, k_true)
    ident = identify(net, cases, regularization=1e-9, holdout=0, mechanics="nonlinear")
    assert ident.mechanics == "nonlinear" and ident.nonlinear_structure is None
    assert np.linalg.norm(ident.stiffness_n_per_m - k_true) < 1e-4 * np.linalg.norm(k_true)
    lin = identify(net, cases, regularization=1e-9, holdout=0)
    # the linear fit folds the rotation into the stiffness, and its residuals say so
    assert np.linalg.norm(lin.stiffness_n_per_m - k_true) > 0.01 * np.linalg.norm(k_true)
    assert lin.structured_residuals and lin.nonlinear_structure["correlation"] > 0.9


def test_linear_data_shows_no_rotation_structure(net):
    k_true = printed(net, 4)
    F, labels = hanging_plan(net, grams=(5, 10))
    noise = 1.3e-6 * np.random.default_rng(0).standard_normal((len(F), 14, 2))
    U = net.solve(F, stiffness=k_true).displacements + noise
    cases = [LoadCase(F[s], U[s], None, labels[s]) for s in range(len(F))]
    ident = identify(net, cases, regularization=0.01, holdout=0)
    assert not ident.structured_residuals and abs(ident.nonlinear_structure["correlation"]) < 0.2


@pytest.fixture(scope="module")
def exact_session(tmp_path_factory, net):
    k_true = printed(net, 11)
    folder = tmp_path_factory.mktemp("exact-session")
    net.save(folder / "network.json")
    F, labels = hanging_plan(net, grams=(10, 20))
    write_load_series(folder / "load_series.json", exact_cases(net, F, labels, k_true, noise=1e-7, seed=1),
                      "network.json")
    return folder, k_true


def test_identify_command_mechanics(exact_session, tmp_path, capsys):
    folder, k_true = exact_session
    out = tmp_path / "id.json"
    assert main(["identify", str(folder), "-o", str(out), "--regularization", "1e-6", "--holdout", "0",
                 "--mechanics", "nonlinear"]) == 0
    text = capsys.readouterr().out
    assert "nonlinear mechanics" in text and "follow the large rotations" not in text
    k = Network.load(out).stiffness
    assert np.linalg.norm(k - k_true) < 2e-3 * np.linalg.norm(k_true)
    assert main(["identify", str(folder), "-o", str(out), "--regularization", "1e-6", "--mechanics", "linear"]) == 0
    text = capsys.readouterr().out
    assert "follow the large rotations" in text and "cuts the held-out" not in text
    assert main(["identify", str(folder), "-o", str(out), "--json", "--holdout", "0", "--modulus-only",
                 "--mechanics", "nonlinear"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mechanics"] == "nonlinear" and summary["linear_residual_structure"] is None
    assert main(["identify", str(folder), "-o", str(out), "--mechanics", "exact"]) == 2

import numpy as np
import pytest

from labmnn import InputError, Network
from labmnn.fabrication.identify import LoadCase, _Misfit, identify
from labmnn.fabrication.load_series import hanging_plan, simulate_cases

NOISE = 0.02 / 15 * 1e-3  # 0.02 px at 15 px/mm


@pytest.fixture(scope="module")
def net():
    return Network.example("paper-triangle-n4")


def perturbed(net, seed, spread=0.10):
    rng = np.random.default_rng(seed)
    return net.stiffness * (1 + rng.uniform(-spread, spread, net.n_bonds))


def test_misfit_gradient_matches_finite_differences(net):
    F, _ = hanging_plan(net, grams=(10,), nodes=[9, 12])
    U = net.solve(F, stiffness=perturbed(net, 1)).displacements
    W = np.ones_like(U)
    W[:, net.fixed_nodes] = 0
    loss = _Misfit(U, W)
    k = net.stiffness
    g = net.gradient(F, loss, stiffness=k)
    for b in (0, 7, 27):
        h = k[b] * 1e-6
        kp, km = k.copy(), k.copy()
        kp[b] += h
        km[b] -= h
        fd = (np.mean(loss(net.solve(F, stiffness=kp).displacements)[0])
              - np.mean(loss(net.solve(F, stiffness=km).displacements)[0])) / (2 * h)
        assert g[b] == pytest.approx(fd, rel=1e-5)


def test_modulus_only_recovers_a_global_factor(net):
    F, labels = hanging_plan(net, grams=(5,), nodes=[12, 13])
    cases = simulate_cases(net, F, labels, stiffness=net.stiffness * 0.83)
    ident = identify(net, cases, per_bond=False, holdout=0)
    assert ident.modulus_factor == pytest.approx(0.83, rel=1e-9)
    assert ident.youngs_modulus_pa == pytest.approx(0.83 * net.youngs_modulus, rel=1e-9)
    assert np.all(ident.corrections == 1)


def test_recovers_injected_per_bond_errors_without_noise(net):
    k_true = perturbed(net, 2)
    F, labels = hanging_plan(net, grams=(10,))
    cases = simulate_cases(net, F, labels, stiffness=k_true)
    ident = identify(net, cases, regularization=1e-8, holdout=0)
    rel = ident.stiffness_n_per_m / k_true - 1
    assert np.abs(rel).max() < 2e-3
    assert ident.errors["identified"].fit_rms < 1e-3 * ident.errors["nominal"].fit_rms


def test_heldout_error_drops_at_least_5x_with_noise(net):
    k_true = perturbed(net, 3)
    F, labels = hanging_plan(net, grams=(5, 10))
    rng = np.random.default_rng(4)
    free = np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)
    F_out = np.zeros((6, net.n_nodes, 2))
    for s in range(6):
        F_out[s, rng.choice(free, 2, replace=False), 1] = -0.098
    out_labels = [f"out{s}" for s in range(6)]
    cases = simulate_cases(net, np.concatenate([F, F_out]), labels + out_labels, stiffness=k_true,
                           noise_m=NOISE, force_rel_error=0.003, seed=5)
    ident = identify(net, cases, holdout=out_labels, lambdas=(1e-3, 1e-1, 10.0), n_folds=2, refit_all=False)
    assert ident.heldout_labels == out_labels
    assert ident.improvement >= 5
    assert ident.regularization in (1e-3, 1e-1, 10.0)
    assert len(ident.scan) == 3
    # the identified stiffness is closer to the truth than the design is
    assert np.linalg.norm(ident.stiffness_n_per_m / k_true - 1) < 0.3 * np.linalg.norm(net.stiffness / k_true - 1)


def test_invalid_measurements_are_ignored(net):
    k_true = perturbed(net, 6)
    F, labels = hanging_plan(net, grams=(10,))
    cases = simulate_cases(net, F, labels, stiffness=k_true)
    ref = identify(net, cases, regularization=1e-3, holdout=0)
    cases[3].displacements_m[12] += 5e-3  # a lost track, flagged
    cases[3].valid[12] = False
    cases[5].displacements_m[net.fixed_nodes[0]] += 1e-3  # fixed nodes never count
    again = identify(net, cases, regularization=1e-3, holdout=0)
    assert np.allclose(again.stiffness_n_per_m, ref.stiffness_n_per_m, rtol=1e-4)


def test_identified_network_round_trips(net, tmp_path):
    F, labels = hanging_plan(net, grams=(10,))
    cases = simulate_cases(net, F, labels, stiffness=perturbed(net, 7))
    ident = identify(net, cases, regularization=1e-2, holdout=0)
    ident.network.save(tmp_path / "id.json")
    back = Network.load(tmp_path / "id.json")
    assert np.allclose(back.stiffness, ident.stiffness_n_per_m)
    assert back.extra["identification"]["from_network"] == net.name
    u = back.solve(F).displacements
    assert np.allclose(u, net.solve(F, stiffness=ident.stiffness_n_per_m).displacements)


def test_bad_cases_raise_input_errors(net):
    with pytest.raises(InputError, match="has 3 nodes"):
        identify(net, [LoadCase(np.zeros((3, 2)), np.zeros((3, 2)), None)])
    F, labels = hanging_plan(net, grams=(10,), nodes=[12])
    cases = simulate_cases(net, F, labels)
    with pytest.raises(InputError, match="nothing is left"):
        identify(net, cases, holdout=labels)
    with pytest.raises(InputError, match="no load case"):
        identify(net, cases, holdout=["nope"])
    flipped = [LoadCase(c.forces_n, -c.displacements_m, None) for c in cases]
    with pytest.raises(InputError, match="against the loads"):
        identify(net, flipped, holdout=0)


def test_lbfgs_and_gauss_newton_reach_the_same_fit(net):
    F, labels = hanging_plan(net, grams=(10,))
    cases = simulate_cases(net, F, labels, stiffness=perturbed(net, 8), noise_m=NOISE, seed=3)
    gn = identify(net, cases, regularization=1e-2, holdout=0, method="gauss-newton")
    lb = identify(net, cases, regularization=1e-2, holdout=0, method="lbfgs")
    assert np.allclose(gn.stiffness_n_per_m, lb.stiffness_n_per_m, rtol=2e-3)


def test_per_bond_uncertainty_is_calibrated_and_tabled():
    """The 1-sigma uncertainties match the actual errors on a simulated print (z-scores of RMS about 1)."""
    from labmnn.cli.commands.identify import bond_table
    from labmnn.fabrication.identify import identify
    from labmnn.fabrication.load_series import LoadCase

    net = Network.example("paper-triangle-n4")
    rng = np.random.default_rng(0)
    true = net.stiffness * rng.uniform(0.9, 1.1, net.n_bonds)
    cases = []
    for node in range(5, 14):
        for grams in (5, 10, 20):
            F = np.zeros((14, 2))
            F[node, 1] = -grams * 9.8e-3
            u = net.solve(F, stiffness=true).displacements + rng.normal(scale=1e-6, size=(14, 2))
            u[net.fixed_nodes] = 0
            cases.append(LoadCase(F, u, label=f"{node}:{grams}"))
    ident = identify(net, cases, holdout=0.25)
    z = (ident.stiffness_n_per_m - true) / true / ident.uncertainty
    assert 0.5 < np.sqrt(np.mean(z ** 2)) < 2.0
    table = bond_table(net, ident)
    assert table.splitlines()[0].startswith("bond  nodes    identified k (N/m)")
    assert len(table.splitlines()) == net.n_bonds + 2 and "+-" in table.splitlines()[1]
    per_bond = ident.summary()["per_bond"]
    assert per_bond[3]["uncertainty_n_per_m"] == pytest.approx(ident.uncertainty[3] * ident.stiffness_n_per_m[3])

"""Stiffness identification on simulated prototypes: held-out prediction error, before / after.

A "printed" network is the design with independent, uniformly random per-bond
stiffness errors of up to +-10 %.  Load series are simulated with ``net.solve``
on the printed stiffness, with tracking noise of 0.02 px at 15 px/mm (1.33 um per
component) and hung masses off by 0.3 % (rel. sd, like a real weight set).  The
fit cases hang each weight on each loaded node alone; the held-out cases hang 2-3
weights on random free nodes at once, so they are loads the fit never saw.

Printed per trial: held-out RMS displacement error of the nominal design and of
the identified model, against the measured (noisy) displacements and against the
noise-free truth, and their ratios (the baseline is the nominal model, measured
in the same run).  Target: ratio >= 5.

Run:  python benchmarks/identify.py [--trials 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Small dense solves: BLAS threads only contend on a shared 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labmnn import GRAVITY, Network  # noqa: E402
from labmnn.fabrication.identify import identify  # noqa: E402
from labmnn.fabrication.load_series import hanging_plan, simulate_cases  # noqa: E402
from labmnn.model.lattice import triangle_patch  # noqa: E402

NOISE_M = 0.02 / 15.0 * 1e-3  # 0.02 px at 15 px/mm
MASS_REL_ERROR = 0.003


def heldout_forces(net, n_cases, rng):
    free = np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)
    F = np.zeros((n_cases, net.n_nodes, 2))
    for s in range(n_cases):  # a dozen small cases: the loop builds inputs, not physics
        k = rng.integers(2, 4)
        nodes = rng.choice(free, k, replace=False)
        F[s, nodes, 1] = -rng.choice([2.0, 5.0, 10.0, 20.0], k) * 1e-3 * GRAVITY
    return F, [f"heldout{s}" for s in range(n_cases)]


def trial(net, seed, plan_nodes, grams, n_heldout=12):
    rng = np.random.default_rng(seed)
    k_true = net.stiffness * (1.0 + rng.uniform(-0.10, 0.10, net.n_bonds))
    F_fit, lab_fit = hanging_plan(net, grams=grams, nodes=plan_nodes)
    F_out, lab_out = heldout_forces(net, n_heldout, rng)
    F = np.concatenate([F_fit, F_out])
    cases = simulate_cases(net, F, lab_fit + lab_out, stiffness=k_true, noise_m=NOISE_M,
                           force_rel_error=MASS_REL_ERROR, seed=seed + 1000)
    t0 = time.perf_counter()
    ident = identify(net, cases, holdout=lab_out, refit_all=False, seed=seed)
    seconds = time.perf_counter() - t0
    free = np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)
    U_truth = net.solve(F_out, stiffness=k_true).displacements[:, free]

    def truth_rms(k):
        r = net.solve(F_out, stiffness=k).displacements[:, free] - U_truth
        return float(np.sqrt(np.mean(r * r)))

    nom_t, id_t = truth_rms(net.stiffness), truth_rms(ident.stiffness_n_per_m)
    e = ident.errors
    k_err = np.sqrt(np.mean((ident.stiffness_n_per_m / k_true - 1) ** 2))
    return dict(meas_nom=e["nominal"].heldout_rms, meas_id=e["identified"].heldout_rms,
                ratio_meas=ident.improvement, truth_nom=nom_t, truth_id=id_t, ratio_truth=nom_t / id_t,
                k_err=k_err, lam=ident.regularization, seconds=seconds, n_fit=len(lab_fit))


def run(name, net, plan_nodes, grams, trials):
    print(f"\n== {name}: {net.n_nodes} nodes, {net.n_bonds} bonds; fit plan {grams} g on "
          f"{'every free node' if plan_nodes is None else 'nodes ' + str(list(plan_nodes))}; 12 held-out cases")
    print("seed  fit  heldout RMS um (measured)  ratio   heldout RMS um (truth)  ratio   "
          "stiffness err  lambda   s")
    rows = []
    for seed in range(trials):
        r = trial(net, seed, plan_nodes, grams)
        rows.append(r)
        print(f"{seed:4d} {r['n_fit']:4d}   {r['meas_nom'] * 1e6:7.2f} -> {r['meas_id'] * 1e6:6.2f}  "
              f"{r['ratio_meas']:6.1f}x   {r['truth_nom'] * 1e6:7.2f} -> {r['truth_id'] * 1e6:6.2f}  "
              f"{r['ratio_truth']:6.1f}x   {r['k_err']:10.2%}   {r['lam']:7.1e} {r['seconds']:5.1f}")
    rm = np.array([r["ratio_meas"] for r in rows])
    rt = np.array([r["ratio_truth"] for r in rows])
    print(f"held-out improvement vs measured: min {rm.min():.1f}x, median {np.median(rm):.1f}x; "
          f"vs truth: min {rt.min():.1f}x, median {np.median(rt):.1f}x  (target >= 5x)")
    return rm, rt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    net = Network.example("paper-triangle-n4")
    rm, _ = run("paper network", net, None, (5.0, 10.0), args.trials)
    run("paper network, loads on the lower rows only", net, [9, 10, 11, 12, 13], (4.0, 8.0, 12.0),
        args.trials)
    run("larger patch", triangle_patch(top=7, rows=6), None, (5.0, 10.0), max(1, args.trials // 2))
    return 0 if rm.min() >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())

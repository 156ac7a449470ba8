"""Speed of one 100-epoch Iris run against the authors' way of computing the same gradients.

Baseline (measured here, same machine, same run): per-sample dense solves, two per sample
(forward and adjoint), as the authors' code does.  labmnn: one sparse/dense Cholesky per
mini-batch step serving the forward and adjoint solves of all samples, evaluation once per epoch.
Prints seconds and the speed-up ratio.

    python benchmarks/train_speed.py
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from labmnn.training.datasets import split_indices  # noqa: E402
from labmnn.training.loop import train  # noqa: E402
from labmnn.training.tasks import load_task  # noqa: E402


def baseline_epoch_gradients(task, net, train_idx, scale, batch_size, rng):
    """One epoch of gradients computed sample by sample with dense solves (no reuse)."""
    free = net.free_dofs
    C = net.compatibility_matrix.toarray()[:, free]
    k = net.stiffness
    for start in range(0, len(train_idx), batch_size):
        idx = rng.permutation(train_idx)[start:start + batch_size]
        F = task.forces(idx, scale)
        g = np.zeros(net.n_bonds)
        for s in range(len(idx)):
            loss = task.loss(idx[s:s + 1])
            D = C.T @ (k[:, None] * C)
            u = np.zeros(2 * net.n_nodes)
            u[free] = np.linalg.solve(D, F[s].ravel()[free])
            _, dL_du = loss(u.reshape(1, -1, 2))
            ua = np.zeros(2 * net.n_nodes)
            ua[free] = np.linalg.solve(D, -dL_du.ravel()[free])
            g += (C @ ua[free]) * (C @ u[free])
        g /= len(idx)
    return g


def batch_vs_per_sample(top=40, batch=16, repeats=3):
    """Seconds per training step on a large patch: one factorisation for the batch vs one per sample."""
    from labmnn.model import losses
    from labmnn.model.lattice import triangle_patch

    net = triangle_patch(top=top, rows=top - 1)
    rng = np.random.default_rng(0)
    bottom = net.n_nodes - 1
    F = np.zeros((batch, net.n_nodes, 2))
    F[:, bottom - 3, 1] = -0.049 * rng.uniform(0.5, 1.0, batch)
    loss_all = losses.MSELoss([bottom], [1], -1e-3 * np.ones((batch, 1)))
    t_batch, t_each = [], []
    for _ in range(repeats):
        net._equilibrium = None
        net.set_widths(net.width * (1 + 1e-6))  # a new step: new widths, new factorisation
        t0 = time.perf_counter()
        g1 = net.gradient(F, loss_all, wrt="width")
        t_batch.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        g2 = np.zeros_like(g1)
        for s in range(batch):
            net._equilibrium = None  # the per-sample way: factorise for every sample
            g2 += net.gradient(F[s], losses.MSELoss([bottom], [1], [-1e-3]), wrt="width") / batch
        t_each.append(time.perf_counter() - t0)
        assert np.allclose(g1, g2, rtol=1e-8, atol=1e-12 * np.abs(g1).max())
    return net, float(np.median(t_batch)), float(np.median(t_each))


def main():
    task = load_task("iris")
    runs = []
    for seed in range(3):
        t0 = time.perf_counter()
        train(task, seed=seed)
        runs.append(time.perf_counter() - t0)
    ours = float(np.median(runs))
    net = task.network
    tr, _ = split_indices(150, 0.7, 0)
    scale = task.feature_scale(tr)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    n_ep = 10
    for _ in range(n_ep):
        baseline_epoch_gradients(task, net, tr, scale, task.optimizer.batch_size, rng)
    base = (time.perf_counter() - t0) / n_ep * task.optimizer.epochs
    print(f"labmnn, one 100-epoch Iris run (median of 3): {ours:.2f} s")
    print(f"baseline, per-sample dense solves, gradients only (100 epochs, extrapolated from {n_ep}): {base:.2f} s")
    print(f"speed-up: {base / ours:.1f}x  (on 14 nodes most of a step is assembling the stiffness matrix)")
    net, tb, te = batch_vs_per_sample()
    print(f"{net.n_nodes}-node patch, batch of 16: one factorisation per step {tb * 1e3:.1f} ms, "
          f"one per sample {te * 1e3:.1f} ms: {te / tb:.1f}x")


if __name__ == "__main__":
    main()

"""Training at scale: Adam steps on a 10^5-node lattice, the symbolic analysis reused.

Run: ``python benchmarks/train_scale.py`` (``--nodes``, ``--steps``, ``--samples``).

One step = new widths -> factorisation of the stiffness matrix -> forward and
adjoint solves -> width gradient -> Adam update.  The loss reads a few output
components (r of them), so labmnn solves for those only: 2 r columns whatever
the batch size (the output-space adjoint, ``Equilibrium.output_adjoint``).  A
baseline in the same run takes the per-sample path (a forward and an adjoint
field for every sample: two solves of S columns), as a loss without a declared
support does.  The sparsity pattern never changes while widths train,
so after the first step PARDISO only refactorises numerically (phase 22); the
benchmark prints how many times each PARDISO phase ran, which shows the reuse.

The same for the exact (large-rotation) model, ``mechanics="nonlinear"``: each
Newton step factorises the tangent on the same pattern, so the analysis is done
once for the whole run.  Its sparse path solves sample by sample (a Newton
iteration each), so it runs with a smaller batch (``--nonlinear-samples``) and
prints the time per sample.

Every figure: median over the steps after the first, wall and CPU time of this
process, with the load average and PARDISO's thread setting.  A baseline step
in the same run (analysis redone every step: a fresh handle each time) gives the
ratio that the reuse is worth.

``--busy K`` starts K processes that spin for the whole run (at most 15 min,
killed at the end), to measure on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import cpu_s, run_busy  # noqa: E402


def problem(n_nodes: int, samples: int, seed: int = 0):
    """A lattice, a batch of loads on its bottom row and targets on its top row."""
    from labmnn.model import losses
    from labmnn.model.lattice import lattice_with_nodes

    net = lattice_with_nodes(n_nodes)
    rng = np.random.default_rng(seed)
    y = net.nodes[:, 1]
    bottom = np.argsort(y)[: max(8, int(np.sqrt(net.n_nodes)) // 4)]
    free_nodes = np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)
    top = free_nodes[np.argsort(np.abs(y[free_nodes] - np.median(y)))[:4]]  # outputs mid-lattice
    F = np.zeros((samples, net.n_nodes, 2))
    F[:, bottom, 1] = -rng.uniform(0.0, 0.02, size=(samples, bottom.size))
    axes = np.ones(top.size, dtype=np.int64)
    u0 = net.solve(F).displacements[:, top, 1]
    targets = u0 * rng.uniform(0.5, 1.5, size=u0.shape)  # reachable-looking targets near the response
    return net, F, losses.MSELoss(top, axes, targets)


def run_steps(net, F, loss, steps: int, mechanics: str, fresh_analysis: bool = False, per_sample: bool = False):
    """Adam steps on the widths; returns per-step (wall, CPU) and the PARDISO phase counts."""
    from labmnn.model import solver as linear_solver
    from labmnn.training.optim import Adam

    opt = Adam(lr=0.01)
    x = np.log(net.width)
    if per_sample:  # a loss with no declared support: every sample's fields are solved for
        loss = _no_support(loss)
    net._solver_cache.clear()  # start from nothing: the first step analyses, the others should not
    net.__dict__.pop("_tangent_cache", None)
    linear_solver.PHASE_CALLS.clear()
    walls, cpus, losses_, threads = [], [], [], []
    for _ in range(steps):
        if fresh_analysis:  # the baseline: forget the analysis, as if each step were a new network
            net._solver_cache.clear()
            net.__dict__.pop("_tangent_cache", None)
        c0, t0 = cpu_s(), time.perf_counter()
        net.set_widths(np.exp(x))
        # details as loop.py asks for them with learned inputs (made only when read)
        res = net.gradient(F, loss, wrt="width", mechanics=mechanics, return_details=True)
        x = opt.step(x, res.gradient * net.width)  # d/d(log w)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_s() - c0)
        losses_.append(res.loss)
        threads.extend(v[0].threads for v in net._solver_cache.values() if hasattr(v[0], "threads"))
    phases = dict(sorted(linear_solver.PHASE_CALLS.items()))
    if threads and mechanics == "linear":
        phases["threads"] = "".join(map(str, threads))  # PARDISO threads of each step's factor
    return np.array(walls), np.array(cpus), phases, losses_


def report(label: str, walls, cpus, phases, samples: int, target: float | None, base=None) -> float:
    w, c = float(np.median(walls[1:])), float(np.median(cpus[1:]))
    line = (f"  {label:<44} first {walls[0]:.3f} s, then median {w:.3f} s wall / {c:.3f} s CPU "
            f"({1e3 * w / samples:.1f} ms per sample); load {os.getloadavg()[0]:.1f}; PARDISO phases {phases}")
    if base is not None:
        line += f"; reuse saves {base / w:.2f}x"
    if target is not None:
        line += f" [{'meets' if w <= target else 'MISSES'} the {target:g} s target in wall time, " \
                f"{'meets' if c <= target else 'misses'} it in CPU time]"
    print(line)
    return w


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--nonlinear-samples", type=int, default=2)
    ap.add_argument("--linear-only", action="store_true", help="skip the exact (large-rotation) model")
    ap.add_argument("--busy", type=int, default=0, metavar="K", help="K spinning processes during the run")
    args = ap.parse_args()
    return run_busy(args.busy, lambda: run(args))


def run(args) -> int:
    from labmnn.model import solver as linear_solver

    net, F, loss = problem(args.nodes, args.samples)
    n = net.free_dofs.size
    print(f"{net.n_nodes} nodes, {net.n_bonds} bonds, {n} unknowns; backend {linear_solver.default_backend()}, "
          f"PARDISO threads now {linear_solver.solver_threads(n) or 'MKL default'} (by idle cores, fixed at each "
          f"analysis); {os.cpu_count()} cores; {args.busy} spinning processes started here; "
          f"load average {os.getloadavg()[0]:.1f}")
    net.elimination_order()  # computed once per geometry, before training starts
    print(f"linear model, batch of {args.samples} samples (forward + adjoint), {args.steps} Adam steps:")
    width0 = net.width.copy()
    w, c, ph, ls = run_steps(net, F, loss, args.steps, "linear", fresh_analysis=True)
    base = report("analysis redone every step (baseline)", w, c, ph, args.samples, None)
    net.set_widths(width0)
    w, c, ph, ls_cols = run_steps(net, F, loss, max(3, args.steps // 2), "linear", per_sample=True)
    cols = report("per-sample fields, analysis reused (baseline)", w, c, ph, args.samples, None)
    net.set_widths(width0)
    w, c, ph, ls = run_steps(net, F, loss, args.steps, "linear")
    report("output-space adjoint, analysis reused (labmnn)", w, c, ph, args.samples, 1.0, base)
    r = len(loss.support[0])
    print(f"    {r} output components: {2 * r} solved columns a step instead of {2 * args.samples}; "
          f"{cols / float(np.median(w[1:])):.2f}x faster than the per-sample fields")
    print(f"    loss {ls[0]:.3e} -> {ls[-1]:.3e} (per-sample path: {ls_cols[0]:.3e} -> {ls_cols[-1]:.3e})")
    if args.linear_only:
        return 0

    S = args.nonlinear_samples
    print(f"exact (large-rotation) model, batch of {S} samples, {max(3, args.steps // 2)} Adam steps:")
    steps = max(3, args.steps // 2)
    net.set_widths(width0)
    w, c, ph, ls = run_steps(net, F[:S], _sub(loss, S), steps, "nonlinear", fresh_analysis=True)
    base = report("analysis redone every step (baseline)", w, c, ph, S, None)
    net.set_widths(width0)
    w, c, ph, ls = run_steps(net, F[:S], _sub(loss, S), steps, "nonlinear")
    report("analysis reused (labmnn)", w, c, ph, S, None, base)
    print(f"    loss {ls[0]:.3e} -> {ls[-1]:.3e}")
    print(f"    every Newton step and adjoint solve refactorises numerically only: phase 11 ran {ph.get(11, 0)} "
          f"time(s), phase 22 {ph.get(22, 0)} times")
    return 0


def _no_support(loss):
    """``loss`` without its declared support, so the gradient takes the per-sample path."""
    return lambda u: loss(u)


def _sub(loss, S):
    from labmnn.model import losses

    return losses.MSELoss(loss.nodes, loss.axes, loss.values[:S])


if __name__ == "__main__":
    sys.exit(main())

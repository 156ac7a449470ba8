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

The same for the exact (large-rotation) model, ``mechanics="nonlinear"``, with a
batch of ``--nonlinear-samples`` (default 100): the batched sparse path
(:mod:`labmnn.model.nonlinear_batch`: every sample at once, preconditioned by the
linear factor, one multi-column solve per iteration), its bond loops compiled
by Numba where the fast extra is installed (beside it, the same steps with the
loops in NumPy, ``LABMNN_BOND_KERNELS=numpy``).  Its other baseline in the same
run is the one-by-one path (Newton with a factorisation of the tangent at every
step) on ``--baseline-samples`` samples (default 2), its time scaled to the batch
per sample.  The limit printed beside them is one solve of the batch's columns
with the linear factor: a nonlinear step needs at least a forward and an
adjoint pass over the batch, so two of those.

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

from bench_common import cpu_s, pardiso_threads, run_busy  # noqa: E402


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


def run_steps(net, F, loss, steps: int, mechanics: str, fresh_analysis: bool = False, per_sample: bool = False,
              one_by_one: bool = False):
    """Adam steps on the widths; returns per-step (wall, CPU) and the PARDISO phase counts.

    ``one_by_one``: the exact model's samples each on the one-by-one path (the
    batched path's baseline).  The batched path's counts go to ``_batch_counts``.
    """
    from labmnn.model import nonlinear
    from labmnn.model import solver as linear_solver
    from labmnn.training.optim import Adam

    saved = nonlinear.BATCH_FROM, nonlinear.BATCH_ONE_FROM
    if one_by_one:
        nonlinear.BATCH_FROM = nonlinear.BATCH_ONE_FROM = 10**9
    try:
        with linear_solver.retained_heap():  # as labmnn.training.loop.train runs its steps
            return _steps(net, F, loss, steps, mechanics, fresh_analysis, per_sample, Adam, linear_solver)
    finally:
        nonlinear.BATCH_FROM, nonlinear.BATCH_ONE_FROM = saved


def _steps(net, F, loss, steps, mechanics, fresh_analysis, per_sample, Adam, linear_solver):
    from labmnn.model import nonlinear_batch

    opt = Adam(lr=0.01)
    x = np.log(net.width)
    if per_sample:  # a loss with no declared support: every sample's fields are solved for
        loss = _no_support(loss)
    net._solver_cache.clear()  # start from nothing: the first step analyses, the others should not
    net.__dict__.pop("_tangent_cache", None)
    linear_solver.PHASE_CALLS.clear()
    walls, cpus, losses_, threads = [], [], [], []
    _batch_counts.update(solves=0, factorisations=0, careful=0)
    made = _count_batches(nonlinear_batch)
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
        if mechanics == "linear":
            threads.extend(pardiso_threads(net))
        _harvest(made)  # at once: a BatchStatics kept would keep its step's linear factor alive, and
        # the next step would analyse D again (a loop variable left bound here was enough)
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
    ap.add_argument("--nonlinear-samples", type=int, default=100)
    ap.add_argument("--baseline-samples", type=int, default=2, help="one-by-one baseline of the exact model")
    ap.add_argument("--linear-only", action="store_true", help="skip the exact (large-rotation) model")
    ap.add_argument("--busy", type=int, default=0, metavar="K", help="K spinning processes during the run")
    args = ap.parse_args()
    return run_busy(args.busy, lambda: run(args))


def run(args) -> int:
    from labmnn.model import bond_kernels
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
    steps = max(3, args.steps // 2)
    Fn, loss_n = _batch_of(F, loss, S)
    print(f"exact (large-rotation) model, batch of {S} samples, {steps} Adam steps:")
    net.set_widths(width0)
    before = _column_solve(net, Fn)
    w, c, ph, ls = run_steps(net, Fn, loss_n, steps, "nonlinear")
    after = _column_solve(net, Fn)
    limit = 0.5 * (before + after)
    counts = _batch_counts
    batch = report("batched path (labmnn)", w, c, ph, S, None)
    print(f"    per step: {counts['solves'] / steps:.1f} multi-column solves, {counts['factorisations'] / steps:.1f} "
          f"stability factorisations, {counts['careful'] / steps:.1f} samples handed to the one-by-one path")
    per_step = counts["solves"] / steps  # read now: the one-by-one baseline below counts afresh
    print(f"    loss {ls[0]:.3e} -> {ls[-1]:.3e}")
    if bond_kernels.available():  # the same steps with the bond loops in NumPy (no fast extra)
        net.set_widths(width0)
        os.environ[bond_kernels.ENV] = "numpy"
        try:
            wn, cn, phn, _ = run_steps(net, Fn, loss_n, steps, "nonlinear")
        finally:
            del os.environ[bond_kernels.ENV]
        plain = report("batched path, bond loops in NumPy (baseline)", wn, cn, phn, S, None)
        print(f"    the compiled bond loops (Numba, {bond_kernels.__name__}) make the step {plain / batch:.2f}x faster")
    else:
        print("    (Numba is not installed: the bond loops ran in NumPy; the fast extra compiles them)")
    B = args.baseline_samples
    if B > 0:
        net.set_widths(width0)
        w1, c1, ph1, _ = run_steps(net, Fn[:B], _sub(loss_n, B), steps, "nonlinear", one_by_one=True)
        one = report(f"one by one, {B} samples (baseline)", w1, c1, ph1, B, None)
        print(f"    one-by-one time scaled to {S} samples: {one * S / B:.1f} s a step; the batched path is "
              f"{one * S / B / batch:.1f}x faster")
    print(f"    limit: one {S}-column solve with the linear factor takes {limit:.3f} s (median of 3, before and "
          f"after the batched steps: {before:.3f} / {after:.3f} s; load {os.getloadavg()[0]:.1f}); two of them "
          f"(forward + adjoint) {2 * limit:.3f} s; the batched step is {batch / (2 * limit):.1f}x that, "
          f"{batch / limit:.0f} such solves' worth")
    print(f"    floor of this method: its {per_step:.1f} multi-column solves a step alone take "
          f"{per_step * limit:.1f} s "
          f"(an exact equilibrium needs a solve per Newton iteration and per adjoint CG iteration; the 1 s target "
          f"allows {1.0 / limit:.1f} solves)")
    return 0


_batch_counts = {"solves": 0, "factorisations": 0, "careful": 0}


def _batch_of(F, loss, S):
    """The first ``S`` samples (repeated if the batch has fewer) and their loss."""
    return np.resize(F, (S,) + F.shape[1:]), _sub(loss, S)


def _column_solve(net, F) -> float:
    """Median wall time of one solve of F's columns with the linear factor (the gathered right-hand sides)."""
    net._equilibrium = None  # a fresh factor: PARDISO's threads chosen now, as a training step's are
    eq = net.equilibrium()
    dofs = eq._gather()
    rhs = np.asfortranarray(np.take(F.reshape(F.shape[0], -1), dofs, axis=1).T)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        eq.factor.solve(rhs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _harvest(made: list) -> None:
    """Add the counts of the ``BatchStatics`` in ``made`` to ``_batch_counts`` and let them go."""
    for b in made:
        _batch_counts["solves"] += b.solves
        _batch_counts["factorisations"] += b.factorisations
        _batch_counts["careful"] += b.careful
    made.clear()


def _count_batches(module) -> list:
    """Every ``BatchStatics`` made from now on (their solve and factorisation counts), in a list."""
    made: list = []
    cls = module.BatchStatics
    if not hasattr(cls, "_bench_init"):
        cls._bench_init = cls.__init__

        def init(self, statics):
            cls._bench_init(self, statics)
            cls._bench_made.append(self)

        cls.__init__ = init
    cls._bench_made = made
    return made


def _no_support(loss):
    """``loss`` without its declared support, so the gradient takes the per-sample path."""
    return lambda u: loss(u)


def _sub(loss, S):
    from labmnn.model import losses

    return losses.MSELoss(loss.nodes, loss.axes, np.resize(loss.values, (S,) + loss.values.shape[1:]))


if __name__ == "__main__":
    sys.exit(main())

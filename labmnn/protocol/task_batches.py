"""A ``train`` protocol with ``[train] task``: Adam steps on batches of a data-set task's samples.

Each Adam step takes the next batch of the task's training samples (the task's
batch size, an order shuffled per epoch from ``[train] seed``, so a resumed
session draws the same batches) and hangs each sample's forward load as its own
loading(s).  The loss and dL/du come from the measured displacements; the
gradient is the batch mean of

* ``gradient = "pat"``: the model's adjoint elongations at the measured state
  (:func:`labmnn.training.methods._pat_gradient`), or
* ``gradient = "insitu"``: each sample's adjoint force -dL/du planned and hung
  too, its measured elongations times the sample's forward elongations.
"""

from __future__ import annotations

import numpy as np

from labmnn.errors import LabmnnError
from labmnn.model.network import GRAVITY
from labmnn.protocol import analysis
from labmnn.protocol.events import PlanEvent
from labmnn.protocol.planner import LoadingPlan, PlanError, adjoint_plan, plan_loading


class TaskBatches:
    """The task behind a ``[train] task`` protocol: its samples' forces, losses and batch order."""

    def __init__(self, spec, net):
        from labmnn.errors import InputError
        from labmnn.model.network_file import decode_json
        from labmnn.text_files import read_text
        from labmnn.training.methods import _Setup
        from labmnn.training.tasks import task_from_payload

        tr = spec.train
        payload = decode_json(read_text(tr.task, "task file"), str(tr.task))  # bad JSON: one line
        try:
            self.task = task_from_payload(payload)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            why = " ".join(str(exc).split())[:160]
            raise InputError(str(tr.task), "", f"is not a task payload written by labmnn train --on rig ({why})") \
                from None
        if self.task.network.n_nodes != net.n_nodes:
            raise InputError(str(tr.task), "network", f"has {self.task.network.n_nodes} nodes, the protocol's "
                             f"network {net.n_nodes}")
        self.setup = _Setup(self.task, tr.seed)
        bs = self.task.optimizer.batch_size
        rng = np.random.default_rng([self.setup.seed, 7])
        batches = []
        while len(batches) < tr.steps:
            order = rng.permutation(self.setup.train_idx) if len(self.setup.train_idx) > 1 else self.setup.train_idx
            batches += [order[i:i + bs] for i in range(0, len(order), bs)]
        self.batches = batches[:tr.steps]

    def plan(self, spec, sample: int) -> LoadingPlan | None:
        """Sample ``sample``'s forward load as loadings (as given: scale 1); None when every stack of it
        is lighter than half the smallest piece (nothing is hung: the print at rest stands for it)."""
        grams = np.abs(self.setup.F_all[sample]) / GRAVITY * 1e3
        if grams.max() < min(spec.weights.sizes_g) / 2:
            return None
        try:
            return plan_loading(self.setup.F_all[sample], spec.weights, spec.rig, scale=1.0, role=f"sample {sample}")
        except PlanError as exc:
            raise PlanError(f"sample {sample} of the task: {exc}") from None

    def preflight_lines(self, spec, net) -> tuple[list[str], float]:
        """Every training sample planned (raises :class:`PlanError` for one that cannot be hung)."""
        worst = 0.0
        n_loadings = 0
        empty = 0
        for s in self.setup.train_idx:
            plan = self.plan(spec, int(s))
            if plan is None:
                empty += 1
                continue
            worst = max(worst, plan.predicted_error)
            n_loadings += len(plan.loadings)
        if spec.train.gradient == "insitu":
            self._check_adjoints(spec, net)
        bs = self.task.optimizer.batch_size
        return ([f"data-set training of {self.task.name}: {len(self.setup.train_idx)} training samples, batches of "
                 f"{bs}, one forward loading plan per sample ({n_loadings} loadings for all of them), worst "
                 f"predicted rounding error {worst:.1%}"
                 + (f"; {empty} sample(s) lighter than half the smallest piece are measured at rest" if empty
                    else "")], worst)


    def _check_adjoints(self, spec, net) -> None:
        """In-situ: the first batch's adjoint forces, predicted by the model, must be hangable."""
        idx = self.batches[0]
        F = self.setup.F_all[idx]
        _, dLdu = self.task.loss(idx)(net.solve(F).displacements)
        for k, s in enumerate(idx):
            if not np.any(dLdu[k]):
                continue
            try:
                adjoint_plan(spec, net, -np.asarray(dLdu[k]), net.solve(F[k]).elongations)
            except PlanError as exc:
                raise PlanError(f"before anything is hung: sample {int(s)}: {exc}") from None


def measure_batch(eng, prefix: str, tag: str, tb: TaskBatches, t: int) -> dict:
    """One repeat of step ``t``: reference, each sample's forward (and adjoint) loadings, the gradient."""
    from labmnn.training.methods import _pat_gradient

    spec, net = eng.spec, eng.net
    idx = tb.batches[t]
    ref = eng.reference_step(f"{prefix}reference", f"{tag}: reference")
    fwd = [_measure_sample(eng, prefix, tag, "forward", f"s{int(s)}", tb.plan(spec, int(s)), ref) for s in idx]
    U = np.array([f["displacements"] for f in fwd])
    F = np.array([f["forces"] for f in fwd])
    E = np.array([f["elongations"] for f in fwd])
    loss = tb.task.loss(idx)
    value, dLdu = loss(U)
    dLdu = np.asarray(dLdu, dtype=float)
    insitu = spec.train.gradient == "insitu"
    adj = []
    if insitu:
        for k, s in enumerate(idx):
            adj.append(_sample_adjoint(eng, prefix, tag, int(s), -dLdu[k], E[k], ref))

    def assemble():
        if insitu:
            g = np.mean([a * e if a is not None else np.zeros_like(e) for a, e in zip(adj, E)], axis=0)
        else:
            g = _pat_gradient(net, U, dLdu, "linear")
        g_sim = net.gradient(F, loss)
        return {"loss": float(np.mean(value)), "gradient": g, "gradient_simulated": g_sim, "gradient_geometric": g,
                "relative_error": analysis.relative_error(g, g_sim), "cosine": analysis.cosine(g, g_sim),
                "nonlinearity_forward": 0.0, "nonlinearity_adjoint": 0.0, "scale": 0.0, "predicted_error": 0.0,
                "samples": [int(s) for s in idx], "forward_forces_n": F, "gradient_source": spec.train.gradient}

    return eng.gradient_step(f"{prefix}gradient", f"{tag}: gradient of the batch", assemble)


def _measure_sample(eng, prefix, tag, role, sample, plan: LoadingPlan | None, ref) -> dict:
    if plan is None:  # nothing to hang: at rest
        n, m = eng.net.n_nodes, eng.net.n_bonds
        return {"displacements": np.zeros((n, 2)), "forces": np.zeros((n, 2)), "elongations": np.zeros(m)}
    steps = [eng.loading_step(f"{prefix}{role}/{sample}/{ld.index}", f"{tag}: {role} of sample {sample[1:]}, "
                              f"loading {ld.index + 1}/{len(plan.loadings)}", ld, ref) for ld in plan.loadings]
    return analysis.combine_loadings(eng.net, plan, steps)


def _sample_adjoint(eng, prefix, tag, sample: int, F_adj, e_fwd, ref):
    """In-situ: plan (checkpointed) and hang one sample's adjoint force; its elongations per unit force
    (None when the sample's dL/du is zero: it adds nothing to the gradient)."""
    net = eng.net
    key = f"{prefix}adjoint-plan/s{sample}"

    def make_plan():
        if not np.any(F_adj):
            return {"plan": None}
        try:
            plan = adjoint_plan(eng.spec, net, F_adj, e_fwd)
        except PlanError as exc:
            raise LabmnnError(f"sample {sample}: {exc}") from None
        eng.emit(PlanEvent(type="plan", role=f"adjoint of sample {sample}", lines=plan.describe(),
                           predicted_error=plan.predicted_error))
        return {"plan": plan.to_dict(), "adjoint_force_n": np.asarray(F_adj).tolist()}

    rec = eng.step(key, f"{tag}: adjoint plan of sample {sample}", make_plan)
    if rec["plan"] is None:
        return None
    plan = LoadingPlan.from_dict(rec["plan"])
    return np.asarray(_measure_sample(eng, prefix, tag, "adjoint", f"s{sample}", plan, ref)["elongations"])

"""The training loop: mini-batch Adam on bar widths with exact adjoint gradients.

Each step costs one factorisation of the stiffness matrix, which serves the
forward and the adjoint solve of every sample of the batch
(:meth:`labmnn.Network.gradient`).  After each epoch the whole data set is
solved once (one more factorisation, reused by the next step) to record the
train and test loss and accuracy (classification) or relative error
(regression) on the held-out split.

``mechanics`` (the task's top-level key, or :func:`train`'s argument) picks the
bar model of every solve and gradient: ``"linear"`` (the paper's) or
``"nonlinear"`` (bars that rotate, :mod:`labmnn.model.nonlinear`; the gradient
is the adjoint of the tangent stiffness).  Whatever the training used, the
final metrics are also scored under the exact model (``*_exact`` keys), since
that is how the printed network behaves.

Example
-------
>>> from labmnn.training.tasks import load_task
>>> task = load_task("iris")                          # doctest: +SKIP
>>> result = train(task, seed=3, epochs=20)           # doctest: +SKIP
>>> result.metrics["test_accuracy"] > 0.6             # doctest: +SKIP
True
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from labmnn.errors import InputError, ZeroModeError
from labmnn.model.network import Network, check_mechanics
from labmnn.model.nonlinear import NoEquilibrium
from labmnn.model.solver import retained_heap
from labmnn.training.datasets import split_indices
from labmnn.training.optim import Adam, WidthMap
from labmnn.training.tasks import AXES, Task

SNAPSHOT_EPOCHS = (1, 10, 20)


@dataclass
class Evaluation:
    """Loss and quality of a network on some samples.

    Attributes
    ----------
    loss : float
        Mean loss.
    accuracy : float or None
        Fraction classified right (classification and behaviour cross-entropy).
    relative_error : float or None
        ||u - target|| / ||target|| over the samples' target components (MSE tasks).
    outputs : ndarray (S, K)
        Output displacement components the loss reads (m).
    predictions : ndarray (S,) of int or None
    """

    loss: float
    accuracy: float | None
    relative_error: float | None
    outputs: np.ndarray
    predictions: np.ndarray | None


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    task : Task
    network : Network
        The trained network (widths inside the bounds).
    initial_network : Network
    history : list of dict
        One row per epoch (epoch 0 = before training).
    metrics : dict
        Final figures (``loss``, ``train_accuracy`` / ``test_accuracy`` or
        ``train_relative_error`` / ``test_relative_error``, timing ...).
    train_idx, test_idx : ndarray of int
    feature_scale : (offset, divisor)
    snapshots : dict of int -> ndarray
        Predicted classes of all samples at a few epochs (classification).
    encoding : (gain, preload) or None
        The learned input encoding (see :class:`labmnn.training.tasks.InputSpec`).
    mechanics : {"linear", "nonlinear"}
        The bar model training used.
    """

    task: Task
    network: Network
    initial_network: Network
    history: list
    metrics: dict
    train_idx: np.ndarray
    test_idx: np.ndarray
    feature_scale: tuple
    snapshots: dict = field(default_factory=dict)
    encoding: tuple | None = None
    mechanics: str = "linear"


def evaluate(task: Task, net: Network, idx: np.ndarray, scale, displacements=None, encoding=None,
             mechanics: str = "linear") -> Evaluation:
    """Loss, accuracy or relative error of ``net`` on samples ``idx``.

    ``displacements`` (S_all, n, 2) may be given to skip the solve; else the
    samples are solved with ``mechanics``.
    """
    if displacements is None:
        u = net.solve(task.forces(idx, scale, encoding), mechanics=mechanics).displacements
    else:
        u = displacements[idx]
    loss = task.loss(idx)
    value, _ = loss(u)
    outputs = loss.outputs(u)
    if task.loss_spec["kind"] == "cross_entropy":
        pred = loss.predict(u)
        acc = float(np.mean(pred == task.dataset.labels[idx]))
        return Evaluation(float(np.mean(value)), acc, None, outputs, pred)
    tgt = task.dataset.targets[idx]
    rel = float(np.linalg.norm(outputs - tgt) / max(np.linalg.norm(tgt), 1e-300))
    return Evaluation(float(np.mean(value)), None, rel, outputs, None)


def prepare_network(task: Task, init: Network | None = None, prune=None) -> Network:
    """The network training starts from: the task's, or ``init``; minus pruned bonds.

    Raises
    ------
    InputError
        If ``init`` has another node count than the task's network.
    ZeroModeError
        If pruning leaves a mechanism (named with the pruned bonds).
    """
    net = (init if init is not None else task.network).copy()
    if init is not None and init.n_nodes != task.network.n_nodes:
        raise InputError(init.source, "nodes_mm", f"has {init.n_nodes} nodes but the task's network has "
                                                  f"{task.network.n_nodes}")
    if prune is not None and len(np.atleast_1d(prune)):
        bonds = np.atleast_1d(np.asarray(prune, dtype=np.int64))
        pairs = ", ".join(f"{int(b)} ({net.bonds[b][0]}-{net.bonds[b][1]})" for b in bonds
                          if 0 <= b < net.n_bonds)
        net = net.without_bonds(bonds)
        n_modes, nodes = net.zero_modes()
        if n_modes:
            err = ZeroModeError(n_modes, nodes, f"{task.network.name} without bond {pairs}")
            raise err
        net.name = f"{net.name}-pruned"
    return net


ENCODING_KEY = "input_encoding"


def initial_encoding(task: Task, net: Network):
    """The input encoding training starts from: the network's own (if it has one for these
    input nodes), else gain 1 and no preload; None when there is nothing to learn or apply."""
    d = len(task.inputs.nodes)
    saved = net.extra.get(ENCODING_KEY)
    if isinstance(saved, dict) and saved.get("nodes") == [int(i) for i in task.inputs.nodes]:
        gain, preload = np.asarray(saved["gain"], dtype=float), np.asarray(saved["preload"], dtype=float)
    elif task.inputs.learned:
        gain, preload = np.ones(d), np.zeros(d)
    else:
        return None
    gb, pb = task.inputs.gain_bounds, task.inputs.preload_bounds
    if gb is not None:
        gain = np.clip(gain, *gb)
    if pb is not None:
        preload = np.clip(preload, *pb)
    return gain, preload


def input_gradients(task: Task, adjoint_displacements: np.ndarray, X: np.ndarray):
    """Batch-mean dL/dgain and dL/dpreload of the learned input encoding.

    By reciprocity dL/dF = -u_adj, the adjoint displacement at the input nodes: on the rig it
    is read from the same adjoint photograph as the elongations.

    Parameters
    ----------
    adjoint_displacements : ndarray (S, n, 2)
    X : ndarray (S, d)
        Scaled features of the batch.
    """
    dL_dx = -adjoint_displacements[:, task.inputs.nodes, task.inputs.axis] * task.inputs.force_n
    return np.mean(dL_dx * X, axis=0), np.mean(dL_dx, axis=0)


def behaviour_output_names(task: Task) -> list[str]:
    """History column names of the output components a loss reads, e.g. ``uy13_mm``."""
    if task.loss_spec["kind"] == "cross_entropy":
        axis = "xy"[AXES[task.loss_spec.get("axis", "y")]]
        return [f"u{axis}{int(n)}_mm" for n in task.loss_spec["outputs"]]
    return [f"u{'xy'[a]}{int(n)}_mm" for n, a in zip(task.dataset.target_nodes, task.dataset.target_axes)]


def _postfix(row: dict) -> dict:
    """The progress bar's short summary of a history row."""
    out = {"loss": f"{row['train_loss']:.3g}"}
    for key in ("test_accuracy", "test_relative_error", "train_accuracy", "train_relative_error"):
        if key in row:
            out[key.split("_", 1)[1]] = f"{row[key]:.3g}"
            break
    return out


def _epoch_row(epoch: int, tr: Evaluation, te: Evaluation, seconds: float) -> dict:
    row = {"epoch": epoch, "train_loss": tr.loss, "test_loss": te.loss}
    if tr.accuracy is not None:
        row["train_accuracy"] = tr.accuracy
        row["test_accuracy"] = te.accuracy
    else:
        row["train_relative_error"] = tr.relative_error
        row["test_relative_error"] = te.relative_error
    row["seconds"] = seconds
    return row


def _train_score(row: dict) -> float:
    """Higher is better: training accuracy, or minus the training relative error / loss."""
    if "train_accuracy" in row:
        return float(row["train_accuracy"])
    if "train_relative_error" in row:
        return -float(row["train_relative_error"])
    return -float(row["train_loss"])


@retained_heap()  # the same big arrays step after step: freed ones are reused, not re-faulted
def train(task: Task, seed: int | None = None, epochs: int | None = None, network: Network | None = None,
          progress: bool = False, record_every: int = 1, mechanics: str | None = None,
          keep_best: bool = False) -> TrainResult:
    """Train ``task`` (or retrain ``network`` on it) with mini-batch Adam.

    Parameters
    ----------
    task : Task
    seed : int, optional
        Overrides the split seed; also seeds the batch shuffling.
    epochs : int, optional
        Overrides the task's epoch count.
    network : Network, optional
        Start from this network (retraining / damage) instead of the task's.
    progress : bool
        Show a tqdm bar on stderr (only when stderr is a terminal).
    record_every : int
        Evaluate and record a history row every this many epochs (and at the end).
    mechanics : {"linear", "nonlinear"}, optional
        Overrides the task's bar model for every solve and gradient.
    keep_best : bool
        End with the widths of the recorded epoch that scored best on the
        *training* set (never the test set), as early stopping does: a
        surrogate loss can keep falling while accuracy falls too (see
        ``docs/training.md``, damage study).

    Returns
    -------
    TrainResult
    """
    t0 = time.perf_counter()
    seed = task.split.seed if seed is None else int(seed)
    epochs = task.optimizer.epochs if epochs is None else int(epochs)
    mech = check_mechanics(task.mechanics if mechanics is None else mechanics)
    net = (network if network is not None else task.network).copy()
    initial = net.copy()
    ds = task.dataset
    train_idx, test_idx = split_indices(ds.n_samples, task.split.train_fraction, seed)
    scale = task.feature_scale(train_idx)
    all_idx = np.arange(ds.n_samples)
    enc = initial_encoding(task, net)
    learn_inputs = task.inputs.learned and enc is not None
    X_all = task.scaled_features(all_idx, scale)
    F_all = task.forces(all_idx, scale, enc)
    if learn_inputs:
        opt_gain = Adam(lr=task.inputs.lr, betas=task.optimizer.betas, eps=task.optimizer.eps)
        opt_pre = Adam(lr=task.inputs.lr, betas=task.optimizer.betas, eps=task.optimizer.eps)
    rng = np.random.default_rng([seed, 1])

    wmap = WidthMap(task.widths.bounds, task.widths.method, task.widths.sigmoid_beta)
    net.width_bounds = np.array(task.widths.bounds, dtype=float)  # the saved design keeps the bounds it was trained in
    opt = Adam(lr=task.optimizer.lr, betas=task.optimizer.betas, eps=task.optimizer.eps)
    x = wmap.to_variable(net.width)
    net.set_widths(wmap.to_width(x))
    bs = task.optimizer.batch_size

    output_names = behaviour_output_names(task)

    def record(epoch):
        u = net.solve(F_all, mechanics=mech).displacements
        tr = evaluate(task, net, train_idx, scale, u)
        te = evaluate(task, net, test_idx, scale, u)
        row = _epoch_row(epoch, tr, te, time.perf_counter() - t0)
        if task.kind == "behaviour":  # one load case, no held-out set: follow the outputs (paper Fig. 2b)
            for key in [k for k in row if k.startswith("test_")]:
                del row[key]
            row.update({name: float(v) * 1e3 for name, v in zip(output_names, tr.outputs[0])})
        return row, tr, te

    row, tr, te = record(0)
    history = [row]
    snapshots = {}
    best = (_train_score(row), net.width.copy(), enc, 0)
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=epochs, desc=task.name, unit="epoch", file=sys.stderr, leave=False)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(train_idx) if len(train_idx) > 1 else train_idx
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            if not learn_inputs:
                g = net.gradient(F_all[idx], task.loss(idx), wrt="width", mechanics=mech)
            else:
                res = net.gradient(F_all[idx], task.loss(idx), wrt="width", return_details=True,
                                   mechanics=mech)
                g = res.gradient
                d_gain, d_pre = input_gradients(task, res.adjoint.displacements, X_all[idx])
                gain, preload = enc
                if task.inputs.gain_bounds is not None:
                    gain = np.clip(opt_gain.step(gain, d_gain), *task.inputs.gain_bounds)
                if task.inputs.preload_bounds is not None:
                    preload = np.clip(opt_pre.step(preload, d_pre), *task.inputs.preload_bounds)
                enc = (gain, preload)
                F_all = task.forces(all_idx, scale, enc)
            x = wmap.clip(opt.step(x, wmap.variable_gradient(x, g)))
            net.set_widths(wmap.to_width(x))
        if epoch % record_every == 0 or epoch == epochs or epoch in SNAPSHOT_EPOCHS:
            row, tr, te = record(epoch)
            history.append(row)
            if keep_best and _train_score(row) > best[0]:
                best = (_train_score(row), net.width.copy(), enc, epoch)
            if tr.predictions is not None and epoch in SNAPSHOT_EPOCHS:
                snapshots[epoch] = _all_predictions(task, net, F_all, mech)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(_postfix(row))
    if bar is not None:
        bar.close()
    restored = None
    if keep_best and best[0] > _train_score(history[-1]):
        net.set_widths(best[1])
        enc, restored = best[2], best[3]
        F_all = task.forces(all_idx, scale, enc)
        history[-1], tr, te = record(epochs)  # the run ends in the restored state
    if task.loss_spec["kind"] == "cross_entropy":
        snapshots[epochs] = _all_predictions(task, net, F_all, mech)
    metrics = _final_metrics(task, net, history, train_idx, test_idx, scale, F_all, epochs, seed, t0, mech)
    if restored is not None:
        metrics["restored_best_epoch"] = restored
    if enc is not None:
        record_enc = {"nodes": [int(i) for i in task.inputs.nodes], "gain": enc[0].tolist(),
                      "preload": enc[1].tolist(), "force_n": task.inputs.force_n,
                      "feature_offset": scale[0].tolist(), "feature_divisor": scale[1].tolist()}
        net.extra[ENCODING_KEY] = record_enc
        metrics[ENCODING_KEY] = record_enc
    return TrainResult(task=task, network=net, initial_network=initial, history=history, metrics=metrics,
                       train_idx=train_idx, test_idx=test_idx, feature_scale=scale, snapshots=snapshots,
                       encoding=enc, mechanics=mech)


def _all_predictions(task: Task, net: Network, F_all: np.ndarray, mechanics: str = "linear") -> np.ndarray:
    u = net.solve(F_all, mechanics=mechanics).displacements
    return task.loss(np.arange(len(F_all))).predict(u)


def _final_metrics(task, net, history, train_idx, test_idx, scale, F_all, epochs, seed, t0, mech) -> dict:
    last = history[-1]
    m = {"task": task.name, "kind": task.kind, "mechanics": mech, "epochs": epochs, "seed": seed,
         "loss": last["train_loss"], "test_loss": last.get("test_loss"),
         "initial_loss": history[0]["train_loss"]}
    for key in ("train_accuracy", "test_accuracy", "train_relative_error", "test_relative_error"):
        if key in last:
            m[key] = last[key]
            m[f"initial_{key}"] = history[0][key]
    if task.kind == "behaviour":
        # one sample: there is no held-out set; report the outputs reached
        for key in ("test_accuracy", "test_relative_error", "initial_test_accuracy",
                    "initial_test_relative_error", "test_loss"):
            m.pop(key, None)
        u = net.solve(F_all, mechanics=mech).displacements[0]
        nodes = task.output_nodes()
        m["outputs_mm"] = {str(int(i)): (u[i] * 1e3).tolist() for i in nodes}
        if task.dataset.targets is not None:
            tgt = task.dataset.targets[0]
            got = u[task.dataset.target_nodes, task.dataset.target_axes]
            m["targets_mm"] = (tgt * 1e3).tolist()
            m["reached_mm"] = (got * 1e3).tolist()
            m["max_target_relative_error"] = float(np.max(np.abs(got - tgt) / np.abs(tgt)))
    if task.kind == "regression" and task.dataset.clean_targets is not None:
        loss = task.loss(test_idx)
        out = loss.outputs(net.solve(F_all[test_idx], mechanics=mech).displacements)
        clean = task.dataset.clean_targets[test_idx]
        m["test_relative_error_vs_clean"] = float(np.linalg.norm(out - clean) / np.linalg.norm(clean))
    m.update(exact_metrics(task, net, train_idx, test_idx, F_all))
    w = net.width * 1e3
    m["width_mm_min"], m["width_mm_max"] = float(w.min()), float(w.max())
    m["n_train"], m["n_test"] = int(len(train_idx)), int(len(test_idx))
    if task.kind == "behaviour":
        m["n_test"] = 0  # the single load case is trained on; nothing is held out
    m["n_bonds"] = int(net.n_bonds)
    m["seconds"] = time.perf_counter() - t0
    return m


def exact_metrics(task: Task, net: Network, train_idx: np.ndarray, test_idx: np.ndarray,
                  F_all: np.ndarray) -> dict:
    """The task's figures scored under the exact (large-rotation) mechanics: ``*_exact`` keys.

    ``train_accuracy_exact`` / ``test_accuracy_exact`` (classification),
    ``train_relative_error_exact`` / ``test_relative_error_exact`` (regression);
    a behaviour task gets ``outputs_mm_exact`` (and ``reached_mm_exact`` /
    ``max_target_relative_error_exact`` for targets, ``train_accuracy_exact`` for
    a class).  A load the exact model finds no equilibrium for gives
    ``exact_error`` (the message) instead.
    """
    try:
        u = net.solve(F_all, mechanics="nonlinear").displacements
    except NoEquilibrium as exc:
        return {"exact_error": str(exc)}
    tr = evaluate(task, net, train_idx, None, u)
    te = evaluate(task, net, test_idx, None, u)
    m = {"loss_exact": tr.loss}
    if task.kind == "behaviour":
        nodes = task.output_nodes()
        m["outputs_mm_exact"] = {str(int(i)): (u[0, i] * 1e3).tolist() for i in nodes}
        if tr.accuracy is not None:
            m["train_accuracy_exact"] = tr.accuracy
        if task.dataset.targets is not None:
            tgt = task.dataset.targets[0]
            got = u[0, task.dataset.target_nodes, task.dataset.target_axes]
            m["reached_mm_exact"] = (got * 1e3).tolist()
            m["max_target_relative_error_exact"] = float(np.max(np.abs(got - tgt) / np.abs(tgt)))
        return m
    if tr.accuracy is not None:
        m["train_accuracy_exact"], m["test_accuracy_exact"] = tr.accuracy, te.accuracy
    else:
        m["train_relative_error_exact"], m["test_relative_error_exact"] = tr.relative_error, te.relative_error
    m["test_loss_exact"] = te.loss
    return m

"""PNG figures of training runs (matplotlib, Agg backend: no display needed).

Every function takes plain arrays and a path, draws one figure and closes it.

Example
-------
>>> import labmnn
>>> net = labmnn.Network.example("paper-triangle-n4")
>>> plot_network(net, "/tmp/net.png", inputs=[10], outputs=[12, 13])   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

CLASS_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
LOSS_LABELS = {"cross_entropy": "loss: cross-entropy (nats)", "mse": "loss: mean squared error (m²)"}


def human_key(key: str) -> str:
    """A column key in words: ``uy12_mm`` -> ``u_y of node 12 (mm)``, ``sepal_length_cm`` -> ``sepal length (cm)``.

    >>> human_key("uy12_mm"), human_key("sepal_length_cm"), human_key("test_accuracy")
    ('u_y of node 12 (mm)', 'sepal length (cm)', 'test accuracy')
    """
    import re

    m = re.fullmatch(r"u([xy])(\d+)_mm", key)
    if m:
        return f"u_{m.group(1)} of node {m.group(2)} (mm)"
    for unit in ("mm", "cm", "m", "n", "g"):
        if key.endswith(f"_{unit}"):
            return f"{key[: -len(unit) - 1].replace('_', ' ')} ({'N' if unit == 'n' else unit})"
    return key.replace("_", " ")


def _integer_ticks(*axes) -> None:
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_history(history: list[dict], path, title: str = "", paper: dict | None = None,
                 loss_label: str = "loss", targets: dict | None = None) -> Path:
    """Loss and accuracy (or relative error, or the outputs themselves) per epoch.

    Parameters
    ----------
    history : list of dict
        Rows with ``epoch``, ``train_loss``, ``test_loss`` and ``train_accuracy`` /
        ``test_accuracy`` or ``train_relative_error`` / ``test_relative_error``, or
        output columns such as ``uy12_mm`` (behaviour tasks).
    paper : dict, optional
        ``{"epoch": ..., "loss": ..., "train_accuracy": ..., "test_accuracy": ...}``
        curves of the paper drawn dashed for comparison.
    loss_label : str
        The loss axis label, with the loss's definition and unit (see ``LOSS_LABELS``).
    targets : dict, optional
        Goal value per output column (``{"uy12_mm": -0.5}``), drawn as dotted lines.
    """
    ep = np.array([r["epoch"] for r in history])
    classification = "train_accuracy" in history[0]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, c in (("train_loss", "tab:purple"), ("test_loss", "tab:gray")):
        if key in history[0]:
            a1.plot(ep, [r[key] for r in history], color=c, label=key.replace("_", " "))
    if not classification:
        a1.set_yscale("log")
    a1.set_ylabel(loss_label)
    keys = ("train_accuracy", "test_accuracy") if classification else ("train_relative_error", "test_relative_error")
    outs = [k for k in history[0] if k.startswith("u") and k.endswith("_mm")]
    if outs:  # behaviour: the outputs themselves are the result, against their goals
        for n, key in enumerate(outs):
            c = CLASS_COLOURS[n % len(CLASS_COLOURS)]
            a2.plot(ep, [r[key] for r in history], color=c, label=human_key(key))
            if targets and key in targets:
                a2.axhline(targets[key], color=c, ls=":", lw=1.2, label=f"goal {targets[key]:+.3f} mm")
        a2.set_ylabel("output displacement (mm)")
    else:
        for key, c in zip(keys, ("tab:orange", "tab:blue")):
            if key in history[0]:
                a2.plot(ep, [r[key] for r in history], color=c, label=key.replace("_", " "))
        if paper:
            pe = paper.get("epoch")
            if "loss" in paper:
                a1.plot(pe, paper["loss"], "--", color="tab:purple", alpha=0.6, label="paper")
            for key, c in zip(keys, ("tab:orange", "tab:blue")):
                if key in paper:
                    a2.plot(pe, paper[key], "--", color=c, alpha=0.6, label=f"paper {key.split('_')[0]}")
        a2.set_ylabel("accuracy (fraction right)" if classification else "relative error of the outputs")
        if classification:
            a2.set_ylim(0, 1.02)
        else:
            a2.set_yscale("log")
    for ax in (a1, a2):
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    _integer_ticks(a1, a2)
    fig.suptitle(title)
    return _save(fig, path)


def bond_polygons(nodes: np.ndarray, bonds: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Rectangles (m, 4, 2) of each bar, with its true width, in the units of ``nodes``."""
    a, b = nodes[bonds[:, 0]], nodes[bonds[:, 1]]
    d = b - a
    n = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.hypot(d[:, 0], d[:, 1])[:, None]
    h = (width / 2)[:, None] * n
    return np.stack([a + h, b + h, b - h, a - h], axis=1)


def plot_network(net, path, inputs=(), outputs=(), title: str = "", reference_width=None, ax=None) -> Path | None:
    """The network with every bar drawn at its width, to scale (millimetres).

    Fixed nodes are blue triangles, input nodes red dots, output nodes cyan stars
    (the paper's marks).  With ``reference_width`` (m) bars are coloured by their
    change from it.
    """
    nodes = net.nodes * 1e3
    width = net.width * 1e3
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6, 5))
    polys = bond_polygons(nodes, net.bonds, width)
    if reference_width is not None:
        dw = width - np.asarray(reference_width) * 1e3
        lim = max(float(np.abs(dw).max()), 1e-9)
        pc = PolyCollection(polys, array=dw, cmap="coolwarm", clim=(-lim, lim), edgecolor="none")
        ax.add_collection(pc)
        plt.colorbar(pc, ax=ax, shrink=0.7, label="width change (mm)")
    else:
        ax.add_collection(PolyCollection(polys, facecolor="0.3", edgecolor="none"))
    ax.plot(*nodes.T, "o", color="0.15", ms=3)
    f = net.fixed_nodes
    ax.plot(nodes[f, 0], nodes[f, 1] + 3, "v", color="tab:blue", ms=10, label="fixed")
    if len(inputs):
        ax.plot(*nodes[np.asarray(inputs)].T, "o", color="tab:red", ms=8, label="input")
    if len(outputs):
        ax.plot(*nodes[np.asarray(outputs)].T, "*", color="c", ms=14, mec="k", mew=0.5, label="output")
    for i, (x, y) in enumerate(nodes):  # above the markers, on a white patch, offset up-right
        ax.annotate(str(i), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=8, color="0.1",
                    zorder=10, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.6", "lw": 0.5,
                                     "alpha": 0.85})
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title or f"{net.name}: widths {width.min():.2f}-{width.max():.2f} mm", fontsize=9)
    ax.legend(loc="lower left", fontsize=7)
    return _save(fig, path) if own else None


def plot_confusion(labels: np.ndarray, predictions: np.ndarray, class_names, path, title: str = "") -> Path:
    """Confusion matrix (rows: true class, columns: predicted) with counts."""
    C = len(class_names)
    M = np.zeros((C, C), dtype=int)
    np.add.at(M, (np.asarray(labels), np.asarray(predictions)), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(M, cmap="Blues")
    for (i, j), v in np.ndenumerate(M):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > M.max() / 2 else "black")
    ax.set_xticks(range(C), class_names, rotation=30)
    ax.set_yticks(range(C), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {np.trace(M) / max(M.sum(), 1):.3f}", fontsize=9)
    return _save(fig, path)


def plot_class_scatter(features: np.ndarray, labels: np.ndarray, snapshots: dict, class_names, path,
                       axes=(0, 2), feature_names=None, test_mask=None) -> Path:
    """Predicted classes in a feature plane at several epochs (the paper's Fig. 4c).

    Colour is the class the network predicts; circles are training samples,
    squares test samples; a black ring marks a wrong prediction.  Each panel's
    title quotes the accuracy on the test set and on the training set.
    """
    epochs = sorted(snapshots)
    fig, axs = plt.subplots(1, len(epochs), figsize=(3.6 * len(epochs), 3.6), squeeze=False)
    i, j = axes
    test = np.zeros(len(labels), dtype=bool) if test_mask is None else np.asarray(test_mask, dtype=bool)
    for ax, ep in zip(axs[0], epochs):
        pred = np.asarray(snapshots[ep])
        for c in range(len(class_names)):
            colour = CLASS_COLOURS[c % len(CLASS_COLOURS)]
            for subset, marker in ((~test, "o"), (test, "s")):
                s = (pred == c) & subset
                ax.scatter(features[s, i], features[s, j], s=18, marker=marker, color=colour)
        wrong = pred != labels
        ax.scatter(features[wrong, i], features[wrong, j], s=60, facecolors="none", edgecolors="k", linewidths=0.8)
        right = ~wrong
        parts = [f"test {right[test].mean():.2f}" if test.any() else "", f"train {right[~test].mean():.2f}"]
        ax.set_title(f"epoch {ep}: accuracy {', '.join(p for p in parts if p)}", fontsize=9)
        if feature_names:
            ax.set_xlabel(human_key(feature_names[i]))
            ax.set_ylabel(human_key(feature_names[j]))
    handles = [Line2D([], [], ls="", marker="o", color=CLASS_COLOURS[c % len(CLASS_COLOURS)],
                      label=f"predicted {name}") for c, name in enumerate(class_names)]
    handles += [Line2D([], [], ls="", marker="o", color="0.5", label="training sample"),
                Line2D([], [], ls="", marker="s", color="0.5", label="test sample"),
                Line2D([], [], ls="", marker="o", mfc="none", mec="k", ms=9, label="wrong prediction")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.06))
    return _save(fig, path)


def plot_regression(force: np.ndarray, targets: np.ndarray, predicted: np.ndarray, names, path,
                    title: str = "") -> Path:
    """Target (dots) and predicted (lines) output displacements (mm) against input force (N), both explained."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    order = np.argsort(force)
    for t, name in enumerate(names):
        c = CLASS_COLOURS[t % len(CLASS_COLOURS)]
        ax.plot(force, targets[:, t] * 1e3, ".", color=c, alpha=0.5)
        ax.plot(force[order], predicted[order, t] * 1e3, "-", color=c, label=name)
    ax.plot([], [], ".", color="0.5", label="dots: the data's targets")
    ax.plot([], [], "-", color="0.5", label="lines: the trained network's outputs")
    ax.set_xlabel("input force (N)")
    ax.set_ylabel("output displacement (mm)")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_bars(labels, series: dict, path, ylabel: str, title: str = "") -> Path:
    """Grouped bars: ``series`` maps a legend name to one value per label."""
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(labels) * len(series)), 3.8))
    x = np.arange(len(labels))
    w = 0.8 / max(len(series), 1)
    for k, (name, vals) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * w, vals, w, label=name)
    ax.set_xticks(x, [str(v) for v in labels], fontsize=7)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_prune_study(bonds, before, after, zero_mode_bonds, baseline: float, path, ylabel: str,
                     title: str = "", chance: float | None = None) -> Path:
    """Each bond removed in turn: the score right after pruning and after retraining.

    Bonds whose removal leaves a mechanism (zero modes: no equilibrium) are
    marked on the axis; the undamaged network's score and chance level are lines.
    """
    every = np.union1d(np.asarray(bonds, dtype=int), np.asarray(zero_mode_bonds, dtype=int))
    x = {b: k for k, b in enumerate(every)}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(every) + 1.5), 3.8))
    xs = np.array([x[b] for b in bonds])
    ax.bar(xs - 0.2, before, 0.4, color="tab:blue", label="pruned")
    ax.bar(xs + 0.2, after, 0.4, color="tab:orange", label="pruned, then retrained")
    for b in zero_mode_bonds:
        ax.plot(x[b], 0.02 * max(baseline, 1e-12), "x", color="tab:red", ms=9, mew=2)
    if len(zero_mode_bonds):
        ax.plot([], [], "x", color="tab:red", ms=9, mew=2, label="mechanism (zero modes): not solvable")
    ax.axhline(baseline, color="k", ls="--", lw=1, label=f"undamaged network ({baseline:.3f})")
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xticks(range(len(every)), [str(b) for b in every], fontsize=8)
    ax.set_xlabel("bond removed")
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.7, len(every) - 0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title, fontsize=9)
    return _save(fig, path)

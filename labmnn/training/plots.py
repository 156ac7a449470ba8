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

CLASS_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_history(history: list[dict], path, title: str = "", paper: dict | None = None) -> Path:
    """Loss and accuracy (or relative error) per epoch.

    Parameters
    ----------
    history : list of dict
        Rows with ``epoch``, ``train_loss``, ``test_loss`` and ``train_accuracy`` /
        ``test_accuracy`` or ``train_relative_error`` / ``test_relative_error``.
    paper : dict, optional
        ``{"epoch": ..., "loss": ..., "train_accuracy": ..., "test_accuracy": ...}``
        curves of the paper drawn dashed for comparison.
    """
    ep = np.array([r["epoch"] for r in history])
    classification = "train_accuracy" in history[0]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, c in (("train_loss", "tab:purple"), ("test_loss", "tab:gray")):
        if key not in history[0]:
            continue
        a1.plot(ep, [r[key] for r in history], color=c, label=key.replace("_", " "))
    if not classification:
        a1.set_yscale("log")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    keys = ("train_accuracy", "test_accuracy") if classification else ("train_relative_error", "test_relative_error")
    for key, c in zip(keys, ("tab:orange", "tab:blue")):
        if key in history[0]:
            a2.plot(ep, [r[key] for r in history], color=c, label=key.replace("_", " "))
    outs = [k for k in history[0] if k.startswith("u") and k.endswith("_mm")]
    if outs:  # behaviour: the outputs themselves are the result
        a2.clear()
        for key in outs:
            a2.plot(ep, [r[key] for r in history], label=key)
        a2.set_ylabel("output displacement (mm)")
        a2.legend(fontsize=8)
        a1.legend(fontsize=8)
        fig.suptitle(title)
        a2.set_xlabel("epoch")
        return _save(fig, path)
    if paper:
        pe = paper.get("epoch")
        if "loss" in paper:
            a1.plot(pe, paper["loss"], "--", color="tab:purple", alpha=0.6, label="paper")
        for key, c in zip(keys, ("tab:orange", "tab:blue")):
            if key in paper:
                a2.plot(pe, paper[key], "--", color=c, alpha=0.6, label=f"paper {key.split('_')[0]}")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy" if classification else "relative error")
    if not classification:
        a2.set_yscale("log")
    else:
        a2.set_ylim(0, 1.02)
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
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
    for i, (x, y) in enumerate(nodes):
        ax.annotate(str(i), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7, color="0.4")
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

    Points are coloured by predicted class; wrong predictions get a black ring;
    test samples are drawn as squares.
    """
    epochs = sorted(snapshots)
    fig, axs = plt.subplots(1, len(epochs), figsize=(3.6 * len(epochs), 3.4), squeeze=False)
    i, j = axes
    for ax, ep in zip(axs[0], epochs):
        pred = np.asarray(snapshots[ep])
        for c, name in enumerate(class_names):
            sel = pred == c
            for mask, marker in ((None, "o"), (test_mask, "s")):
                s = sel if mask is None else sel & mask
                if mask is None and test_mask is not None:
                    s = sel & ~test_mask
                ax.scatter(features[s, i], features[s, j], s=18, marker=marker,
                           color=CLASS_COLOURS[c % len(CLASS_COLOURS)], label=name if marker == "o" else None)
        wrong = pred != labels
        ax.scatter(features[wrong, i], features[wrong, j], s=60, facecolors="none", edgecolors="k", linewidths=0.8)
        ax.set_title(f"epoch {ep}: {np.mean(~wrong):.2f} right", fontsize=9)
        if feature_names:
            ax.set_xlabel(feature_names[i])
            ax.set_ylabel(feature_names[j])
    axs[0][0].legend(fontsize=7)
    return _save(fig, path)


def plot_regression(force: np.ndarray, targets: np.ndarray, predicted: np.ndarray, names, path,
                    title: str = "") -> Path:
    """Target (dots) and predicted (lines) output displacements (mm) against input force (N)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    order = np.argsort(force)
    for t, name in enumerate(names):
        c = CLASS_COLOURS[t % len(CLASS_COLOURS)]
        ax.plot(force, targets[:, t] * 1e3, ".", color=c, alpha=0.5)
        ax.plot(force[order], predicted[order, t] * 1e3, "-", color=c, label=name)
    ax.set_xlabel("input force (N)")
    ax.set_ylabel("displacement (mm)")
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

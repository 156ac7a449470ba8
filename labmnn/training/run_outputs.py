"""Write a training run to a folder: metrics, history, trained network, plots.

Layout of ``DIR`` (see ``docs/training.md``)::

    metrics.json        final figures (train/test accuracy or relative error, loss, the mechanics
                        trained with, and the figures under the exact mechanics: ``*_exact``)
    history.csv         one row per recorded epoch
    network.json        the trained network (labmnn-network/1, trained widths)
    task.toml           the task as run (for the record)
    loss.png            loss and accuracy / relative error per epoch
    network.png         the trained network, bars to scale, coloured by width change
    confusion.png       classification: test-set confusion matrix
    classes.png         classification: predicted classes at a few epochs (paper Fig. 4c)
    regression.png      regression: targets and predictions against the input force
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from labmnn.text_files import write_atomic, write_json_atomic
from labmnn.training.loop import TrainResult


def write_history_csv(history: list[dict], path: Path) -> None:
    """The per-epoch history as CSV (columns of the first row)."""
    keys = list(history[0])
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for row in history:
        w.writerow({k: row.get(k) for k in keys})
    write_atomic(path, buf.getvalue(), fsync=False)


def write_run(result: TrainResult, out_dir: str | Path, extra_metrics: dict | None = None,
              make_plots: bool = True) -> dict:
    """Write everything about ``result`` into ``out_dir``; returns the paths written.

    Example
    -------
    >>> paths = write_run(result, "runs/iris")   # doctest: +SKIP
    >>> sorted(paths)[:3]                         # doctest: +SKIP
    ['classes', 'confusion', 'history']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = result.task
    metrics = dict(result.metrics, **(extra_metrics or {}))
    paths = {}
    paths["metrics"] = out / "metrics.json"
    write_json_atomic(paths["metrics"], metrics, fsync=False)
    paths["history"] = out / "history.csv"
    write_history_csv(result.history, paths["history"])
    net = result.network.copy()
    net.extra = dict(net.extra, trained={"task": task.name, "epochs": metrics.get("epochs"),
                                         "seed": metrics.get("seed")})
    paths["network"] = out / "network.json"
    net.save(paths["network"])
    try:
        import tomli_w

        paths["task"] = out / "task.toml"
        write_atomic(paths["task"], tomli_w.dumps(task.raw), fsync=False)
    except Exception:  # noqa: BLE001  (a record only; never fail a run for it)
        paths.pop("task", None)
    if make_plots:
        paths.update(write_plots(result, out))
    return paths


def _output_goals(task) -> dict:
    """Fixed MSE targets by history column (``{"uy12_mm": -0.5}``), for the behaviour plot."""
    goals = {}
    for t in task.loss_spec.get("targets", []) if task.loss_spec.get("kind") == "mse" else []:
        if isinstance(t.get("value"), (int, float)):
            goals[f"u{t.get('axis', 'y')}{int(t['node'])}_mm"] = 1e3 * float(t["value"])
    return goals


def write_plots(result: TrainResult, out: Path) -> dict:
    """The PNG figures of a run (see the module docstring)."""
    from labmnn.training import plots  # matplotlib loads only when figures are drawn

    task = result.task
    paths = {}
    title = f"{task.name}: seed {result.metrics.get('seed')}"
    paths["loss_plot"] = plots.plot_history(result.history, out / "loss.png", title=title,
                                            loss_label=plots.LOSS_LABELS.get(task.loss_spec.get("kind"), "loss"),
                                            targets=_output_goals(task))
    ref = result.initial_network.width if result.initial_network.n_bonds == result.network.n_bonds else None
    paths["network_plot"] = plots.plot_network(result.network, out / "network.png", inputs=task.inputs.nodes,
                                               outputs=task.output_nodes(), reference_width=ref)
    ds = task.dataset
    if task.kind == "classification":
        final = result.snapshots[max(result.snapshots)]
        te = result.test_idx
        accuracy = np.mean(final[te] == ds.labels[te])
        paths["confusion_plot"] = plots.plot_confusion(ds.labels[te], final[te], ds.class_names,
                                                       out / "confusion.png",
                                                       title=f"test set: accuracy {accuracy:.3f}")
        mask = np.zeros(ds.n_samples, dtype=bool)
        mask[te] = True
        paths["classes_plot"] = plots.plot_class_scatter(ds.features, ds.labels, result.snapshots, ds.class_names,
                                                         out / "classes.png", feature_names=ds.feature_names,
                                                         test_mask=mask)
    elif task.kind == "regression":
        idx = np.arange(ds.n_samples)
        u = result.network.solve(task.forces(idx, result.feature_scale, result.encoding),
                                 mechanics=result.mechanics).displacements
        pred = task.loss(idx).outputs(u)
        names = [plots.human_key(f"u{'xy'[a]}{n}_mm") for n, a in zip(ds.target_nodes, ds.target_axes)]
        paths["regression_plot"] = plots.plot_regression(ds.features[:, 0], ds.targets, pred, names,
                                                         out / "regression.png", title=task.name)
    return paths

"""A ``train`` protocol built from a training task: in-situ training of a print on the rig.

``labmnn train TASK --method insitu --on rig`` writes the protocol this module
builds (and the task's network) into a folder and runs it with the protocol
engine, so the training is a session like every other: each forward and adjoint
loading and each Adam update is a checkpointed step, and ``labmnn resume
SESSION`` continues a run that was killed.

The ``train`` protocol kind has one forward load case and a target loss, so
only behaviour tasks (one fixed load, MSE on target displacements) can be
trained this way; a task with a data set needs one load case per sample.

Example
-------
>>> from labmnn.training.tasks import load_task
>>> text = train_protocol_text(load_task("behaviour-mse"), steps=3)
>>> 'kind = "train"' in text
True
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from labmnn.errors import InputError
from labmnn.model.network import GRAVITY
from labmnn.text_files import write_json_atomic

# the bench defaults of protocols/train.toml: a small set of slotted weights, hung by hand
WEIGHT_SIZES_G = (1, 2, 5, 10, 20)
WEIGHT_COUNTS = (4, 4, 4, 4, 2)
MAX_PER_NODE_G = 20
MAX_TOTAL_G = 40


def check_rig_task(task) -> None:
    """Raise :class:`InputError` unless ``task`` fits the ``train`` protocol kind (a behaviour task)."""
    if task.kind != "behaviour" or task.loss_spec.get("kind") != "mse" or task.dataset.n_samples != 1:
        raise InputError(str(task.name), "", "--on rig trains behaviour tasks only (one fixed load, MSE on "
                                             "targets): the train protocol has one forward load case; train "
                                             f"a {task.kind} task with --on sim")


def forward_loads(task) -> list[dict]:
    """The task's single load case as ``[[forward]]`` entries (node, force_n in newtons)."""
    from labmnn.training.methods import _Setup

    F = _Setup(task, None).F_all[0]
    loads = [{"node": int(i), "force_n": [float(F[i, 0]), float(F[i, 1])]}
             for i in np.flatnonzero(np.any(F != 0, axis=1))]
    if not loads:
        raise InputError(str(task.name), "inputs", "the task's load is zero: nothing to hang")
    return loads


def train_protocol_text(task, steps: int, learning_rate_mm: float | None = None, network_file: str = "network.json",
                        name: str | None = None, balance_port: str | None = None) -> str:
    """The ``labmnn-protocol/1`` text of an in-situ training of ``task`` (``steps`` Adam steps).

    ``learning_rate_mm`` is Adam's step in mm of width (default: the task's
    step on its width variable, times the width span in mm); ``balance_port``
    the real balance's serial port (the real rig needs it).
    """
    check_rig_task(task)
    if steps < 1:
        raise InputError("--epochs", "", f"must be >= 1, found {steps}")
    lo, hi = (float(b) * 1e3 for b in task.widths.bounds)
    lr = task.optimizer.lr * (hi - lo) if learning_rate_mm is None else float(learning_rate_mm)
    heaviest = max(abs(c) for ld in forward_loads(task) for c in ld["force_n"]) / GRAVITY * 1e3
    lines = ["# In-situ training of a print, built from a task by `labmnn train --method insitu --on rig`.",
             "[protocol]", 'format = "labmnn-protocol/1"', f"name = {json.dumps(name or 'train-' + task.name)}",
             'kind = "train"', f"description = {json.dumps('in-situ training of the task ' + task.name)}",
             "repeats = 1", ""]
    if balance_port:
        lines += ["[balance]", f"port = {json.dumps(balance_port)}", ""]
    lines += ["[network]", f"file = {json.dumps(network_file)}", "", "[weights]",
             f"sizes_g = {list(WEIGHT_SIZES_G)}", f"counts = {list(WEIGHT_COUNTS)}", "", "[rig]",
             f"max_per_node_g = {max(MAX_PER_NODE_G, int(np.ceil(heaviest)))}",
             f"max_total_g = {max(MAX_TOTAL_G, int(np.ceil(heaviest)) * 2)}", ""]
    for ld in forward_loads(task):
        lines += ["[[forward]]", f"node = {ld['node']}", f"force_n = [{ld['force_n'][0]!r}, {ld['force_n'][1]!r}]", ""]
    targets = ", ".join(f"{{ node = {int(t['node'])}, axis = {json.dumps(str(t['axis']))}, "
                        f"value = {float(t['value'])!r} }}" for t in task.loss_spec["targets"])
    lines += ["[loss]", 'kind = "mse"', f"targets = [{targets}]", "", "[adjoint]", 'scale = "auto"', "max_g = 10",
              "min_g = 1", "", "[train]", f"steps = {int(steps)}", f"learning_rate = {lr!r}",
              'output = "trained.json"', ""]
    return "\n".join(lines)


def write_train_protocol(task, folder: str | Path, steps: int, learning_rate_mm: float | None = None,
                         balance_port: str | None = None) -> Path:
    """Write ``train.toml`` and ``network.json`` (the task's network, with its width bounds) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = task.network.copy()
    net.width_bounds = np.array(task.widths.bounds, dtype=float)
    write_json_atomic(folder / "network.json", net.to_dict(), fsync=False)
    path = folder / "train.toml"
    path.write_text(train_protocol_text(task, steps, learning_rate_mm, balance_port=balance_port))
    return path


def loading_seconds(folder: str | Path) -> dict:
    """Bench time per loading of a session, from its log's timestamps.

    Returns ``{"loadings", "seconds_per_loading"}``: the median time from the
    step before a loading to the loading's record (hang, settle, photograph,
    unhang as the operator did them), or ``None`` without loadings.
    """
    from labmnn.protocol.recorder import read_records

    recs = [r for r in read_records(Path(folder) / "log.jsonl") if r.get("kind") == "step"]
    dts = [b["time"] - a["time"] for a, b in zip(recs, recs[1:])
           if any(part in b["key"] for part in ("/forward/", "/adjoint/", "/series/"))]
    return {"loadings": len(dts), "seconds_per_loading": float(np.median(dts)) if dts else None}


def rig_metrics(folder: str | Path, task) -> dict:
    """``metrics.json`` of a finished rig training session: cost from its log, losses from its results."""
    from labmnn.protocol.recorder import read_records

    folder = Path(folder)
    recs = read_records(folder / "log.jsonl")
    steps = [r for r in recs if r.get("kind") == "step"]
    loads = loading_seconds(folder)
    summary = json.loads((folder / "results.json").read_text())
    hist = summary.get("history", [])
    installs = sum(1 for r in steps if r["key"].endswith("/install"))
    return {"task": task.name, "kind": task.kind, "method": "insitu", "on": "rig", "session": folder.name,
            "steps": len(hist), "loss_first": summary.get("loss_first"), "loss_last": summary.get("loss_last"),
            "loadings": loads["loadings"], "prints": 1 + installs,
            "bench_hours": (recs[-1]["time"] - recs[0]["time"]) / 3600.0,
            "seconds_per_loading": loads["seconds_per_loading"], "bench_time_source": "session log timestamps"}

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


def is_behaviour(task) -> bool:
    """One fixed load and MSE targets: the ``train`` protocol's own ``[[forward]]`` and ``[loss]``."""
    return task.kind == "behaviour" and task.loss_spec.get("kind") == "mse" and task.dataset.n_samples == 1


def check_rig_task(task, datasets: bool = False) -> None:
    """Raise :class:`InputError` unless ``task`` fits the ``train`` protocol kind: a behaviour task, or with
    ``datasets`` also a task with a data set (``[train] task``: one loading per sample of a batch)."""
    if datasets and not is_behaviour(task):
        if task.kind == "behaviour":
            raise InputError(str(task.name), "", "--on rig trains behaviour tasks with one load and MSE targets "
                                                 f"(this one has a {task.loss_spec.get('kind')} loss)")
        return
    if task.kind != "behaviour" or task.loss_spec.get("kind") != "mse" or task.dataset.n_samples != 1:
        raise InputError(str(task.name), "", "--method insilico and identify run on the rig for behaviour tasks "
                                             "only (one fixed load, MSE on targets: the print is scored under "
                                             f"that load); train a {task.kind} task on the rig with --method pat, "
                                             "insitu or hybrid, or with --on sim")


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
                        name: str | None = None, balance_port: str | None = None, gradient: str = "insitu",
                        mechanics: str = "linear", condition_s: float | None = None, final: str = "best") -> str:
    """The ``labmnn-protocol/1`` text of a training of ``task`` on the rig (``steps`` Adam steps).

    ``learning_rate_mm`` is Adam's step in mm of width (default: the task's
    step on its width variable, times the width span in mm); ``balance_port``
    the real balance's serial port (the real rig needs it); ``gradient`` the
    ``[train] gradient`` ("insitu": adjoint loadings measured, "pat": adjoint
    from the model at the measured state); ``mechanics`` the protocol's
    (``"nonlinear"``: the exact gradient, behaviour tasks only); ``condition_s``
    the ``[train] condition_s`` (None: left out, so the default
    ``labmnn.training.methods.CONDITION_S`` applies); ``final`` the ``[train] final``
    of a behaviour task ("best": the last design is mounted and measured too and the
    design with the lowest measured loss kept, as the simulated methods do; a data-set
    task's protocol keeps the last design: each design is measured on one batch only).
    """
    check_rig_task(task, datasets=True)
    if steps < 1:
        raise InputError("--epochs", "", f"must be >= 1, found {steps}")
    if not is_behaviour(task):
        if mechanics != "linear":
            raise InputError("--mechanics", "", f"{mechanics} on the rig is for behaviour tasks: a batch of "
                                                "samples is measured loading by loading (linear)")
        return _dataset_protocol_text(task, steps, learning_rate_mm, network_file, name, balance_port, gradient,
                                      condition_s)  # final = "last": a design is measured on one batch only
    lo, hi = (float(b) * 1e3 for b in task.widths.bounds)
    lr = task.optimizer.lr * (hi - lo) if learning_rate_mm is None else float(learning_rate_mm)
    heaviest = max(abs(c) for ld in forward_loads(task) for c in ld["force_n"]) / GRAVITY * 1e3
    what = "In-situ" if gradient == "insitu" else "Physics-aware (PAT)"
    lines = [f"# {what} training of a print, built from a task by `labmnn train --method {gradient} --on rig`.",
             "[protocol]", 'format = "labmnn-protocol/1"', f"name = {json.dumps(name or 'train-' + task.name)}",
             'kind = "train"', f"description = {json.dumps(what.lower() + ' training of the task ' + task.name)}",
             "repeats = 1"] + ([f"mechanics = {json.dumps(mechanics)}"] if mechanics != "linear" else []) + [""]
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
              'output = "trained.json"', f"gradient = {json.dumps(gradient)}", f"final = {json.dumps(final)}"]
    lines += _condition_line(condition_s) + [""]
    return "\n".join(lines)


def _dataset_protocol_text(task, steps, learning_rate_mm, network_file, name, balance_port, gradient,
                           condition_s=None) -> str:
    """A ``train`` protocol whose samples and loss come from ``task.json`` (``[train] task``)."""
    from labmnn.training.methods import _Setup

    lo, hi = (float(b) * 1e3 for b in task.widths.bounds)
    lr = task.optimizer.lr * (hi - lo) if learning_rate_mm is None else float(learning_rate_mm)
    F = _Setup(task, None).F_all
    heaviest = int(np.ceil(np.abs(F).max() / GRAVITY * 1e3))
    total = int(np.ceil(np.abs(F).sum(axis=(1, 2)).max() / GRAVITY * 1e3))
    what = "In-situ" if gradient == "insitu" else "Physics-aware (PAT)"
    lines = [f"# {what} training of a print on batches of the task's samples, built by `labmnn train --method "
             f"{gradient} --on rig`.", "[protocol]", 'format = "labmnn-protocol/1"',
             f"name = {json.dumps(name or 'train-' + task.name)}", 'kind = "train"',
             f"description = {json.dumps(what.lower() + ' training of the task ' + task.name)}", "repeats = 1", ""]
    if balance_port:
        lines += ["[balance]", f"port = {json.dumps(balance_port)}", ""]
    lines += ["[network]", f"file = {json.dumps(network_file)}", "", "[weights]",
              f"sizes_g = {list(WEIGHT_SIZES_G)}", f"counts = {list(WEIGHT_COUNTS)}", "", "[rig]",
              f"max_per_node_g = {max(MAX_PER_NODE_G, heaviest)}", f"max_total_g = {max(MAX_TOTAL_G, total)}", "",
              "[adjoint]", 'scale = "auto"', "max_g = 10", "min_g = 1", "", "[train]", f"steps = {int(steps)}",
              f"learning_rate = {lr!r}", 'output = "trained.json"', f"gradient = {json.dumps(gradient)}",
              'task = "task.json"', f"seed = {int(task.split.seed)}"] + _condition_line(condition_s) + [""]
    return "\n".join(lines)


def _condition_line(condition_s: float | None) -> list[str]:
    """``condition_s = ...`` (seconds a newly mounted print waits before its first loading), or nothing."""
    return [] if condition_s is None else [f"condition_s = {float(condition_s)!r}"]


def default_rig_steps(task) -> int:
    """Adam steps on the rig when ``--epochs`` is not given: the task's epochs for a behaviour task (one
    step each), one epoch of batches for a task with a data set."""
    if is_behaviour(task):
        return int(task.optimizer.epochs)
    from labmnn.training.methods import _Setup

    return -(-len(_Setup(task, None).train_idx) // task.optimizer.batch_size)


def write_train_protocol(task, folder: str | Path, steps: int, learning_rate_mm: float | None = None,
                         balance_port: str | None = None, gradient: str = "insitu", network=None,
                         mechanics: str = "linear", condition_s: float | None = None, final: str = "best") -> Path:
    """Write ``train.toml`` and ``network.json`` (``network``, default the task's, with the task's
    width bounds) into ``folder``; ``condition_s``: ``[train] condition_s`` (None: the default)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = (task.network if network is None else network).copy()
    net.width_bounds = np.array(task.widths.bounds, dtype=float)
    write_json_atomic(folder / "network.json", net.to_dict(), fsync=False)
    if not is_behaviour(task):
        write_json_atomic(folder / "task.json", task.payload(), fsync=False)
    path = folder / "train.toml"
    path.write_text(train_protocol_text(task, steps, learning_rate_mm, balance_port=balance_port, gradient=gradient,
                                        mechanics=mechanics, condition_s=condition_s, final=final))
    return path


LOADING_PARTS = ("/forward/", "/adjoint/", "/series/", "/increment/", "/increment-half/", "/forward-half/",
                 "/adjoint-half/")


def loading_seconds(folder: str | Path) -> dict:
    """Bench time per loading of a session, from its log's timestamps.

    Returns ``{"loadings", "seconds_per_loading"}``: the median time from the
    step before a loading to the loading's record (hang, settle, photograph,
    unhang as the operator did them), or ``None`` without loadings.
    """
    t = session_timing(folder)
    return {"loadings": t["loadings"], "seconds_per_loading": t["seconds_per_loading"]}


def session_timing(folder: str | Path) -> dict:
    """What a recorded session measured of the bench's pace, from its log's timestamps.

    Returns
    -------
    dict
        ``loadings`` and ``seconds_per_loading`` (median time from the step
        before a loading to the loading's record), ``design_changes`` and
        ``seconds_per_design_change`` (the same for the install steps of a
        ``train`` session: the operator mounting the next design; ``None``
        without any), ``bench_hours`` (first to last record), ``session``.

    Raises
    ------
    InputError
        When ``folder`` holds no session log.
    """
    from labmnn.protocol.recorder import read_records

    folder = Path(folder)
    log = folder / "log.jsonl"
    if not log.is_file():
        raise InputError(str(folder), "", "is not a session folder (no log.jsonl)")
    recs = read_records(log)
    steps = [r for r in recs if r.get("kind") == "step"]
    pairs = list(zip(steps, steps[1:]))
    loads = [b["time"] - a["time"] for a, b in pairs if any(part in b["key"] for part in LOADING_PARTS)]
    changes = [b["time"] - a["time"] for a, b in pairs if b["key"].endswith("/install")]
    timed = [r["time"] for r in recs if isinstance(r.get("time"), (int, float))]
    conds = [r.get("data", {}) for r in steps if r["key"] == "condition" or r["key"].endswith("/condition")]
    simulated = sum(float(c.get("simulated_s", 0.0)) for c in conds)  # the simulated operator's unslept waits
    waited = sum(float(c.get("waited_s", 0.0)) for c in conds)
    return {"session": folder.name, "loadings": len(loads),
            "seconds_per_loading": float(np.median(loads)) if loads else None,
            "design_changes": len(changes),
            "seconds_per_design_change": float(np.median(changes)) if changes else None,
            "conditionings": len(conds),
            "conditioning_s": float(waited + simulated),
            "bench_hours": ((max(timed) - min(timed) if timed else 0.0) + simulated) / 3600.0}


def rig_metrics(folder: str | Path, task, method: str = "insitu") -> dict:
    """``metrics.json`` of a finished rig training session: cost from its log, losses from its results."""
    folder = Path(folder)
    timing = session_timing(folder)
    summary = json.loads((folder / "results.json").read_text())
    hist = summary.get("history", [])
    return {"task": task.name, "kind": task.kind, "method": method, "on": "rig", "session": folder.name,
            "steps": len(hist), "loss_first": summary.get("loss_first"), "loss_last": summary.get("loss_last"),
            "loadings": timing["loadings"], "prints": 1 + timing["design_changes"],
            "bench_hours": timing["bench_hours"], "seconds_per_loading": timing["seconds_per_loading"],
            "seconds_per_design_change": timing["seconds_per_design_change"],
            "conditionings": timing["conditionings"], "conditioning_s": timing["conditioning_s"],
            "final": summary.get("final", "last"),
            **{k: summary[k] for k in ("best_design", "best_loss", "final_loss") if k in summary},
            "bench_time_source": "session log timestamps", "bench_timing": f"session {folder.name}"}


# ------------------------------------------------------------ load-series protocols
def series_protocol_text(nodes, grams, name: str, description: str, direction: str = "down",
                         network_file: str = "network.json", balance_port: str | None = None,
                         condition_s: float | None = None) -> str:
    """The ``labmnn-protocol/1`` text of a ``load_series``: each of ``grams`` on each of ``nodes`` in turn
    (``condition_s``: the mounted print waits this long before the first loading; None: no wait)."""
    heaviest = int(np.ceil(max(grams)))
    lines = [f"# {description}", "[protocol]", 'format = "labmnn-protocol/1"', f"name = {json.dumps(name)}",
             'kind = "load_series"', f"description = {json.dumps(description)}", "repeats = 1", ""]
    if balance_port:
        lines += ["[balance]", f"port = {json.dumps(balance_port)}", ""]
    lines += ["[network]", f"file = {json.dumps(network_file)}", "", "[weights]",
              f"sizes_g = {list(WEIGHT_SIZES_G)}", f"counts = {list(WEIGHT_COUNTS)}", "", "[rig]",
              f"max_per_node_g = {max(MAX_PER_NODE_G, heaviest)}", f"max_total_g = {max(MAX_TOTAL_G, heaviest)}",
              "", "[series]", f"nodes = {[int(n) for n in nodes]}", f"grams = {[float(g) for g in grams]}",
              f"direction = {json.dumps(direction)}"] + _condition_line(condition_s) + [""]
    return "\n".join(lines)


def write_series_protocol(folder: str | Path, net, nodes, grams, name: str, description: str,
                          direction: str = "down", balance_port: str | None = None,
                          file_name: str = "series.toml", condition_s: float | None = None) -> Path:
    """Write a load-series protocol and the network it loads (``network.json``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "network.json", net.to_dict(), fsync=False)
    path = folder / file_name
    path.write_text(series_protocol_text(nodes, grams, name, description, direction, balance_port=balance_port,
                                         condition_s=condition_s))
    return path


def score_load(task) -> tuple[int, float, str]:
    """The task's load as one stack (node, grams, direction name) to score a print with.

    Raises
    ------
    InputError
        When the load is spread over several nodes or pulls in no plain direction.
    """
    loads = forward_loads(task)
    if len(loads) != 1:
        raise InputError(str(task.name), "inputs", f"loads {len(loads)} nodes: scoring a print on the rig "
                                                   "hangs one stack (a one-node load)")
    fx, fy = loads[0]["force_n"]
    names = {(0.0, -1.0): "down", (0.0, 1.0): "up", (-1.0, 0.0): "left", (1.0, 0.0): "right"}
    norm = float(np.hypot(fx, fy))
    key = (round(fx / norm, 9) + 0.0, round(fy / norm, 9) + 0.0)
    if key not in names:
        raise InputError(str(task.name), "inputs", "pulls at a slant: scoring a print on the rig hangs a stack "
                                                   "straight down, up, left or right")
    return int(loads[0]["node"]), norm / GRAVITY * 1e3, names[key]


def print_score(task, folder: str | Path) -> dict:
    """The task's figure on the print from a finished scoring session (``load_series.json`` cases).

    Returns ``{"print_max_target_relative_error", "print_outputs_mm"}``: the
    measured displacement of every target per unit of the task's load (the
    session's loading is corrected to the target force it stands for).
    """
    summary = json.loads((Path(folder) / "results.json").read_text())
    case = summary["cases"][-1]
    U = np.asarray(case["displacements_mm"], dtype=float) * 1e-3
    errs, outs = [], {}
    for t in task.loss_spec["targets"]:
        axis = {"x": 0, "y": 1}[str(t["axis"])]
        got = float(U[int(t["node"]), axis])
        errs.append(abs(got - float(t["value"])) / abs(float(t["value"])))
        outs[f"{t['node']}{t['axis']}"] = got * 1e3
    return {"print_max_target_relative_error": float(max(errs)), "print_outputs_mm": outs}


# ------------------------------------------------------------ bench timing for --on sim
def bench_timing(folder: str | Path | None, option: str = "--bench-timing") -> dict:
    """The bench pace a simulated training is costed at: stated, or measured in a recorded session.

    Returns ``{"bench_timing", "seconds_per_loading", "seconds_per_print"}``:
    ``bench_timing`` is ``"stated"`` (``folder`` None: the estimates of
    :mod:`labmnn.training.printed`) or ``"session NAME"``; the session's median
    seconds per loading replace the stated ones, and its median seconds per
    design change (the mounts of a ``train`` session) the stated seconds per
    print when it has any (``seconds_per_print_source`` says which).

    Raises
    ------
    InputError
        When ``folder`` is no session or holds no loading to time.
    """
    from labmnn.training.printed import SECONDS_PER_LOADING, SECONDS_PER_PRINT

    if folder is None:
        return {"bench_timing": "stated", "seconds_per_loading": SECONDS_PER_LOADING,
                "seconds_per_print": SECONDS_PER_PRINT, "seconds_per_print_source": "stated"}
    p = Path(folder)
    if not p.is_dir():
        raise InputError(option, "", f"{folder} is not a session folder")
    t = session_timing(p)
    if not t["seconds_per_loading"] or t["seconds_per_loading"] <= 0:
        raise InputError(option, "", f"{folder} holds no timed loading (a session with loadings is needed)")
    change = t["seconds_per_design_change"]
    return {"bench_timing": f"session {p.resolve().name}", "seconds_per_loading": t["seconds_per_loading"],
            "seconds_per_print": change if change else SECONDS_PER_PRINT,
            "seconds_per_print_source": "session" if change else "stated"}

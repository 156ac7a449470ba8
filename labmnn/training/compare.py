"""Compare training methods on many simulated prints: metric against bench cost.

Every (method, print) pair is one job, run on local processes or a Dask
cluster (:func:`labmnn.training.prune_study.make_executor`).  Print ``p`` of a
comparison is the same print world for every method (seed ``seed + p``), so the
methods are compared on the same prints.  The print world is built in the
worker by ``world_factory(network_dict, mismatch, seed)``, a picklable
top-level function the command line supplies.
"""

from __future__ import annotations

import numpy as np

from labmnn.errors import InputError
from labmnn.model.threads import small_solves
from labmnn.training.methods import METHODS, MethodSettings, check_method, metric_of, run_method
from labmnn.training.prune_study import make_executor
from labmnn.training.tasks import load_task, task_from_payload


def run_job(task_payload: dict, settings: dict, world_factory, mismatch, world_seed: int) -> dict:
    """One method on one print; returns its metrics (plain data)."""
    task = task_from_payload(task_payload)
    world = world_factory(task.network.to_dict(), mismatch, world_seed)
    with small_solves():
        res = run_method(task, MethodSettings(**settings), world)
    return res.metrics


def check_comparison(prints: int, mismatch: float | None, methods) -> list:
    if prints < 1:
        raise InputError("--prints", "", f"must be >= 1, found {prints}")
    if mismatch is not None and not 0.0 <= mismatch <= 0.5:
        raise InputError("--mismatch", "", f"must be in [0, 0.5], found {mismatch}")
    names = list(METHODS) if not methods else list(methods)
    for m in names:
        check_method(m, "--methods")
    if len(set(names)) != len(names):
        raise InputError("--methods", "", f"lists a method twice: {','.join(names)}")
    return names


def compare(task_spec: str, world_factory, prints: int = 8, mismatch: float | None = None, methods=None,
            seed: int = 0, settings: dict | None = None, scheduler: str | None = None,
            workers: int | None = None, executor=None) -> dict:
    """Train every method on ``prints`` simulated prints; the ``comparison.json`` object.

    Returns
    -------
    dict
        ``{"task", "metric", "higher_is_better", "methods": {NAME: {"mean", "sd",
        "per_print", "loadings", "prints", "bench_hours"}}}``; loadings, prints
        and bench hours are means over the prints.
    """
    names = check_comparison(prints, mismatch, methods)
    task = load_task(task_spec)
    key, higher = metric_of(task)
    payload = task.payload()
    extra = dict(settings or {})

    def collect(ex):
        futures = {(m, p): ex.submit(run_job, payload, {**extra, "method": m}, world_factory, mismatch, seed + p)
                   for m in names for p in range(prints)}
        return {mp: f.result() for mp, f in futures.items()}

    if executor is not None:
        rows = collect(executor)
    else:
        with make_executor(scheduler, workers) as ex:
            rows = collect(ex)
    out = {"task": task.name, "metric": key, "higher_is_better": higher, "methods": {}}
    for m in names:
        per = [rows[(m, p)] for p in range(prints)]
        vals = [float(r[f"print_{key}"]) for r in per]
        out["methods"][m] = {"mean": float(np.mean(vals)), "sd": float(np.std(vals)), "per_print": vals,
                             "loadings": float(np.mean([r["loadings"] for r in per])),
                             "prints": float(np.mean([r["prints"] for r in per])),
                             "bench_hours": float(np.mean([r["bench_hours"] for r in per]))}
    return out


def comparison_table(comp: dict) -> str:
    """``comparison.json`` as a markdown table."""
    better = "higher" if comp["higher_is_better"] else "lower"
    lines = [f"task {comp['task']}: {comp['metric']} on the print, noise-free ({better} is better); "
             "cost = training only, mean over prints", "",
             "| method | mean | sd | worst print | loadings | prints | bench hours |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in comp["methods"].items():
        worst = min(r["per_print"]) if comp["higher_is_better"] else max(r["per_print"])
        lines.append(f"| {name} | {r['mean']:.4g} | {r['sd']:.2g} | {worst:.4g} | {r['loadings']:.0f} "
                     f"| {r['prints']:.1f} | {r['bench_hours']:.1f} |")
    return "\n".join(lines)


def plot_comparison(comp: dict, path) -> None:
    """Metric against bench hours: one point per method, bars for the spread over prints."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for name, r in comp["methods"].items():
        x = max(r["bench_hours"], 1e-2)
        vals = np.asarray(r["per_print"])
        ax.errorbar([x], [r["mean"]], yerr=[[r["mean"] - vals.min()], [vals.max() - r["mean"]]], fmt="o",
                    capsize=4, label=f"{name} ({r['prints']:.0f} prints)")
        ax.annotate(name, (x, r["mean"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("bench hours (training; log scale)")
    ax.set_ylabel(comp["metric"].replace("_", " ") + " on the print")
    ax.set_title(f"{comp['task']}: methods on simulated prints (bars: best to worst print)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

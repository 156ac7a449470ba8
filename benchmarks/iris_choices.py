"""Measure the training choices for Iris: loss form, softmax scale, width map, feature scaling.

Each variant is trained on 10 random 70/30 splits (seeds 0..9) for 100 epochs on the paper's
network and bounds; prints mean / min / max test accuracy and the mean final train loss.

    python benchmarks/iris_choices.py [--seeds 10] [--epochs 100]
"""

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny solves: threads only contend
import copy
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from labmnn.training.loop import train  # noqa: E402
from labmnn.training.tasks import load_task  # noqa: E402

VARIANTS = {
    "authors: ratio + sigmoid-paper(beta 5) + max": dict(form="ratio", method="sigmoid-paper", scaling="max"),
    "ratio + sigmoid (chain rule) + max": dict(form="ratio", method="sigmoid", scaling="max"),
    "ratio + projection + max": dict(form="ratio", method="projection", scaling="max"),
    "softmax 2e-5 + projection + max": dict(form="softmax", scale=2e-5, method="projection", scaling="max"),
    "softmax 2e-6 + projection + max (iris.toml)": dict(form="softmax", scale=2e-6, method="projection", scaling="max"),
    "softmax 2e-6 + sigmoid (chain rule) + max": dict(form="softmax", scale=2e-6, method="sigmoid", scaling="max"),
    "softmax 2e-6 + sigmoid-paper + max": dict(form="softmax", scale=2e-6, method="sigmoid-paper", scaling="max"),
    "softmax 2e-6 + projection + minmax": dict(form="softmax", scale=2e-6, method="projection", scaling="minmax"),
    "learned input encoding (iris-learned-inputs.toml)": dict(task="iris-learned-inputs"),
}


def variant(task, form=None, method=None, scaling=None, scale=None, task_name=None):
    if task_name:
        return load_task(task_name)
    t = copy.copy(task)
    t.loss_spec = dict(task.loss_spec, form=form)
    if scale is not None:
        t.loss_spec["scale"] = scale
    t.widths = copy.copy(task.widths)
    t.widths.method = method
    t.inputs = copy.copy(task.inputs)
    t.inputs.scaling = scaling
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    base = load_task("iris")
    print(f"{'variant':48s} {'test mean':>9s} {'min':>6s} {'max':>6s} {'train':>6s} {'s/run':>6s}")
    for name, kw in VARIANTS.items():
        if a.only and a.only not in name:
            continue
        kw = dict(kw)
        task = variant(base, task_name=kw.pop("task", None), **kw)
        acc, tr, secs = [], [], []
        for s in range(a.seeds):
            t0 = time.perf_counter()
            r = train(task, seed=s, epochs=a.epochs)
            secs.append(time.perf_counter() - t0)
            acc.append(r.metrics["test_accuracy"])
            tr.append(r.metrics["train_accuracy"])
        acc = np.array(acc)
        print(f"{name:48s} {acc.mean():9.3f} {acc.min():6.3f} {acc.max():6.3f} {np.mean(tr):6.3f} {np.mean(secs):6.2f}",
              flush=True)


if __name__ == "__main__":
    main()

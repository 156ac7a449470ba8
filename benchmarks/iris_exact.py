"""Iris under the exact (large-rotation) mechanics: trained and scored, or linear-trained and scored exactly.

For each variant, 10 random 70/30 splits (seeds 0..9) on the paper's network and
bounds; prints mean / min / max test accuracy under the mechanics it was trained
with and under the exact mechanics (``test_accuracy_exact``), the mean train
accuracy, and seconds per run.  With ``--capacity`` it also trains on all 150
flowers (no hold-out: the network's capacity) and reports the best training
accuracy reached under exact mechanics.

    python benchmarks/iris_exact.py [--seeds 10] [--only TEXT] [--capacity]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny solves: threads only contend

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from labmnn.training.loop import train  # noqa: E402
from labmnn.training.tasks import load_task  # noqa: E402

# name -> (task, mechanics, overrides of the loss scale / epochs / lr)
VARIANTS = {
    "iris.toml, linear (scored exactly too)": ("iris", "linear", {}),
    "iris.toml, nonlinear": ("iris", "nonlinear", {}),
    "iris-learned-inputs.toml, linear (scored exactly too)": ("iris-learned-inputs", "linear", {}),
    "iris-learned-inputs.toml, nonlinear": ("iris-learned-inputs", "nonlinear", {}),
}


def variant(name: str, scale=None, epochs=None, lr=None):
    task = load_task(name)
    task = copy.copy(task)
    if scale is not None:
        task.loss_spec = dict(task.loss_spec, scale=scale)
    task.optimizer = copy.copy(task.optimizer)
    if epochs is not None:
        task.optimizer.epochs = epochs
    if lr is not None:
        task.optimizer.lr = lr
    return task


def capacity(task, mechanics, seeds) -> tuple[float, float]:
    """Best and mean training accuracy (exact mechanics) with all 150 flowers in the training set."""
    task = copy.copy(task)
    task.split = copy.copy(task.split)
    task.split.train_fraction = 149 / 150  # split_indices keeps one flower out at least
    acc = []
    for s in range(seeds):
        r = train(task, seed=s, mechanics=mechanics)
        u = r.network.solve(task.forces(np.arange(150), r.feature_scale, r.encoding),
                            mechanics="nonlinear").displacements
        pred = task.loss(np.arange(150)).predict(u)
        acc.append(float(np.mean(pred == task.dataset.labels)))
    return max(acc), float(np.mean(acc))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--only", default=None, help="run the variants whose name holds this text")
    ap.add_argument("--scale", type=float, default=None, help="override the softmax scale (m)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--capacity", action="store_true", help="also train on all 150 flowers")
    a = ap.parse_args()
    print(f"{'variant':52s} {'test':>6s} {'min':>6s} {'max':>6s} {'exact':>6s} {'min':>6s} {'max':>6s} "
          f"{'train':>6s} {'s/run':>6s}")
    for name, (task_name, mech, kw) in VARIANTS.items():
        if a.only and a.only not in name:
            continue
        kw = dict(kw, **{k: v for k, v in (("scale", a.scale), ("epochs", a.epochs), ("lr", a.lr)) if v is not None})
        task = variant(task_name, **kw)
        acc, exact, tr, secs = [], [], [], []
        for s in range(a.seeds):
            t0 = time.perf_counter()
            r = train(task, seed=s, mechanics=mech)
            secs.append(time.perf_counter() - t0)
            acc.append(r.metrics["test_accuracy"])
            exact.append(r.metrics["test_accuracy_exact"])
            tr.append(r.metrics["train_accuracy_exact"])
        acc, exact = np.array(acc), np.array(exact)
        print(f"{name:52s} {acc.mean():6.3f} {acc.min():6.3f} {acc.max():6.3f} {exact.mean():6.3f} "
              f"{exact.min():6.3f} {exact.max():6.3f} {np.mean(tr):6.3f} {np.mean(secs):6.2f}", flush=True)
        if a.capacity:
            best, mean = capacity(task, mech, a.seeds)
            print(f"{'  all 150 flowers, training accuracy (exact): best / mean':52s} {best:6.3f} {mean:6.3f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

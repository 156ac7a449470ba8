"""What limits PAT / in-situ / hybrid on the print world: the same runs with effects switched off.

usage: python benchmarks/print_methods_floor.py TASK METHOD [PRINTS] [key=value ...]
  key=value: print-world parameters (e.g. reprint_variation=0) or method settings (settings.X=...)
Prints the metric on the final print per print world, its mean and worst, and the cost.
"""

import sys
import time

import numpy as np

from hardware_sim.print_world import PrintWorld, PrintWorldParams
from labmnn.model.threads import small_solves
from labmnn.training.methods import MethodSettings, metric_of, run_method
from labmnn.training.tasks import load_task


def main(argv):
    task = load_task(argv[0])
    method = argv[1]
    prints = int(argv[2]) if len(argv) > 2 else 4
    wp, sp = {}, {}
    for kv in argv[3:]:
        k, v = kv.split("=")
        if k.startswith("settings."):
            try:
                sp[k[9:]] = int(v) if k[9:] in ("epochs", "hybrid_steps") else float(v)
            except ValueError:
                sp[k[9:]] = v
        else:
            wp[k] = float(v)
    key, _ = metric_of(task)
    vals, costs = [], []
    t0 = time.perf_counter()
    for p in range(prints):
        world = PrintWorld(task.network, PrintWorldParams(**wp), seed=p)
        with small_solves():
            res = run_method(task, MethodSettings(method=method, **sp), world)
        vals.append(res.metrics[f"print_{key}"])
        costs.append((res.metrics["loadings"], res.metrics["prints"]))
    vals = np.array(vals)
    worst = vals.min() if key.endswith("accuracy") else vals.max()
    print(f"{task.name} {method} {wp} {sp}: {key} mean {vals.mean():.4g} worst {worst:.4g} "
          f"per print {np.round(vals, 4).tolist()} loadings {np.mean([c[0] for c in costs]):.0f} "
          f"prints {np.mean([c[1] for c in costs]):.1f} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Start-up time of the command line, against baselines measured in the same run.

Times (median of N fresh interpreters, wall clock):

- ``python -c pass``: the interpreter alone (the floor);
- ``python -m labmnn --help`` and ``python -m labmnn train --help``: what a user waits for;
- ``python -m labmnn simulate --bogus``: an argument error;
- the old cost: importing every library module the commands use (numpy, scipy,
  scipy.optimize, matplotlib.pyplot, cv2) before building the parser, as the
  command line did before it loaded them lazily.

and prints each as seconds and as a ratio to the old cost.

Run from the worktree root::

    python benchmarks/startup.py          # 7 runs each
    python benchmarks/startup.py --n 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
OLD_COST = ("import labmnn.cli, labmnn.model.network, labmnn.fabrication.identify, labmnn.training.plots, "
            "labmnn.metrology.tracking, labmnn.training.loop, labmnn.paper.reproduce; "
            "labmnn.cli.build_parser().format_help()")
CASES = {
    "interpreter (python -c pass)": ["-c", "pass"],
    "labmnn --help": ["-m", "labmnn", "--help"],
    "labmnn train --help": ["-m", "labmnn", "train", "--help"],
    "labmnn simulate --bogus (usage error)": ["-m", "labmnn", "simulate", "--bogus"],
    "old cost: all libraries + parser": ["-c", OLD_COST],
}


def wall(args: list[str], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=7, help="runs per case (default 7)")
    n = ap.parse_args().n
    results = {name: wall(args, n) for name, args in CASES.items()}
    old = results["old cost: all libraries + parser"]
    for name, t in results.items():
        print(f"{name:40s} {t:6.3f} s   {t / old:5.2f} x old cost")


if __name__ == "__main__":
    main()

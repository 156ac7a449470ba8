"""Stiffness identification end to end on the simulated rig (photos, tracker, protocol engine).

Needs the protocol engine, the simulated rig and the tracker (branches protocol,
rig-sim, metrology merged).  A "printed" paper network gets uniformly random
per-bond stiffness errors of up to +-10 %.  For each free node the shipped
``validate.toml`` protocol is run on the simulated rig (the simulated operator
hangs 4, 8 and 12 g from a weight set whose pieces are off by 0.3 %, the balance
weighs them, the camera renders 6000x4000 JPEGs at 15 px/mm, the tracker measures
every joint), giving one session per node.  Sessions of three nodes are held
out; ``identify`` fits on the rest.  Printed: held-out RMS displacement error of
the nominal design and of the identified model, against the measured
displacements and against the true printed model, and their ratios (baseline:
the nominal design, in the same run).  Target: ratio >= 5.

Run:  python benchmarks/identify_rig.py [--out DIR] [--seed 2026]   (about 2-3 minutes)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labmnn import Network  # noqa: E402
from labmnn.fabrication.identify import identify  # noqa: E402
from labmnn.fabrication.load_series import read_load_series  # noqa: E402

HELD_OUT_NODES = (6, 11, 13)


def run_sessions(net, k_true, nodes, out: Path, grams="[0, 4, 8, 12]") -> dict[int, Path]:
    from labmnn.cli.sim.bench import open_sim_bench
    from labmnn.protocol.runner import start_run
    from labmnn.protocol.spec import load_protocol

    base = (ROOT / "labmnn" / "data" / "protocols" / "validate.toml").read_text()
    folders = {}
    for node in nodes:
        text = (base.replace("node = 10", f"node = {node}")
                .replace('name = "validate-node10"', f'name = "validate-node{node}"')
                .replace("grams = [0, 2, 4, 6, 8, 10, 12]", f"grams = {grams}"))
        path = out / f"validate-node{node}.toml"
        path.write_text(text)
        spec = load_protocol(path)
        bench = open_sim_bench(spec, net, seed=node)
        bench.rig.true_stiffness = k_true.copy()  # the printed part's errors
        t0 = time.perf_counter()
        engine = start_run(path, out=out / "sessions", sim=True, auto=True, seed=node, bench=bench)
        try:
            result = engine.run()
        finally:
            bench.close()
        folders[node] = engine.session.folder
        print(f"  node {node:2d}: {result['status']} in {time.perf_counter() - t0:.1f} s "
              f"-> {engine.session.folder.name}", flush=True)
    return folders


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for the sessions (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=2026, help="seed of the printing errors")
    args = ap.parse_args()
    try:
        import hardware_sim.rig  # noqa: F401
        import labmnn.protocol.runner  # noqa: F401
    except ImportError as exc:
        print(f"needs the protocol engine and the simulated rig (merge branches protocol, rig-sim, metrology): {exc}")
        return 2
    net = Network.example("paper-triangle-n4")
    rng = np.random.default_rng(args.seed)
    k_true = net.stiffness * (1 + rng.uniform(-0.10, 0.10, net.n_bonds))
    out = Path(args.out or tempfile.mkdtemp(prefix="identify-rig-"))
    out.mkdir(parents=True, exist_ok=True)
    free = [int(i) for i in np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)]
    print(f"simulated rig: paper network, +-10 % per-bond stiffness errors (seed {args.seed}); sessions in {out}")
    folders = run_sessions(net, k_true, free, out)
    cases, held = [], []
    for node, folder in folders.items():
        for c in read_load_series(folder).cases:
            c.label = f"node{node}/{c.label}"
            cases.append(c)
            if node in HELD_OUT_NODES:
                held.append(c.label)
    t0 = time.perf_counter()
    ident = identify(net, cases, holdout=held, refit_all=False)
    seconds = time.perf_counter() - t0
    F = np.stack([c.forces_n for c in cases if c.label in held])
    truth = net.solve(F, stiffness=k_true).displacements[:, free]

    def truth_rms(k):
        r = net.solve(F, stiffness=k).displacements[:, free] - truth
        return float(np.sqrt(np.mean(r * r)))

    e = ident.errors
    nom_t, id_t = truth_rms(net.stiffness), truth_rms(ident.stiffness_n_per_m)
    print(f"{len(cases) - len(held)} fitted cases, {len(held)} held-out cases (loads on nodes {HELD_OUT_NODES}); "
          f"identification {seconds:.1f} s, regularisation {ident.regularization:.1e}")
    print(f"effective modulus x{ident.modulus_factor:.4f}; stiffness error vs truth "
          f"{np.sqrt(np.mean((net.stiffness / k_true - 1) ** 2)):.2%} -> "
          f"{np.sqrt(np.mean((ident.stiffness_n_per_m / k_true - 1) ** 2)):.2%} (rms)")
    print(f"held-out RMS error vs measured: nominal {e['nominal'].heldout_rms * 1e6:.2f} um, identified "
          f"{e['identified'].heldout_rms * 1e6:.2f} um -> {ident.improvement:.1f}x")
    print(f"held-out RMS error vs truth:    nominal {nom_t * 1e6:.2f} um, identified {id_t * 1e6:.2f} um -> "
          f"{nom_t / id_t:.1f}x   (target >= 5x)")
    return 0 if ident.improvement >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())

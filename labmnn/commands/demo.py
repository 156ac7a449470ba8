"""``labmnn demo``: the main job on the simulated rig.

Until the protocol engine lands, the demo computes the paper's Fig. 1 gradient
in simulation (10 g on node 12, L = (u_y[13] + 0.025 m)^2), checks it against
central finite differences and against the paper's published values, and
writes ``summary.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import losses
from ..cli_args import output_dir
from ..gradcheck import cosine, finite_difference_gradient, relative_error
from ..network import GRAVITY, Network
from ..paper_data import figure1_gradient, match_bonds_by_value


def register(sub) -> None:
    p = sub.add_parser("demo", help="check the paper's Fig. 1 gradient on the simulated network",
                       description="Hang 10 g on node 12 of the paper's network, take the loss "
                                   "(u_y[13] + 25 mm)^2, compute its gradient by the adjoint method and "
                                   "compare it with central finite differences and the paper's published "
                                   "values; writes summary.json.")
    p.add_argument("--out", default="labmnn-demo", metavar="DIR", help="output folder (default: labmnn-demo)")
    p.set_defaults(func=run)


def run(args) -> int:
    out = output_dir(args.out, "--out")
    t0 = time.perf_counter()
    net = Network.example("paper-triangle-n4")
    F = np.zeros((net.n_nodes, 2))
    F[12, 1] = -0.010 * GRAVITY
    loss = losses.from_spec({"kind": "mse", "targets": [{"node": 13, "axis": "y", "value": -0.025}]})
    res = net.gradient(F, loss, return_details=True)
    fd = finite_difference_gradient(net, F, loss)
    paper = match_bonds_by_value(res.gradient, figure1_gradient("grad_sim"))
    summary = {
        "network": net.name,
        "loss": float(res.loss),
        "u13_y_mm": float(res.forward.displacements[13, 1] * 1e3),
        "adjoint_force_n": res.adjoint_forces[13].tolist(),
        "adjoint_grams_node13": float(-res.adjoint_forces[13, 1] / GRAVITY * 1e3),
        "gradient_simulated": res.gradient.tolist(),
        "gradient_finite_difference": fd.tolist(),
        "relative_error_vs_finite_difference": relative_error(fd, res.gradient),
        "relative_error_vs_paper": relative_error(paper, res.gradient),
        "cosine_vs_paper": cosine(paper, res.gradient),
        "seconds": time.perf_counter() - t0,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"paper network, 10 g on node 12: u_y[13] = {summary['u13_y_mm']:.3f} mm, "
          f"L = {summary['loss']:.4e} m^2")
    print(f"adjoint force on node 13: {res.adjoint_forces[13, 1]:+.4e} N "
          f"(= {summary['adjoint_grams_node13']:.2f} g hung)")
    print(f"adjoint gradient vs central finite differences: relative error "
          f"{summary['relative_error_vs_finite_difference']:.1e}")
    print(f"adjoint gradient vs the paper's grad_sim: relative error "
          f"{summary['relative_error_vs_paper']:.2%}, cosine {summary['cosine_vs_paper']:.5f}")
    print(f"wrote {out / 'summary.json'}")
    return 0

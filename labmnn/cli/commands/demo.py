"""``labmnn demo``: the main job, the paper's Fig. 1 gradient measured on the simulated rig.

Runs ``protocols/gradient.toml`` (10 g on node 12, L = (u_y[13] + 0.025 m)^2,
paper network) on the simulated rig (exact large-rotation mechanics by default,
as a print behaves), camera and balance with the automatic operator, headless,
printing progress; the session is recorded like any run
and ``DIR/summary.json`` holds the measured and simulated gradients, their
relative error and cosine, and the session folder.
"""

from __future__ import annotations

import json
import time

from labmnn.cli.args import output_dir
from labmnn.cli.commands._console import ConsoleListener, print_outcome
from labmnn.resources import protocols_dir
from labmnn.text_files import write_atomic

PROTOCOL = protocols_dir() / "gradient.toml"


def register(sub) -> None:
    p = sub.add_parser("demo", help="measure the paper's Fig. 1 gradient on the simulated rig (headless)",
                       description="Run protocols/gradient.toml on the simulated rig with the automatic "
                                   "operator: 10 g on node 12, loss (u_y[13] + 25 mm)^2; photographs the "
                                   "reference, forward and adjoint loadings, tracks the joints, assembles "
                                   "dL/dk = e_adj * e and compares it with the model. Writes DIR/summary.json "
                                   "and a session folder.")
    p.add_argument("--out", default="labmnn-demo", metavar="DIR", help="output folder (default: labmnn-demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated rig (default 0)")
    p.add_argument("--mechanics", choices=("linear", "nonlinear"), default="nonlinear",
                   help="simulated rig: exact large-rotation bars, as a print behaves (default), or the "
                        "linear bar model")
    p.add_argument("--linearize", choices=("none", "two_level"), default=None,
                   help="override the protocol: also load at half level and extrapolate the linear part")
    p.add_argument("--repeats", type=int, default=None, help="override the protocol's 3 repeats (quicker look)")
    p.add_argument("--protocol", default=str(PROTOCOL), help=argparse_suppress())
    p.set_defaults(func=run)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def run(args) -> int:
    from labmnn.cli.sim.bench import open_sim_bench
    from labmnn.protocol.runner import start_run

    out = output_dir(args.out, "--out")
    t0 = time.perf_counter()
    engine = start_run(args.protocol, out=out / "sessions", sim=True, auto=True, sim_bench=open_sim_bench,
                       listener=ConsoleListener(), seed=args.seed, repeats=args.repeats,
                       mechanics=args.mechanics, linearize=args.linearize)
    print(f"session: {engine.session.folder}", flush=True)
    try:
        outcome = engine.run()
    finally:
        engine.bench.close()
    s = outcome["summary"]
    summary = {
        "protocol": engine.spec.name,
        "status": outcome["status"],
        "session": str(engine.session.folder),
        "gradient_measured": s.get("gradient_measured"),
        "gradient_measured_std": s.get("gradient_measured_std"),
        "gradient_simulated": s.get("gradient_simulated"),
        "relative_error": s.get("relative_error"),
        "cosine": s.get("cosine"),
        "relative_error_per_repeat": s.get("relative_error_per_repeat"),
        "nonlinearity_forward": s.get("nonlinearity_forward"),
        "nonlinearity_adjoint": s.get("nonlinearity_adjoint"),
        "relative_error_geometric_elongations": s.get("relative_error_geometric"),
        "relative_error_single_level": s.get("relative_error_single_level"),
        "load_nonlinearity_forward": s.get("load_nonlinearity_forward"),
        "mechanics": args.mechanics,
        "linearize": engine.spec.linearize,
        "predicted_rounding_error": s.get("predicted_rounding_error"),
        "adjoint_scale": s.get("adjoint_scale"),
        "loss": s.get("loss"),
        "repeats": s.get("repeats"),
        "seconds": time.perf_counter() - t0,
    }
    if s.get("gradient_simulated") is not None and engine.spec.name == "gradient-fig1":
        import numpy as np

        from labmnn.paper.data import figure1_gradient, match_bonds_by_value
        from labmnn.protocol.analysis import cosine, relative_error

        sim = np.asarray(s["gradient_simulated"])
        paper_sim = match_bonds_by_value(sim, figure1_gradient("grad_sim"))
        paper_exp = match_bonds_by_value(sim, figure1_gradient("grad_exp"))
        summary["paper"] = {
            "model_vs_paper_grad_sim_relative_error": relative_error(sim, paper_sim),
            "paper_grad_exp_vs_grad_sim_relative_error": relative_error(paper_exp, paper_sim),
            "paper_grad_exp_vs_grad_sim_cosine": cosine(paper_exp, paper_sim),
        }
    print_outcome(outcome)
    if _keep_earlier(out / "summary.json", outcome["status"]):
        print(f"kept {out / 'summary.json'} of an earlier successful run (this one: {outcome['status']})")
    else:
        write_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")
        print(f"wrote {out / 'summary.json'} ({summary['seconds']:.1f} s)")
    return 0 if outcome["status"] == "success" else 1


def _keep_earlier(path, status: str) -> bool:
    """Whether ``path`` holds a successful summary that a run ending in ``status`` must not replace."""
    if status == "success":
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("status") == "success"
    except (OSError, ValueError, AttributeError):
        return False

"""``labmnn run PROTOCOL``: walk the operator through a protocol on the rig, recording a session."""

from __future__ import annotations

from labmnn.cli.commands._console import ConsoleListener, run_to_end
from labmnn.resources import find_protocol, protocols_dir, shipped_names


def register(sub) -> None:
    p = sub.add_parser("run", help="run a protocol on the rig (or the simulated rig), recording a session",
                       description="Run a protocol file (TOML) or a shipped protocol by name ("
                                   + ", ".join(shipped_names(protocols_dir())) + "). Every step is checkpointed "
                                   "in the session folder; an interrupted run continues with `labmnn resume`.")
    p.add_argument("protocol", help="protocol file (TOML) or shipped protocol name")
    p.add_argument("--sim", action="store_true", help="use the simulated rig, camera and balance")
    p.add_argument("--auto", action="store_true", help="let the simulated operator act (needs --sim)")
    p.add_argument("--out", default="sessions", help="folder for session folders (default: sessions)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated rig (default 0)")
    p.add_argument("--mechanics", choices=("linear", "nonlinear"), default=None,
                   help="simulated rig: bar model or exact large-rotation bars (default: the bar model, "
                        "or exact bars for a protocol with mechanics = \"nonlinear\")")
    p.add_argument("--linearize", choices=("none", "two_level"), default=None,
                   help="override the protocol: also load at half level and extrapolate the linear part")
    p.add_argument("--repeats", type=int, default=None, help="override the protocol's repeats")
    p.add_argument("--stiffness-error", type=float, default=0.0, metavar="REL",
                   help="simulated rig: the printed part's bonds are off their design stiffness by up to "
                        "+-REL (uniform, e.g. 0.1), the same pattern for every run with one --print-seed")
    p.add_argument("--print-seed", type=int, default=0, help="which simulated print (default 0)")
    p.add_argument("--verbose", action="store_true", help="also print image and tracking events")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.cli.args import refuse_session_path
    from labmnn.cli.sim.bench import open_sim_bench
    from labmnn.protocol.runner import start_run

    refuse_session_path(args.out, "--out")
    protocol = find_protocol(args.protocol)
    engine = start_run(protocol, out=args.out, sim=args.sim, auto=args.auto, sim_bench=open_sim_bench,
                       listener=ConsoleListener(verbose=args.verbose), seed=args.seed,
                       mechanics=args.mechanics, linearize=args.linearize, repeats=args.repeats,
                       stiffness_error=args.stiffness_error, print_seed=args.print_seed)
    print(f"session: {engine.session.folder}", flush=True)
    outcome = run_to_end(engine)
    return 0 if outcome["status"] == "success" else 1

"""``labmnn resume SESSION``: continue an interrupted session from its last checkpoint."""

from __future__ import annotations

from labmnn.cli.commands._console import ConsoleListener, run_to_end


def register(sub) -> None:
    p = sub.add_parser("resume", help="continue an interrupted session from its last checkpoint",
                       description="Continue a session that was aborted, failed or killed. Completed steps "
                                   "are kept; a loading cut off half-way is redone from an empty rig.")
    p.add_argument("session", help="session folder")
    p.add_argument("--sim", action="store_true", default=None, help="simulated rig (default: as started)")
    p.add_argument("--auto", action="store_true", default=None, help="simulated operator (default: as started)")
    p.add_argument("--verbose", action="store_true", help="also print image and tracking events")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.cli.sim.bench import open_sim_bench
    from labmnn.protocol.runner import resume_run

    engine = resume_run(args.session, sim=args.sim, auto=args.auto, listener=ConsoleListener(verbose=args.verbose),
                        sim_bench=open_sim_bench)
    done = len(engine.session.completed_steps())
    print(f"resuming {engine.session.folder}: {done} step(s) already recorded", flush=True)
    outcome = run_to_end(engine)
    return 0 if outcome["status"] == "success" else 1

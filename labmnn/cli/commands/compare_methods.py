"""``labmnn compare-methods``: every training method on N simulated prints, with its bench cost."""

from __future__ import annotations

import json
from pathlib import Path

from labmnn.cli.args import output_dir
from labmnn.errors import InputError

METHOD_NAMES = ("insilico", "identify", "pat", "insitu", "hybrid")


def register(sub) -> None:
    p = sub.add_parser("compare-methods", help="compare training methods on simulated prints, with their bench cost",
                       description="Train the task by each method (insilico, identify, pat, insitu, hybrid) on N "
                                   "simulated prints of the print world, score each final print (noise-free) and "
                                   "count loadings, prints and bench hours. Writes DIR/comparison.json, "
                                   "comparison.md and comparison.png. See docs/training-methods.md.")
    p.add_argument("task", help="task file or shipped task name")
    p.add_argument("--prints", type=int, default=8, metavar="N", help="simulated prints per method (default 8)")
    p.add_argument("--mismatch", type=float, default=None, metavar="REL",
                   help="per-bond stiffness error of the prints, in [0, 0.5] (default 0.1)")
    p.add_argument("--methods", default=None, metavar="LIST",
                   help="comma-separated methods (default: " + ",".join(METHOD_NAMES) + ")")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="print p is print world S + p (default 0)")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="training epochs (default: the task's)")
    p.add_argument("--hybrid-steps", type=int, default=None, metavar="N",
                   help="steps on the print of the hybrid (default 80 on a behaviour task, else 40)")
    p.add_argument("--hybrid-start", choices=("insilico", "identify"), default=None,
                   help="what the hybrid does before its steps on the print (default identify)")
    p.add_argument("--hybrid-lr", type=float, default=None, metavar="LR",
                   help="Adam step of the hybrid's steps on the print (default: the task's)")
    p.add_argument("--condition-s", type=float, default=None, metavar="S",
                   help="seconds every new print waits on the bench, unloaded, before its first loading "
                        "(conditioning against creep; counted in bench hours; default 300)")
    p.add_argument("--mechanics", choices=("linear", "nonlinear"), default="linear",
                   help="the model's mechanics (the print is always exact)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="local processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler address (instead of local processes)")
    p.add_argument("--bench-timing", default=None, metavar="SESSION",
                   help="bench hours from this recorded session's measured seconds per loading (and per design "
                        "change, if it has any) instead of the stated 60 s / 15 min estimates")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: runs/compare-<task name>)")
    p.set_defaults(func=run)


def check_condition(value) -> None:
    """``--condition-s``: a finite number of seconds >= 0 (or not given)."""
    import math

    if value is not None and not (math.isfinite(value) and value >= 0):
        raise InputError("--condition-s", "", f"must be a finite number of seconds >= 0, found {value}")


def run(args) -> int:
    from labmnn.cli.sim.print_world import make_print_world
    from labmnn.training.compare import check_comparison, compare, comparison_table, plot_comparison
    from labmnn.training.tasks import load_task

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods is not None else None
    check_comparison(args.prints, args.mismatch, methods)
    if args.seed < 0:
        raise InputError("--seed", "", f"must be >= 0, found {args.seed}")
    if args.epochs is not None and args.epochs < 1:
        raise InputError("--epochs", "", f"must be >= 1, found {args.epochs}")
    if args.hybrid_steps is not None and args.hybrid_steps < 0:
        raise InputError("--hybrid-steps", "", f"must be >= 0, found {args.hybrid_steps}")
    if args.hybrid_lr is not None and not args.hybrid_lr > 0:
        raise InputError("--hybrid-lr", "", f"must be > 0, found {args.hybrid_lr}")
    check_condition(args.condition_s)
    if args.workers is not None and args.workers < 1:
        raise InputError("--workers", "", f"must be >= 1, found {args.workers}")
    from labmnn.protocol.task_protocol import bench_timing

    timing = bench_timing(args.bench_timing)
    task = load_task(args.task)
    out = output_dir(args.out or Path("runs") / f"compare-{task.name}", "--out")
    settings = {"epochs": args.epochs, "hybrid_steps": args.hybrid_steps, "hybrid_lr": args.hybrid_lr,
                "hybrid_start": args.hybrid_start,
                "mechanics": args.mechanics, "seconds_per_loading": timing["seconds_per_loading"],
                "seconds_per_print": timing["seconds_per_print"]}
    if args.condition_s is not None:
        settings["condition_s"] = args.condition_s
    comp = compare(args.task, make_print_world, prints=args.prints, mismatch=args.mismatch, methods=methods,
                   seed=args.seed, settings=settings, scheduler=args.scheduler, workers=args.workers)
    comp.update({k: timing[k] for k in ("bench_timing", "seconds_per_loading", "seconds_per_print",
                                        "seconds_per_print_source")})
    (out / "comparison.json").write_text(json.dumps(comp, indent=1) + "\n")
    table = comparison_table(comp)
    (out / "comparison.md").write_text(table + "\n")
    plot_comparison(comp, out / "comparison.png")
    print(table)
    print(f"wrote {out}/ (comparison.json, comparison.md, comparison.png)")
    return 0

"""``labmnn train``: train a network on a task file in simulation.

Writes ``DIR/metrics.json``, ``DIR/history.csv``, ``DIR/network.json`` (trained
widths) and PNG plots.  ``--init`` starts from a trained network (task
switching), ``--prune BOND`` removes bonds first (damage).
"""

from __future__ import annotations

import json
from pathlib import Path

from labmnn.cli.args import output_dir
from labmnn.errors import InputError
from labmnn.resources import tasks_dir

# the shipped tasks (labmnn.training.tasks.TASKS_DIR, named here so --help need not import numpy)
SHIPPED_TASKS = tasks_dir()


def register(sub) -> None:
    p = sub.add_parser("train", help="train a network on a task file (simulation)",
                       description="Train by exact adjoint gradients and Adam. TASK is a task file "
                                   "(labmnn-task/1 TOML, see docs/training.md) or a shipped task name ("
                                   + ", ".join(sorted(q.stem for q in SHIPPED_TASKS.glob("*.toml"))) + ").")
    p.add_argument("task", help="task file or shipped task name")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="split and shuffle seed (default: the task's)")
    p.add_argument("--epochs", type=int, default=None, metavar="N",
                   help="epochs (default: the task's; 0 only scores the starting network)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: runs/<task name>; files of an earlier run there are replaced)")
    p.add_argument("--init", metavar="TRAINED.json", default=None,
                   help="start from this network (a trained network: task switching)")
    p.add_argument("--prune", metavar="BOND", type=int, action="append", default=None,
                   help="remove this bond before training (damage; repeatable)")
    p.add_argument("--mechanics", choices=("linear", "nonlinear"), default=None,
                   help="bar model of every solve and gradient (default: the task's, else linear); "
                        "the final figures are also scored with the exact (nonlinear) model")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _add_method_options(p)
    p.set_defaults(func=run)


METHOD_NAMES = ("insilico", "identify", "pat", "insitu", "hybrid")


def _add_method_options(p) -> None:
    """``--method`` / ``--on``: train the printed network (docs/training-methods.md)."""
    p.add_argument("--method", default=None, metavar="|".join(METHOD_NAMES),
                   help="train a print: insilico (model, print once), identify (measure, identify, train), pat "
                        "(physics-aware), insitu (forward and adjoint measured), hybrid (identify, then PAT steps on "
                        "the print); default: train the model only")
    p.add_argument("--on", default=None, metavar="sim|rig",
                   help="where the print is measured: sim (the simulated print world, fast) or rig (checkpointed "
                        "protocol sessions on the rig: every method on behaviour tasks, pat/insitu/hybrid on data-set "
                        "tasks; resumable with 'labmnn resume SESSION', and staged methods also by running the same "
                        "command again)")
    p.add_argument("--hybrid-start", default=None, metavar="insilico|identify",
                   help="--method hybrid: the stage before the PAT steps on the print (default identify: 9 single "
                        "loadings measured, the identified model trained; insilico: the model trained as it is)")
    p.add_argument("--hybrid-steps", type=int, default=None, metavar="N",
                   help="--method hybrid: Adam steps of PAT on the print after the start stage (default 80 on "
                        "behaviour tasks, 40 on data-set tasks)")
    p.add_argument("--bench-timing", default=None, metavar="SESSION",
                   help="--on sim: bench hours from this recorded session's measured seconds per loading (and per "
                        "design change, if it has any) instead of the stated 60 s / 15 min estimates")
    p.add_argument("--sim", action="store_true", help="--on rig: use the simulated (rendered) rig")
    p.add_argument("--auto", action="store_true", help="--on rig --sim: let the simulated operator act")
    p.add_argument("--balance-port", default=None, metavar="PORT",
                   help="--on rig (real bench): the balance's serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--mismatch", type=float, default=None, metavar="REL",
                   help="--on sim (default 0.1) or --on rig --sim (default 0): per-bond stiffness error of the "
                        "print, in [0, 0.5]")
    p.add_argument("--print-seed", type=int, default=0, metavar="N",
                   help="--on sim or --on rig --sim: which simulated print world")
    p.add_argument("--condition-s", type=float, default=None, metavar="S",
                   help="--on sim or rig: seconds every new print waits on the bench, unloaded, before its first "
                        "loading (conditioning against creep; counted in bench hours; default 300; 0: none)")


def run(args) -> int:
    from labmnn.model.network import Network
    from labmnn.model.threads import small_solves
    from labmnn.training.loop import prepare_network, train
    from labmnn.training.run_outputs import write_run
    from labmnn.training.tasks import load_task

    if getattr(args, "method", None) is not None or getattr(args, "on", None) is not None:
        return run_method_cli(args)
    task = load_task(args.task)
    if args.epochs is not None and args.epochs < 0:
        raise InputError("--epochs", "", f"must be >= 0, found {args.epochs}")
    if args.seed is not None and args.seed < 0:
        raise InputError("--seed", "", f"must be >= 0, found {args.seed}")
    if args.prune and len(set(args.prune)) != len(args.prune):
        twice = sorted({b for b in args.prune if args.prune.count(b) > 1})
        raise InputError("--prune", "", f"bond {twice[0]} is given more than once")
    init = Network.load(args.init) if args.init else None
    net = prepare_network(task, init=init, prune=args.prune)
    out = output_dir(args.out or Path("runs") / task.name, "--out")
    with small_solves():
        result = train(task, seed=args.seed, epochs=args.epochs, network=net, progress=True,
                       mechanics=args.mechanics)
    extra = {}
    if args.init:
        extra["init"] = str(args.init)
    if args.prune:
        extra["pruned_bonds"] = list(args.prune)
    paths = write_run(result, out, extra_metrics=extra, make_plots=not args.no_plots)
    m = result.metrics
    name = task.name if m["mechanics"] == "linear" else f"{task.name} (nonlinear mechanics)"
    if "test_accuracy" in m:
        print(f"{name}: {m['epochs']} epochs, seed {m['seed']}: loss {m['loss']:.4g}, "
              f"train accuracy {m['train_accuracy']:.3f}, test accuracy {m['test_accuracy']:.3f} "
              f"(before training {m['initial_test_accuracy']:.3f}) in {m['seconds']:.2f} s")
    elif "test_relative_error" in m:
        print(f"{name}: {m['epochs']} epochs, seed {m['seed']}: loss {m['loss']:.4g}, "
              f"train relative error {m['train_relative_error']:.2%}, test relative error "
              f"{m['test_relative_error']:.2%} in {m['seconds']:.2f} s")
    else:
        print(f"{name}: {m['epochs']} steps: loss {m['initial_loss']:.4g} -> {m['loss']:.4g}; outputs (mm): "
              + json.dumps({k: [round(v, 4) for v in xy] for k, xy in m["outputs_mm"].items()})
              + f" in {m['seconds']:.2f} s")
    exact = _exact_line(m)
    if exact:
        print(exact)
    print(f"wrote {paths['metrics'].parent}/ ({', '.join(sorted(p.name for p in paths.values()))})")
    return 0


def run_method_cli(args) -> int:
    """``labmnn train TASK --method M --on sim``: train a print, write the run and its bench cost."""
    from labmnn.text_files import write_json_atomic
    from labmnn.training.methods import MethodSettings, check_method, run_method
    from labmnn.training.run_outputs import write_history_csv
    from labmnn.training.tasks import load_task

    method = check_method(args.method or "insilico")
    if args.on not in (None, "sim", "rig"):
        raise InputError("--on", "", f"must be sim or rig, found {args.on!r}")
    _check_shared(args, method)
    if args.on == "rig":
        return run_on_rig(args, method)
    if getattr(args, "sim", False) or getattr(args, "auto", False):
        raise InputError("--sim" if args.sim else "--auto", "", "belongs to --on rig (the simulated rendered rig)")
    if args.mismatch is not None and not 0.0 <= args.mismatch <= 0.5:
        raise InputError("--mismatch", "", f"must be in [0, 0.5], found {args.mismatch}")
    if args.mismatch is not None and args.on is None:
        raise InputError("--mismatch", "", "describes the simulated print: give --on sim")
    if args.init or args.prune:
        raise InputError("--method", "", "cannot be combined with --init or --prune")
    if args.epochs is not None and args.epochs < 1:
        raise InputError("--epochs", "", f"must be >= 1 with --method, found {args.epochs}")
    if method != "insilico" and args.on is None:
        raise InputError("--method", "", f"{method} measures a print: give --on sim (the simulated print world) "
                                         "or --on rig")
    if args.hybrid_steps is not None and method != "hybrid":
        raise InputError("--hybrid-steps", "", f"belongs to --method hybrid, found --method {method}")
    if args.hybrid_steps is not None and args.hybrid_steps < 0:
        raise InputError("--hybrid-steps", "", f"must be >= 0, found {args.hybrid_steps}")
    if args.bench_timing is not None and args.on != "sim":
        raise InputError("--bench-timing", "", "costs a training on the simulated print: give --on sim")
    from labmnn.protocol.task_protocol import bench_timing

    timing = bench_timing(args.bench_timing)
    task = load_task(args.task)
    out = output_dir(args.out or Path("runs") / f"{task.name}-{method}", "--out")
    world = None
    if args.on == "sim":
        from labmnn.cli.sim.print_world import make_print_world, world_parameters

        world = make_print_world(task.network.to_dict(), args.mismatch, args.print_seed)
    given = {"hybrid_steps": args.hybrid_steps, "hybrid_start": args.hybrid_start, "condition_s": args.condition_s}
    settings = MethodSettings(method=method, epochs=args.epochs, seed=args.seed,
                              mechanics=getattr(args, "mechanics", None) or "linear",
                              seconds_per_loading=timing["seconds_per_loading"],
                              seconds_per_print=timing["seconds_per_print"],
                              **{k: v for k, v in given.items() if v is not None})  # else the method's defaults
    result = run_method(task, settings, world)
    metrics = dict(result.metrics)
    if world is not None:
        metrics["bench_timing"] = timing["bench_timing"]
        metrics["seconds_per_print_source"] = timing["seconds_per_print_source"]
        metrics["print_world"] = dict(world_parameters(args.mismatch), seed=args.print_seed)
    write_json_atomic(out / "metrics.json", metrics, fsync=False)
    if result.history:
        write_history_csv(result.history, out / "history.csv")
    result.network.save(out / "network.json")
    m = metrics
    where = (f"on the print {m['metric']} {m['metric_on_print']:.4g}" if m.get("metric_on_print") is not None
             else f"in the model {m.get('model_' + m['metric'])}")
    cost = (f"{m['loadings']} loadings, {m['prints']} prints, {m['bench_hours']:.1f} bench hours"
            if m.get("bench_hours") is not None else "1 print")
    print(f"{task.name} by {method}: {where}; training cost {cost}")
    print(f"wrote {out}/ (metrics.json, network.json{', history.csv' if result.history else ''})")
    return 0


def _exact_line(m: dict) -> str | None:
    """One line with the figures under the exact mechanics, when training used the linear model."""
    if m.get("mechanics") == "nonlinear":
        return None
    if "exact_error" in m:
        return f"scored with exact mechanics: {m['exact_error']}"
    if "test_accuracy_exact" in m:
        return (f"scored with exact mechanics: train accuracy {m['train_accuracy_exact']:.3f}, "
                f"test accuracy {m['test_accuracy_exact']:.3f}")
    if "test_relative_error_exact" in m:
        return (f"scored with exact mechanics: train relative error {m['train_relative_error_exact']:.2%}, "
                f"test relative error {m['test_relative_error_exact']:.2%}")
    if "outputs_mm_exact" in m:
        return ("scored with exact mechanics: outputs (mm): "
                + json.dumps({k: [round(v, 4) for v in xy] for k, xy in m["outputs_mm_exact"].items()}))
    return None


def _check_shared(args, method: str) -> None:
    """The checks of ``--seed``, ``--hybrid-start`` and ``--condition-s`` that hold on the sim and the rig alike."""
    from labmnn.cli.commands.compare_methods import check_condition

    if args.seed is not None and args.seed < 0:
        raise InputError("--seed", "", f"must be >= 0, found {args.seed}")
    start = getattr(args, "hybrid_start", None)
    if start is not None and method != "hybrid":
        raise InputError("--hybrid-start", "", f"belongs to --method hybrid, found --method {method}")
    if start is not None and start not in ("insilico", "identify"):
        raise InputError("--hybrid-start", "", f"must be insilico or identify, found {start!r}")
    check_condition(getattr(args, "condition_s", None))


def run_on_rig(args, method: str) -> int:
    """``--on rig``: the method as checkpointed protocol sessions (real or simulated rig), see _train_rig."""
    from labmnn.cli.commands._train_rig import run_on_rig as run

    return run(args, method)

"""``labmnn prune-study``: each bond of a trained network removed in turn, before and after retraining."""

from __future__ import annotations

import json
from pathlib import Path

from labmnn.cli.args import output_dir
from labmnn.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("prune-study", help="accuracy with each single bond removed, before and after retraining",
                       description="Rank the bonds of a trained network as critical or redundant: remove each in "
                                   "turn, score on the task's held-out split, retrain, score again. Runs on local "
                                   "processes, or on a Dask cluster with --scheduler (pip install 'labmnn[cluster]').")
    p.add_argument("task", help="task file or shipped task name")
    p.add_argument("trained", help="trained network (labmnn-network/1), e.g. runs/iris/network.json")
    p.add_argument("--epochs", type=int, default=30, metavar="N", help="retraining epochs per pruned network "
                                                                       "(default 30)")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="split seed (default: the task's)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="local processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (instead of local processes)")
    p.add_argument("--bonds", type=int, nargs="+", default=None, metavar="BOND", help="only these bonds (default: all)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: runs/prune-<task name>)")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.model.network import Network
    from labmnn.training import plots
    from labmnn.training.prune_study import outcome_arrays, run_study, study_table
    from labmnn.training.tasks import load_task

    if args.epochs < 0:
        raise InputError("--epochs", "", f"must be >= 0, found {args.epochs}")
    if args.seed is not None and args.seed < 0:
        raise InputError("--seed", "", f"must be >= 0, found {args.seed}")
    if args.workers is not None and args.workers < 1:
        raise InputError("--workers", "", f"must be >= 1, found {args.workers}")
    task = load_task(args.task)
    trained = Network.load(args.trained)
    out = output_dir(args.out or Path("runs") / f"prune-{task.name}", "--out")
    study = run_study(args.task, trained, epochs=args.epochs, seed=args.seed, scheduler=args.scheduler,
                      workers=args.workers, bonds=args.bonds, progress=True)
    (out / "prune_study.json").write_text(json.dumps(study.to_dict(), indent=1) + "\n")
    table = study_table(study)
    (out / "prune_study.md").write_text(table + "\n")
    bonds, before, after = outcome_arrays(study)
    zero_modes = [o.bond for o in study.outcomes if o.status != "ok"]
    classification = study.metric.endswith("accuracy")
    n_classes = len(task.loss_spec.get("outputs", [])) if classification else 0
    plots.plot_prune_study(bonds, before, after, zero_modes, study.baseline, out / "prune_study.png",
                           ylabel="test accuracy (fraction right)" if classification else
                           "test relative error of the outputs",
                           title=f"{study.task}: each bond removed in turn, retrained {study.epochs} epochs",
                           chance=1.0 / n_classes if n_classes else None)
    print(table)
    print(f"wrote {out}/ (prune_study.json, prune_study.md, prune_study.png)")
    return 0

"""``labmnn train TASK --method M --on rig``: train a print on the rig through protocol sessions.

Every measurement is a checkpointed protocol session (real or simulated rig):

``insitu`` / ``pat``
    One ``train`` session (``[train] gradient = "insitu"`` or ``"pat"``) from the
    task's starting design; ``labmnn resume SESSION`` continues a killed one.
``insilico``
    Train the model, export the design to print (``print/`` SVG, DXF, STL) and
    run a ``load_series`` session under the task's load that scores the print.
``identify``
    A ``load_series`` session with the identification loadings (one stack on
    each of ``identify_cases`` spread free nodes), identify the print from it,
    train the identified model, export the design.
``hybrid``
    As with ``--on sim``: the ``identify`` stage (default) or with
    ``--hybrid-start insilico`` the ``insilico`` one (train, export), then a
    PAT ``train`` session of ``--hybrid-steps`` Adam steps from the trained
    design (defaults: :func:`labmnn.training.methods.hybrid_defaults`).

Every new print is conditioned before its first loading (``--condition-s``,
default :data:`labmnn.training.methods.CONDITION_S`): the ``condition`` steps of
:mod:`labmnn.protocol.conditioning`.

The staged methods (``insilico``, ``identify``, ``hybrid``) keep each stage's
sessions in ``OUT/<stage>/sessions``: running the same command again reuses a
finished stage session and resumes an unfinished one, so a killed run
continues where it stopped.  ``metrics.json`` (in ``OUT``) holds the training's
loadings and prints and the bench time measured by the engine (the sessions'
log timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labmnn.cli.args import output_dir
from labmnn.errors import InputError
from labmnn.protocol.task_protocol import is_behaviour


def check_rig_args(args, method: str) -> None:
    """One-line errors for options that do not fit ``--on rig``."""
    if args.init or args.prune:
        raise InputError("--method", "", "cannot be combined with --init or --prune")
    if args.mismatch is not None and not args.sim:
        raise InputError("--mismatch", "", "describes the simulated print: add --sim")
    if args.mismatch is not None and not 0.0 <= args.mismatch <= 0.5:
        raise InputError("--mismatch", "", f"must be in [0, 0.5], found {args.mismatch}")
    if args.auto and not args.sim:
        raise InputError("--auto", "", "the automatic operator exists only on the simulated rig: add --sim")
    if args.epochs is not None and args.epochs < 1:
        what = "Adam steps on the rig" if method in ("insitu", "pat") else "epochs of training in the model"
        raise InputError("--epochs", "", f"must be >= 1 ({what}), found {args.epochs}")
    steps = getattr(args, "hybrid_steps", None)
    if steps is not None and method != "hybrid":
        raise InputError("--hybrid-steps", "", f"belongs to --method hybrid, found --method {method}")
    if steps is not None and steps < 1:
        raise InputError("--hybrid-steps", "", f"must be >= 1 (PAT steps on the rig), found {steps}")
    if getattr(args, "bench_timing", None) is not None:
        raise InputError("--bench-timing", "", "belongs to --on sim: a rig run measures its own bench time")
    from labmnn.protocol.spec import MAX_CONDITION_S

    if getattr(args, "condition_s", None) is not None and args.condition_s > MAX_CONDITION_S:
        raise InputError("--condition-s", "", f"must be at most {MAX_CONDITION_S:g} s (a day) on the rig, "
                                              f"found {args.condition_s:g}")


def condition_seconds(args) -> float:
    """``--condition-s``, else the sim methods' :data:`~labmnn.training.methods.CONDITION_S`."""
    from labmnn.training.methods import CONDITION_S

    value = getattr(args, "condition_s", None)
    return float(CONDITION_S if value is None else value)


def run_on_rig(args, method: str) -> int:
    """Run ``method`` on the rig (``--sim``: the simulated rendered rig); write ``OUT/metrics.json``."""
    from labmnn.protocol.task_protocol import check_rig_task
    from labmnn.training.tasks import load_task

    check_rig_args(args, method)
    task = load_task(args.task)
    check_rig_task(task, datasets=method in ("insitu", "pat", "hybrid"))
    default = f"{task.name}-insitu-rig" if method == "insitu" else f"{task.name}-{method}-rig"
    out = output_dir(args.out or Path("runs") / default, "--out")
    return {"insitu": _run_train_session, "pat": _run_train_session, "insilico": _run_insilico,
            "identify": _run_identify, "hybrid": _run_hybrid}[method](args, method, task, out)


# ------------------------------------------------------------------ sessions
def _engine_kw(args) -> dict:
    from labmnn.cli.commands._console import ConsoleListener
    from labmnn.cli.sim.bench import open_sim_bench

    return {"sim_bench": open_sim_bench, "listener": ConsoleListener()}


def _new_session(args, protocol: Path, sessions: Path):
    """Start a session of ``protocol`` in ``sessions``; its engine."""
    from labmnn.protocol.runner import start_run

    return start_run(protocol, out=sessions, sim=args.sim, auto=args.auto, seed=args.seed or 0,
                     stiffness_error=args.mismatch or 0.0, print_seed=args.print_seed, **_engine_kw(args))


def run_session(args, protocol: Path, sessions: Path, reuse: bool) -> Path | None:
    """Run ``protocol`` as a session in ``sessions``; the finished session's folder (None if not finished).

    ``reuse``: a finished session already there is reused, an unfinished one resumed.
    """
    from labmnn.cli.commands._console import run_to_end
    from labmnn.protocol.recorder import Session
    from labmnn.protocol.runner import resume_run

    old = sorted(p for p in sessions.glob("*") if (p / "log.jsonl").exists()) if reuse and sessions.exists() else []
    old = [p for p in old if _same_inputs(p, protocol) and _same_bench(Session(p), args)]
    if old and Session(old[-1]).status() == "success":
        print(f"session: {old[-1]} (finished earlier: reused)", flush=True)
        return old[-1]
    if old and Session(old[-1]).start_record():
        engine = resume_run(old[-1], **_engine_kw(args))
    else:
        engine = _new_session(args, protocol, sessions)
    print(f"session: {engine.session.folder} (interrupted? run the same command again, or "
          f"labmnn resume {engine.session.folder})" if reuse else
          f"session: {engine.session.folder} (interrupted? labmnn resume {engine.session.folder})", flush=True)
    outcome = run_to_end(engine)
    return engine.session.folder if outcome["status"] == "success" else None


def _same_bench(session, args) -> bool:
    """Whether ``session`` was started on the bench ``args`` ask for (real, or the same simulated print)."""
    bench = session.start_record().get("bench", {}) or {}
    if bool(bench.get("sim", False)) != bool(args.sim):
        return False
    if not args.sim:
        return True
    return (float(bench.get("stiffness_error", 0.0)) == float(args.mismatch or 0.0)
            and (not args.mismatch or int(bench.get("print_seed", 0)) == int(args.print_seed)))


def _same_inputs(session: Path, protocol: Path) -> bool:
    """Whether ``session`` ran ``protocol`` on the network next to it (same text, same widths)."""
    import numpy as np

    from labmnn.errors import LabmnnError
    from labmnn.model.network import Network

    try:
        if (session / "protocol.toml").read_text() != protocol.read_text():
            return False
        a, b = Network.load(session / "network.json"), Network.load(protocol.parent / "network.json")
    except (OSError, ValueError, LookupError, LabmnnError):
        return False
    return a.n_bonds == b.n_bonds and bool(np.allclose(a.width, b.width, rtol=0, atol=1e-9))


def _write_metrics(folder: Path, metrics: dict) -> None:
    from labmnn.text_files import write_json_atomic

    write_json_atomic(folder / "metrics.json", metrics, fsync=False)
    print(f"wrote {folder}/metrics.json")


def _kept(m: dict) -> str:
    """Which design a ``[train] final = "best"`` session kept."""
    if m.get("best_design") is None:
        return ""
    which = "the starting design" if m["best_design"] == 0 else f"design_step{m['best_design']}.json"
    return f"; kept {which} (lowest measured loss {m['best_loss']:.4g}; the last design's {m['final_loss']:.4g})"


def _cost_line(m: dict) -> str:
    spl = m.get("seconds_per_loading")
    per = f", {spl:.1f} s per loading" if spl is not None else ""
    return (f"training needed {m['loadings']} loadings, {m['prints']} prints; {m['bench_hours']:.2f} bench hours "
            f"(session clock{per})")


# ------------------------------------------------------------------ methods
def _run_train_session(args, method: str, task, out: Path) -> int:
    """``insitu`` / ``pat``: one ``train`` session from the task's design."""
    from labmnn.protocol.task_protocol import default_rig_steps, rig_metrics, write_train_protocol

    steps = args.epochs if args.epochs is not None else default_rig_steps(task)
    protocol = write_train_protocol(task, out, steps, balance_port=args.balance_port, gradient=method,
                                    mechanics=getattr(args, "mechanics", None) or "linear",
                                    condition_s=condition_seconds(args))
    folder = run_session(args, protocol, out / "sessions", reuse=False)
    if folder is None:
        return 1
    metrics = rig_metrics(folder, task, method)
    _write_metrics(folder, metrics)
    print(f"{task.name} by {method} on the rig: {metrics['steps']} steps, loss {metrics['loss_first']:.4g} -> "
          f"{metrics['loss_last']:.4g}{_kept(metrics)}; {_cost_line(metrics)}")
    return 0


def _train_model(args, task, network=None):
    """Train in the model (the task's optimiser, ``--epochs``, ``--seed``); the result's network."""
    from labmnn.model.threads import small_solves
    from labmnn.training.loop import train

    with small_solves():
        res = train(task, seed=args.seed, epochs=args.epochs, network=network,
                    mechanics=getattr(args, "mechanics", None))
    return res


def _design(task, trained) -> object:
    """The design to print: the task's network with the trained widths (and the task's width bounds)."""
    import numpy as np

    net = task.network.copy()
    net.set_widths(trained.width)
    net.width_bounds = np.array(task.widths.bounds, dtype=float)
    return net


def export_design(net, folder: Path) -> list[str]:
    """``design.json`` and what ``labmnn export`` makes of it (SVG, DXF, STL) in ``folder``; the file names."""
    from labmnn.fabrication.export import PrintSettings, write_dxf, write_stl, write_svg
    from labmnn.text_files import write_json_atomic

    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "design.json", net.to_dict(), fsync=False)
    s = PrintSettings()
    write_svg(net, folder / "design.svg", s)
    write_dxf(net, folder / "design.dxf", s)
    write_stl(net, folder / "design.stl", s)
    names = ["design.json", "design.svg", "design.dxf", "design.stl"]
    print(f"design to print: {folder}/ ({', '.join(names)}; mount the print before the next session)")
    return names


def _score_session(args, task, design, out: Path) -> Path | None:
    """Write and run the load series that scores the mounted print under the task's load."""
    from labmnn.protocol.task_protocol import score_load, write_series_protocol

    node, grams, direction = score_load(task)
    protocol = write_series_protocol(out / "score", design, [node], [grams], f"score-{task.name}",
                                     f"score the print of {task.name}: {grams:g} g on node {node}, {direction}",
                                     direction, args.balance_port, "score.toml",
                                     condition_s=condition_seconds(args))
    return run_session(args, protocol, out / "score" / "sessions", reuse=True)


def score_print(args, task, design, out: Path) -> dict | None:
    """Score the mounted print of ``design`` (a load-series session); the metrics it adds (None: unfinished)."""
    from labmnn.protocol.task_protocol import print_score, session_timing

    folder = _score_session(args, task, design, out)
    if folder is None:
        return None
    t = session_timing(folder)
    score = print_score(task, folder)
    return {"score_session": str(folder.relative_to(out)), "score_loadings": t["loadings"],
            "score_bench_hours": t["bench_hours"], "score_seconds_per_loading": t["seconds_per_loading"],
            **score, "metric_on_print": score["print_max_target_relative_error"]}


def _model_score(task, net) -> float:
    """The behaviour task's largest relative target error in the model (nominal stiffness of the design)."""
    return _model_figures(task, net, "")["max_target_relative_error"]


def _base_metrics(task, method: str) -> dict:
    from labmnn.training.methods import metric_of

    return {"task": task.name, "kind": task.kind, "method": method, "on": "rig", "metric": metric_of(task)[0],
            "bench_time_source": "session log timestamps"}


def _run_insilico(args, method: str, task, out: Path) -> int:
    """Train in the model, export the design, score the print with a load-series session."""
    res = _train_model(args, task)
    design = _design(task, res.network)
    files = export_design(design, out / "print")
    score = score_print(args, task, design, out)
    if score is None:
        return 1
    metrics = {**_base_metrics(task, method), "epochs": res.metrics.get("epochs"), "loadings": 0, "prints": 1,
               "bench_hours": 0.0, "seconds_per_loading": score["score_seconds_per_loading"],
               "print_files": [f"print/{f}" for f in files],
               "model_max_target_relative_error": _model_score(task, design), **score}
    metrics["bench_timing"] = f"session {Path(score['score_session']).name}"
    _write_metrics(out, metrics)
    print(f"{task.name} by insilico on the rig: in the model {metrics['model_max_target_relative_error']:.4g}, "
          f"on the print {metrics['metric_on_print']:.4g} (max target relative error); training needed 0 "
          f"loadings, 1 print; scoring took {score['score_loadings']} loading(s), "
          f"{score['score_bench_hours']:.2f} bench hours")
    return 0


@dataclass
class _IdentifyStage:
    """The identification stage's outcome: the identification, its session folder, what ``metrics.json``
    says of it, and the session's measured timing (:func:`~labmnn.protocol.task_protocol.session_timing`)."""

    ident: Any
    folder: Path
    metrics: dict
    timing: dict


def _identify_stage(args, task, out: Path) -> _IdentifyStage | None:
    """The identification stage: a load-series session of the sim method's loadings on the task's starting
    design, identified (``OUT/identified.json``); None while the session is unfinished."""
    from labmnn.fabrication.identify import identify
    from labmnn.fabrication.load_series import read_load_series
    from labmnn.protocol.task_protocol import session_timing, write_series_protocol
    from labmnn.training.methods import MethodSettings, identification_nodes

    ms = MethodSettings(method="identify")
    nodes = identification_nodes(task.network, ms.identify_cases)
    start = task.network.copy()
    protocol = write_series_protocol(out / "identify", start, nodes, [ms.identify_grams], f"identify-{task.name}",
                                     f"identification of the print of {task.name}'s starting design: "
                                     f"{ms.identify_grams:g} g on each of {len(nodes)} nodes in turn", "down",
                                     args.balance_port, "identify.toml", condition_s=condition_seconds(args))
    folder = run_session(args, protocol, out / "identify" / "sessions", reuse=True)
    if folder is None:
        return None
    series = read_load_series(folder)
    mech = getattr(args, "mechanics", None) or "linear"
    ident = identify(start, series.cases, holdout=0, seed=0, regularization=ms.identify_regularization,
                     mechanics=mech)
    ident.network.save(out / "identified.json")
    metrics = {"identify_session": str(folder.relative_to(out)), "identify_cases": len(series.cases),
               "identify_nodes": [int(n) for n in nodes], "identify_grams": ms.identify_grams,
               "identify_mechanics": mech, "identified_modulus_factor": ident.modulus_factor}
    return _IdentifyStage(ident, folder, metrics, session_timing(folder))


def _run_identify(args, method: str, task, out: Path) -> int:
    """Identification loadings as a load-series session, identify, train the identified model, export."""
    stage = _identify_stage(args, task, out)
    if stage is None:
        return 1
    ident, folder, t = stage.ident, stage.folder, stage.timing
    res = _train_model(args, task, network=ident.network)
    design = _design(task, res.network)
    files = export_design(design, out / "print")
    score = score_print(args, task, design, out)
    if score is None:
        return 1
    metrics = {**_base_metrics(task, method), "epochs": res.metrics.get("epochs"), "loadings": t["loadings"],
               "prints": 2, "bench_hours": t["bench_hours"], "seconds_per_loading": t["seconds_per_loading"],
               "conditioning_s": t["conditioning_s"], "bench_timing": f"session {folder.name}",
               **stage.metrics,
               "print_files": [f"print/{f}" for f in files],
               "model_max_target_relative_error": _model_score(task, design),
               "identified_model_max_target_relative_error": _model_score(task, _with_widths(ident.network,
                                                                                            design)),
               **score}
    _write_metrics(out, metrics)
    print(f"{task.name} by identify on the rig: {stage.metrics['identify_cases']} identification loadings, "
          f"modulus factor "
          f"{ident.modulus_factor:.3f}; max target relative error predicted by the identified model "
          f"{metrics['identified_model_max_target_relative_error']:.4g}, on the print "
          f"{metrics['metric_on_print']:.4g}; {_cost_line(metrics)}")
    return 0


def _with_widths(identified, design):
    """The identified print's model at the design's widths (its per-bond corrections kept)."""
    net = identified.copy()
    net.set_widths(design.width)
    return net


def hybrid_plan(args, task) -> tuple[str, int]:
    """The hybrid's start stage and PAT steps on the rig: ``--hybrid-start``/``--hybrid-steps``, else the sim
    method's defaults (:func:`labmnn.training.methods.hybrid_plan`)."""
    from labmnn.training.methods import hybrid_plan as plan

    return plan(task, getattr(args, "hybrid_start", None), args.hybrid_steps)


def _run_hybrid(args, method: str, task, out: Path) -> int:
    """The start stage (identify as the sim default, or in silico), export, then a PAT session of
    ``--hybrid-steps`` Adam steps from the trained design."""
    from labmnn.model.network import Network
    from labmnn.protocol.task_protocol import rig_metrics, write_train_protocol

    start, steps = hybrid_plan(args, task)
    stage = None
    if start == "identify":
        stage = _identify_stage(args, task, out)
        if stage is None:
            return 1
        res = _train_model(args, task, network=stage.ident.network)
    else:
        res = _train_model(args, task)
    design = _design(task, res.network)
    files = export_design(design, out / "print")
    # PAT's adjoint comes from the session's network: the identified model at the trained widths, if identified
    mounted = res.network if stage is not None else design
    protocol = write_train_protocol(task, out / "pat", steps, balance_port=args.balance_port, gradient="pat",
                                    network=mounted, mechanics=getattr(args, "mechanics", None) or "linear",
                                    condition_s=condition_seconds(args))
    folder = run_session(args, protocol, out / "pat" / "sessions", reuse=True)
    if folder is None:
        return 1
    m = rig_metrics(folder, task, "pat")
    final_design = _design(task, Network.load(folder / "trained.json"))
    behaviour = is_behaviour(task)
    score = score_print(args, task, final_design, out) if behaviour else {"metric_on_print": None}
    if score is None:
        return 1
    cost = {k: m[k] for k in ("steps", "loss_first", "loss_last", "loadings", "prints", "bench_hours",
                              "seconds_per_loading", "seconds_per_design_change", "conditioning_s", "final",
                              "best_design", "best_loss", "final_loss") if k in m}
    extra = {}
    if stage is not None:
        t = stage.timing
        cost.update(loadings=cost["loadings"] + t["loadings"], prints=cost["prints"] + 1,
                    bench_hours=cost["bench_hours"] + t["bench_hours"],
                    conditioning_s=cost["conditioning_s"] + t["conditioning_s"])
        extra = {**stage.metrics, "identify_loadings": t["loadings"],
                 "identify_bench_hours": t["bench_hours"]}
    metrics = {**_base_metrics(task, method), "hybrid": {"start": start, "follow": "pat", "steps": steps},
               "epochs": res.metrics.get("epochs"), "print_files": [f"print/{f}" for f in files], **cost, **extra,
               "pat_session": str(folder.relative_to(out)), "bench_timing": f"session {folder.name}",
               "design": str((folder / "trained.json").relative_to(out)),
               **_model_figures(task, design, "model_"), **_model_figures(task, final_design, "final_model_"),
               **score}
    _write_metrics(out, metrics)
    where = (f"on the print {metrics['metric_on_print']:.4g} (max target relative error)" if behaviour else
             f"in the model {metrics['metric']} {metrics['final_model_' + metrics['metric']]:.4g} (a data-set task's "
             "print is not scored on the rig)")
    first = "identified, trained" if stage is not None else "in-silico"
    print(f"{task.name} by hybrid on the rig: {first} design, then {m['steps']} PAT steps, loss "
          f"{m['loss_first']:.4g} -> {m['loss_last']:.4g}{_kept(m)}; {where}; {_cost_line(metrics)}")
    return 0


def _model_figures(task, net, prefix: str) -> dict:
    """The task's figures of ``net`` in the model (the sim methods' scoring), keys starting with ``prefix``."""
    from labmnn.training.methods import _Setup, score

    setup = _Setup(task, None)
    figs = score(task, net, net.solve(setup.F_all).displacements, setup, prefix)
    return {k: v for k, v in figs.items() if not is_behaviour(task) or k.endswith("max_target_relative_error")}

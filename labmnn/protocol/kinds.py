"""The measurement scripts the engine runs, one per protocol kind.

Each is a plain sequence of the engine's checkpointed steps (``eng.reference_step``,
``eng.loading_step``, ``eng.step``): on a resumed session the steps already in the
log return their recorded data, so the same script continues where it stopped.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from labmnn.protocol import analysis
from labmnn.protocol.conditioning import condition_step
from labmnn.protocol.events import PlanEvent, TrainEvent
from labmnn.protocol.operator import Instruction
from labmnn.protocol.planner import (
    LoadingPlan,
    adjoint_plan,
    forward_plan,
    held_forward,
    increment_plan,
    series_plan,
)
from labmnn.protocol.recorder import write_durable


def _measure_plan(eng, prefix: str, tag: str, role: str, plan: LoadingPlan, ref: dict) -> dict:
    """All loadings of a plan, summed into the response to its target (see combine_loadings)."""
    steps = [eng.loading_step(f"{prefix}{role}/{ld.index}", f"{tag}: {role} loading {ld.index + 1}"
                              f"/{len(plan.loadings)}", ld, ref) for ld in plan.loadings]
    return analysis.combine_loadings(eng.net, plan, steps)


def _extrapolate(half: dict, full: dict) -> dict:
    """Linear part from two load levels: r(F) = a F + b F^2 gives a F = 4 r(F/2) - r(F).

    Both responses are already per unit of target (divided by their scale), so the
    linear part is ``2 half - full``; the forces are the full level's.
    """
    out = {k: 2.0 * np.asarray(half[k]) - np.asarray(full[k])
           for k in ("displacements", "elongations", "elongations_geo")}
    out["forces"] = full["forces"]
    return out


def measure_gradient(eng, prefix: str, tag: str) -> dict:
    """One repeat: reference, forward, adjoint plan, adjoint, gradient.

    With ``mechanics = "nonlinear"`` see :func:`measure_gradient_nonlinear`.

    With ``linearize = "two_level"`` every load is also applied at half its level
    and the linear response is extrapolated (``_extrapolate``), removing the bars'
    quadratic (large-rotation) response from both elongations.
    """
    if eng.spec.mechanics == "nonlinear":
        return measure_gradient_nonlinear(eng, prefix, tag)
    net, loss = eng.net, eng.loss
    two = eng.spec.linearize == "two_level"
    ref = eng.reference_step(f"{prefix}reference", f"{tag}: reference")
    plan_f = forward_plan(eng.spec, net.n_nodes)
    fwd_full = _measure_plan(eng, prefix, tag, "forward", plan_f, ref)
    fwd = fwd_full
    if two:
        fwd_half = _measure_plan(eng, prefix, tag, "forward-half", forward_plan(eng.spec, net.n_nodes, 0.5), ref)
        fwd = _extrapolate(fwd_half, fwd_full)
    value, dLdu = loss(fwd["displacements"])

    def make_plan():
        plan = adjoint_plan(eng.spec, net, -dLdu, fwd["elongations"])
        eng.emit(PlanEvent(type="plan", role="adjoint", lines=plan.describe(), predicted_error=plan.predicted_error))
        if plan.predicted_error > eng.spec.adjoint.max_predicted_error:
            eng.warn(f"adjoint plan: predicted gradient error {plan.predicted_error:.1%} from rounding")
        rec = {"plan": plan.to_dict(), "loss": float(value), "adjoint_force_n": (-dLdu).tolist()}
        if two:
            rec["plan_half"] = adjoint_plan(eng.spec, net, -dLdu, fwd["elongations"], scale=plan.scale / 2).to_dict()
        return rec

    plan_rec = eng.step(f"{prefix}adjoint-plan", f"{tag}: adjoint plan", make_plan)
    plan_a = LoadingPlan.from_dict(plan_rec["plan"])
    adj_full = _measure_plan(eng, prefix, tag, "adjoint", plan_a, ref)
    adj = adj_full
    if two:
        plan_h = LoadingPlan.from_dict(plan_rec["plan_half"])
        adj = _extrapolate(_measure_plan(eng, prefix, tag, "adjoint-half", plan_h, ref), adj_full)

    def assemble():
        g = adj["elongations"] * fwd["elongations"]
        g_sim = net.gradient(fwd["forces"], loss)
        return {
            "loss": float(value), "gradient": g, "gradient_simulated": g_sim,
            "gradient_geometric": adj_full["elongations_geo"] * fwd_full["elongations_geo"],
            "gradient_single_level": adj_full["elongations"] * fwd_full["elongations"],
            "relative_error": analysis.relative_error(g, g_sim), "cosine": analysis.cosine(g, g_sim),
            # geometric vs projected elongations under the full loads (as hung)
            "nonlinearity_forward": analysis.nonlinearity(fwd_full["elongations"], fwd_full["elongations_geo"]),
            "nonlinearity_adjoint": analysis.nonlinearity(adj_full["elongations"], adj_full["elongations_geo"]),
            "load_nonlinearity_forward": analysis.relative_error(fwd_full["elongations"], fwd["elongations"]),
            "load_nonlinearity_adjoint": analysis.relative_error(adj_full["elongations"], adj["elongations"]),
            "scale": plan_a.scale, "predicted_error": plan_a.predicted_error,
            "forward_forces_n": fwd["forces"], "adjoint_forces_n": adj["forces"],
        }

    return eng.gradient_step(f"{prefix}gradient", f"{tag}: gradient", assemble)


def measure_gradient_nonlinear(eng, prefix: str, tag: str) -> dict:
    """One repeat of the exact gradient (``mechanics = "nonlinear"``).

    The forward load is hung whole and photographed (its displacements give the
    loss, dL/du, the deformed bar directions and the geometric elongations
    l - L).  The adjoint force is then applied as a small increment ADDED to the
    re-hung forward load, photographed against a forward-only photo taken just
    before; the change of length along each deformed bar per unit of adjoint
    force is e_adj, and dL/dk = e_adj (l - L).  With ``[adjoint] increments = 2``
    the increment is applied at two sizes and the bias that grows with its size
    is extrapolated away (:func:`~labmnn.protocol.analysis.extrapolate_increments`).
    """
    net, loss, spec = eng.net, eng.loss, eng.spec
    two = spec.adjoint.increments == 2
    ref = eng.reference_step(f"{prefix}reference", f"{tag}: reference")
    plan_f = held_forward(spec, net.n_nodes)
    ld_f = plan_f.loadings[0]
    fstep = eng.loading_step(f"{prefix}forward/0", f"{tag}: forward loading", ld_f, ref)
    u_fwd = np.asarray(fstep["displacements_mm"], dtype=float) * 1e-3
    F_fwd = ld_f.forces(net.n_nodes, fstep["masses_g"])  # as hung (weighed), not rescaled
    e_fwd = analysis.geometric_elongations(net, u_fwd)
    value, dLdu = loss(u_fwd)

    def make_plan():
        plan = increment_plan(spec, net, -dLdu, ld_f, F_fwd)
        eng.emit(PlanEvent(type="plan", role="adjoint increment", lines=plan.describe(),
                           predicted_error=plan.predicted_error))
        if plan.predicted_error > spec.adjoint.max_predicted_error:
            eng.warn(f"adjoint plan: predicted gradient error {plan.predicted_error:.1%} from rounding")
        rec = {"plan": plan.to_dict(), "loss": float(value), "adjoint_force_n": (-dLdu).tolist()}
        if two:
            rec["plan_half"] = increment_plan(spec, net, -dLdu, ld_f, F_fwd, scale=plan.scale / 2).to_dict()
        return rec

    plan_rec = eng.step(f"{prefix}adjoint-plan", f"{tag}: adjoint plan", make_plan)
    plan_a = LoadingPlan.from_dict(plan_rec["plan"])

    def increments(role: str, plan: LoadingPlan) -> dict:
        steps = [eng.increment_step(f"{prefix}{role}/{ld.index}", f"{tag}: {role} {ld.index + 1}"
                                    f"/{len(plan.loadings)}", ld, ref) for ld in plan.loadings]
        return analysis.combine_increments(net, plan, steps)

    full = increments("increment", plan_a)
    half = increments("increment-half", LoadingPlan.from_dict(plan_rec["plan_half"])) if two else None

    def assemble():
        e_adj = full["elongations"]
        if half is not None:
            e_adj = analysis.extrapolate_increments(full["elongations"], full["size"],
                                                    half["elongations"], half["size"])
        g = e_adj * e_fwd
        g_sim = net.gradient(F_fwd, loss, mechanics="nonlinear")
        g_lin = net.gradient(F_fwd, loss)
        out = {
            "loss": float(value), "gradient": g, "gradient_simulated": g_sim, "gradient_geometric": g,
            "gradient_single_level": full["elongations"] * e_fwd,
            "gradient_linear_model": g_lin, "relative_error_linear_model": analysis.relative_error(g, g_lin),
            "relative_error": analysis.relative_error(g, g_sim), "cosine": analysis.cosine(g, g_sim),
            "nonlinearity_forward": analysis.nonlinearity(analysis.linear_elongations(net, u_fwd), e_fwd),
            "nonlinearity_adjoint": analysis.nonlinearity(
                analysis.linear_elongations(net, full["displacements"]), full["elongations"]),
            "scale": plan_a.scale, "predicted_error": plan_a.predicted_error, "increment_size": full["size"],
            "forward_forces_n": F_fwd, "adjoint_forces_n": full["forces"], "mechanics": "nonlinear",
        }
        if half is not None:
            out["gradient_half_increment"] = half["elongations"] * e_fwd
            out["increment_size_half"] = half["size"]
        return out

    return eng.gradient_step(f"{prefix}gradient", f"{tag}: gradient", assemble)


def measure_pat(eng, prefix: str, tag: str) -> dict:
    """One repeat of a physics-aware gradient (``[train] gradient = "pat"``): reference, forward, gradient.

    Only the forward load is hung.  The loss and dL/du come from the measured
    displacements; the adjoint elongations from the model (the mounted design's
    widths) at the measured state (:func:`labmnn.training.methods._pat_gradient`:
    the linear adjoint, or with ``mechanics = "nonlinear"`` the tangent stiffness
    at the measured displacements, the forward load then hung whole).
    """
    from labmnn.training.methods import _pat_gradient

    net, loss, spec = eng.net, eng.loss, eng.spec
    ref = eng.reference_step(f"{prefix}reference", f"{tag}: reference")
    if spec.mechanics == "nonlinear":
        ld_f = held_forward(spec, net.n_nodes).loadings[0]
        fstep = eng.loading_step(f"{prefix}forward/0", f"{tag}: forward loading", ld_f, ref)
        u = np.asarray(fstep["displacements_mm"], dtype=float) * 1e-3
        F = ld_f.forces(net.n_nodes, fstep["masses_g"])  # as hung (weighed)
        e_fwd = analysis.geometric_elongations(net, u)
    else:
        fwd = _measure_plan(eng, prefix, tag, "forward", forward_plan(spec, net.n_nodes), ref)
        u, F, e_fwd = np.asarray(fwd["displacements"]), fwd["forces"], np.asarray(fwd["elongations"])

    def assemble():
        value, dLdu = loss(u)
        g = _pat_gradient(net, u[None], np.asarray(dLdu, dtype=float)[None], spec.mechanics)
        g_sim = net.gradient(F, loss, mechanics=spec.mechanics)
        out = {"loss": float(value), "gradient": g, "gradient_simulated": g_sim, "gradient_geometric": g,
               "relative_error": analysis.relative_error(g, g_sim), "cosine": analysis.cosine(g, g_sim),
               "nonlinearity_forward": analysis.nonlinearity(analysis.linear_elongations(net, u),
                                                             analysis.geometric_elongations(net, u)),
               "nonlinearity_adjoint": 0.0, "scale": 0.0, "predicted_error": 0.0,
               "forward_forces_n": F, "forward_elongations_m": e_fwd, "gradient_source": "pat"}
        if spec.mechanics == "nonlinear":
            g_lin = net.gradient(F, loss)
            out.update(mechanics="nonlinear", gradient_linear_model=g_lin, increment_size=0.0,
                       relative_error_linear_model=analysis.relative_error(g, g_lin))
        return out

    return eng.gradient_step(f"{prefix}gradient", f"{tag}: gradient", assemble)


def run_gradient(eng) -> dict:
    """``kind = "gradient"``: the gradient measured ``repeats`` times, and its summary."""
    R = eng.spec.repeats
    reps = [measure_gradient(eng, f"r{r}/", f"repeat {r + 1}/{R}") for r in range(R)]
    return summarise(reps, eng.spec.mechanics)


def summarise(reps: list[dict], mechanics: str = "linear") -> dict:
    """Mean, spread and accuracy of the repeats' gradients (JSON-ready).

    ``mechanics`` is recorded; the model gradient compared with is the exact
    model's when it is ``"nonlinear"`` (each repeat's ``gradient_simulated``).
    """
    g = np.array([r["gradient"] for r in reps])
    sim = np.array([r["gradient_simulated"] for r in reps])
    out = analysis.gradient_summary(g, sim.mean(axis=0))
    out.update({
        "loss": float(np.mean([r["loss"] for r in reps])),
        "nonlinearity_forward": float(np.mean([r["nonlinearity_forward"] for r in reps])),
        "nonlinearity_adjoint": float(np.mean([r["nonlinearity_adjoint"] for r in reps])),
        "gradient_geometric": np.mean([r["gradient_geometric"] for r in reps], axis=0),
        "predicted_rounding_error": float(np.max([r["predicted_error"] for r in reps])),
        "adjoint_scale": float(np.mean([r["scale"] for r in reps])),
        "repeats": len(reps),
    })
    out["relative_error_geometric"] = analysis.relative_error(out["gradient_geometric"],
                                                              out["gradient_simulated"])
    single = np.mean([r.get("gradient_single_level", r["gradient"]) for r in reps], axis=0)
    out["relative_error_single_level"] = analysis.relative_error(single, out["gradient_simulated"])
    out["load_nonlinearity_forward"] = float(np.mean([r.get("load_nonlinearity_forward", 0.0) for r in reps]))
    out["load_nonlinearity_adjoint"] = float(np.mean([r.get("load_nonlinearity_adjoint", 0.0) for r in reps]))
    out["mechanics"] = mechanics
    if mechanics == "nonlinear":
        lin = np.mean([r["gradient_linear_model"] for r in reps], axis=0)
        out["gradient_linear_model"] = lin
        out["relative_error_linear_model"] = analysis.relative_error(out["gradient_measured"], lin)
        out["increment_size"] = float(np.mean([r["increment_size"] for r in reps]))
        if all("gradient_half_increment" in r for r in reps):
            half = np.mean([r["gradient_half_increment"] for r in reps], axis=0)
            out["relative_error_half_increment"] = analysis.relative_error(half, out["gradient_simulated"])
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}


def run_series(eng) -> dict:
    """``kind = "load_series"``: displacements under a series of loads, against the model."""
    spec = eng.spec
    R = spec.repeats
    cases = []
    condition_step(eng, "", "condition the print before its first loading", spec.series.condition_s)
    for r in range(R):
        tag = f"repeat {r + 1}/{R}"
        ref = eng.reference_step(f"r{r}/reference", f"{tag}: reference")
        for node in spec.series.all_nodes:
            where = f"n{node}/" if spec.series.nodes else ""  # one node: the keys of old sessions
            for k, grams in enumerate(spec.series.grams):
                if grams <= 0:
                    continue
                plan = series_plan(spec, eng.net.n_nodes, grams, node)
                steps = [eng.loading_step(f"r{r}/series/{where}{k}/{ld.index}", f"{tag}: {grams:g} g on node "
                                          f"{node}", ld, ref) for ld in plan.loadings]
                resp = analysis.combine_loadings(eng.net, plan, steps)
                model = eng.net.solve(resp["forces"])
                valid = ~np.any([s["lost"] for s in steps], axis=0)
                cases.append({"label": f"r{r}-{grams:g}g-node{node}", "forces_n": resp["forces"],
                              "displacements_mm": resp["displacements"] * 1e3, "valid": valid,
                              "model_displacements_mm": model.displacements * 1e3, "grams": grams,
                              "repeat": r, "node": node})
    from labmnn.fabrication.validation import series_figures

    cases = [{k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()}
             for c in cases]
    return {"cases": cases, **series_figures(eng.net, cases, str(spec.path))}


def run_train(eng) -> dict:
    """``kind = "train"``: Adam steps on measured gradients; writes each updated design."""
    spec, net = eng.spec, eng.net
    tr = spec.train
    lo, hi = (net.width_bounds * 1e3) if net.width_bounds is not None else (0.2 * net.width.min() * 1e3, np.inf)
    history = []
    m = v = np.zeros(net.n_bonds)
    batches = None
    if tr.task is not None:
        from labmnn.protocol.task_batches import TaskBatches, measure_batch

        batches = TaskBatches(spec, net)
    designs = [net.width * 1e3]  # mm: design k is mounted for step k; the last one after the last update
    for t in range(tr.steps):
        if t > 0:
            eng.step(f"t{t}/install", f"step {t + 1}: install design", lambda: _install(eng, t))
        if eng.bench.install_network is not None:
            eng.bench.install_network(net)
        condition_step(eng, f"t{t}/", f"step {t + 1}: condition the mounted design", tr.condition_s,
                       f"t{t}/install")
        measure = measure_pat if tr.gradient == "pat" else measure_gradient
        if batches is not None:
            measure = functools.partial(measure_batch, tb=batches, t=t)
        reps = [measure(eng, f"t{t}/r{r}/", f"step {t + 1}/{tr.steps}, repeat {r + 1}/{spec.repeats}")
                for r in range(spec.repeats)]
        summ = summarise(reps, spec.mechanics)

        def update():
            g_k = np.asarray(summ["gradient_measured"])
            g_w = g_k * net.stiffness / net.width * 1e-3  # dL/dw per mm of width
            m1 = 0.9 * np.asarray(m) + 0.1 * g_w
            v1 = 0.999 * np.asarray(v) + 0.001 * g_w ** 2
            mh, vh = m1 / (1 - 0.9 ** (t + 1)), v1 / (1 - 0.999 ** (t + 1))
            w = np.clip(net.width * 1e3 - tr.learning_rate * mh / (np.sqrt(vh) + 1e-30), lo, hi)
            return {"widths_mm": w, "adam_m": m1, "adam_v": v1, "loss": summ["loss"],
                    "relative_error": summ["relative_error"], "cosine": summ["cosine"],
                    "gradient_measured": g_k}

        rec = eng.step(f"t{t}/update", f"step {t + 1}: Adam update", update)
        m, v = np.asarray(rec["adam_m"]), np.asarray(rec["adam_v"])
        net.set_widths(np.asarray(rec["widths_mm"]) * 1e-3)
        designs.append(np.asarray(rec["widths_mm"], dtype=float))
        design = eng.session.folder / f"design_step{t + 1}.json"
        if not design.exists():
            write_durable(design, (json.dumps(net.to_dict(), indent=1) + "\n").encode())
        history.append({"step": t + 1, "loss": rec["loss"], "relative_error": rec["relative_error"],
                        "cosine": rec["cosine"]})
        eng.emit(TrainEvent(type="train", step=t + 1, loss=rec["loss"]))
    kept = _keep_best(eng, history, designs) if tr.final == "best" else {}
    out = eng.session.folder / Path(tr.output).name
    if eng.offline:
        out = out.with_name(f"{eng.results_name}-{out.name}")
    write_durable(out, (json.dumps(net.to_dict(), indent=1) + "\n").encode())
    return {"history": history, "design": out.name, "widths_mm": (net.width * 1e3).tolist(),
            "loss_first": history[0]["loss"], "loss_last": history[-1]["loss"], "gradient": tr.gradient,
            **({"final": tr.final, **kept} if kept else {})}  # nothing new in a "last" session's results


def _keep_best(eng, history: list, designs: list) -> dict:
    """``[train] final = "best"``: mount and measure the last design, then keep the design with the lowest
    measured loss (the simulated methods' rule); the operator remounts it if it is not the mounted one.

    Each design of a behaviour task is measured once, which is its whole training set (one sample:
    an epoch), so every measured design is a candidate.  The last design's forward load is hung as
    in PAT (``final/r<r>/``; no adjoint).  Returns ``best_design`` (0: the starting design, k:
    ``design_step<k>.json``), ``best_loss``, ``final_loss`` (the last design's), ``design_losses``.
    """
    spec, net, tr = eng.spec, eng.net, eng.spec.train
    last = len(designs) - 1
    eng.step("final/install", "final design: install", lambda: _install(eng, last))
    if eng.bench.install_network is not None:
        eng.bench.install_network(net)
    condition_step(eng, "final/", "final design: condition the mounted design", tr.condition_s, "final/install")
    reps = [measure_pat(eng, f"final/r{r}/", f"final design, repeat {r + 1}/{spec.repeats}")
            for r in range(spec.repeats)]
    losses = [float(h["loss"]) for h in history] + [float(np.mean([r["loss"] for r in reps]))]
    best = int(np.argmin(losses))
    if best != last:
        name = "network.json (the starting design)" if best == 0 else f"design_step{best}.json"

        def remount():
            eng.ask(Instruction("final design", "info", f"Mount again the network made from {name}: its "
                                f"measured loss {losses[best]:.4g} is the lowest (the last design's: "
                                f"{losses[last]:.4g}), then confirm."))
            return {"design": best, "widths_mm": designs[best].tolist(), "loss": losses[best]}

        eng.step("final/remount", "final design: remount the best measured design", remount)
        net.set_widths(np.asarray(designs[best]) * 1e-3)
        if eng.bench.install_network is not None:
            eng.bench.install_network(net)
    return {"best_design": best, "best_loss": losses[best], "final_loss": losses[last], "design_losses": losses}


def _install(eng, t: int) -> dict:
    name = f"design_step{t}.json"
    where = f"step {t + 1}" if t < eng.spec.train.steps else "final design"
    eng.ask(Instruction(where, "info", f"Mount the network made from {name} "
                          "(the updated design) in the frame, then confirm."))
    return {"design": name, "widths_mm": (eng.net.width * 1e3).tolist()}



RUNNERS = {"gradient": run_gradient, "load_series": run_series, "train": run_train}

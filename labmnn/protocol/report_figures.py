"""The session report's figures: every one written as PNG (for the page) and SVG (for papers).

Gradient sessions: measured and model gradient per bond with standard-error
bars, a parity plot and a residual plot (both with units), elongation maps.
Load series: displacement against load, and the residual (measured - model,
um) per node and load.  Training: loss, gradient error and target traces
against their goals.

Example
-------
>>> figs = gradient_figures(out, net, steps, summary)          # doctest: +SKIP
>>> figs[0].png, figs[0].svg                                   # doctest: +SKIP
('gradient_bars.png', 'gradient_bars.svg')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labmnn.protocol.analysis import linear_elongations

NODE_FONT = 10   # node numbers on the maps: legible at the page's width


@dataclass
class FigureFile:
    """A figure of the report: PNG shown, SVG twin linked, caption below."""

    png: str
    svg: str
    caption: str


def plt_():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out: Path, stem: str, caption: str, dpi: int = 110) -> FigureFile:
    """Write ``stem.png`` and ``stem.svg`` into ``out`` and close the figure."""
    plt = plt_()
    fig.savefig(out / f"{stem}.png", dpi=dpi)
    fig.savefig(out / f"{stem}.svg")
    plt.close(fig)
    return FigureFile(f"{stem}.png", f"{stem}.svg", caption)


def _scale(values: np.ndarray) -> tuple[float, str]:
    """A power of ten that brings ``values`` near 1, and its label (``"10⁻⁹ "``)."""
    big = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    if not np.isfinite(big) or big == 0:
        return 1.0, ""
    p = int(np.floor(np.log10(big)))
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return 10.0 ** p, (f"10{str(p).translate(sup)} " if p else "")


def standard_error(summary: dict) -> np.ndarray:
    """Standard error of the mean measured gradient per bond (sd / sqrt(repeats))."""
    sd = np.asarray(summary.get("gradient_measured_std", np.zeros(len(summary["gradient_measured"]))), float)
    n = max(1, int(summary.get("repeats", 1)))
    return sd / np.sqrt(n)


def draw_map(ax, net, values, title, vmax=None, unit=""):
    """Bonds coloured by ``values`` (diverging, symmetric), numbered nodes, fixed nodes as triangles."""
    from matplotlib.collections import LineCollection

    seg = net.nodes[net.bonds] * 1e3
    vmax = vmax or float(np.nanmax(np.abs(values))) or 1.0
    lc = LineCollection(seg, cmap="coolwarm", linewidths=4)
    lc.set_array(np.asarray(values))
    lc.set_clim(-vmax, vmax)
    ax.add_collection(lc)
    ax.plot(*(net.nodes * 1e3).T, "o", color="0.2", ms=3, zorder=3)
    ax.plot(*(net.nodes[net.fixed_nodes] * 1e3).T, "^", color="tab:blue", ms=8, zorder=3)
    for i, (x, y) in enumerate(net.nodes * 1e3):
        ax.annotate(str(i), (x, y), fontsize=NODE_FONT, xytext=(4, 4), textcoords="offset points", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.75))
    ax.set_aspect("equal")
    ax.autoscale()
    ax.margins(0.08)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return lc


def loss_unit(loss_kind: str = "mse") -> tuple[str, str]:
    """The unit of a loss L for axis labels, and L in words: m² for the squared distances of an MSE loss,
    none for a cross-entropy (a data-set task's classification, e.g. Iris)."""
    if loss_kind == "cross_entropy":
        return "1", "cross-entropy loss, dimensionless"
    return "m²", "loss in m²"


def gradient_figures(out: Path, net, steps: dict, summary: dict, where: str = "",
                     loss_kind: str = "mse") -> list[FigureFile]:
    """Bars per bond, parity, residual and elongation maps of a gradient measurement.

    ``where`` names the measurement in titles (e.g. "last training step"); ``loss_kind``
    the loss's (``"mse"``: L in m², ``"cross_entropy"``: dimensionless).
    """
    lu, lwords = loss_unit(loss_kind)
    plt = plt_()
    g = np.asarray(summary["gradient_measured"], float)
    se = standard_error(summary)
    sim = np.asarray(summary["gradient_simulated"], float)
    n = int(summary.get("repeats", 1))
    f, flab = _scale(np.concatenate([g, sim]))
    unit = f"{flab}{lu}/(N/m)"
    b = np.arange(len(g))
    figs = []
    err_word = (f"mean ± standard error of {n} repeats" if n > 1 else "one repeat: no error bar")
    fig, ax = plt.subplots(figsize=(10, 3.8))
    model = ("exact large-rotation model" if summary.get("mechanics") == "nonlinear" else
             "linear bar model, exact gradient")
    ax.bar(b - 0.2, sim / f, 0.4, label=f"model ({model})", color="0.6")
    ax.bar(b + 0.2, g / f, 0.4, yerr=se / f, capsize=2, label=f"measured ({err_word})", color="tab:orange")
    ax.set_xlabel("bond")
    ax.set_xticks(b)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylabel(f"gradient dL/dk  ({unit})")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_title(f"Gradient per bond{', ' + where if where else ''}: error {summary['relative_error']:.2%}, "
                 f"cosine {summary['cosine']:.5f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    figs.append(save(fig, out, "gradient_bars",
                     f"Measured and model gradient dL/dk per bond (L: {lwords}, k: bond stiffness in N/m). "
                     + ("Error bars: standard error of the mean over repeats." if n > 1 else
                        "A single repeat gives no spread: run more repeats for error bars.")))

    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    lim = float(np.max(np.abs(np.concatenate([g, sim])))) * 1.1 / f
    ax.errorbar(sim / f, g / f, yerr=se / f, fmt="o", ms=4, capsize=2)
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="measured = model")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel(f"model dL/dk  ({unit})")
    ax.set_ylabel(f"measured dL/dk  ({unit})")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Parity: one point per bond" + (f"\n({where})" if where else ""), fontsize=10)
    fig.tight_layout()
    figs.append(save(fig, out, "gradient_scatter", "Parity plot: measured against model gradient, one point "
                                                   "per bond; on the dashed line they agree."))

    fig, ax = plt.subplots(figsize=(10, 3.2))
    r = g - sim
    rf, rlab = _scale(r)
    ax.errorbar(b, r / rf, yerr=se / rf, fmt="o", ms=4, capsize=2, color="tab:red")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(b)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("bond")
    ax.set_ylabel(f"measured - model\n({rlab}{lu}/(N/m))")
    ax.set_title("Residual per bond" + (f" ({where})" if where else ""), fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figs.append(save(fig, out, "gradient_residual", "Residual: measured minus model gradient per bond (same "
                                                    "error bars as above)."))
    figs += _maps(out, net, steps, summary.get("mechanics") == "nonlinear")
    return figs


def _nonlinear_maps(net, steps: dict, prefix: str, F_f: np.ndarray, F_a_hung: np.ndarray):
    """``mechanics = "nonlinear"``: forward geometric elongations and the increments' elongations along
    the deformed bars (m, as hung), measured and from the exact model's tangent."""
    from labmnn.model.nonlinear import NonlinearStatics
    from labmnn.protocol.analysis import geometric_elongations, incremental_elongations

    fwd = steps[prefix + "forward/0"]
    e_f = geometric_elongations(net, np.asarray(fwd["displacements_mm"]) * 1e-3)
    e_a = np.zeros(net.n_bonds)
    for k in sorted(steps):
        if k.startswith(prefix + "increment/"):
            d = steps[k]
            e_a = e_a + d["loading"]["sign"] * incremental_elongations(
                net, np.asarray(d["base_displacements_mm"]) * 1e-3, np.asarray(d["displacements_mm"]) * 1e-3)
    statics = NonlinearStatics(net, net.stiffness)
    _, state = statics.solve(F_f[None])
    m_a = statics.elongations_along(state, statics.adjoint(state, F_a_hung[None]))[0]
    return e_f, e_a, state.stretch[0], m_a


def _maps(out: Path, net, steps: dict, nonlinear: bool = False) -> list[FigureFile]:
    plt = plt_()
    grads = sorted(k for k in steps if k.endswith("gradient") and "gradient" in steps[k])
    if not grads:
        return []
    key = grads[-1]
    if "adjoint_forces_n" not in steps[key]:  # PAT or a batch of samples: no adjoint hung to map
        return []
    prefix = key[: -len("gradient")]
    F_f = np.asarray(steps[key]["forward_forces_n"])
    F_a = np.asarray(steps[key]["adjoint_forces_n"])
    scale = float(steps[key].get("scale", 1.0))
    if nonlinear:
        e_f, e_a, m_f, m_a = (x * 1e6 for x in _nonlinear_maps(net, steps, prefix, F_f, F_a * scale))
    else:
        fwd = [steps[k] for k in sorted(steps) if k.startswith(prefix + "forward/")]
        adj = [steps[k] for k in sorted(steps) if k.startswith(prefix + "adjoint/")]
        e_f = sum(linear_elongations(net, np.asarray(d["displacements_mm"])) for d in fwd) * 1e3
        e_a = sum(linear_elongations(net, np.asarray(d["displacements_mm"])) * d["loading"]["sign"]
                  for d in adj) * 1e3
        m_f = net.solve(F_f).elongations * 1e6
        m_a = net.solve(F_a).elongations * 1e6 * scale
    g_meas = np.asarray(steps[key]["gradient"])
    g_sim = np.asarray(steps[key]["gradient_simulated"])
    fig, axes = plt.subplots(2, 3, figsize=(14, 6.6))
    vf = float(np.max(np.abs(np.concatenate([e_f, m_f]))))
    va = float(np.max(np.abs(np.concatenate([e_a, m_a]))))
    vg = float(np.max(np.abs(np.concatenate([g_meas, g_sim]))))
    gf, glab = _scale(np.concatenate([g_meas, g_sim]))
    for row, (ef, ea, gg, who) in enumerate(((e_f, e_a, g_meas, "measured"), (m_f, m_a, g_sim, "model"))):
        for ax, vals, title, vm, lab in (
                (axes[row, 0], ef, f"forward elongation, {who}", vf, "µm"),
                (axes[row, 1], ea, f"adjoint elongation (as hung), {who}", va, "µm"),
                (axes[row, 2], gg / gf, f"gradient dL/dk, {who}", vg / gf, f"{glab}m²/(N/m)")):
            lc = draw_map(ax, net, vals, title, vm)
            cb = fig.colorbar(lc, ax=ax, shrink=0.7)
            cb.set_label(lab)
    fig.tight_layout()
    where = prefix.rstrip("/") or "run"
    return [save(fig, out, "elongation_maps", f"Elongation maps ({where}): measured (top), model (bottom). Red: "
                                              "stretched, blue: compressed; triangles: fixed nodes.", dpi=100)]


def series_figures(out: Path, net, summary: dict) -> list[FigureFile]:
    """Displacement against load for the most moving nodes, and residuals per node and load."""
    plt = plt_()
    cases = summary["cases"]
    grams = np.array([c["grams"] for c in cases], float)
    meas = np.array([c["displacements_mm"] for c in cases], float)
    model = np.array([c["model_displacements_mm"] for c in cases], float)
    moving = np.argsort(-np.abs(model[-1]).max(axis=1))[:4]
    order = np.argsort(grams)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, node in enumerate(moving):
        for axis, mk in ((0, "s"), (1, "o")):
            ax.plot(grams, meas[:, node, axis], mk, color=f"C{k}", ms=5, mfc="none" if axis == 0 else f"C{k}",
                    label=f"node {node}, {'horizontal' if axis == 0 else 'vertical'}")
            ax.plot(grams[order], model[order, node, axis], "-", color=f"C{k}", lw=0.8)
    ax.set_xlabel("hung load (g)")
    ax.set_ylabel("displacement (mm)")
    ax.set_title(f"Load series: R² = {summary['r_squared']:.4f} (markers: measured, lines: model)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figs = [save(fig, out, "load_series", "Displacement against load of the four nodes that move most: "
                                          "measured (markers; squares horizontal, dots vertical), model (lines).")]
    figs.append(_residual_map(out, grams, (meas - model) * 1e3))
    return figs


def _residual_map(out: Path, grams: np.ndarray, res_um: np.ndarray) -> FigureFile:
    """Residual (um) per node (rows) and load (columns), horizontal and vertical, numbers written in."""
    plt = plt_()
    n_cases, n_nodes, _ = res_um.shape
    lim = float(np.nanmax(np.abs(res_um))) or 1.0
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.6 * n_cases + 2), 0.32 * n_nodes + 1.6), sharey=True)
    for ax, axis, name in ((axes[0], 0, "horizontal u_x"), (axes[1], 1, "vertical u_y")):
        im = ax.imshow(res_um[:, :, axis].T, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(n_cases), [f"{g:g} g" for g in grams], fontsize=8)
        ax.set_yticks(range(n_nodes), [str(i) for i in range(n_nodes)], fontsize=8)
        ax.set_xlabel("load")
        ax.set_title(f"{name}: measured - model (µm)", fontsize=10)
        for c in range(n_cases):
            for i in range(n_nodes):
                v = res_um[c, i, axis]
                if np.isfinite(v):
                    ax.text(c, i, f"{v:.1f}", ha="center", va="center", fontsize=7)
    axes[0].set_ylabel("node")
    fig.colorbar(im, ax=axes, shrink=0.8).set_label("residual (µm)")
    return save(fig, out, "load_series_residuals",
                "Residual per node and load: measured minus model displacement in µm (a parity plot near "
                "R² = 1 hides these).")


def train_figures(out: Path, summary: dict, targets: list[tuple[int, int, float, list[float]]],
                  loss_kind: str = "mse") -> list[FigureFile]:
    """Loss, gradient error and each target's trace against its goal, per training step.

    ``targets`` holds ``(node, axis, goal_m, measured_m_per_step)``; ``loss_kind`` the
    loss's (``"mse"``: L in m², ``"cross_entropy"``: dimensionless).
    """
    ce = loss_kind == "cross_entropy"
    plt = plt_()
    from matplotlib.ticker import MaxNLocator

    h = summary["history"]
    step = [x["step"] for x in h]
    ncol = 2 + bool(targets)
    fig, axes = plt.subplots(1, ncol, figsize=(4.6 * ncol, 3.8))
    ax = axes[0]
    ax.semilogy(step, [x["loss"] for x in h], "o-", label="measured loss")
    ax.set_ylabel("loss L (cross-entropy)" if ce else "loss L (m²)")
    ax.set_title("Loss (goal: 0)", fontsize=10)
    ax = axes[1]
    ax.plot(step, [x.get("relative_error", np.nan) * 100 for x in h], "o-", color="tab:orange")
    ax.set_ylabel("gradient error vs model (%)")
    ax.set_title("Measured gradient error", fontsize=10)
    ax.set_ylim(bottom=0)
    if targets:
        ax = axes[2]
        for k, (node, axis, goal, trace) in enumerate(targets):
            comp = "xy"[axis]
            ax.plot(step[: len(trace)], np.asarray(trace) * 1e3, "o-", color=f"C{k}", label=f"node {node} u{comp}")
            ax.axhline(goal * 1e3, color=f"C{k}", ls="--", lw=1, label=f"goal {goal * 1e3:g} mm")
        ax.set_ylabel("displacement under the forward load (mm)")
        ax.set_title("Targets (measured) against goals", fontsize=10)
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    what = ("cross-entropy of the output displacements' softmax against the batch's labels, dimensionless" if ce
            else "sum of squared distances to the targets, m²")
    return [save(fig, out, "training", f"Training: loss L ({what}), the "
                                       "measured gradient's error against the model, and every target's "
                                       "displacement (measured at the start of each step) against its goal.")]

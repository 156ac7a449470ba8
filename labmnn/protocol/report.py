"""HTML report of a session with PNG figures (matplotlib, headless).

Gradient sessions: measured against simulated gradient per bond with error
bars over repeats, a measured-vs-simulated scatter, and elongation maps
(forward, adjoint, gradient; measured and model).  Load series: displacement
against load per node, measured and model (and the fabrication branch's
validation report when it is installed).  Training: loss per step.

Example
-------
>>> path = write_report("sessions/20261122-101500-gradient-fig1")   # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

import numpy as np

from labmnn.errors import InputError
from labmnn.model.network import Network
from labmnn.protocol.analysis import linear_elongations
from labmnn.protocol.recorder import Session


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_map(ax, net, values, title, vmax=None):
    from matplotlib.collections import LineCollection

    seg = net.nodes[net.bonds] * 1e3
    vmax = vmax or float(np.nanmax(np.abs(values))) or 1.0
    lc = LineCollection(seg, cmap="coolwarm", linewidths=4)
    lc.set_array(np.asarray(values))
    lc.set_clim(-vmax, vmax)
    ax.add_collection(lc)
    ax.plot(*(net.nodes * 1e3).T, "o", color="0.2", ms=3)
    for i, (x, y) in enumerate(net.nodes * 1e3):
        ax.annotate(str(i), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.plot(*(net.nodes[net.fixed_nodes] * 1e3).T, "^", color="tab:blue", ms=7)
    ax.set_aspect("equal")
    ax.autoscale()
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return lc


def _gradient_figures(folder: Path, out: Path, net, steps: dict, summary: dict) -> list[tuple[str, str]]:
    plt = _plt()
    figs = []
    g = np.asarray(summary["gradient_measured"])
    sd = np.asarray(summary["gradient_measured_std"])
    sim = np.asarray(summary["gradient_simulated"])
    b = np.arange(len(g))
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.bar(b - 0.2, sim, 0.4, label="simulated (bar model)", color="0.6")
    ax.bar(b + 0.2, g, 0.4, yerr=sd, capsize=2, label=f"measured (mean ± sd, {summary.get('repeats', 1)} repeats)",
           color="tab:orange")
    ax.set_xlabel("bond")
    ax.set_ylabel("dL/dk  (m² per N/m)")
    ax.set_title(f"gradient: relative error {summary['relative_error']:.2%}, cosine {summary['cosine']:.4f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "gradient_bars.png", dpi=110)
    plt.close(fig)
    figs.append(("gradient_bars.png", "Measured and simulated gradient per bond"))

    fig, ax = plt.subplots(figsize=(4, 4))
    lim = float(np.max(np.abs(np.concatenate([g, sim])))) * 1.1
    ax.errorbar(sim, g, yerr=sd, fmt="o", ms=4)
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("simulated dL/dk")
    ax.set_ylabel("measured dL/dk")
    fig.tight_layout()
    fig.savefig(out / "gradient_scatter.png", dpi=110)
    plt.close(fig)
    figs.append(("gradient_scatter.png", "Measured against simulated gradient"))

    grads = sorted(k for k in steps if k.endswith("gradient") and "gradient" in steps[k])
    if grads:
        key = grads[-1]
        prefix = key[: -len("gradient")]
        fwd = [steps[k] for k in sorted(steps) if k.startswith(prefix + "forward/")]
        adj = [steps[k] for k in sorted(steps) if k.startswith(prefix + "adjoint/")]
        e_f = sum(linear_elongations(net, np.asarray(d["displacements_mm"])) for d in fwd)
        e_a = sum(linear_elongations(net, np.asarray(d["displacements_mm"])) *
                  d["loading"]["sign"] for d in adj)
        F_f = np.asarray(steps[key]["forward_forces_n"])
        F_a = np.asarray(steps[key]["adjoint_forces_n"])
        scale = float(steps[key].get("scale", 1.0))
        m_f = net.solve(F_f).elongations * 1e3
        m_a = net.solve(F_a).elongations * 1e3 * scale
        fig, axes = plt.subplots(2, 3, figsize=(11, 6))
        for row, (ef, ea, gg, who) in enumerate(((e_f, e_a, steps[key]["gradient"], "measured"),
                                                   (m_f, m_a, steps[key]["gradient_simulated"], "model"))):
            vf = float(np.max(np.abs(np.concatenate([e_f, m_f]))))
            va = float(np.max(np.abs(np.concatenate([e_a, m_a]))))
            vg = float(np.max(np.abs(np.concatenate([steps[key]["gradient"], steps[key]["gradient_simulated"]]))))
            for ax, vals, title, vm in ((axes[row, 0], ef, f"forward elongation (mm), {who}", vf),
                                        (axes[row, 1], ea, f"adjoint elongation (mm, as hung), {who}", va),
                                        (axes[row, 2], gg, f"gradient e_adj·e, {who}", vg)):
                lc = _draw_map(ax, net, vals, title, vm)
                fig.colorbar(lc, ax=ax, shrink=0.7)
        fig.tight_layout()
        fig.savefig(out / "elongation_maps.png", dpi=100)
        plt.close(fig)
        figs.append(("elongation_maps.png", f"Elongation maps ({prefix.rstrip('/') or 'run'}): measured (top), "
                                            "model (bottom)"))
    return figs


def _series_figures(out: Path, net, summary: dict, r2: float | None = None) -> list[tuple[str, str]]:
    plt = _plt()
    cases = summary["cases"]
    grams = np.array([c["grams"] for c in cases])
    meas = np.array([c["displacements_mm"] for c in cases])
    model = np.array([c["model_displacements_mm"] for c in cases])
    moving = np.argsort(-np.abs(model[-1]).max(axis=1))[:4]
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, node in enumerate(moving):
        for axis, mk in ((0, "s"), (1, "o")):
            ax.plot(grams, meas[:, node, axis], mk, color=f"C{k}", ms=4,
                    label=f"node {node} u{'xy'[axis]} measured")
            order = np.argsort(grams)
            ax.plot(grams[order], model[order, node, axis], "-", color=f"C{k}", lw=0.8)
    ax.set_xlabel("load (g)")
    ax.set_ylabel("displacement (mm)")
    ax.set_title(f"load series: R² {summary['r_squared'] if r2 is None else r2:.5f}")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "load_series.png", dpi=110)
    plt.close(fig)
    return [("load_series.png", "Displacement against load: measured (markers), model (lines)")]


def _train_figures(out: Path, summary: dict) -> list[tuple[str, str]]:
    plt = _plt()
    h = summary["history"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy([x["step"] for x in h], [x["loss"] for x in h], "o-")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("loss (measured)")
    fig.tight_layout()
    fig.savefig(out / "training.png", dpi=110)
    plt.close(fig)
    return [("training.png", "Loss per training step")]


def write_report(session: str | Path, results: str = "results", out: str | Path | None = None) -> Path:
    """Write ``<session>/report/index.html`` (or ``out``) with its PNG figures.

    Parameters
    ----------
    session : path
    results : str
        Which results set to report (``results`` or a reanalysis name).
    out : path, optional

    Returns
    -------
    Path
        The HTML file.
    """
    sess = Session.open(session)
    folder = sess.folder
    res_path = folder / f"{results}.json"
    if not res_path.exists():
        status = sess.status()
        if results != "results" or status == "success":
            have = sorted(p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.h5").exists())
            raise InputError("--results", "", f"{results!r}: {folder} has no {results}.json (results it has: "
                             f"{', '.join(have) or 'none'})")
        raise InputError(str(folder), "", f"has no {results}.json (status {status}): finish it with "
                         f"`labmnn resume {folder}` first")
    summary = json.loads(res_path.read_text())
    net = Network.load(folder / "network.json")
    steps = sess.completed_steps()
    out = Path(out) if out else folder / ("report" if results == "results" else f"report-{results}")
    out.mkdir(parents=True, exist_ok=True)
    kind = summary.get("kind")
    warnings: list[str] = []
    validation_rows = ""
    if kind in ("gradient", "train") and "gradient_measured" in summary:
        figs = _gradient_figures(folder, out, net, steps, summary)
    elif kind == "train":
        figs = _train_figures(out, summary)
        last = sorted(k for k in steps if k.endswith("/update"))
        if last:
            figs += _gradient_figures(folder, out, net, steps, _train_last(steps, summary))
    elif kind == "load_series":
        # one R^2: run, report and validate-report all use labmnn.fabrication.validation
        series = folder / ("load_series.json" if results == "results" else f"{results}-load_series.json")
        vfigs, vrows, warning, r2 = _validation(net, series, out / "validation")
        if r2 is not None:
            summary = {**summary, **r2}
        figs = _series_figures(out, net, summary) + vfigs
        validation_rows = vrows
        if warning:
            warnings.append(warning)
    else:
        figs = []
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in summary.items() if not isinstance(v, (list, dict)))
    imgs = "".join(f"<figure><img src='{f}' style='max-width:100%'><figcaption>{html.escape(c)}</figcaption>"
                   f"</figure>" for f, c in figs if f.endswith(".png"))
    images = "".join(f"<li>{html.escape(r['path'])} <code>{r['sha256'][:16]}…</code> ({html.escape(r['role'])})</li>"
                     for r in sess.images())
    warn = "".join(f"<p style='color:#b00'><b>Warning:</b> {html.escape(w)}</p>" for w in warnings)
    for w in warnings:
        print(f"labmnn: warning: {w}", file=sys.stderr)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(folder.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} th{{text-align:left;padding-right:1em}}</style>
</head><body><h1>Session {html.escape(folder.name)}</h1>
<p>Protocol <b>{html.escape(str(summary.get('protocol')))}</b> ({html.escape(str(kind))}), status
<b>{html.escape(sess.status())}</b>, results <code>{html.escape(results)}</code>.</p>
{warn}<table>{rows}</table>{validation_rows}{imgs}<h2>Raw photographs</h2><ul>{images}</ul></body></html>
"""
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"


def _validation(net, series: Path, out: Path) -> tuple[list, str, str, dict | None]:
    """The fabrication validation report of a load series: figures, table rows, warning.

    A failure is not hidden: it comes back as a one-line warning (shown in the
    report and on stderr) and the rest of the report is still written.
    """
    try:
        from labmnn.fabrication.validation import validation_report

        cases = json.loads(series.read_text(encoding="utf-8"))["cases"]
        v = validation_report(net, cases, out, source=str(series))
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the session report still matters
        msg = " ".join(str(exc).split()) or type(exc).__name__
        return [], "", f"validation report failed ({type(exc).__name__}): {msg}", None
    figs = [(f"{out.name}/{Path(f).name}", "Validation: " + Path(f).stem.replace("_", " "))
            for f in v["files"] if f.endswith(".png")]
    big = v["largest_error"]
    rows = (f"<h2>Validation (measured vs predicted displacements)</h2><table>"
            f"<tr><th>R²</th><td>{v['r2']:.5f}</td></tr>"
            f"<tr><th>RMS error</th><td>{v['rms_error_mm'] * 1e3:.1f} µm over {v['n_measurements']} "
            f"joint measurements in {v['n_cases']} loads</td></tr>"
            f"<tr><th>largest error</th><td>{big['mm'] * 1e3:.1f} µm at node {big['node']}, "
            f"load {html.escape(str(big['case']))}</td></tr></table>"
            f"<p>Per node and load: <a href='{out.name}/validation.csv'>validation.csv</a>, "
            f"<a href='{out.name}/validation.json'>validation.json</a></p>")
    figures = {"r_squared": v["r2"], "rms_error_mm": v["rms_error_mm"], "largest_error_mm": big["mm"]}
    return figs, rows, "", figures


def _train_last(steps: dict, summary: dict) -> dict:
    grads = sorted(k for k in steps if k.endswith("gradient") and "gradient" in steps[k])
    last_t = grads[-1].split("/")[0]
    reps = [steps[k] for k in grads if k.startswith(last_t + "/")]
    from labmnn.protocol.analysis import gradient_summary

    g = gradient_summary(np.array([r["gradient"] for r in reps]),
                         np.mean([r["gradient_simulated"] for r in reps], axis=0))
    return {**{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in g.items()}, "repeats": len(reps)}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)

"""Prototype validation: measured against predicted displacements for a load series.

:func:`validation_report` compares what the camera measured on a printed
prototype with what the bar model predicts for the same forces, per node and
load case, and writes

- ``validation.json``: R^2, RMS and largest error, per-node figures;
- ``validation.csv``: one row per case and node (measured, predicted, error, mm);
- ``displacement_vs_load_<k>.png``: for every series of proportional loads (the
  same weights pattern scaled, e.g. 0 to 12 g on one node), u_x and u_y of the
  output nodes against the hung load, measured as markers and predicted as lines
  (like Fig. 3c of the paper);
- ``parity.png``: every measured component against its prediction.

Example
-------
>>> from labmnn.fabrication.load_series import hanging_plan, simulate_cases
>>> net = Network.example("paper-triangle-n4")
>>> F, labels = hanging_plan(net, grams=(2, 4, 6), nodes=[12])
>>> cases = simulate_cases(net, F, labels, noise_m=1e-6)
>>> rep = validation_report(net, cases, tmp_dir)            # doctest: +SKIP
>>> rep["r2"] > 0.99                                        # doctest: +SKIP
True
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labmnn.errors import InputError
from labmnn.fabrication.load_series import LoadCase, as_load_cases, stack_cases
from labmnn.model.network import GRAVITY, Network

MAX_SERIES_PLOTS = 12
COLORS = ("#e8891d", "#2f6db5", "#3a9b4a", "#b53a3a", "#7b4fb5", "#5d5d5d")


def r_squared(measured: np.ndarray, predicted: np.ndarray) -> float:
    """The coefficient of determination of ``predicted`` for ``measured`` (the one R^2 of labmnn).

    ``1 - sum((m - p)^2) / sum((m - mean(m))^2)`` over every value given (the caller
    passes only valid measurements on free nodes); NaN when the measurements do not vary.
    """
    measured, predicted = np.asarray(measured, float).ravel(), np.asarray(predicted, float).ravel()
    ss_res = np.sum((measured - predicted) ** 2)
    ss_tot = np.sum((measured - measured.mean()) ** 2)
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


_r2 = r_squared


def series_figures(network: Network, cases, source: str = "load series") -> dict:
    """The figures of a load series: ``r_squared``, ``rms_error_mm`` and ``largest_error_mm``.

    One definition for ``run``, ``report`` and ``validate-report``: they are those of
    :func:`validate` (valid measurements on free nodes; the largest error is the largest
    displacement error of one joint).
    """
    cases = as_load_cases(cases, source)
    F, U, V = stack_cases(cases, network.n_nodes, source)
    if not (V & ~np.isin(np.arange(network.n_nodes), network.fixed_nodes)).any():
        nan = float("nan")  # every joint lost: nothing to compare (the session still ends)
        return {"r_squared": nan, "rms_error_mm": nan, "largest_error_mm": nan}
    v = validate(network, cases, source)
    s, n = v.largest
    return {"r_squared": v.r2, "rms_error_mm": v.rms_error_m * 1e3, "largest_error_mm": float(v.error[s, n]) * 1e3}


def load_series_groups(F: np.ndarray) -> list[np.ndarray]:
    """Group cases whose force patterns are proportional (one loading series each).

    Returns
    -------
    list of ndarray of int
        Case indices of each group, in order of first appearance, each sorted by load.
    """
    flat = F.reshape(len(F), -1)
    norm = np.linalg.norm(flat, axis=1)
    unit = np.round(flat / np.where(norm > 0, norm, 1.0)[:, None], 6)
    _, first, inverse = np.unique(unit, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    groups = []
    for g in np.argsort(first):
        idx = np.flatnonzero(inverse == g)
        groups.append(idx[np.argsort(norm[idx])])
    return groups


def _output_nodes(pred: np.ndarray, valid: np.ndarray, free: np.ndarray, k: int = 2) -> np.ndarray:
    """The ``k`` valid free nodes that move most over a series (the natural outputs)."""
    motion = np.where(valid, np.linalg.norm(pred, axis=-1), 0.0).max(axis=0)
    motion[~free] = -1.0
    return np.sort(np.argsort(motion)[::-1][:k])


def _new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=150)
    FigureCanvasAgg(fig)
    return fig


def _style(ax) -> None:
    ax.tick_params(direction="in", top=True, right=True, labelsize=8)
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)


def plot_series(path: Path, title: str, load_g: np.ndarray, measured: np.ndarray, predicted_per_g: np.ndarray,
                valid: np.ndarray, nodes: np.ndarray) -> None:
    """Displacement against load for ``nodes``: measured markers, predicted lines (mm, g)."""
    fig = _new_figure(6.4, 2.8)
    axes = fig.subplots(1, 2)
    g_line = np.array([0.0, load_g.max() * 1.05])
    for a, (ax, comp) in enumerate(zip(axes, ("$u_x$", "$u_y$"))):
        for c, node in enumerate(nodes):
            color = COLORS[c % len(COLORS)]
            ok = valid[:, node]
            ax.plot(g_line, g_line * predicted_per_g[node, a] * 1e3, "-", color=color, lw=1.4,
                    label=f"node {node} model")
            ax.plot(np.r_[0.0, load_g[ok]], np.r_[0.0, measured[ok, node, a] * 1e3], "o", mfc="none",
                    mec=color, ms=5, mew=1.2, label=f"node {node} measured")
        ax.set_xlabel("hung load (g)", fontsize=9)
        ax.set_ylabel(f"{comp} (mm)", fontsize=9)
        _style(ax)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def plot_parity(path: Path, measured: np.ndarray, predicted: np.ndarray, r2: float) -> None:
    """Every measured displacement component against its prediction (mm)."""
    fig = _new_figure(3.4, 3.2)
    ax = fig.subplots()
    lo = min(measured.min(), predicted.min()) * 1e3
    hi = max(measured.max(), predicted.max()) * 1e3
    ax.plot([lo, hi], [lo, hi], "-", color="0.6", lw=1)
    ax.plot(predicted * 1e3, measured * 1e3, "o", mfc="none", mec=COLORS[1], ms=3.5, mew=0.9)
    ax.set_xlabel("predicted displacement (mm)", fontsize=9)
    ax.set_ylabel("measured displacement (mm)", fontsize=9)
    ax.set_title(f"$R^2$ = {r2:.4f}", fontsize=9)
    _style(ax)
    fig.tight_layout()
    fig.savefig(path)


@dataclass
class Validation:
    """Measured against predicted displacements of a load series (network frame, SI).

    Attributes
    ----------
    network : str
        The model's name.
    labels : list of str
        One per load case.
    forces, measured, predicted : ndarray (S, n, 2)
        Applied forces (N) and measured and predicted displacements (m) per case and node.
    valid : ndarray bool (S, n)
        Which measurements exist.
    free : ndarray bool (n,)
        Nodes not fixed to the frame.
    error : ndarray (S, n)
        Length of measured minus predicted displacement, m.
    r2, rms_error_m : float
        Over every valid component on a free node.
    largest : tuple of int
        (case, node) of the largest error.
    per_node, per_case : list of dict
        As in :func:`validation_report` (millimetres).
    """

    network: str
    labels: list
    forces: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    valid: np.ndarray
    free: np.ndarray
    error: np.ndarray
    r2: float
    rms_error_m: float
    largest: tuple
    per_node: list
    per_case: list

    @property
    def used(self) -> np.ndarray:
        """Valid measurements on free nodes (S, n)."""
        return self.valid & self.free

    def to_dict(self, files: list[str]) -> dict:
        """The ``validation.json`` object (millimetres), listing ``files``."""
        s_big, n_big = self.largest
        U, P = self.measured, self.predicted
        return {
            "network": self.network,
            "n_cases": len(self.labels),
            "n_measurements": int(self.used.sum()),
            "r2": self.r2,
            "rms_error_mm": self.rms_error_m * 1e3,
            "largest_error": {"mm": float(self.error[s_big, n_big]) * 1e3, "node": int(n_big),
                              "case": self.labels[s_big], "measured_mm": (U[s_big, n_big] * 1e3).tolist(),
                              "predicted_mm": (P[s_big, n_big] * 1e3).tolist()},
            "per_node": self.per_node,
            "per_case": self.per_case,
            "files": files,
        }


def validate(network: Network, cases: list[LoadCase], source: str = "load series") -> Validation:
    """Compare measured with predicted displacements (no files): see :func:`validation_report`."""
    cases = as_load_cases(cases, source)
    F, U, V = stack_cases(cases, network.n_nodes, source)
    P = network.solve(F).displacements
    free = np.ones(network.n_nodes, dtype=bool)
    free[network.fixed_nodes] = False
    use = V & free  # (S, n)
    if not use.any():
        raise InputError(source, "valid", "holds no valid measurement on a free node: nothing to compare")
    err = np.linalg.norm(P - U, axis=-1)  # (S, n)
    m, p = U[use], P[use]  # (N, 2)
    r2 = _r2(m.ravel(), p.ravel())
    rms = float(np.sqrt(np.mean((m - p) ** 2))) if m.size else float("nan")
    masked = np.where(use, err, -1.0)
    s_big, n_big = np.unravel_index(int(np.argmax(masked)), masked.shape)
    labels = [c.label or f"case{i}" for i, c in enumerate(cases)]

    per_node = []
    for node in np.flatnonzero(free):
        ok = use[:, node]
        if not ok.any():
            continue
        mu, pu = U[ok, node], P[ok, node]
        per_node.append({"node": int(node), "rms_error_mm": float(np.sqrt(np.mean((mu - pu) ** 2))) * 1e3,
                         "max_error_mm": float(err[ok, node].max()) * 1e3, "r2": _r2(mu.ravel(), pu.ravel())})
    sq = np.where(use[..., None], (U - P) ** 2, 0.0).sum(axis=(1, 2))
    cnt = np.maximum(use.sum(axis=1) * 2, 1)
    per_case = [{"case": labels[s], "rms_error_mm": float(np.sqrt(sq[s] / cnt[s])) * 1e3,
                 "max_error_mm": float(np.where(use[s], err[s], 0).max()) * 1e3} for s in range(len(cases))]
    return Validation(network.name, labels, F, U, P, V, free, err, r2, rms, (int(s_big), int(n_big)),
                      per_node, per_case)


def write_validation_csv(v: Validation, path: Path) -> None:
    """``validation.csv``: one row per case and free node (millimetres)."""
    F, U, P, V, err = v.forces, v.measured, v.predicted, v.valid, v.error
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "node", "valid", "fx_n", "fy_n", "ux_measured_mm", "uy_measured_mm",
                    "ux_predicted_mm", "uy_predicted_mm", "error_mm"])
        s_idx, n_idx = np.meshgrid(np.arange(len(v.labels)), np.flatnonzero(v.free), indexing="ij")
        for s, i in zip(s_idx.ravel(), n_idx.ravel()):
            w.writerow([v.labels[s], int(i), bool(V[s, i]), f"{F[s, i, 0]:.6g}", f"{F[s, i, 1]:.6g}",
                        f"{U[s, i, 0] * 1e3:.6f}", f"{U[s, i, 1] * 1e3:.6f}",
                        f"{P[s, i, 0] * 1e3:.6f}", f"{P[s, i, 1] * 1e3:.6f}", f"{err[s, i] * 1e3:.6f}"])


def write_validation_plots(v: Validation, out: Path, nodes=None) -> list[str]:
    """The displacement-against-load and parity PNGs; returns the files written."""
    F, U, P, V, free = v.forces, v.measured, v.predicted, v.valid, v.free
    use = v.used
    m, p = U[use], P[use]
    files: list[str] = []
    if not m.size:
        return files
    groups = load_series_groups(F)
    for k, idx in enumerate(groups[:MAX_SERIES_PLOTS]):
        load_n = np.linalg.norm(F[idx].sum(axis=1), axis=-1)
        if not np.all(load_n > 0):
            continue
        load_g = load_n / GRAVITY * 1e3
        per_g = P[idx[-1]] / load_g[-1]  # linear model: displacement per gram of this pattern
        show = np.asarray(nodes, dtype=np.int64) if nodes is not None else _output_nodes(P[idx], V[idx], free)
        loaded = np.flatnonzero(np.linalg.norm(F[idx[-1]], axis=-1) > 0)
        title = (f"{v.network}: load on node{'s' if len(loaded) > 1 else ''} "
                 f"{', '.join(map(str, loaded))}")
        path = out / f"displacement_vs_load_{k}.png"
        plot_series(path, title, load_g, U[idx], per_g, V[idx], show)
        files.append(str(path))
    plot_parity(out / "parity.png", m.ravel(), p.ravel(), v.r2)
    files.append(str(out / "parity.png"))
    return files


def validation_report(network: Network, cases: list[LoadCase], out_dir, nodes=None,
                      source: str = "load series", plots: bool = True) -> dict:
    """Compare measured with predicted displacements (:func:`validate`) and write tables and plots.

    Parameters
    ----------
    network : Network
        The model to validate (a design, or an identified network).
    cases : list of LoadCase
        Measured load cases (network frame, metres), or the raw case objects of
        ``load_series.json`` (millimetres), as the protocol engine's report passes them.
    out_dir : str or Path
        Folder for ``validation.json``, ``validation.csv`` and the PNG plots (created).
    nodes : sequence of int, optional
        Nodes to plot against load; default per series the two that move most.
    plots : bool
        Draw the PNG plots.

    Returns
    -------
    dict
        ``r2``, ``rms_error_mm``, ``largest_error`` (``mm``, ``node``, ``case``,
        ``measured_mm``, ``predicted_mm``), ``per_node`` (node, rms_error_mm,
        max_error_mm, r2), ``per_case`` (case, rms_error_mm, max_error_mm),
        ``n_cases``, ``n_measurements`` and ``files`` (what was written).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    v = validate(network, cases, source)
    files = [str(out / "validation.json"), str(out / "validation.csv")]
    write_validation_csv(v, out / "validation.csv")
    if plots:
        files += write_validation_plots(v, out, nodes)
    report = v.to_dict(files)
    (out / "validation.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report

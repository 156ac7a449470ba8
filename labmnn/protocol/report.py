"""HTML report of a session: a page a physicist reads, with its figures as PNG and SVG.

Headline figures with units and meaning; gradient sessions: measured and model
gradient per bond with standard-error bars, parity and residual plots,
elongation maps; load series: displacement against load and the residual per
node and load (plus fabrication's validation report); training: loss, gradient
error and target traces against their goals.  Every session: the loading plan,
planned and weighed masses, photo thumbnails linking to the originals with
their full SHA-256, the tracking overlay of each loading, warnings, timings.

The values are computed in :mod:`labmnn.protocol.report_data`, drawn in
:mod:`labmnn.protocol.report_figures` and :mod:`labmnn.protocol.report_photos`,
and written as HTML by :mod:`labmnn.protocol.report_html`.

Example
-------
>>> path = write_report("sessions/20261122-101500-gradient-fig1")   # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path

import numpy as np

from labmnn.errors import InputError
from labmnn.model.network import Network
from labmnn.protocol.recorder import Session
from labmnn.protocol.report_data import page_data, session_loss_kind, step_words
from labmnn.protocol.report_figures import FigureFile, gradient_figures, series_figures, train_figures
from labmnn.protocol.report_html import render
from labmnn.protocol.report_photos import write_overlays, write_thumbnails


def write_report(session: str | Path, results: str = "results", out: str | Path | None = None) -> Path:
    """Write ``<session>/report/index.html`` (or ``out``) with its figures, thumbnails and overlays.

    Parameters
    ----------
    session : path
    results : str
        Which results set to report (``results`` or a reanalysis name).
    out : path, optional

    Returns
    -------
    Path
        The HTML file.  The raw photos are only read, never written.
    """
    sess = Session.open(session).lock()
    try:
        return _write_report(sess, results, out)
    finally:
        sess.close()


def _write_report(sess: Session, results: str, out: str | Path | None) -> Path:
    folder = sess.folder
    summary = trusted_results(sess, results)
    net = Network.load(folder / "network.json")
    steps = sess.completed_steps()
    out = Path(out) if out else folder / ("report" if results == "results" else f"report-{results}")
    out.mkdir(parents=True, exist_ok=True)
    data = page_data(sess, summary, results)
    figs, extra, warnings = _figures(folder, out, net, steps, summary, results)
    data.warnings += warnings
    for w in warnings:
        print(f"labmnn: warning: {w}", file=sys.stderr)
    thumbs = write_thumbnails(folder, data.photos, out)
    overlays = write_overlays(folder, net, steps, out)
    href = {p.path: _href(folder / p.path, out) for p in data.photos}
    (out / "index.html").write_text(render(data, figs, thumbs, overlays, href, extra), encoding="utf-8")
    return out / "index.html"


def trusted_results(sess: Session, results: str) -> dict:
    """The summary of a results set, after checking photos and files; ``results`` damaged is rebuilt.

    Raises :class:`InputError` for a missing set, and
    :class:`~labmnn.protocol.integrity.SessionDamaged` (exit 3) for a damaged
    photo or a damaged reanalysis (which only ``labmnn reanalyze`` can redo).
    """
    from labmnn.protocol.integrity import SessionDamaged, check_results_name, require_photos
    from labmnn.protocol.verify import rebuild_results, results_damage

    folder = sess.folder
    check_results_name(folder, results, "--results")
    res_path = folder / f"{results}.json"
    status = sess.status()
    if not res_path.exists() and not (results == "results" and status == "success"):
        if results != "results" or status == "success":
            have = sorted(q.stem for q in folder.glob("*.json") if (folder / f"{q.stem}.h5").exists())
            raise InputError("--results", "", f"{results!r}: {folder} has no {results}.json (results it has: "
                             f"{', '.join(have) or 'none'})")
        raise InputError(str(folder), "", f"has no {results}.json (status {status}): finish it with "
                         f"`labmnn resume {folder}` first")
    require_photos(folder, sess.records, "report")
    why = results_damage(folder, results)
    if why and results != "results":
        raise SessionDamaged(f"{folder}: {why}; run `labmnn reanalyze {folder} --name NEW` to redo it")
    if why:
        print(f"labmnn: warning: {why}: rebuilding results.* from the log", file=sys.stderr)
        rebuild_results(sess, why)
    return json.loads(res_path.read_text(encoding="utf-8"))


def _href(path: Path, out: Path) -> str:
    """A link from the report folder to ``path`` (relative when it can be)."""
    try:
        return Path(os.path.relpath(path, out)).as_posix()
    except ValueError:  # another drive (Windows)
        return path.resolve().as_uri()


def _figures(folder: Path, out: Path, net, steps: dict, summary: dict,
             results: str) -> tuple[list[FigureFile], str, list[str]]:
    """The figures of the session's kind, extra HTML (validation table) and warnings."""
    kind = summary.get("kind")
    lk = session_loss_kind(folder)
    if kind in ("gradient", "train") and "gradient_measured" in summary:
        return gradient_figures(out, net, steps, summary, loss_kind=lk), "", []
    if kind == "train":
        figs = train_figures(out, summary, _target_traces(folder, net, steps, summary), loss_kind=lk)
        if any(k.endswith("gradient") for k in steps):
            figs += gradient_figures(out, net, steps, _train_last(steps, summary), "last training step", loss_kind=lk)
        return figs, "", []
    if kind == "load_series":
        figs = series_figures(out, net, summary)
        series = folder / ("load_series.json" if results == "results" else f"{results}-load_series.json")
        vfigs, vrows, warning = _validation(net, series, out / "validation")
        return figs + vfigs, vrows, [warning] if warning else []
    return [], "", []


def _target_traces(folder: Path, net, steps: dict, summary: dict) -> list[tuple[int, int, float, list[float]]]:
    """Each loss target (node, axis, goal in m) with its measured value under the forward load per step."""
    import tomllib

    try:
        spec = tomllib.loads((folder / "protocol.toml").read_text(encoding="utf-8"))
        targets = spec.get("loss", {}).get("targets", [])
    except (OSError, ValueError):
        return []
    n_steps = len(summary.get("history", []))
    out = []
    for t in targets:
        node, axis, goal = int(t["node"]), "xy".index(str(t.get("axis", "y"))), float(t["value"])
        trace = []
        for s in range(n_steps):
            fwd = [d for k, d in steps.items() if k.startswith(f"t{s}/r0/forward/") and "displacements_mm" in d]
            if not fwd:
                break
            trace.append(sum(float(d["displacements_mm"][node][axis]) for d in fwd) * 1e-3)
        out.append((node, axis, goal, trace))
    return out


def _validation(net, series: Path, out: Path) -> tuple[list, str, str]:
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
        return [], "", f"validation report failed ({type(exc).__name__}): {msg}"
    figs = [FigureFile(f"{out.name}/{Path(f).name}", "", _validation_caption(Path(f).stem))
            for f in v["files"] if f.endswith(".png")]
    big = v["largest_error"]
    rows = (f"<h2>Validation (measured vs predicted displacements)</h2><table>"
            f"<tr><th>R²</th><td>{v['r2']:.5f}</td><td class='muted'>coefficient of determination over every "
            "displacement component: 1 - sum(measured - predicted)² / sum(measured - mean)²</td></tr>"
            f"<tr><th>RMS error</th><td>{v['rms_error_mm'] * 1e3:.1f} µm over {v['n_measurements']} "
            f"joint measurements in {v['n_cases']} loads</td></tr>"
            f"<tr><th>largest error</th><td>{big['mm'] * 1e3:.1f} µm at node {big['node']}, "
            f"load {html.escape(step_words(str(big['case'])))}</td></tr></table>"
            f"<p>Per node and load: <a href='{out.name}/validation.csv'>validation.csv</a>, "
            f"<a href='{out.name}/validation.json'>validation.json</a></p>")
    return figs, rows, ""


def _validation_caption(stem: str) -> str:
    if stem == "parity":
        return ("Validation parity: every measured displacement component against its prediction (mm); "
                "see the residual map above for the µm-size differences.")
    if stem.startswith("displacement_vs_load_"):
        return f"Validation series {int(stem.rsplit('_', 1)[1]) + 1}: displacement against hung load, measured " \
               "(markers) and predicted (lines)."
    return "Validation: " + stem.replace("_", " ")


def _train_last(steps: dict, summary: dict) -> dict:
    def step_number(key: str) -> int:  # "t12/r0/gradient" -> 12 (text order would put t9 after t12)
        head = key.split("/")[0]
        return int(head[1:]) if head[1:].isdigit() else -1

    grads = sorted((k for k in steps if k.endswith("gradient") and "gradient" in steps[k]), key=step_number)
    last_t = grads[-1].split("/")[0]
    reps = [steps[k] for k in grads if k.startswith(last_t + "/")]
    from labmnn.protocol.analysis import gradient_summary

    g = gradient_summary(np.array([r["gradient"] for r in reps]),
                         np.mean([r["gradient_simulated"] for r in reps], axis=0))
    return {**{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in g.items()}, "repeats": len(reps)}


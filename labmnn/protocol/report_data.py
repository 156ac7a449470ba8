"""What a session report shows, computed apart from any drawing or HTML.

:func:`page_data` reads a session's log, step records and results summary and
returns a :class:`PageData`: headline figures with units and meaning, the
loading plan, the weighed masses per step, the photos with their full SHA-256,
warnings and timings.  :mod:`labmnn.protocol.report_figures` draws,
:mod:`labmnn.protocol.report_html` writes the page.

Example
-------
>>> data = page_data(Session.open(folder), summary, "results")   # doctest: +SKIP
>>> data.headline[0].label                                         # doctest: +SKIP
'Gradient error'
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Figure:
    """One headline figure: what it is, its value with unit, and what it means."""

    label: str
    value: str
    meaning: str
    key: str = ""          # the results.json key it comes from ("" if derived)


@dataclass
class MassRow:
    """One weighed stack: planned (exact), rounded to the weight set, and weighed."""

    step: str
    node: int
    direction: str
    target_g: float
    nominal_g: float
    pieces: str
    weighed_g: float


@dataclass
class Photo:
    """One raw photograph as recorded."""

    path: str               # relative to the session folder
    sha256: str
    role: str
    key: str
    bytes: int
    time: float


@dataclass
class PageData:
    """Everything the report page says, as plain values."""

    name: str
    protocol: str
    kind: str
    description: str
    status: str
    reason: str
    results: str
    network: str
    headline: list[Figure] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    rounding_sentence: str = ""
    masses: list[MassRow] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)
    session_warnings: list[str] = field(default_factory=list)   # logged while measuring
    warnings: list[str] = field(default_factory=list)           # raised while writing the report
    timings: list[tuple[str, str]] = field(default_factory=list)
    all_values: list[Figure] = field(default_factory=list)


# results.json scalar keys: (label, unit kind, meaning).  Unit kinds: "%" (a fraction shown in
# percent), "m2" (loss in m^2), "mm" (shown in um), "1" (dimensionless), "N/m", "" (as is).
KEYS: dict[str, tuple[str, str, str]] = {
    "relative_error": ("Gradient error", "%",
                       "|g_measured - g_model| / |g_model|, norms over all bonds, g_measured the mean of the repeats"),
    "cosine": ("Gradient direction", "1",
               "cosine of the angle between measured and model gradient; 1 = same direction"),
    "loss": ("Loss", "m2", "L = sum over targets of (u - u_target)^2 with u in metres, at the forward load"),
    "nonlinearity_forward": ("Geometric nonlinearity, forward", "%",
                             "how much exact (geometric) bond elongations differ from linearised ones"),
    "nonlinearity_adjoint": ("Geometric nonlinearity, adjoint", "%", "the same for the adjoint loading"),
    "predicted_rounding_error": ("Rounding of adjoint loads", "%",
                                 "predicted gradient change from hanging whole weights instead of exact forces"),
    "adjoint_scale": ("Adjoint scale", "1", "the adjoint force -dL/du was multiplied by this to fit the weight set"),
    "repeats": ("Repeats", "", "independent repetitions of the whole measurement"),
    "relative_error_geometric": ("Gradient error, geometric elongations", "%",
                                 "as the gradient error, with exact instead of linearised elongations"),
    "relative_error_single_level": ("Gradient error, single load level", "%",
                                    "what one load level (no half-load extrapolation) would have given"),
    "load_nonlinearity_forward": ("Load nonlinearity, forward", "%",
                                  "departure of the response from proportional between half and full load"),
    "load_nonlinearity_adjoint": ("Load nonlinearity, adjoint", "%", "the same for the adjoint loading"),
    "r_squared": ("R² (coefficient of determination)", "1",
                  "1 - sum(measured - predicted)^2 / sum(measured - mean)^2 over every displacement component"),
    "rms_error_mm": ("RMS displacement error", "mm", "root mean square of measured - predicted displacement"),
    "largest_error_mm": ("Largest displacement error", "mm", "largest |measured - predicted| displacement component"),
    "steps": ("Training steps", "", "Adam updates of the bond stiffnesses"),
    "accuracy": ("Accuracy", "%", "fraction of examples classified right"),
    "loss_first": ("Loss at the start", "m2", "measured loss L before the first update"),
    "loss_last": ("Loss at the last step", "m2", "measured loss L before the last update"),
}

# The headline, per kind: the first figures a reader looks at.
HEADLINE = {
    "gradient": ("relative_error", "cosine", "loss", "predicted_rounding_error", "repeats"),
    "load_series": ("r_squared", "rms_error_mm", "largest_error_mm"),
    "train": ("loss_first", "loss_last", "accuracy"),
}


def format_value(value, unit: str) -> str:
    """A results value in the unit a physicist reads (``0.0142`` as ``1.42 %``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        return str(value)
    v = float(value)
    if not np.isfinite(v):
        return str(v)
    if unit == "%":
        if v != 0 and abs(v) < 1e-7:
            return "< 0.00001 %"
        return f"{v * 100:.3g} %"
    if unit == "m2":
        return f"{v:.3e} m²"
    if unit == "mm":
        return f"{v * 1e3:.3g} µm"
    if unit == "N/m":
        return f"{v:.4g} N/m"
    if unit == "1":
        return f"{v:.5f}" if abs(v) < 10 else f"{v:.4g}"
    return f"{int(v)}" if v == int(v) else f"{v:.6g}"


LOSS_KEYS = ("loss", "loss_first", "loss_last", "best_loss", "final_loss")  # a loss L: m² unless cross-entropy
CROSS_ENTROPY = ("cross-entropy of the softmax of the output displacements against the class labels, mean over "
                 "the batch (dimensionless)")


def session_loss_kind(folder) -> str:
    """``"cross_entropy"`` when the session trained a classification task (its ``task.json``), else ``"mse"``."""
    import json
    from pathlib import Path

    try:
        raw = json.loads((Path(folder) / "task.json").read_text(encoding="utf-8")).get("raw", {})
        return str(raw.get("loss", {}).get("kind", "mse"))
    except (OSError, ValueError, AttributeError):
        return "mse"


def figure(key: str, value, loss_kind: str = "mse") -> Figure:
    label, unit, meaning = KEYS.get(key, (key.replace("_", " "), "", ""))
    if key in LOSS_KEYS and loss_kind == "cross_entropy":
        unit = "1"
        meaning = (CROSS_ENTROPY if key == "loss" else
                   meaning.replace("measured loss L", "measured loss L, the " + CROSS_ENTROPY + ",")
                   if meaning else CROSS_ENTROPY)
    if unit == "m2" and isinstance(value, (int, float)) and value >= 0:
        meaning += f"; √L = {np.sqrt(value) * 1e3:.3g} mm is the distance of the outputs from their targets"
    return Figure(label, format_value(value, unit), meaning, key)


def headline(summary: dict, loss_kind: str = "mse") -> list[Figure]:
    """The headline figures of a results summary, in reading order (``loss_kind``: the loss's unit)."""
    kind = summary.get("kind", "")
    keys = [k for k in HEADLINE.get(kind, ()) if k in summary and not isinstance(summary[k], (list, dict))]
    figs = [figure(k, summary[k], loss_kind) for k in keys]
    if kind == "train":
        figs = figs + _train_headline(summary)
    if "gradient_measured" in summary and "relative_error" not in keys:
        figs += [figure(k, summary[k]) for k in ("relative_error", "cosine") if k in summary]
    return figs


def _train_headline(summary: dict) -> list[Figure]:
    hist = summary.get("history") or []
    out = []
    if hist and "loss" in hist[0]:
        first, last = hist[0]["loss"], hist[-1]["loss"]
        if first > 0:
            out.append(Figure("Loss reduction", f"{(1 - last / first) * 100:.3g} %",
                              "1 - last / first measured loss over the training steps"))
    if hist:
        out.append(Figure("Training steps", str(len(hist)), "Adam updates of the bond stiffnesses"))
    if hist and "relative_error" in hist[-1]:
        f = figure("relative_error", hist[-1]["relative_error"])
        out.append(Figure("Gradient error, last step", f.value, "measured against model gradient at the last "
                          "training step: " + f.meaning))
    return out


def all_values(summary: dict, loss_kind: str = "mse") -> list[Figure]:
    """Every scalar of the summary with its unit and meaning (the full table)."""
    return [figure(k, v, loss_kind) for k, v in summary.items() if not isinstance(v, (list, dict))]


def rounding_sentence(summary: dict) -> str:
    """The predicted rounding error in words."""
    err = summary.get("predicted_rounding_error")
    if err is None:
        return ""
    pct = float(err) * 100
    size = f"{pct:.2g} %" if pct >= 0.01 else "less than 0.01 % (the loads fit the weight set exactly)"
    return ("Rounding the adjoint loads to the weight set changes the gradient by about "
            f"{size}, as predicted by the bar model before the loads were hung.")


def masses(steps: dict) -> list[MassRow]:
    """Planned, rounded and weighed grams of every hung stack, in step order."""
    rows = []
    for key, d in steps.items():
        if "loading" not in d or "masses_g" not in d:
            continue
        for st, m in zip(d["loading"].get("stacks", []), d["masses_g"]):
            dx, dy = st.get("direction", (0.0, -1.0))
            pieces = " + ".join(f"{int(c)} × {g:g} g" for g, c in st.get("pieces", []))
            rows.append(MassRow(key, int(st["node"]), _direction(dx, dy), float(st.get("target_g", st["nominal_g"])),
                                float(st["nominal_g"]), pieces, float(m)))
    return rows


def _direction(dx: float, dy: float) -> str:
    named = {(0.0, -1.0): "down", (0.0, 1.0): "up", (1.0, 0.0): "right", (-1.0, 0.0): "left"}
    return named.get((round(dx, 6) + 0.0, round(dy, 6) + 0.0), f"({dx:.2f}, {dy:.2f})")


def step_words(key: str) -> str:
    """A step key in words: ``t1/r0/forward-half/0`` -> "training step 2, repeat 1, forward at half load, loading 1"."""
    words = []
    for part in key.split("/"):
        if m := re.fullmatch(r"t(\d+)", part):
            words.append(f"training step {int(m[1]) + 1}")
        elif m := re.fullmatch(r"r(\d+)", part):
            words.append(f"repeat {int(m[1]) + 1}")
        elif part.isdigit():
            words.append(f"loading {int(part) + 1}" if words and not words[-1].startswith("series") else part)
        elif part.endswith("-half"):
            words.append(f"{part[:-5]} at half load")
        else:
            words.append(part)
    text = ", ".join(words)
    return re.sub(r"series, (\d+)", r"series load \1", text)


def photos(records: list) -> list[Photo]:
    """The image records of the log as :class:`Photo`."""
    return [Photo(r["path"], r.get("sha256", ""), r.get("role", ""), r.get("key", ""), int(r.get("bytes", 0)),
                  float(r.get("time", 0.0))) for r in records]


def warnings(records: list) -> list[str]:
    """Warnings the engine logged during the session."""
    return [str(r.get("text", "")) for r in records
            if r.get("kind") == "event" and r.get("name") == "warning"]


def plan(records: list) -> list[str]:
    """The loading plan as shown to the operator at the start (lines)."""
    for r in records:
        if r.get("kind") == "event" and r.get("name") == "checks":
            return [str(x) for x in r.get("plan", [])]
    return []


def timings(records: list) -> list[tuple[str, str]]:
    """Start, end, duration, and time per photo."""
    times = [float(r["time"]) for r in records if "time" in r]
    if not times:
        return []
    t0, t1 = min(times), max(times)
    out = [("started", _utc(t0)), ("last record", _utc(t1)), ("duration", _duration(t1 - t0))]
    imgs = [float(r["time"]) for r in records if r.get("kind") == "event" and r.get("name") == "image"]
    if len(imgs) > 1:
        out.append(("photos", f"{len(imgs)}, one every {_duration((imgs[-1] - imgs[0]) / (len(imgs) - 1))} on average"))
    steps = [r for r in records if r.get("kind") == "step"]
    if steps:
        out.append(("steps recorded", str(len(steps))))
    return out


def _utc(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {s % 60:.0f} s"


def page_data(sess, summary: dict, results: str) -> PageData:
    """Collect the page's values from an open session and its results summary."""
    recs = sess.records
    start = sess.start_record()
    stop: dict = next((dict(r) for r in reversed(recs) if r.get("kind") == "stop"), {})
    steps = sess.completed_steps()
    kind = str(summary.get("kind", start.get("protocol_kind", "")))
    loss_kind = session_loss_kind(sess.folder)
    return PageData(
        name=sess.folder.name, protocol=str(summary.get("protocol", start.get("protocol", ""))), kind=kind,
        description=_description(sess.folder), status=sess.status(), reason=str(stop.get("reason", "")),
        results=results, network=str(summary.get("network", start.get("network", ""))),
        headline=headline(summary, loss_kind), plan=plan(recs), rounding_sentence=rounding_sentence(summary),
        masses=masses(steps), photos=photos(sess.images()), session_warnings=warnings(recs), timings=timings(recs),
        all_values=all_values(summary, loss_kind))


def _description(folder) -> str:
    import tomllib

    try:
        spec = tomllib.loads((folder / "protocol.toml").read_text(encoding="utf-8"))
        return str(spec.get("protocol", {}).get("description", ""))
    except (OSError, ValueError):
        return ""

"""``labmnn report SESSION``: the session's HTML report (figures as PNG and SVG)."""

from __future__ import annotations

import json
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("report", help="write an HTML report of a session (figures as PNG and SVG)",
                       description="Write SESSION/report/index.html: headline figures with units, measured vs "
                                   "model gradient per bond with standard-error bars, parity and residual plots, "
                                   "elongation maps; for load series the residual per node and load; for "
                                   "training the loss and target traces; the loading plan and weighed masses, "
                                   "photo thumbnails (full SHA-256) and tracking overlays. Raw photos are only "
                                   "read.")
    p.add_argument("session", help="session folder")
    p.add_argument("--results", default="results", help="results set: results (default) or a reanalysis name")
    p.add_argument("--out", default=None, help="output folder (default: SESSION/report)")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.protocol.report import write_report

    if args.out is not None:
        from labmnn.cli.args import refuse_session_path

        refuse_session_path(args.out, "--out", allowed=Path(args.session).resolve())
    t0 = time.time()
    path = write_report(args.session, results=args.results, out=args.out)
    print(f"wrote {path}")
    _print_headline(Path(args.session) / f"{args.results}.json", path.parent / "validation" / "validation.json", t0)
    return 0


def _print_headline(results: Path, validation: Path, since: float) -> None:
    """One line of the figures a physicist looks at first (gradient or validation)."""
    try:
        s = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    hist = s.get("history") or []
    if hist and "loss" in hist[0]:
        print(f"training: loss {hist[0]['loss']:.4g} m² -> {hist[-1]['loss']:.4g} m² over {len(hist)} step(s)")
    if "relative_error" in s and "cosine" in s:
        print(f"gradient: relative error {s['relative_error']:.2%} vs model, cosine {s['cosine']:.5f}"
              + (f" over {s['repeats']} repeat(s)" if "repeats" in s else ""))
    if validation.exists() and validation.stat().st_mtime >= since - 1:
        v = json.loads(validation.read_text(encoding="utf-8"))
        big = v["largest_error"]
        print(f"validation: R² {v['r2']:.5f}, RMS error {v['rms_error_mm'] * 1e3:.1f} um, largest "
              f"{big['mm'] * 1e3:.1f} um (node {big['node']}, {big['case']}) over {v['n_cases']} loads")

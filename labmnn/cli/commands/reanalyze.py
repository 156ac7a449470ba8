"""``labmnn reanalyze SESSION``: track the recorded photos again into a new results file."""

from __future__ import annotations

import json

from labmnn.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("reanalyze", help="re-run tracking and gradient assembly on a session's raw photos",
                       description="Writes reanalysis-<time>.json/.h5 (and CSVs, load series) beside the "
                                   "old results; the raw photos, the log and earlier results are not touched.")
    p.add_argument("session", help="session folder")
    p.add_argument("--calibration", default=None, help="a new calibration file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="tracker setting (JSON value), e.g. --set search_px=80 (repeatable)")
    p.add_argument("--name", default=None, help="base name of the new results (default reanalysis-<time>)")
    p.set_defaults(func=run)


def _settings(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError("--set", "", f"expected KEY=VALUE, found {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args) -> int:
    from labmnn.metrology.tracking import check_settings
    from labmnn.protocol.reanalyze import reanalyze

    settings = _settings(args.set)
    check_settings({k: v for k, v in settings.items() if k != "joints"}, "--set")
    outcome = reanalyze(args.session, tracking=settings, calibration=args.calibration, name=args.name)
    s = outcome["summary"]
    if "relative_error" in s and "cosine" in s:
        print(f"reanalysis: relative error {s['relative_error']:.2%}, cosine {s['cosine']:.5f}")
    print("wrote " + ", ".join(s.get("files", [])))
    return 0

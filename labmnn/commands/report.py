"""``labmnn report SESSION``: HTML report with PNG figures."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("report", help="write an HTML report (PNG figures) of a session")
    p.add_argument("session", help="session folder")
    p.add_argument("--results", default="results", help="results set: results (default) or a reanalysis name")
    p.add_argument("--out", default=None, help="output folder (default: SESSION/report)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..protocol.report import write_report

    path = write_report(args.session, results=args.results, out=args.out)
    print(f"wrote {path}")
    return 0

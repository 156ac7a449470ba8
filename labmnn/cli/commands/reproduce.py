"""``labmnn reproduce``: the paper's simulated experiments, each beside its published data."""

from __future__ import annotations

import sys
from pathlib import Path

from labmnn.cli.args import output_dir
from labmnn.errors import InputError

FIGURES = ("1", "2", "3", "4", "5")


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="re-run the paper's simulated figures and compare with its data",
                       description="Fig. 1e (finite differences vs the exact adjoint gradient), Fig. 2 "
                                   "(behaviour), Fig. 3 (regression), Fig. 4 (Iris over 10 splits), Fig. 5 "
                                   "(task switching, damage). Writes PNGs and REPORT.md (paper vs labmnn).")
    p.add_argument("--out", default="runs/reproduce", metavar="DIR", help="output folder (default: runs/reproduce)")
    p.add_argument("--quick", action="store_true", help="few seeds and epochs: checks the path in seconds")
    p.add_argument("--figures", default=",".join(FIGURES), metavar="LIST", help="comma-separated subset, e.g. 1,4 "
                                                                                "(default: all)")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.paper.reproduce import reproduce

    figs = tuple(f.strip() for f in args.figures.split(",") if f.strip())
    bad = [f for f in figs if f not in FIGURES]
    if bad or not figs:
        raise InputError("--figures", "", f"choose from {', '.join(FIGURES)}, found {args.figures!r}")
    output_dir(args.out, "--out")
    reproduce(args.out, quick=args.quick, figures=figs, log=lambda s: print(s, file=sys.stderr))
    print((Path(args.out) / "REPORT.md").read_text())
    print(f"wrote {args.out}/ (REPORT.md, report.json, figure*.png)")
    return 0

"""``labmnn identify``: fit a printed prototype's stiffness to measured load series."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from labmnn.cli.args import output_file
from labmnn.errors import InputError

if TYPE_CHECKING:
    from labmnn.model.network import Network


def register(sub) -> None:
    p = sub.add_parser(
        "identify", help="fit effective modulus and per-bond stiffness to measured load series",
        description="Fit the effective Young's modulus and regularised per-bond stiffness corrections "
                    "of a printed network to measured load series (session folders holding "
                    "load_series.json, or such files), report the prediction error on held-out "
                    "loads before and after, and write the identified network (labmnn-network/1 "
                    "with stiffness_n_per_m).")
    p.add_argument("inputs", nargs="+", metavar="SESSION_OR_FILE", help="session folder or load_series.json")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="identified network to write (.json)")
    p.add_argument("--network", metavar="NETWORK",
                   help="nominal network (file or example name); default: the one the first session names")
    p.add_argument("--holdout", type=float, default=0.25, metavar="FRACTION",
                   help="fraction of load cases held out to measure prediction (default 0.25; 0: none)")
    p.add_argument("--holdout-label", action="append", metavar="LABEL",
                   help="hold out this case (repeatable; replaces --holdout)")
    p.add_argument("--holdout-session", action="append", metavar="SESSION_OR_FILE",
                   help="hold out every case of this input (repeatable; replaces --holdout): "
                        "loads the fit never saw")
    p.add_argument("--regularization", default="auto", metavar="auto|WEIGHT",
                   help="Tikhonov weight on log-stiffness corrections (default auto: cross-validated)")
    p.add_argument("--modulus-only", action="store_true", help="fit only the effective Young's modulus")
    p.add_argument("--mechanics", choices=("linear", "nonlinear"), default="linear",
                   help="bar model fitted: linear (default) or the exact large-rotation one; a linear fit "
                        "whose residuals follow the rotation it leaves out says so")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the hold-out split (default 0)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _regularization(text: str):
    if text == "auto":
        return "auto"
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not math.isfinite(v) or v < 0:
        raise InputError("--regularization", "", f"must be 'auto' or a number >= 0, found {text!r}")
    return v


def _nominal_network(args, series) -> Network:
    from labmnn.model.network import Network

    if args.network:
        return Network.open(args.network)
    for s in series:
        if s.network_path is not None:
            if not s.network_path.exists():
                raise InputError(s.source, "network", f"names {s.network_path.name!r}, which is not there "
                                 "(give --network)")
            return Network.load(s.network_path)
    raise InputError(series[0].source, "network", "is not given in the load series: give --network")


def run(args) -> int:
    from labmnn.fabrication.identify import identify
    from labmnn.fabrication.load_series import read_load_series

    out = output_file(args.output, "--output", inputs=tuple(args.inputs) + (args.network,))
    if args.seed < 0:
        raise InputError("--seed", "", f"must be >= 0, found {args.seed}")
    if not 0 <= args.holdout < 1:
        raise InputError("--holdout", "", f"must be a fraction in [0, 1), found {args.holdout}")
    reg = _regularization(args.regularization)
    series = [read_load_series(p) for p in args.inputs]
    net = _nominal_network(args, series)
    cases, held_series = [], []
    wanted = {Path(h).resolve() for h in args.holdout_session or []}
    known = {Path(p).resolve() for p in args.inputs}
    for h in wanted - known:
        raise InputError("--holdout-session", "", f"{str(h)!r} is not one of the inputs (list it among the sessions "
                                                  f"too; it is then left out of the fit)")
    for path, s in zip(args.inputs, series):
        if s.cases[0].n_nodes != net.n_nodes:
            raise InputError(s.source, "cases[0].forces_n",
                             f"has {s.cases[0].n_nodes} nodes but network {net.name!r} has {net.n_nodes}")
        prefix = f"{Path(s.source).parent.name}/" if len(series) > 1 else ""
        for c in s.cases:
            c.label = prefix + c.label
        cases += s.cases
        if Path(path).resolve() in wanted:
            held_series += [c.label for c in s.cases]
    labels = [c.label for c in cases]
    for label in args.holdout_label or []:
        if labels.count(label) > 1:
            raise InputError("--holdout-label", "", f"{label!r} names {labels.count(label)} load cases; "
                                                    "labels must be unique to hold one out")
    holdout = held_series or args.holdout_label or args.holdout
    ident = identify(net, cases, regularization=reg, per_bond=not args.modulus_only, holdout=holdout,
                     seed=args.seed, source=series[0].source, mechanics=args.mechanics)
    ident.network.save(out)
    summary = ident.summary()
    summary["inputs"] = [s.source for s in series]
    summary["output"] = str(out)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    _print_summary(net, ident, len(series), len(cases))
    print(f"wrote {out}")
    return 0


def _print_summary(net, ident, n_series, n_cases) -> None:
    import numpy as np

    n_out = len(ident.heldout_labels)
    print(f"{net.name}: identified from {n_series} load series, {n_cases} cases "
          f"({n_cases - n_out} fitted, {n_out} held out), {ident.mechanics} mechanics")
    print(f"effective Young's modulus {ident.youngs_modulus_pa / 1e6:.4g} MPa "
          f"(x{ident.modulus_factor:.4f} of the nominal {net.youngs_modulus / 1e6:.4g} MPa)")
    if np.ptp(ident.corrections) > 0:
        c = ident.corrections
        print(f"per-bond corrections {c.min():.3f} .. {c.max():.3f} "
              f"(rms {np.sqrt(np.mean(np.log(c) ** 2)):.1%}), regularisation {ident.regularization:.1e}")
    col = "held-out" if n_out else "fitted"
    print(f"{col} prediction error, RMS / largest (um):")
    for key, name in (("nominal", "nominal design"), ("modulus", "modulus only"), ("identified", "identified")):
        e = ident.errors[key]
        rms, big = (e.heldout_rms, e.heldout_max) if n_out else (e.fit_rms, e.fit_max)
        print(f"  {name:16s} {rms * 1e6:9.2f} / {big * 1e6:9.2f}")
    if ident.structured_residuals:
        st = ident.nonlinear_structure
        print(f"the linear fit's residuals follow the large rotations it does not model (correlation "
              f"{st['correlation']:.2f}, {st['explained_rms_um']:.2f} um RMS): the stiffness absorbs the "
              "nonlinearity, so its error figures are not an improvement; fit with --mechanics nonlinear")
    elif ident.improvement is not None:
        print(f"identification cuts the held-out prediction error {ident.improvement:.1f}x "
              f"(nominal design -> identified model)")
    if ident.refit_all:
        print("the written network is refitted on all cases")
    if np.ptp(ident.corrections) > 0:
        print(bond_table(net, ident))


def bond_table(net, ident) -> str:
    """Per bond: nodes, identified stiffness, its correction and its 1-sigma uncertainty."""
    rel = ident.uncertainty
    lines = ["bond  nodes    identified k (N/m)  correction  uncertainty (1 sigma)"]
    for b, ((i, j), k, c) in enumerate(zip(net.bonds, ident.stiffness_n_per_m, ident.corrections)):
        u = "-" if rel is None else f"+-{rel[b] * k:.3g} N/m ({100 * rel[b]:.1f} %)"
        lines.append(f"{b:4d}  {int(i):2d}-{int(j):<2d}  {k:18.4g}  {c:10.4f}  {u}")
    lines.append("correction: identified k over the modulus-only model's; uncertainty: from the fit's residuals "
                 "and its regularisation (Laplace approximation)")
    return "\n".join(lines)

"""``labmnn simulate``: static response of a network to forces or hung weights."""

from __future__ import annotations

import json
import sys

from labmnn.cli.args import forces_from_args


def register(sub) -> None:
    p = sub.add_parser("simulate", help="node displacements and bond elongations under loads",
                       description="Solve the bar model for the given loads (linear, or with "
                                   "--mechanics nonlinear the exact large-rotation model). "
                                   "--grams N:G hangs G grams on node N (Fy = -G*9.8e-3 N). "
                                   "Example: labmnn simulate paper-triangle-n4 --grams 12:10")
    p.add_argument("network", help="network file (labmnn-network/1) or shipped example name")
    p.add_argument("--force", action="append", metavar="NODE:FX,FY", help="force (FX, FY) in newtons on node NODE, "
                                                                          "y up (repeatable)")
    p.add_argument("--grams", action="append", metavar="NODE:G", help="G grams hung on node NODE (repeatable)")
    p.add_argument("--mechanics", choices=["linear", "nonlinear"], default="linear",
                   help="linear bar model (default), or bars that carry their tension along their current "
                        "direction (large rotations); a load past the linear regime is flagged either way")
    p.add_argument("--json", action="store_true", help="print JSON (millimetres)")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.model.network import Network
    from labmnn.model.nonlinear import LINEAR_REGIME, nonlinearity, regime_warning

    net = Network.open(args.network)
    F = forces_from_args(net.n_nodes, args.force, args.grams, fixed_nodes=net.fixed_nodes)
    res = net.solve(F, mechanics=args.mechanics)
    departure = nonlinearity(net, F)
    warning = regime_warning(departure)
    if warning:
        print(f"labmnn: {warning}", file=sys.stderr)
    u_mm, e_mm = res.displacements * 1e3, res.elongations * 1e3
    if args.json:
        print(json.dumps({
            "network": net.name,
            "mechanics": args.mechanics,
            "forces_n": F.tolist(),
            "displacements_mm": u_mm.tolist(),
            "elongations_mm": e_mm.tolist(),
            "nonlinearity": departure,
            "linear_regime_threshold": LINEAR_REGIME,
        }, indent=1))
        return 0
    print(f"{net.name}: {net.n_nodes} nodes, {net.n_bonds} bonds; total load {F.sum(axis=0).round(6).tolist()} N; "
          f"{args.mechanics} mechanics")
    print("node      ux_mm      uy_mm")
    for i, (ux, uy) in enumerate(u_mm):
        print(f"{i:4d} {ux:10.4f} {uy:10.4f}")
    print("bond    i    j   elongation_mm")
    for b, ((i, j), e) in enumerate(zip(net.bonds, e_mm)):
        print(f"{b:4d} {i:4d} {j:4d} {e:14.5f}")
    return 0

"""``labmnn validate-report``: measured vs predicted displacements of a load-series session."""

from __future__ import annotations

from labmnn.cli.args import output_dir
from labmnn.errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "validate-report", help="compare a measured load series with the model (R^2, errors, plots)",
        description="Compare the displacements measured in a load-series session with the bar model's "
                    "predictions: R^2, RMS and largest error per node and load, validation.csv, and "
                    "paper-style plots of displacement against load.")
    p.add_argument("series", metavar="LOAD_SERIES_OR_SESSION", help="session folder or load_series.json")
    p.add_argument("--network", metavar="NETWORK",
                   help="model to validate (file or example name; e.g. an identified network); "
                        "default: the network the session names")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the report")
    p.add_argument("--node", type=int, action="append", metavar="N", help="node to plot (repeatable)")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.fabrication.load_series import read_load_series
    from labmnn.fabrication.validation import validation_report
    from labmnn.model.network import Network

    series = read_load_series(args.series)
    if args.network:
        net = Network.open(args.network)
    elif series.network_path is not None and series.network_path.exists():
        net = Network.load(series.network_path)
    else:
        raise InputError(series.source, "network", "names no network file that exists: give --network")
    for node in args.node or []:
        if not 0 <= node < net.n_nodes:
            raise InputError("--node", "", f"node {node} is out of range (0..{net.n_nodes - 1})")
        if node in set(net.fixed_nodes.tolist()):
            raise InputError("--node", "", f"node {node} is fixed to the frame in {net.name}: "
                                           "it never moves, so there is nothing to plot")
    out = output_dir(args.out, "--out")
    rep = validation_report(net, series.cases, out, nodes=args.node, source=series.source)
    big = rep["largest_error"]
    print(f"{net.name} vs {series.source}: {rep['n_cases']} cases, {rep['n_measurements']} node measurements")
    print(f"R^2 = {rep['r2']:.5f}, RMS error {rep['rms_error_mm'] * 1e3:.2f} um, largest error "
          f"{big['mm'] * 1e3:.2f} um (node {big['node']}, case {big['case']})")
    print("node   rms_um   max_um       R^2")
    for row in rep["per_node"]:
        print(f"{row['node']:4d} {row['rms_error_mm'] * 1e3:8.2f} {row['max_error_mm'] * 1e3:8.2f} {row['r2']:9.5f}")
    print(f"wrote {len(rep['files'])} files to {args.out}")
    return 0

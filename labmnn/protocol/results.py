"""End-of-run files of a session: HDF5 with every array, CSV exports, JSON summary,
and ``load_series.json`` (every loading as a load case, for identification and
validation).

All are derived from the log's step records, so they can be rebuilt at any
time (``labmnn reanalyze`` writes a second set under another name; raw data
and earlier results are never touched).
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import numpy as np

from labmnn.protocol.planner import Loading
from labmnn.protocol.recorder import write_durable
from labmnn.text_files import replacing


def _loading_steps(steps: dict) -> list[tuple[str, dict]]:
    return [(k, d) for k, d in steps.items() if "masses_g" in d and "loading" in d]


def applied_forces(net, d: dict) -> np.ndarray:
    """Everything hanging in a recorded loading (weighed masses), (n, 2) N: its stacks plus
    the ``held`` forward stacks an adjoint increment is added to."""
    ld = Loading.from_dict(d["loading"])
    F = ld.forces(net.n_nodes, d["masses_g"])
    if ld.held:
        F = F + ld.held_forces(net.n_nodes, d.get("held_masses_g"))
    return F


def load_cases(net, steps: dict) -> list[dict]:
    """One case per recorded loading: the applied (weighed) forces and the measured displacements
    (an adjoint increment adds a second case: its forward-only photo)."""
    cases = []
    for key, d in _loading_steps(steps):
        ld = Loading.from_dict(d["loading"])
        if ld.held and "base_displacements_mm" in d:
            Fb = ld.held_forces(net.n_nodes, d.get("held_masses_g"))
            cases.append({"label": f"{key}/base", "forces_n": Fb.tolist(),
                          "displacements_mm": d["base_displacements_mm"],
                          "valid": [not x for x in d.get("base_lost", d["lost"])]})
        cases.append({"label": key, "forces_n": applied_forces(net, d).tolist(),
                      "displacements_mm": d["displacements_mm"], "valid": [not x for x in d["lost"]]})
    return cases


def _h5_write(group, name: str, value) -> None:
    if isinstance(value, dict):
        sub = group.require_group(name)
        for k, v in value.items():
            _h5_write(sub, str(k).replace("/", "_"), v)
        return
    if value is None:
        group.attrs[name] = "none"
        return
    if isinstance(value, str):
        group.attrs[name] = value
        return
    if isinstance(value, list) and value and isinstance(value[0], dict):
        sub = group.require_group(name)
        for i, v in enumerate(value):
            _h5_write(sub, f"{i:04d}", v)
        return
    arr = np.asarray(value)
    if arr.dtype.kind in "USO":
        group.attrs[name] = json.dumps(value, default=str)
        return
    if arr.ndim == 0:
        group.attrs[name] = arr.item()
        return
    group.create_dataset(name, data=arr)


def write_h5(path: Path, net, spec, steps: dict, summary: dict, meta: dict) -> None:
    """Every array of the session (network, per-step measurements, summary) with metadata."""
    import h5py

    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        for k, v in meta.items():
            f.attrs[k] = v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)
        g = f.create_group("network")
        g.attrs["name"] = net.name
        g.create_dataset("nodes_m", data=net.nodes)
        g.create_dataset("bonds", data=net.bonds)
        g.create_dataset("width_m", data=net.width)
        g.create_dataset("stiffness_n_per_m", data=net.stiffness)
        g.create_dataset("fixed_nodes", data=net.fixed_nodes)
        st = f.create_group("steps")
        for key, data in steps.items():
            _h5_write(st, key.replace("/", "."), data)
            d = data
            if "masses_g" in d and "loading" in d:  # model prediction beside each measured loading
                F = applied_forces(net, d)
                model = net.solve(F, mechanics=getattr(spec, "mechanics", "linear"))
                grp = st[key.replace("/", ".")]
                grp.create_dataset("forces_n", data=F)
                grp.create_dataset("positions_m", data=net.nodes + np.asarray(d["displacements_mm"]) * 1e-3)
                grp.create_dataset("model_displacements_mm", data=model.displacements * 1e3)
                grp.create_dataset("model_elongations_mm", data=model.elongations * 1e3)
        _h5_write(f, "summary", summary)


def _csv(rows: list[list], header: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def write_csvs(folder: Path, net, steps: dict, summary: dict) -> list[str]:
    """``gradient.csv`` (per bond), ``displacements.csv``, ``elongations.csv``, ``masses.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if "gradient_measured" in summary:
        grads = [(k, d) for k, d in steps.items() if k.endswith("gradient") and "gradient" in d]
        header = ["bond", "node_i", "node_j", "measured_mean", "measured_std", "simulated"] + [
            f"measured[{k}]" for k, _ in grads]
        rows = [[b, int(i), int(j), summary["gradient_measured"][b], summary["gradient_measured_std"][b],
                 summary["gradient_simulated"][b]] + [d["gradient"][b] for _, d in grads]
                for b, (i, j) in enumerate(net.bonds)]
        write_durable(folder / "gradient.csv", _csv(rows, header))
        written.append("gradient.csv")
    rows_u, rows_e, rows_m = [], [], []
    for key, d in _loading_steps(steps):
        for n, (ux, uy) in enumerate(d["displacements_mm"]):
            rows_u.append([key, n, ux, uy, d["confidence"][n], int(d["lost"][n])])
        lin = None
        try:
            from labmnn.protocol.analysis import linear_elongations

            lin = linear_elongations(net, np.asarray(d["displacements_mm"]) * 1e-3) * 1e3
        except Exception:  # noqa: BLE001 - a malformed record must not stop the exports
            pass
        for b, eg in enumerate(d["elongations_geo_mm"]):
            rows_e.append([key, b, None if lin is None else lin[b], eg])
        for stack, m in zip(d["loading"]["stacks"], d["masses_g"]):
            rows_m.append([key, stack["node"], stack["direction"][0], stack["direction"][1],
                           stack["nominal_g"], m])
    for name, rows, header in (
            ("displacements.csv", rows_u, ["step", "node", "ux_mm", "uy_mm", "confidence", "lost"]),
            ("elongations.csv", rows_e, ["step", "bond", "linear_mm", "geometric_mm"]),
            ("masses.csv", rows_m, ["step", "node", "dir_x", "dir_y", "nominal_g", "measured_g"])):
        write_durable(folder / name, _csv(rows, header))
        written.append(name)
    return written


def write_results(folder: Path, net, spec, steps: dict, summary: dict, name: str = "results",
                  extra_meta: dict | None = None) -> list[str]:
    """Write ``<name>.json``, ``<name>.h5``, CSVs (in ``csv/`` or ``<name>-csv/``) and ``load_series.json``.

    Returns the file names written (relative to ``folder``).
    """
    folder = Path(folder)
    meta = {"protocol": spec.name, "kind": spec.kind, "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "network": net.name, **(extra_meta or {})}
    files = []
    write_durable(folder / f"{name}.json", (json.dumps({**meta, **summary}, indent=1, default=str) + "\n").encode())
    files.append(f"{name}.json")
    write_h5(folder / f"{name}.h5", net, spec, steps, summary, meta)
    files.append(f"{name}.h5")
    csv_dir = "csv" if name == "results" else f"{name}-csv"
    files += [f"{csv_dir}/{f}" for f in write_csvs(folder / csv_dir, net, steps, summary)]
    series_name = "load_series.json" if name == "results" else f"{name}-load_series.json"
    series = {"network": "network.json", "cases": load_cases(net, steps)}
    write_durable(folder / series_name, (json.dumps(series, indent=1) + "\n").encode())
    files.append(series_name)
    return files

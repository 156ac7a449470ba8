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


# Unit suffixes of labmnn's field names, and the unit each stands for (NeXus ``units`` attribute).
UNIT_SUFFIXES = (("_n_per_m", "N/m"), ("_mm", "mm"), ("_px", "pixel"), ("_m", "m"), ("_n", "N"), ("_g", "g"))


def units_of(name: str) -> str | None:
    """The unit a field name ends in (``displacements_mm`` -> ``mm``), or None.

    >>> units_of("stiffness_n_per_m"), units_of("masses_g"), units_of("gradient")
    ('N/m', 'g', None)
    """
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return None


def _dataset(group, name: str, data, units: str | None = None, long_name: str | None = None):
    """A NeXus field: the array, with its ``units`` (from the name when not given)."""
    ds = group.create_dataset(name, data=data)
    units = units or units_of(name)
    if units:
        ds.attrs["units"] = units
    if long_name:
        ds.attrs["long_name"] = long_name
    return ds


def _collection(group, name: str):
    sub = group.require_group(name)
    sub.attrs["NX_class"] = "NXcollection"
    return sub


def _h5_write(group, name: str, value) -> None:
    if isinstance(value, dict):
        sub = _collection(group, name)
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
        sub = _collection(group, name)
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
    _dataset(group, name, arr)


def _default_plot(entry, net, steps: dict, summary: dict) -> str | None:
    """The entry's NXdata to plot by default: the gradient per bond, else the last loading per node."""
    if "gradient_measured" in summary:
        d = entry.create_group("gradient")
        d.attrs.update({"NX_class": "NXdata", "signal": "gradient_measured", "axes": ["bond"],
                        "bond_indices": 0, "auxiliary_signals": ["gradient_simulated"]})
        _dataset(d, "bond", np.arange(net.n_bonds), long_name="bond")
        _dataset(d, "gradient_measured", np.asarray(summary["gradient_measured"], float),
                 long_name="measured dL/dk (in-situ, mean over repeats)")
        if "gradient_measured_std" in summary:
            _dataset(d, "gradient_measured_errors", np.asarray(summary["gradient_measured_std"], float))
        _dataset(d, "gradient_simulated", np.asarray(summary["gradient_simulated"], float),
                 long_name="simulated dL/dk (model)")
        return "gradient"
    loadings = [(k, v) for k, v in steps.items() if "masses_g" in v and "loading" in v]
    if not loadings:
        return None
    key, rec = loadings[-1]
    u = np.asarray(rec["displacements_mm"], float)
    d = entry.create_group("displacements")
    d.attrs.update({"NX_class": "NXdata", "signal": "displacement", "axes": ["node"], "node_indices": 0,
                    "title": f"{key}: measured displacement per node"})
    _dataset(d, "node", np.arange(len(u)), long_name="node")
    _dataset(d, "displacement", np.hypot(u[:, 0], u[:, 1]), units="mm", long_name=f"|u| measured ({key})")
    return "displacements"


def write_h5(path: Path, net, spec, steps: dict, summary: dict, meta: dict) -> None:
    """Every array of the session (network, per-step measurements, summary) with metadata.

    The file follows the NeXus conventions: one ``NXentry`` (``/entry``) holding
    ``network``, ``steps`` and ``summary`` (``NXcollection`` groups) and a default
    plot (``NXdata``: the gradient per bond, else the last loading's displacements);
    every field whose name ends in a unit (``_mm``, ``_m``, ``_n``, ``_g``, ``_n_per_m``,
    ``_px``) carries that unit as its ``units`` attribute.  The top-level names of
    earlier files (``/network``, ``/steps``, ``/summary``) are links into the entry.
    """
    import h5py

    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        for k, v in meta.items():
            f.attrs[k] = v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)
        f.attrs.update({"default": "entry", "creator": "labmnn", "HDF5_Version": h5py.version.hdf5_version})
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.create_dataset("title", data=str(meta.get("protocol", "")))
        entry.create_dataset("program_name", data="labmnn")
        g = _collection(entry, "network")
        g.attrs["name"] = net.name
        _dataset(g, "nodes_m", net.nodes)
        _dataset(g, "bonds", net.bonds)
        _dataset(g, "width_m", net.width)
        _dataset(g, "stiffness_n_per_m", net.stiffness)
        _dataset(g, "fixed_nodes", net.fixed_nodes)
        st = _collection(entry, "steps")
        for key, data in steps.items():
            _h5_write(st, key.replace("/", "."), data)
            d = data
            if "masses_g" in d and "loading" in d:  # model prediction beside each measured loading
                F = applied_forces(net, d)
                model = net.solve(F, mechanics=getattr(spec, "mechanics", "linear"))
                grp = st[key.replace("/", ".")]
                _dataset(grp, "forces_n", F)
                _dataset(grp, "positions_m", net.nodes + np.asarray(d["displacements_mm"]) * 1e-3)
                _dataset(grp, "model_displacements_mm", model.displacements * 1e3)
                _dataset(grp, "model_elongations_mm", model.elongations * 1e3)
        _h5_write(entry, "summary", summary)
        if "summary" not in entry:  # an empty summary still has its group
            _collection(entry, "summary")
        default = _default_plot(entry, net, steps, summary)
        if default:
            entry.attrs["default"] = default
        for name in ("network", "steps", "summary"):  # the names of earlier files keep working
            f[name] = h5py.SoftLink(f"/entry/{name}")


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
    write_digests(folder, name, files)
    return files


def write_digests(folder: Path, name: str, files: list[str]) -> None:
    """``<name>.sha256`` (``sha256sum -c`` format), written last: a damaged results file is found by it."""
    from labmnn.protocol.recorder import sha256_file

    lines = "".join(f"{sha256_file(folder / f)}  {f}\n" for f in files)
    write_durable(folder / f"{name}.sha256", lines.encode())

"""Measured load series: the ``load_series.json`` a session folder holds.

A load series is a list of static load cases measured on the rig: the forces
hung on the joints and the joint displacements the camera tracked (network
frame, y up), with a per-node flag telling whether tracking was trusted.  The
protocol engine writes one per session; identification and validation read it.

File format (millimetres on disk, SI inside)::

    {"network": "network.json",
     "cases": [{"label": "node12-10g",
                "forces_n": [[fx, fy], ...],            # one per node, newtons
                "displacements_mm": [[ux, uy], ...],    # one per node, network frame
                "valid": [true, ...]}]}                 # one per node

Example
-------
>>> case = LoadCase(np.zeros((3, 2)), np.zeros((3, 2)), np.ones(3, bool), "empty")
>>> case.n_nodes
3
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labmnn import checks
from labmnn.errors import InputError

FILE_NAME = "load_series.json"


@dataclass
class LoadCase:
    """One measured static load case.

    Parameters
    ----------
    forces_n : array_like (n, 2)
        Forces on the nodes, newtons (y up; a hung weight of m grams is -m*9.8e-3 N in y).
    displacements_m : array_like (n, 2)
        Measured node displacements in the network frame, metres.
    valid : array_like (n,) of bool, optional
        False where a node's measurement is not to be trusted (lost track); default all True.
    label : str
        A name for the case (e.g. ``"node12-10g"``).
    """

    forces_n: np.ndarray
    displacements_m: np.ndarray
    valid: np.ndarray | None = None
    label: str = ""

    def __post_init__(self):
        self.forces_n = np.asarray(self.forces_n, dtype=float)
        self.displacements_m = np.asarray(self.displacements_m, dtype=float)
        n = len(self.forces_n)
        if self.forces_n.shape != (n, 2) or self.displacements_m.shape != (n, 2):
            raise ValueError(f"forces_n and displacements_m must both be (n, 2), got "
                             f"{self.forces_n.shape} and {self.displacements_m.shape}")
        self.valid = (np.ones(n, dtype=bool) if self.valid is None
                      else np.asarray(self.valid, dtype=bool).reshape(n))

    @property
    def n_nodes(self) -> int:
        return len(self.forces_n)


@dataclass
class LoadSeries:
    """The cases of one ``load_series.json`` and the network file it names."""

    source: str
    cases: list[LoadCase]
    network_path: Path | None = None
    extra: dict = field(default_factory=dict)


LIMITS = {"forces_n": 1e3, "displacements_mm": 1e5}  # |value| a bench never reaches


def _node_array(src: str, key: str, raw, n: int | None, dtype=float) -> np.ndarray:
    if dtype is float and checks.holds_bool(raw):
        raise InputError(src, key, f"must be a list of numbers, found {str(raw)[:80]}")
    try:
        arr = np.asarray(raw, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(src, key, f"must be a list of numbers, found {str(raw)[:80]}") from None
    want = (n,) if dtype is bool else (n, 2)
    if arr.ndim != len(want) or (n is not None and arr.shape != want) or (dtype is float and arr.shape[-1:] != (2,)):
        shape = f"[{n if n is not None else 'n'}]" if dtype is bool else f"[[x, y] x {n if n is not None else 'n'}]"
        raise InputError(src, key, f"must have the shape {shape}, found shape {list(arr.shape)}")
    if dtype is float and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(src, f"{key}[{bad[0]}]", f"must be finite, found {arr[tuple(bad)]!r}")
    limit = next((v for k, v in LIMITS.items() if key.endswith(k)), None)
    if dtype is float and limit is not None and np.abs(arr).max(initial=0.0) > limit:
        bad = np.argwhere(np.abs(arr) > limit)[0]
        raise InputError(src, f"{key}[{bad[0]}]", f"must be within +-{limit:g}, found {arr[tuple(bad)]:g}")
    return arr


def parse_load_series(data, src: str, base_dir: Path | None = None) -> LoadSeries:
    """Check a decoded ``load_series.json`` object and return its :class:`LoadSeries`.

    Raises
    ------
    InputError
        Naming the file, the field (e.g. ``cases[2].valid``) and the bad value.
    """
    if not isinstance(data, dict):
        raise InputError(src, "", f"must hold a JSON object, found {type(data).__name__}")
    cases_raw = data.get("cases")
    if not isinstance(cases_raw, list) or not cases_raw:
        raise InputError(src, "cases", f"must be a non-empty list of load cases, found {str(cases_raw)[:80]}")
    net_name = data.get("network")
    if net_name is not None and not isinstance(net_name, str):
        raise InputError(src, "network", f"must be a file name, found {net_name!r}")
    n = None
    cases = []
    for c, raw in enumerate(cases_raw):
        key = f"cases[{c}]"
        if not isinstance(raw, dict):
            raise InputError(src, key, f"must be an object, found {str(raw)[:80]}")
        for k in ("forces_n", "displacements_mm"):
            if k not in raw:
                raise InputError(src, f"{key}.{k}", "is missing")
        F = _node_array(src, f"{key}.forces_n", raw["forces_n"], n)
        n = len(F)
        U = _node_array(src, f"{key}.displacements_mm", raw["displacements_mm"], n)
        valid_raw = raw.get("valid", [True] * n)
        if not isinstance(valid_raw, list) or not all(isinstance(v, bool) for v in valid_raw):
            raise InputError(src, f"{key}.valid", f"must be a list of true/false, found {str(valid_raw)[:80]}")
        valid = _node_array(src, f"{key}.valid", valid_raw, n, dtype=bool)
        label = raw.get("label", f"case{c}")
        if not isinstance(label, str):
            raise InputError(src, f"{key}.label", f"must be a string, found {label!r}")
        cases.append(LoadCase(F, U * 1e-3, valid, label))
    net_path = None
    if net_name:
        net_path = (base_dir / net_name) if base_dir is not None else Path(net_name)
    extra = {k: v for k, v in data.items() if k not in ("network", "cases")}
    return LoadSeries(src, cases, net_path, extra)


def read_load_series(path: str | Path) -> LoadSeries:
    """Read a session folder (its ``load_series.json``) or a load-series JSON file.

    Parameters
    ----------
    path : str or Path
        A session folder holding ``load_series.json``, or such a file.

    Returns
    -------
    LoadSeries
        Cases in SI units; ``network_path`` resolved next to the file.

    Raises
    ------
    InputError
        One line naming the file and what is wrong with it.
    """
    p = Path(path)
    if p.is_dir():
        p = p / FILE_NAME
        if not p.exists():
            raise InputError(str(path), "", f"is a folder without {FILE_NAME} (not a load-series session?)")
    if not p.exists():
        raise InputError(str(p), "", "no such file or folder")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(str(p), "", "is not a text (JSON) file") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(p), "", f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (RecursionError, ValueError):
        raise InputError(str(p), "", "is not a usable JSON file (nested too deeply or numbers too long)") from None
    return parse_load_series(data, str(p), p.parent)


def load_series_to_dict(cases: list[LoadCase], network_file: str | None = None) -> dict:
    """The ``load_series.json`` object of ``cases`` (millimetres)."""
    out: dict = {}
    if network_file is not None:
        out["network"] = network_file
    out["cases"] = [{
        "label": c.label or f"case{i}",
        "forces_n": c.forces_n.tolist(),
        "displacements_mm": (c.displacements_m * 1e3).tolist(),
        "valid": [bool(v) for v in np.asarray(c.valid)],
    } for i, c in enumerate(cases)]
    return out


def write_load_series(path: str | Path, cases: list[LoadCase], network_file: str | None = None) -> None:
    """Write ``cases`` as a ``load_series.json`` file (naming ``network_file`` if given)."""
    Path(path).write_text(json.dumps(load_series_to_dict(cases, network_file), indent=1) + "\n",
                          encoding="utf-8")


def as_load_cases(cases, source: str = "load series") -> list[LoadCase]:
    """Accept :class:`LoadCase` objects or the case objects of ``load_series.json`` (mm).

    Raises
    ------
    InputError
        When a raw case is malformed (named as ``cases[i].field``).
    """
    cases = list(cases)
    if cases and all(isinstance(c, LoadCase) for c in cases):
        return cases
    raw = [c for c in cases if not isinstance(c, LoadCase)]
    parsed = iter(parse_load_series({"cases": raw}, source).cases)
    return [c if isinstance(c, LoadCase) else next(parsed) for c in cases]


def stack_cases(cases: list[LoadCase], n_nodes: int, source: str = "load series"):
    """Forces, displacements and validity of ``cases`` as arrays (S, n, 2), (S, n, 2), (S, n).

    ``cases`` may also hold the raw case objects of ``load_series.json``.

    Raises
    ------
    InputError
        When a case has a different node count than the network.
    """
    cases = as_load_cases(cases, source)
    for i, c in enumerate(cases):
        if c.n_nodes != n_nodes:
            raise InputError(source, f"cases[{i}]", f"has {c.n_nodes} nodes but the network has {n_nodes}")
    F = np.stack([c.forces_n for c in cases])
    U = np.stack([c.displacements_m for c in cases])
    V = np.stack([np.asarray(c.valid) for c in cases])
    return F, U, V


def hanging_plan(net, grams=(5.0, 10.0), nodes=None) -> tuple[np.ndarray, list[str]]:
    """Forces of a plan that hangs each weight on each node in turn, one at a time.

    Parameters
    ----------
    net : Network
    grams : sequence of float
        Masses hung, grams (Fy = -grams * 9.8e-3 N).
    nodes : sequence of int, optional
        Nodes loaded; default every free node.

    Returns
    -------
    forces : ndarray (S, n, 2)
    labels : list of str
        ``"node12-10g"`` style.
    """
    from labmnn.model.network import GRAVITY

    if nodes is None:
        nodes = np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)
    nodes = np.asarray(nodes, dtype=np.int64)
    grams = np.asarray(grams, dtype=float)
    node_idx, g_idx = np.meshgrid(nodes, grams, indexing="ij")
    F = np.zeros((node_idx.size, net.n_nodes, 2))
    F[np.arange(node_idx.size), node_idx.ravel(), 1] = -g_idx.ravel() * 1e-3 * GRAVITY
    labels = [f"node{i}-{g:g}g" for i, g in zip(node_idx.ravel(), g_idx.ravel())]
    return F, labels


def simulate_cases(net, forces, labels=None, stiffness=None, noise_m: float = 0.0,
                   force_rel_error: float = 0.0, seed: int = 0) -> list[LoadCase]:
    """Load cases as the rig would measure them on a network of the given stiffness.

    Parameters
    ----------
    net : Network
    forces : ndarray (S, n, 2)
        Nominal forces (what the operator believes is hung, recorded in the cases).
    stiffness : ndarray (m,), optional
        True stiffness of the "printed" network; default the network's own.
    noise_m : float
        Standard deviation of the tracking noise per displacement component, metres
        (0.02 px at 15 px/mm is about 1.3e-6 m).
    force_rel_error : float
        Relative standard deviation of the true hung mass against the nominal one.
    seed : int

    Returns
    -------
    list of LoadCase
        Recorded forces are the nominal ones; displacements respond to the true forces.
    """
    rng = np.random.default_rng(seed)
    F = np.asarray(forces, dtype=float)
    true_F = F * (1.0 + force_rel_error * rng.standard_normal(F.shape[:-1]))[..., None]
    U = net.solve(true_F, stiffness=stiffness).displacements
    U = U + noise_m * rng.standard_normal(U.shape)
    U[:, net.fixed_nodes] = 0.0
    labels = labels or [f"case{s}" for s in range(len(F))]
    return [LoadCase(F[s], U[s], None, labels[s]) for s in range(len(F))]

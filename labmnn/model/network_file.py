"""Reading and checking ``labmnn-network/1`` files (see ``docs/network-format.md``).

The checks follow the format's rules: finite numbers; positive widths,
thickness and modulus; bonds of non-zero length between existing, distinct
nodes with no pair twice; at least one fixed node; widths inside
``width_bounds_mm`` when given.  Each failure raises :class:`InputError`
naming the file, the key and the offending entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from labmnn import checks
from labmnn.errors import InputError
from labmnn.text_files import read_text

FORMAT = "labmnn-network/1"
KNOWN_KEYS = {
    "format", "name", "description", "nodes_mm", "bonds", "width_mm", "thickness_mm",
    "youngs_modulus_pa", "width_bounds_mm", "fixed_nodes", "stiffness_n_per_m",
}


def read_json(path: str | Path) -> dict:
    """Read a JSON object from ``path`` or raise a one-line :class:`InputError`."""
    path = Path(path)
    text = read_text(path)
    data = decode_json(text, str(path))
    if not isinstance(data, dict):
        raise InputError(str(path), "", f"must hold a JSON object, found {type(data).__name__}")
    return data


def decode_json(text: str, src: str):
    """``json.loads(text)``, any failure (bad syntax, absurd nesting, numbers too long to
    convert) a one-line :class:`InputError` naming ``src``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InputError(src, "", f"is not valid JSON ({where}: {exc.msg})") from None
    except RecursionError:
        raise InputError(src, "", "is not a usable JSON file (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise InputError(src, "", f"is not a usable JSON file ({str(exc)[:120]})") from None


def parse_network_dict(data: dict, src: str = "<network>") -> dict:
    """Check a decoded network object and return its fields as SI arrays.

    Parameters
    ----------
    data : dict
        The decoded JSON object.
    src : str
        Name of the file it came from, used in error messages.

    Returns
    -------
    dict
        ``nodes`` (n, 2) m, ``bonds`` (m, 2) int, ``width`` (m,) m, ``thickness`` m,
        ``youngs_modulus`` Pa, ``width_bounds`` (2,) m or None, ``fixed_nodes`` int
        array, ``stiffness`` (m,) N/m or None, ``name``, ``description``, ``extra``.

    Raises
    ------
    InputError
        On the first rule the object breaks.
    """
    if not isinstance(data, dict):
        raise InputError(src, "", f"must hold a JSON object, found {type(data).__name__}")
    for key in ("format", "name", "nodes_mm", "bonds", "width_mm", "thickness_mm",
                "youngs_modulus_pa", "fixed_nodes"):
        if key not in data:
            raise InputError(src, key, "is missing")
    if data["format"] != FORMAT:
        raise InputError(src, "format", f"must be {FORMAT!r}, found {data['format']!r}")
    if not isinstance(data["name"], str) or not data["name"]:
        raise InputError(src, "name", f"must be a non-empty string, found {data['name']!r}")
    desc = data.get("description", "")
    if not isinstance(desc, str):
        raise InputError(src, "description", f"must be a string, found {desc!r}")

    nodes_raw = checks.listed(src, "nodes_mm", data["nodes_mm"])
    if len(nodes_raw) < 2:
        raise InputError(src, "nodes_mm", f"needs at least 2 nodes, found {len(nodes_raw)}")
    checks.length(src, "nodes_mm", nodes_raw, checks.MAX_NODES)
    nodes = np.empty((len(nodes_raw), 2))
    for i, p in enumerate(nodes_raw):
        if not isinstance(p, list) or len(p) != 2:
            raise InputError(src, f"nodes_mm[{i}]", f"must be [x, y], found {p!r}")
        nodes[i] = [checks.bounded(src, f"nodes_mm[{i}]", v, -checks.COORD_MM, checks.COORD_MM, "mm")
                    for v in p]
    n = len(nodes)

    bonds_raw = checks.listed(src, "bonds", data["bonds"])
    if not bonds_raw:
        raise InputError(src, "bonds", "is empty: a network needs at least one bond")
    checks.length(src, "bonds", bonds_raw, checks.MAX_BONDS)
    bonds = np.empty((len(bonds_raw), 2), dtype=np.int64)
    seen: dict[tuple[int, int], int] = {}
    for b, pair in enumerate(bonds_raw):
        key = f"bonds[{b}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError(src, key, f"must be [i, j], found {pair!r}")
        i, j = (checks.node(src, key, v, n) for v in pair)
        if i == j:
            raise InputError(src, key, f"joins node {i} to itself")
        if (min(i, j), max(i, j)) in seen:
            raise InputError(src, key, f"[{i}, {j}] duplicates bonds[{seen[(min(i, j), max(i, j))]}]")
        seen[(min(i, j), max(i, j))] = b
        if np.hypot(*(nodes[j] - nodes[i])) <= 1e-6:
            raise InputError(src, key, f"[{i}, {j}] has (almost) zero length (both nodes at {nodes[i].tolist()} mm)")
        bonds[b] = (i, j)
    m = len(bonds)

    w = data["width_mm"]
    if isinstance(w, list):
        if len(w) != m:
            raise InputError(src, "width_mm", f"has {len(w)} entries but there are {m} bonds")
        width = np.array([checks.bounded(src, f"width_mm[{b}]", v, *checks.WIDTH_MM, "mm") for b, v in enumerate(w)])
    else:
        width = np.full(m, checks.bounded(src, "width_mm", w, *checks.WIDTH_MM, "mm"))
    thickness = checks.bounded(src, "thickness_mm", data["thickness_mm"], *checks.THICKNESS_MM, "mm")
    modulus = checks.bounded(src, "youngs_modulus_pa", data["youngs_modulus_pa"], *checks.MODULUS_PA, "Pa")

    bounds = None
    if data.get("width_bounds_mm") is not None:
        braw = data["width_bounds_mm"]
        if not isinstance(braw, list) or len(braw) != 2:
            raise InputError(src, "width_bounds_mm", f"must be [lo, hi], found {braw!r}")
        lo = checks.bounded(src, "width_bounds_mm[0]", braw[0], *checks.WIDTH_MM, "mm")
        hi = checks.bounded(src, "width_bounds_mm[1]", braw[1], *checks.WIDTH_MM, "mm")
        if lo > hi:
            raise InputError(src, "width_bounds_mm", f"lo {lo} is above hi {hi}")
        tol = 1e-9 * hi
        bad = np.flatnonzero((width < lo - tol) | (width > hi + tol))
        if bad.size:
            b = int(bad[0])
            key = f"width_mm[{b}]" if isinstance(w, list) else "width_mm"
            raise InputError(src, key, f"{width[b]:g} mm is outside width_bounds_mm [{lo:g}, {hi:g}]")
        bounds = np.array([lo, hi])

    fixed_raw = checks.listed(src, "fixed_nodes", data["fixed_nodes"])
    if not fixed_raw:
        raise InputError(src, "fixed_nodes", "is empty: at least one node must be fixed")
    fixed = sorted({checks.node(src, f"fixed_nodes[{k}]", v, n) for k, v in enumerate(fixed_raw)})
    if len(fixed) == n:
        raise InputError(src, "fixed_nodes", f"fixes all {n} nodes: nothing is left to move")

    stiffness = None
    if data.get("stiffness_n_per_m") is not None:
        s = checks.listed(src, "stiffness_n_per_m", data["stiffness_n_per_m"])
        if len(s) != m:
            raise InputError(src, "stiffness_n_per_m", f"has {len(s)} entries but there are {m} bonds")
        stiffness = np.array([checks.bounded(src, f"stiffness_n_per_m[{b}]", v, *checks.STIFFNESS_N_PER_M, "N/m")
                              for b, v in enumerate(s)])

    extra = {k: v for k, v in data.items() if k not in KNOWN_KEYS}
    return {
        "name": data["name"], "description": desc,
        "nodes": nodes * 1e-3, "bonds": bonds, "width": width * 1e-3,
        "thickness": thickness * 1e-3, "youngs_modulus": modulus,
        "width_bounds": None if bounds is None else bounds * 1e-3,
        "fixed_nodes": np.array(fixed, dtype=np.int64), "stiffness": stiffness, "extra": extra,
    }


def _clean(x: float) -> float:
    """Round-trip friendly float: drop binary noise from the mm <-> m conversion."""
    return float(f"{x:.12g}")


def network_to_dict(net) -> dict:
    """The ``labmnn-network/1`` object of a :class:`~labmnn.Network`."""
    width_mm = [_clean(v) for v in net.width * 1e3]
    out: dict[str, Any] = {"format": FORMAT, "name": net.name}
    if net.description:
        out["description"] = net.description
    out["nodes_mm"] = [[_clean(x), _clean(y)] for x, y in net.nodes * 1e3]
    out["bonds"] = [[int(i), int(j)] for i, j in net.bonds]
    out["width_mm"] = width_mm[0] if len(set(width_mm)) == 1 else width_mm
    out["thickness_mm"] = _clean(net.thickness * 1e3)
    out["youngs_modulus_pa"] = _clean(net.youngs_modulus)
    if net.width_bounds is not None:
        out["width_bounds_mm"] = [_clean(v) for v in net.width_bounds * 1e3]
    out["fixed_nodes"] = [int(i) for i in net.fixed_nodes]
    if net.stiffness_override is not None:
        out["stiffness_n_per_m"] = [float(v) for v in net.stiffness_override]
    out.update(net.extra)
    return out

"""``joints.csv``: rough joint positions clicked in the reference photo (header ``node,x,y``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from labmnn import checks
from labmnn.errors import InputError
from labmnn.text_files import read_text

MAX_BYTES = 4 * 2**20  # a joints file lists one short line per node


def read_joints_csv(path, n_nodes: int) -> np.ndarray:
    """Read ``node,x,y`` rows (0-based nodes, pixels) into an (n_nodes, 2) array; every node once."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "", "joints file not found")
    text = read_text(path, "node,x,y text file", max_bytes=MAX_BYTES)
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise InputError(str(path), "", f"cannot be read as a node,x,y text file ({exc})") from None
    if not rows or [c.strip().lower() for c in rows[0]] != ["node", "x", "y"]:
        raise InputError(str(path), "header", f"expected 'node,x,y', got {','.join(rows[0]) if rows else '(empty)'!r}")
    out = np.full((n_nodes, 2), np.nan)
    for k, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            node, x, y = int(row[0]), float(row[1]), float(row[2])
        except (ValueError, IndexError):
            raise InputError(str(path), f"line {k}", f"expected node,x,y numbers, got {','.join(row)!r}") from None
        if not 0 <= node < n_nodes:
            raise InputError(str(path), f"line {k}", f"node {node} out of range 0..{n_nodes - 1}")
        if np.isfinite(out[node]).all():
            raise InputError(str(path), f"line {k}", f"node {node} given twice")
        if not (np.isfinite(x) and np.isfinite(y)):
            raise InputError(str(path), f"line {k}", f"non-finite position {x}, {y}")
        if not (0 <= x <= checks.PIXELS and 0 <= y <= checks.PIXELS):
            raise InputError(str(path), f"line {k}", f"position {x:g}, {y:g} px is outside any photo "
                                                     f"(0..{checks.PIXELS:g} px): a lost decimal point?")
        out[node] = (x, y)
    missing = np.flatnonzero(~np.isfinite(out).all(1))
    if missing.size:
        raise InputError(str(path), "node", f"missing nodes {missing.tolist()}")
    return out


def write_joints_csv(path, joints_px) -> None:
    lines = ["node,x,y"] + [f"{i},{x:.2f},{y:.2f}" for i, (x, y) in enumerate(np.asarray(joints_px, float))]
    Path(path).write_text("\n".join(lines) + "\n")

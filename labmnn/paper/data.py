"""The seed paper's published figure data, shipped in ``labmnn/data/paper``.

Copied from the authors' ``data.xlsx`` sheets (one CSV per figure).  Bond
numbers in figure 1 follow the authors' order; :func:`match_bonds_by_value`
pairs them with ours.
"""

from __future__ import annotations

import csv

import numpy as np

from labmnn.resources import DATA

PAPER_DIR = DATA / "paper"


def read_columns(figure: int) -> dict[str, np.ndarray]:
    """Columns of ``figure<N>.csv`` as float arrays (empty cells dropped at the end)."""
    with open(PAPER_DIR / f"figure{figure}.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    out = {}
    for c, name in enumerate(header):
        vals = [r[c] for r in body if c < len(r) and r[c].strip() != ""]
        out[name] = np.array([float(v) for v in vals])
    return out


def figure1_gradient(column: str = "grad_sim") -> np.ndarray:
    """The paper's 28 per-bond gradients of Fig. 1 (authors' bond order)."""
    return read_columns(1)[column]


def match_bonds_by_value(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Reorder ``theirs`` to our bond order by sorting both (the values are distinct up to symmetry)."""
    order_ours = np.argsort(ours)
    out = np.empty_like(theirs)
    out[order_ours] = np.sort(theirs)
    return out

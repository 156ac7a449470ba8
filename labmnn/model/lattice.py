"""Builders for triangular lattices like the paper's network.

The paper's network is a triangular patch that narrows row by row: a top row
of ``top`` nodes, each row below one node shorter, hung from the two ends of
the top row.  :func:`triangle_patch` builds such a patch of any size;
:func:`triangular_lattice` builds a rectangular patch of a triangular lattice
(for benchmarks and large networks).

Example
-------
>>> net = triangle_patch(top=5, rows=4)
>>> net.n_nodes, net.n_bonds
(14, 28)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labmnn.model.network import Network

PAPER: dict[str, Any] = dict(bond_mm=16.0, width_mm=2.0, thickness_mm=2.0, youngs_modulus_pa=0.55e6,
             width_bounds_mm=(1.5, 2.5))


def _bonds_from_grid(index: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    out = []
    for a, b in pairs:
        ok = (a >= 0) & (b >= 0)
        out.append(np.stack([a[ok], b[ok]], axis=1))
    return np.concatenate(out)


def triangle_patch(top: int = 5, rows: int = 4, bond_mm: float = PAPER["bond_mm"],
                   width_mm: float = PAPER["width_mm"], thickness_mm: float = PAPER["thickness_mm"],
                   youngs_modulus_pa: float = PAPER["youngs_modulus_pa"],
                   width_bounds_mm=PAPER["width_bounds_mm"], name: str | None = None) -> Network:
    """A downward-narrowing triangular patch, fixed at the two ends of its top row.

    Node numbering follows the paper's file: rows top to bottom, each row from
    x = 0 towards negative x.  ``top=5, rows=4`` is the paper's network.

    Parameters
    ----------
    top : int
        Nodes in the top row (>= 2).
    rows : int
        Number of rows (1 <= rows <= top).
    """
    if top < 2 or not 1 <= rows <= top:
        raise ValueError("need top >= 2 and 1 <= rows <= top")
    h = bond_mm * np.sqrt(3) / 2
    nodes: list[tuple[float, float]] = []
    row_ids: list[list[int]] = []
    for r in range(rows):
        ids = []
        for c in range(top - r):
            ids.append(len(nodes))
            nodes.append((-(c * bond_mm + r * bond_mm / 2), -r * h))
        row_ids.append(ids)
    bonds = []
    for r, ids in enumerate(row_ids):
        bonds += [(ids[c], ids[c + 1]) for c in range(len(ids) - 1)]
        if r + 1 < rows:
            below = row_ids[r + 1]
            for c, b in enumerate(below):
                bonds += [(ids[c], b), (ids[c + 1], b)]
    bonds = sorted((min(i, j), max(i, j)) for i, j in bonds)
    return Network(
        np.array(nodes) * 1e-3, bonds, width_mm * 1e-3, thickness_mm * 1e-3, youngs_modulus_pa,
        fixed_nodes=[0, top - 1],
        width_bounds=None if width_bounds_mm is None else np.array(width_bounds_mm) * 1e-3,
        name=name or f"triangle-patch-{top}x{rows}",
    )


def triangular_lattice(nx: int, ny: int, bond_mm: float = PAPER["bond_mm"],
                       width_mm: float = PAPER["width_mm"], thickness_mm: float = PAPER["thickness_mm"],
                       youngs_modulus_pa: float = PAPER["youngs_modulus_pa"],
                       width_bounds_mm=PAPER["width_bounds_mm"], name: str | None = None) -> Network:
    """A rectangular patch of a triangular lattice, ``nx`` by ``ny`` nodes, top row fixed.

    Built with array operations only, so a million nodes take about a second.
    """
    if nx < 2 or ny < 2:
        raise ValueError("need nx >= 2 and ny >= 2")
    h = bond_mm * np.sqrt(3) / 2
    r, c = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    x = c * bond_mm + (r % 2) * bond_mm / 2
    y = -r * h
    nodes = np.stack([x.ravel(), y.ravel()], axis=1) * 1e-3
    idx = np.arange(nx * ny).reshape(ny, nx)
    neg = -np.ones_like(idx)
    right = np.where(c < nx - 1, np.roll(idx, -1, axis=1), neg)
    # Down-left and down-right neighbours depend on the row's parity (odd rows are shifted right).
    down = np.vstack([idx[1:], neg[:1]])
    down_shift_left = np.where(r % 2 == 0, np.where(c > 0, np.roll(down, 1, axis=1), neg), down)
    down_shift_right = np.where(r % 2 == 0, down, np.where(c < nx - 1, np.roll(down, -1, axis=1), neg))
    bonds = _bonds_from_grid(idx, [(idx, right), (idx, down_shift_left), (idx, down_shift_right)])
    bonds = np.unique(np.sort(bonds, axis=1), axis=0)
    return Network(
        nodes, bonds, width_mm * 1e-3, thickness_mm * 1e-3, youngs_modulus_pa,
        fixed_nodes=idx[0],
        width_bounds=None if width_bounds_mm is None else np.array(width_bounds_mm) * 1e-3,
        name=name or f"triangular-lattice-{nx}x{ny}",
    )


def lattice_with_nodes(n_nodes: int) -> Network:
    """A roughly square triangular lattice with about ``n_nodes`` nodes."""
    side = max(2, int(round(np.sqrt(n_nodes))))
    return triangular_lattice(side, max(2, int(round(n_nodes / side))))

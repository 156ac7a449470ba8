"""The stiffness matrix in elimination order, assembled from the bonds through a fixed layout.

D = C^T K C couples the degrees of freedom of each node with themselves and
with those of its bonded neighbours: bond b adds k_b n_b n_b^T to the 2 x 2
blocks of its two end nodes and -k_b n_b n_b^T to the block between them.  In
an elimination order where each node's free degrees of freedom are adjacent
(:func:`labmnn.model.ordering.dof_order`), the upper triangle of D is

* for each free node, its own block's upper triangle (xx, xy, yy), and
* for each bonded pair, the whole block in the rows of the node eliminated first.

:class:`Layout` works out, once per geometry, where every entry goes: the
upper triangle's CSR index arrays and, for every bond and node, the slot of each
of its contributions.  An assembly for a stiffness k is then a few O(m) passes
(``bincount`` and scatters), with no sparse product and no sort, and its
pattern is the structural one whatever the values: an entry that cancels to
zero for some stiffness stays as an explicit zero, so a factorisation's
symbolic analysis serves every stiffness.  Entries that are zero for every
stiffness (the x-y coupling across a horizontal bond: n_x n_y = 0) are left out,
as in |C|^T |C|.

Example
-------
>>> import numpy as np
>>> pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.8]])
>>> bonds = np.array([[0, 1], [1, 2], [0, 2]])
>>> d = pts[bonds[:, 1]] - pts[bonds[:, 0]]
>>> lay = Layout(bonds, d / np.hypot(d[:, 0], d[:, 1])[:, None], np.array([-1, -1, 0, 1, 2, 3]))
>>> U = lay.upper(np.ones(3))   # node 0 fixed: two nodes' own blocks (3 + 3) and the block between them (4)
>>> U.shape, U.nnz
((4, 4), 10)
>>> U.toarray().round(3).tolist()[0]
[1.281, -0.449, -0.281, 0.449]
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["Layout", "symmetric_from_upper"]


class Layout:
    """Where each bond's and node's stiffness goes in the ordered upper triangle of D.

    Parameters
    ----------
    bonds : ndarray (m, 2) of int
        Node pairs.
    directions : ndarray (m, 2)
        Unit vector of each bond.
    position : ndarray (2 n,) of int
        Row of each degree of freedom in elimination order, -1 where fixed.  The
        free degrees of freedom of one node must be adjacent, x before y.

    Attributes
    ----------
    n : int
        Number of free degrees of freedom (rows of D).
    indptr, indices : ndarray of int32
        CSR index arrays of the upper triangle (the same memory for every assembly).
    """

    def __init__(self, bonds: np.ndarray, directions: np.ndarray, position: np.ndarray):
        self.n = n = int(position.max(initial=-1)) + 1
        pos = np.where(position < 0, n, position).astype(np.int32).reshape(-1, 2)  # fixed -> n (a dump row)
        if np.any((pos[:, 1] - pos[:, 0] != 1) & (pos.max(axis=1) < n)):
            raise ValueError("a node's free degrees of freedom must be adjacent in the order, x before y")
        self.node_pos = pos  # (n_nodes, 2): row of each node's x and y, n where fixed
        self.bonds = np.asarray(bonds).reshape(-1, 2)
        self.directions = np.asarray(directions, dtype=float)
        nz = self.directions != 0  # components that are non-zero: n_a n_c can be non-zero only if both are
        self._build(pos, nz)

    # ------------------------------------------------------------ the layout
    def _build(self, pos: np.ndarray, nz: np.ndarray) -> None:
        n, n_nodes = self.n, len(pos)
        i, j = self.bonds[:, 0], self.bonds[:, 1]
        rank = pos.min(axis=1)  # nodes in elimination order (a fully fixed node ranks last, as n)
        swap = rank[i] > rank[j]
        lo, hi = np.where(swap, j, i), np.where(swap, i, j)
        blk, first = _blocks(rank[lo], rank[hi], n)  # block of each bond; a bond of each block
        self.n_blocks = first.size
        b_lo, b_hi = lo[first], hi[first]
        # flag[a][c]: the block's (a of lo, c of hi) entry exists: some bond has n_a n_c != 0, both rows free
        pair = [[nz[:, a] & nz[:, c] for c in (0, 1)] for a in (0, 1)]
        if blk.size and first.size < blk.size:  # parallel bonds: a block's entry exists if any bond's does
            pair = [[np.bincount(blk, p, first.size) > 0 for p in row] for row in pair]
        else:
            pair = [[p[first] for p in row] for row in pair]
        flag = [[pair[a][c] & (pos[b_lo, a] < n) & (pos[b_hi, c] < n) for c in (0, 1)] for a in (0, 1)]
        # the x-y entry of a node's own block: some bond at the node has n_x n_y != 0
        xy_bond = (nz[:, 0] & nz[:, 1]).astype(float)
        self_xy = (np.bincount(i, xy_bond, n_nodes) + np.bincount(j, xy_bond, n_nodes) > 0) & (pos.max(axis=1) < n)
        # row lengths: the diagonal, the node's own x-y entry, then the blocks to later nodes
        length = np.zeros(n + 1, dtype=np.int64)
        length[:n] = 1
        np.add.at(length, pos[self_xy, 0], 1)
        count = [flag[a][0].astype(np.int64) + flag[a][1] for a in (0, 1)]
        for a in (0, 1):
            length += np.bincount(pos[b_lo, a], count[a], n + 1).astype(np.int64)
        length[n] = 0
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(length[:n], out=indptr[1:])
        self.nnz = nnz = int(indptr[-1])
        dump = np.int32(nnz) if nnz < 2**31 - 1 else None
        if dump is None:
            raise ValueError("stiffness matrix too large for 32-bit indices")
        start = np.append(indptr[:n], nnz)  # row start, the dump for row n
        indices = np.empty(nnz + 1, dtype=np.int32)
        rows = np.arange(n, dtype=np.int32)
        indices[indptr[:n]] = rows  # the diagonal first in every row
        # the node's own blocks: slots of xx, xy, yy (dump where absent)
        diag = [start[pos[:, 0]], np.where(self_xy, start[pos[:, 0]] + 1, nnz), start[pos[:, 1]]]  # row n: dump
        indices[diag[1]] = pos[:, 1]
        offset = [_within_group(b_lo, count[a]) for a in (0, 1)]  # earlier blocks' entries in the row
        self.off_slots = np.empty((4, blk.size), dtype=np.int32)  # (xx, xy, yx, yy) of each bond's block
        for a in (0, 1):
            base = start[pos[b_lo, a]] + 1 + offset[a] + (self_xy[b_lo] if a == 0 else 0)
            for c in (0, 1):
                slot = np.where(flag[a][c], base + (flag[a][0] if c == 1 else 0), nnz)
                indices[slot] = pos[b_hi, c]
                self.off_slots[2 * a + c] = slot[blk]
        self.diag_slots = np.stack(diag).astype(np.int32)
        self.indptr = indptr.astype(np.int32)
        self.indices = indices[:nnz]

    # ------------------------------------------------------------ assembly
    def upper(self, k: np.ndarray) -> sp.csr_matrix:
        """The upper triangle of D = C^T K C for the bond stiffnesses ``k`` (N/m), CSR in elimination order.

        The index arrays are views of the layout's own (shared, not copied): every
        stiffness gives the same pattern.
        """
        nx, ny = self.directions[:, 0], self.directions[:, 1]
        kxx, kxy, kyy = k * nx * nx, k * nx * ny, k * ny * ny
        i, j = self.bonds[:, 0], self.bonds[:, 1]
        n_nodes = len(self.node_pos)
        data = np.zeros(self.nnz + 1)  # the last entry: the dump, where absent contributions go
        for slot, v in zip(self.off_slots, (kxx, kxy, kxy, kyy)):
            if self.n_blocks < len(self.bonds):  # parallel bonds share slots: sum them
                data -= np.bincount(slot, v, self.nnz + 1)
            else:  # one bond a block: each slot is written once
                np.negative(v, out=v)
                data[slot] = v
                np.negative(v, out=v)
        for slot, v in zip(self.diag_slots, (kxx, kxy, kyy)):  # a node's own block: its bonds' sum
            data[slot] = np.bincount(i, v, n_nodes) + np.bincount(j, v, n_nodes)
        return sp.csr_matrix((data[: self.nnz], self.indices, self.indptr), shape=(self.n, self.n), copy=False)

    def full(self, k: np.ndarray) -> sp.csc_matrix:
        """D itself (both triangles), canonical CSC in elimination order, on the same fixed pattern."""
        return symmetric_from_upper(self.upper(k))

    def elongations(self, u: np.ndarray) -> np.ndarray:
        """C u: bond elongations of displacements ``u`` (n,) or (n, r) given in elimination order."""
        u = np.asarray(u, dtype=float)
        pad = np.zeros((1,) + u.shape[1:])
        up = np.concatenate([u, pad])  # row n: the fixed degrees of freedom, which do not move
        p = self.node_pos
        i, j = self.bonds[:, 0], self.bonds[:, 1]
        nx, ny = self.directions[:, 0], self.directions[:, 1]
        if u.ndim == 2:
            nx, ny = nx[:, None], ny[:, None]
        e = up[p[j, 0]] - up[p[i, 0]]
        e *= nx
        dy = up[p[j, 1]] - up[p[i, 1]]
        dy *= ny
        e += dy
        return e


def _blocks(rank_lo: np.ndarray, rank_hi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Group bonds by node pair in elimination order.

    Returns the block of each bond (blocks numbered by (rank_lo, rank_hi)) and
    one bond of each block.
    """
    m = rank_lo.size
    key = rank_lo.astype(np.int64) * (n + 1) + rank_hi
    bits = max(1, int(m - 1).bit_length())
    if (n + 1) ** 2 < 2 ** (63 - bits):  # the bond number packed below the key: a plain sort (fast) is enough
        packed = np.sort((key << bits) | np.arange(m, dtype=np.int64))
        order = packed & ((1 << bits) - 1)
        sorted_key = packed >> bits
        del packed
    else:  # pragma: no cover  (beyond ~10^9 degrees of freedom)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
    new = np.empty(m, dtype=bool)
    new[:1] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new[1:])
    blk = np.empty(m, dtype=np.int64)
    blk[order] = np.cumsum(new) - 1
    return blk, order[new]


def _within_group(group: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Exclusive running sum of ``count`` within runs of equal ``group`` (runs are contiguous)."""
    if count.size == 0:
        return count.astype(np.int64)
    total = np.cumsum(count) - count  # exclusive running sum over everything
    new = np.empty(count.size, dtype=bool)
    new[0] = True
    np.not_equal(group[1:], group[:-1], out=new[1:])
    run_start = np.maximum.accumulate(np.where(new, np.arange(count.size), 0))
    return total - total[run_start]


def symmetric_from_upper(U: sp.csr_matrix) -> sp.csc_matrix:
    """The symmetric matrix whose upper triangle is ``U`` (canonical CSC; explicit zeros kept)."""
    n = U.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(U.indptr))
    cols = U.indices.astype(np.int64)
    strict = cols > rows
    # CSC of the full matrix = CSR read column-wise; built from COO, which keeps explicit zeros
    A = sp.coo_matrix((np.concatenate([U.data, U.data[strict]]),
                       (np.concatenate([rows, cols[strict]]), np.concatenate([cols, rows[strict]]))), shape=U.shape)
    D = A.tocsc()
    D.sort_indices()
    return D

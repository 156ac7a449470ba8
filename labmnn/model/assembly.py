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

from labmnn.model.ordering import stable_argsort

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
        # intp throughout: NumPy gathers and counts with intp indices without converting them
        n, n_nodes = self.n, len(pos)
        P = [pos[:, 0].astype(np.intp), pos[:, 1].astype(np.intp)]  # row of each node's x and y (n: fixed)
        i, j = self.bonds[:, 0].astype(np.intp), self.bonds[:, 1].astype(np.intp)
        rank = np.minimum(P[0], P[1])  # nodes in elimination order (a fully fixed node ranks last, as n)
        ri, rj = np.take(rank, i), np.take(rank, j)
        swap = ri > rj
        lo, hi = np.where(swap, j, i), np.where(swap, i, j)
        # blocks numbered by (lo, hi) in elimination order; node ranks made dense (0..n_nodes) for a short key
        dense = np.zeros(n + 1, dtype=np.intp)
        dense[rank] = 1
        np.cumsum(dense, out=dense)
        ri, rj = np.take(dense, ri), np.take(dense, rj)
        # the block of each bond, and one bond of each block
        blk, first = _blocks(np.minimum(ri, rj), np.maximum(ri, rj), n_nodes + 1)
        del ri, rj, swap, rank, dense
        b_lo, b_hi = np.take(lo, first), np.take(hi, first)
        del lo, hi
        row_lo = [np.take(P[a], b_lo) for a in (0, 1)]  # the block's rows (lo node) and columns (hi node)
        col_hi = [np.take(P[c], b_hi) for c in (0, 1)]
        del b_hi  # (arrays are dropped as soon as they are spent: at 10^6 nodes each is 24 MB of fresh pages)
        # flag[a][c]: the block's (a of lo, c of hi) entry exists: some bond has n_a n_c != 0, both free
        pair = [[nz[:, a] & nz[:, c] for c in (0, 1)] for a in (0, 1)]
        if first.size < blk.size:  # parallel bonds: a block's entry exists if any of its bonds' does
            pair = [[np.bincount(blk, p, first.size) > 0 for p in row] for row in pair]
        else:
            pair = [[np.take(p, first) for p in row] for row in pair]
        del first
        flag = [[pair[a][c] & (row_lo[a] < n) & (col_hi[c] < n) for c in (0, 1)] for a in (0, 1)]
        del pair
        # the x-y entry of a node's own block: some bond at the node has n_x n_y != 0
        xy_bond = (nz[:, 0] & nz[:, 1]).astype(float)
        self_xy = (np.bincount(i, xy_bond, n_nodes) + np.bincount(j, xy_bond, n_nodes) > 0) & (P[1] < n) & (P[0] < n)
        del i, j, xy_bond
        # row lengths: the diagonal, the node's own x-y entry, then the blocks to later nodes
        count = [flag[a][0].astype(np.intp) + flag[a][1] for a in (0, 1)]
        length = np.bincount(P[0], self_xy, n + 1)
        for a in (0, 1):
            length += np.bincount(row_lo[a], count[a], n + 1)
        indptr = np.zeros(n + 1, dtype=np.intp)
        np.cumsum(length[:n].astype(np.intp) + 1, out=indptr[1:])
        del length
        self.nnz = nnz = int(indptr[-1])
        if nnz >= 2**31 - 1:
            raise ValueError("stiffness matrix too large for 32-bit indices")
        start = indptr.copy()
        start[n] = nnz  # row n (fixed degrees of freedom): the dump
        indices = np.empty(nnz + 1, dtype=np.int32)
        indices[indptr[:n]] = np.arange(n, dtype=np.int32)  # the diagonal first in every row
        # the node's own blocks: slots of xx, xy, yy (the dump where absent)
        diag = [np.take(start, P[0]), np.where(self_xy, np.take(start, P[0]) + 1, nnz), np.take(start, P[1])]
        indices[diag[1]] = P[1]
        # (xx, xy, yx, yy) of each bond's block; int32 halves what is kept (at 10^6 nodes 48 MB, not 96)
        self.off_slots = np.empty((4, blk.size), dtype=np.int32)
        earlier = _within_group(b_lo, count)  # entries of the row's earlier blocks
        del count
        for a in (0, 1):
            base = np.take(start, row_lo[a]) + 1 + earlier[a]
            if a == 0:
                base += np.take(self_xy, b_lo)
            for c in (0, 1):
                slot = np.where(flag[a][c], base + flag[a][0] if c == 1 else base, nnz)
                indices[slot] = col_hi[c]
                self.off_slots[2 * a + c] = np.take(slot, blk)
        self.diag_slots = np.stack(diag).astype(np.int32)
        self.indptr = indptr.astype(np.int32)
        self.indices = indices[:nnz]

    # ------------------------------------------------------------ assembly
    def upper(self, k: np.ndarray) -> sp.csr_matrix:
        """The upper triangle of D = C^T K C for the bond stiffnesses ``k`` (N/m), CSR in elimination order.

        The index arrays are views of the layout's own (shared, not copied): every
        stiffness gives the same pattern.
        """
        k = np.asarray(k, dtype=float)
        data = np.zeros(self.nnz + 1)  # the last entry: the dump, where absent contributions go
        for s in range(0, k.size, _CHUNK):  # in blocks of bonds: temporaries stay small (no fresh pages)
            n = self.directions[s : s + _CHUNK]
            kn = n * k[s : s + _CHUNK, None]  # k n_x, k n_y
            products = (kn[:, 0] * n[:, 0], kn[:, 0] * n[:, 1], kn[:, 1] * n[:, 1])  # k n_x n_x, k n_x n_y, k n_y n_y
            ends = self.bonds[s : s + _CHUNK]
            for t, v in enumerate(products):  # each end node's own block
                slots = self.diag_slots[t]
                for end in (0, 1):  # one 1-D call per end: a broadcast (chunk, 2) index is ~4x slower in ufunc.at
                    np.add.at(data, slots[ends[:, end]], v)
            for t, v in zip(range(4), (products[0], products[1], products[1], products[2])):  # the block between
                np.subtract.at(data, self.off_slots[t, s : s + _CHUNK], v)  # parallel bonds add up
        return sp.csr_matrix((data[: self.nnz], self.indices, self.indptr), shape=(self.n, self.n), copy=False)

    def full(self, k: np.ndarray) -> sp.csc_matrix:
        """D itself (both triangles), canonical CSC in elimination order, on the same fixed pattern."""
        return symmetric_from_upper(self.upper(k))

    def elongations(self, u: np.ndarray) -> np.ndarray:
        """C u: bond elongations of displacements ``u`` (n,) or (n, r) given in elimination order."""
        u = np.asarray(u, dtype=float)
        out = np.empty((len(self.bonds),) + u.shape[1:])
        for s, e in self._elongation_blocks(u.reshape(self.n, -1)):
            out[s : s + len(e)] = e.reshape(out[s : s + len(e)].shape)
        return out

    def elongation_products(self, z: np.ndarray, w: np.ndarray) -> np.ndarray:
        """sum_c (C z)_c (C w)_c per bond, for z and w (n, r) in elimination order.

        The adjoint gradient's last step, in one pass over the bonds: only the
        result is bond-sized (at 10^6 nodes each elongation column would be
        24 MB, made while the factor is alive).
        """
        r = z.shape[1]
        g = np.empty(len(self.bonds))
        for s, e in self._elongation_blocks(z, w):
            p = e[:, :r] * e[:, r:]
            np.sum(p, axis=1, out=g[s : s + len(e)])
        return g

    def _elongation_blocks(self, *us: np.ndarray):
        """(first bond, C [u1 u2 ...] of the block, (chunk, k)) for blocks of bonds; each ``u`` (n, k_i)."""
        k = sum(u.shape[1] for u in us)
        up = np.zeros((k, self.n + 1))  # one row a column; entry n: the fixed DOFs, which do not move
        c = 0
        for u in us:
            up[c : c + u.shape[1], : self.n] = u.T
            c += u.shape[1]
        rows = self.node_pos.ravel().astype(np.intp)  # 2 node + axis -> row
        for s in range(0, len(self.bonds), _CHUNK):  # temporaries stay small and in cache
            ends = self.bonds[s : s + _CHUNK] * 2  # (chunk, 2): x of each end
            n = self.directions[s : s + _CHUNK]
            ix = np.take(rows, ends)
            ends += 1
            iy = np.take(rows, ends)
            e = np.empty((len(n), up.shape[0]))
            for c, col in enumerate(up):  # e = n_x (u_jx - u_ix) + n_y (u_jy - u_iy)
                ux, uy = np.take(col, ix), np.take(col, iy)
                np.subtract(ux[:, 1], ux[:, 0], out=e[:, c])
                e[:, c] *= n[:, 0]
                uy[:, 1] -= uy[:, 0]
                uy[:, 1] *= n[:, 1]
                e[:, c] += uy[:, 1]
            yield s, e


_CHUNK = 1 << 16  # bonds per block in :meth:`Layout.elongations`


def _blocks(rank_lo: np.ndarray, rank_hi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Group bonds by node pair in elimination order.

    Returns the block of each bond (blocks numbered by (rank_lo, rank_hi)) and
    one bond of each block.
    """
    m = rank_lo.size
    key = np.asarray(rank_lo, dtype=np.int64) * (n + 1)
    key += rank_hi
    order = stable_argsort(key, (n + 1) ** 2)
    sorted_key = np.take(key, order)
    del key
    new = np.empty(m, dtype=bool)
    new[:1] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new[1:])
    blk = np.empty(m, dtype=np.intp)
    blk[order] = np.cumsum(new, dtype=np.intp) - 1
    return blk, order[new]


def _within_group(group: np.ndarray, counts: list[np.ndarray]) -> list[np.ndarray]:
    """Exclusive running sums of each of ``counts`` within runs of equal ``group`` (runs are contiguous)."""
    if group.size == 0:
        return [c.astype(np.intp) for c in counts]
    new = np.empty(group.size, dtype=bool)
    new[0] = True
    np.not_equal(group[1:], group[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, group.size))
    out = []
    for c in counts:
        total = np.cumsum(c, dtype=np.intp)
        total -= c  # exclusive running sum over everything
        total -= np.repeat(total[starts], lengths)  # less the sum before the run
        out.append(total)
    return out


def symmetric_from_upper(U: sp.csr_matrix) -> sp.csc_matrix:
    """The symmetric matrix whose upper triangle is ``U`` (canonical CSC; explicit zeros kept)."""
    n = U.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.intp), np.diff(U.indptr))
    cols = U.indices.astype(np.intp)
    strict = cols > rows
    # built from COO, which keeps explicit zeros (a sum of sparse matrices would drop them)
    A = sp.coo_matrix((np.concatenate([U.data, U.data[strict]]),
                       (np.concatenate([rows, cols[strict]]), np.concatenate([cols, rows[strict]]))), shape=U.shape)
    D = A.tocsc()
    D.sort_indices()
    return D

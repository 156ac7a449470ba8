"""Fused bond kernels for the exact model's batched path, compiled by Numba when it is installed.

The batched path (:mod:`labmnn.model.nonlinear_batch`) evaluates, at every
iteration, a quantity per bond and per sample: the bond forces g(u), the
tangent product K_t(u) p, and at the answer the lengths, directions and the
stability bound.  Written with NumPy each is a chain of sparse products and
array passes (about ten passes over (bonds x samples) arrays, with transposes);
here each is one loop over the bonds of one sample that reads the bond's four
displacement components, works in registers and adds the result into the
sample's row.  Measured at 10^5 nodes and 100 samples: 0.10 s a force
evaluation on two threads against 0.64-1.13 s with NumPy (``docs/physics.md``).

The kernels release the GIL and run on a thread per range of samples; each
sample is worked out by one thread in bond order, so the results do not depend
on the thread count.  Without Numba (the ``fast`` extra), or with
``LABMNN_BOND_KERNELS=numpy``, the NumPy path is used; both give the same
numbers to round-off (``tests/test_bond_kernels.py``).

Vectors are rows of (S, n_free) arrays in the factor's order; ``dof`` (m, 4)
gives the row positions of each bond's (x_i, y_i, x_j, y_j), -1 where fixed.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

numba: Any
try:  # the fast extra
    import numba
except ImportError:  # pragma: no cover  (exercised where Numba is absent)
    numba = None

ENV = "LABMNN_BOND_KERNELS"  # "numpy": use the NumPy path even where Numba is installed
MARGIN = 1e-12  # the stability bound's transverse stiffness is lowered by this fraction of k (round-off)


def available() -> bool:
    """Whether the compiled kernels are used (Numba installed, not switched off by ``LABMNN_BOND_KERNELS``)."""
    return numba is not None and os.environ.get(ENV, "").strip().lower() != "numpy"


def _jit(fn):
    """Numba's no-GIL compilation, cached on disk; the plain function where Numba is absent.

    NumPy's error model: a bond of zero length gives inf and NaN as the NumPy
    path does (the residual or the collapse check then sees it), not an exception.
    """
    if numba is None:  # pragma: no cover
        return fn
    return numba.njit(nogil=True, cache=True, error_model="numpy")(fn)


def _inline(fn):
    """A helper of the kernels, inlined into each (a call per bond costs more than the bond's arithmetic)."""
    if numba is None:  # pragma: no cover
        return fn
    return numba.njit(inline="always")(fn)


# ------------------------------------------------------------------ the loops (one sample range each)
# Each loop reads a bond's four rows and its components in its own body: the same reads in a helper
# returning the pair ran 3.5x slower (0.42 s against 0.12 s a pass at 10^5 nodes, 100 samples),
# inlined or not; the scatter helper below costs nothing.
@_inline
def _add(g, ix, iy, jx, jy, fx, fy):
    """Add the force (fx, fy) on a bond's node j, and minus it on node i, into the row ``g``."""
    if jx >= 0:
        g[jx] += fx
    if ix >= 0:
        g[ix] -= fx
    if jy >= 0:
        g[jy] += fy
    if iy >= 0:
        g[iy] -= fy


@_inline
def _lower_beta(n0x, n0y, nx, ny, geo, k):
    """One bond's lower-bound beta (see ``BatchStatics.lower_beta``); -inf where the bound has none."""
    axial = k - geo
    sin = n0x * ny - n0y * nx
    s2 = sin * sin
    t = axial * s2
    a11 = 0.5 * k - t
    if not a11 > 0:
        return -np.inf
    return t - t * axial * (1.0 - s2) / a11 + geo - MARGIN * k


@_inline
def _forces(x, g, dof, d0, k, kL):
    """The bond forces g(u) of one sample's displacements ``x``, written into its row ``g``."""
    g[:] = 0.0
    for b in range(dof.shape[0]):
        ix, iy, jx, jy = dof[b, 0], dof[b, 1], dof[b, 2], dof[b, 3]
        dx = d0[b, 0] + (x[jx] if jx >= 0 else 0.0) - (x[ix] if ix >= 0 else 0.0)
        dy = d0[b, 1] + (x[jy] if jy >= 0 else 0.0) - (x[iy] if iy >= 0 else 0.0)
        c = k[b] - kL[b] / math.sqrt(dx * dx + dy * dy)  # T / l = k (1 - L / l)
        _add(g, ix, iy, jx, jy, c * dx, c * dy)


@_jit
def _internal(X, dof, d0, k, kL, G, s0, s1):
    for s in range(s0, s1):
        _forces(X[s], G[s], dof, d0, k, kL)


@_jit
def _residual(X, F, dof, d0, k, kL, R, res, s0, s1):
    for s in range(s0, s1):
        r, f = R[s], F[s]
        _forces(X[s], r, dof, d0, k, kL)
        big, bad = 0.0, False
        for i in range(r.size):  # r = f - g(u) and its largest |entry|, while the row is in cache
            v = f[i] - r[i]
            r[i] = v
            a = abs(v)
            if a > big:
                big = a
            elif a != a:
                bad = True
        res[s] = np.nan if bad else big


@_jit
def _tangent_product(X, P, dof, d0, k, kL, active, Q, pq, s0, s1):
    for s in range(s0, s1):
        q = Q[s]
        q[:] = 0.0
        pq[s] = 0.0
        if not active[s]:
            continue
        x, p = X[s], P[s]
        curvature = 0.0  # p . K_t p, summed over the bonds as dv . A dv
        for b in range(dof.shape[0]):
            ix, iy, jx, jy = dof[b, 0], dof[b, 1], dof[b, 2], dof[b, 3]
            dx = d0[b, 0] + (x[jx] if jx >= 0 else 0.0) - (x[ix] if ix >= 0 else 0.0)
            dy = d0[b, 1] + (x[jy] if jy >= 0 else 0.0) - (x[iy] if iy >= 0 else 0.0)
            vx = (p[jx] if jx >= 0 else 0.0) - (p[ix] if ix >= 0 else 0.0)
            vy = (p[jy] if jy >= 0 else 0.0) - (p[iy] if iy >= 0 else 0.0)
            length = math.sqrt(dx * dx + dy * dy)
            axial = kL[b] / length  # the block is (T / l) I + (k - T / l) n n^T, and k - T / l = k L / l
            along = axial * (dx * vx + dy * vy) / (length * length)
            geo = k[b] - axial
            fx, fy = geo * vx + along * dx, geo * vy + along * dy
            curvature += vx * fx + vy * fy
            _add(q, ix, iy, jx, jy, fx, fy)
        pq[s] = curvature


@_jit
def _final(X, dof, d0, k, kL, rest, min_length, n0, take, lengths, directions, stretch, tension, collapsed,
           beta, s0, s1):
    for s in range(s0, s1):
        x = X[s]
        gone = False
        for b in range(dof.shape[0]):
            ix, iy, jx, jy = dof[b, 0], dof[b, 1], dof[b, 2], dof[b, 3]
            dx = d0[b, 0] + (x[jx] if jx >= 0 else 0.0) - (x[ix] if ix >= 0 else 0.0)
            dy = d0[b, 1] + (x[jy] if jy >= 0 else 0.0) - (x[iy] if iy >= 0 else 0.0)
            length = math.sqrt(dx * dx + dy * dy)
            lengths[s, b] = length
            stretch[s, b] = length - rest[b]
            tension[s, b] = k[b] * stretch[s, b]
            if not length >= min_length[b]:
                gone = True
            nx, ny = dx / length, dy / length
            directions[s, b, 0] = nx
            directions[s, b, 1] = ny
            if take[s]:
                lb = _lower_beta(n0[b, 0], n0[b, 1], nx, ny, k[b] - kL[b] / length, k[b])
                if lb < beta[b] or lb != lb:  # a NaN stays (later values do not compare below it)
                    beta[b] = lb
        collapsed[s] = gone


@_jit
def _betas(X, dof, d0, k, kL, n0, out, s0, s1):
    for s in range(s0, s1):
        x = X[s]
        for b in range(dof.shape[0]):
            ix, iy, jx, jy = dof[b, 0], dof[b, 1], dof[b, 2], dof[b, 3]
            dx = d0[b, 0] + (x[jx] if jx >= 0 else 0.0) - (x[ix] if ix >= 0 else 0.0)
            dy = d0[b, 1] + (x[jy] if jy >= 0 else 0.0) - (x[iy] if iy >= 0 else 0.0)
            length = math.sqrt(dx * dx + dy * dy)
            out[s, b] = _lower_beta(n0[b, 0], n0[b, 1], dx / length, dy / length, k[b] - kL[b] / length, k[b])


@_jit
def _elongations_along(directions, V, dof, out, s0, s1):
    for s in range(s0, s1):
        v = V[s]
        for b in range(dof.shape[0]):
            ix, iy, jx, jy = dof[b, 0], dof[b, 1], dof[b, 2], dof[b, 3]
            vx = (v[jx] if jx >= 0 else 0.0) - (v[ix] if ix >= 0 else 0.0)
            vy = (v[jy] if jy >= 0 else 0.0) - (v[iy] if iy >= 0 else 0.0)
            out[s, b] = directions[s, b, 0] * vx + directions[s, b, 1] * vy


@_jit
def _anderson_dots(Z, Zp, R, Rp, num, den, s0, s1):
    for s in range(s0, s1):
        z, zp, r, rp = Z[s], Zp[s], R[s], Rp[s]
        a = b = 0.0
        for i in range(z.size):
            dz = z[i] - zp[i]
            a += dz * r[i]
            b += dz * (r[i] - rp[i])
        num[s], den[s] = a, b


@_jit
def _anderson_update(X, dX, Z, Zp, gamma, s0, s1):
    for s in range(s0, s1):
        x, dx, z, zp, g = X[s], dX[s], Z[s], Zp[s], gamma[s]
        for i in range(x.size):
            step = z[i] - g * (dx[i] + z[i] - zp[i])
            dx[i] = step
            x[i] += step


@_jit
def _cg_update(V, R, P, Q, alpha, s0, s1):
    for s in range(s0, s1):
        a = alpha[s]
        if a == 0.0:
            continue
        v, r, p, q = V[s], R[s], P[s], Q[s]
        for i in range(v.size):
            v[i] += a * p[i]
            r[i] -= a * q[i]


@_jit
def _cg_direction(P, Z, beta, s0, s1):
    for s in range(s0, s1):
        p, z, b = P[s], Z[s], beta[s]
        for i in range(p.size):
            p[i] = z[i] + b * p[i]


@_jit
def _gather(A, index, out, s0, s1):
    for s in range(s0, s1):
        a, o = A[s], out[s]
        for i in range(index.size):
            o[i] = a[index[i]]


@_jit
def _scatter(X, index, out, s0, s1):
    for s in range(s0, s1):
        x, o = X[s], out[s]
        o[:] = 0.0
        for i in range(index.size):
            o[index[i]] = x[i]


# ------------------------------------------------------------------ running them
_POOL: list = []  # one thread pool for the process, made at first use
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="labmnn-bonds"))
        return _POOL[0]


def _ranges(S: int, threads: int) -> list[tuple[int, int]]:
    """``threads`` contiguous sample ranges covering 0..S (fewer when S is small)."""
    parts = max(1, min(threads, S))
    cuts = np.linspace(0, S, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def _run(kernel, ranges: list[tuple[int, int]], args: tuple, per_range=None) -> None:
    """``kernel(*args, [per_range(r)], s0, s1)`` over the sample ``ranges``, each on a thread of its own."""
    calls = [args + ((per_range(r),) if per_range else ()) + (a, b) for r, (a, b) in enumerate(ranges)]
    if len(calls) == 1:
        kernel(*calls[0])
        return
    for f in [_pool().submit(kernel, *c) for c in calls]:
        f.result()


class Kernels:
    """The compiled bond kernels bound to one network, stiffness and factor order.

    Parameters
    ----------
    dof : ndarray (m, 4) of int
        Row of each bond's (x_i, y_i, x_j, y_j) in the factor's order, -1 where fixed.
    d0 : ndarray (m, 2)
        Undeformed bond vectors x_j - x_i, m.
    k, rest : ndarray (m,)
        Bond stiffnesses (N/m) and rest lengths (m).
    n0 : ndarray (m, 2)
        Undeformed unit directions.
    min_length : ndarray (m,)
        Below this length a bond has collapsed, m.
    threads : int
        Threads to share the samples over.
    """

    def __init__(self, dof, d0, k, rest, n0, min_length, threads: int):
        self.dof = np.ascontiguousarray(dof, dtype=np.int64)
        self.d0 = np.ascontiguousarray(d0, dtype=float)
        self.k = np.ascontiguousarray(k, dtype=float)
        self.rest = np.ascontiguousarray(rest, dtype=float)
        self.kL = self.k * self.rest
        self.n0 = np.ascontiguousarray(n0, dtype=float)
        self.min_length = np.ascontiguousarray(min_length, dtype=float)
        self.threads = max(1, int(threads))
        self.m = self.dof.shape[0]

    def _each(self, kernel, S: int, args: tuple) -> None:
        """``kernel`` over samples 0..S, shared among ``threads`` threads."""
        _run(kernel, _ranges(S, self.threads), args)

    def internal(self, X: np.ndarray) -> np.ndarray:
        """Bond forces g(u) on the ordered DOFs of every row of X (S, n_free)."""
        X = np.ascontiguousarray(X)
        G = np.empty_like(X)
        self._each(_internal, X.shape[0], (X, self.dof, self.d0, self.k, self.kL, G))
        return G

    def gather(self, A: np.ndarray, index: np.ndarray) -> np.ndarray:
        """A[:, index] of a (S, N) array, row by row."""
        A = np.ascontiguousarray(A, dtype=float)
        out = np.empty((A.shape[0], index.size))
        self._each(_gather, A.shape[0], (A, index, out))
        return out

    def scatter(self, X: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
        """(S, size) rows, zero but at ``index``, where they hold X's rows."""
        X = np.ascontiguousarray(X, dtype=float)
        out = np.empty((X.shape[0], size))
        self._each(_scatter, X.shape[0], (X, index, out))
        return out

    def residual(self, X: np.ndarray, F: np.ndarray):
        """R = F - g(u) for every row (S, n_free), and each row's largest |R| (NaN where one is not finite)."""
        X, F = np.ascontiguousarray(X), np.ascontiguousarray(F)
        R, res = np.empty_like(X), np.empty(X.shape[0])
        self._each(_residual, X.shape[0], (X, F, self.dof, self.d0, self.k, self.kL, R, res))
        return R, res

    def tangent_product(self, X: np.ndarray, P: np.ndarray, active: np.ndarray, Q: np.ndarray) -> np.ndarray:
        """Q = K_t(u_s) p_s for every ``active`` row (the others zero), the tangent at X's rows; p_s . q_s (S,)."""
        pq = np.empty(X.shape[0])
        self._each(_tangent_product, X.shape[0],
                   (np.ascontiguousarray(X), np.ascontiguousarray(P), self.dof, self.d0, self.k, self.kL,
              np.ascontiguousarray(active, dtype=np.bool_), Q, pq))
        return pq

    def anderson_dots(self, Z, Zp, R, Rp):
        """(Z - Zp) . R and (Z - Zp) . (R - Rp) for every row."""
        num, den = np.empty(Z.shape[0]), np.empty(Z.shape[0])
        self._each(_anderson_dots, Z.shape[0], (Z, Zp, R, Rp, num, den))
        return num, den

    def anderson_update(self, X, dX, Z, Zp, gamma) -> None:
        """The step Z - gamma (dX + Z - Zp) of every row, into dX, and added to X."""
        self._each(_anderson_update, X.shape[0], (X, dX, Z, Zp, np.ascontiguousarray(gamma, dtype=float)))

    def cg_update(self, V, R, P, Q, alpha) -> None:
        """V += alpha P, R -= alpha Q, row by row (rows with alpha 0 untouched)."""
        self._each(_cg_update, V.shape[0], (V, R, P, Q, np.ascontiguousarray(alpha, dtype=float)))

    def cg_direction(self, P, Z, beta) -> None:
        """P = Z + beta P, row by row."""
        self._each(_cg_direction, P.shape[0], (P, Z, np.ascontiguousarray(beta, dtype=float)))

    def final(self, X: np.ndarray, take: np.ndarray):
        """Lengths, directions, stretches, tensions (S, m[, 2]), collapsed samples (S,) and the bound's beta (m,).

        ``beta`` is the smallest lower-bound beta of each bond over the samples
        ``take`` (boolean (S,)), NaN where one is NaN, +inf when none is taken.
        """
        X = np.ascontiguousarray(X)
        S, m = X.shape[0], self.m
        lengths, stretch, tension = np.empty((S, m)), np.empty((S, m)), np.empty((S, m))
        directions = np.empty((S, m, 2))
        collapsed = np.zeros(S, dtype=np.bool_)
        ranges = _ranges(S, self.threads)
        partial = np.full((len(ranges), m), np.inf)  # each range's own minimum: no two threads write one row
        _run(_final, ranges,  # the same ranges as partial's rows
             (X, self.dof, self.d0, self.k, self.kL, self.rest, self.min_length, self.n0,
              np.ascontiguousarray(take, dtype=np.bool_), lengths, directions, stretch, tension, collapsed),
             per_range=lambda r: partial[r])
        return lengths, directions, stretch, tension, collapsed, partial.min(axis=0)

    def betas(self, X: np.ndarray) -> np.ndarray:
        """Each row's own lower-bound beta, (S, m)."""
        X = np.ascontiguousarray(X)
        out = np.empty((X.shape[0], self.m))
        self._each(_betas, X.shape[0], (X, self.dof, self.d0, self.k, self.kL, self.n0, out))
        return out

    def elongations_along(self, directions: np.ndarray, V: np.ndarray) -> np.ndarray:
        """n_b(u_s) . (v_j - v_i) for every row of V (S, n_free), with the bonds' ``directions`` (S, m, 2)."""
        V = np.ascontiguousarray(V)
        out = np.empty((V.shape[0], self.m))
        self._each(_elongations_along, V.shape[0], (np.ascontiguousarray(directions), V, self.dof, out))
        return out

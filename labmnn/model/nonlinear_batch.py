"""Exact (large-rotation) statics of a batch of samples on the sparse path, sharing one factor.

The one-by-one path of :mod:`labmnn.model.nonlinear` factorises the tangent
stiffness at every Newton step of every sample.  Here every sample of a batch
is solved at once, and the only factor is the one the network holds already:
D = C^T K C at the current stiffness (:meth:`Network.equilibrium`).

Forward
    From the linear answer u = D^-1 F, the modified Newton step
    u <- u + D^-1 (F - g(u)) with Anderson acceleration of depth one (the
    last step and residual change, mixed per sample by least squares in the
    D^-1 norm of the residual).  Each iteration is one residual evaluation of
    all active samples (matrix-free, vectorised over bonds and samples) and
    one multi-column solve with D.  A sample leaves the batch once its residual
    force is within :meth:`NonlinearStatics.tolerance`; a sample that stalls,
    diverges, collapses a bond or runs out of iterations is handed back to the
    careful one-by-one path (load steps, line search, the same messages).

Stability
    A batch equilibrium is accepted only with a proof that each tangent is
    positive definite (:func:`certify`): per bond a 2x2 matrix
    M_b = (k_b / 2) n0 n0^T + beta_b (I - n0 n0^T) on the undeformed direction
    n0 is worked out with M_b <= A_sb (the bond's tangent block) for every
    sample s of a group; then sum_b B_b^T M_b B_b <= K_t(u_s) for all of them,
    and one Cholesky factorisation of that lower bound certifies the whole
    group.  A group that fails is halved; a single sample that fails gets the
    exact check (a factorisation of its own tangent), and if that fails too it
    goes to the one-by-one path, which finds a stable branch by load steps or
    refuses the load.

Adjoint
    K_t(u_s) v_s = f_s for all samples by conjugate gradients, one recurrence
    per sample, vectorised, preconditioned by the same D^-1 (one multi-column
    solve per iteration), to a relative residual of ``ADJOINT_TOLERANCE`` in the
    D^-1 norm.  When the right-hand sides live on a few DOFs (a loss with a few
    outputs) the first iterate D^-1 f_s comes from a solve of those unit
    columns.  A sample with negative curvature (p^T K_t p <= 0) or no
    convergence is solved by a factorisation of its tangent.

Vectors live in the factor's own order, one row per sample ((S, n_free),
C order, which is what the solver takes column-major).  The bond arithmetic
(forces, tangent products, the answer's fields and bound) runs in the compiled
loops of :mod:`labmnn.model.bond_kernels` where Numba is installed; otherwise
with NumPy on blocks of samples (``CHUNK_VALUES`` bond-sample values at a
time), so the working arrays stay small and are reused by the allocator.
"""

from __future__ import annotations

import os
import weakref

import numpy as np
import scipy.sparse as sp

from labmnn.model import bond_kernels

MAX_ITER = 30  # forward iterations before a sample goes to the one-by-one path
STALL = 0.6  # a sample whose residual shrinks by less than this over two iterations is handed back ...
STALL_AFTER = 6  # ... once it has had this many iterations
DIVERGE = 10.0  # ... or at once when its residual grows past this multiple of the first one
ADJOINT_TOLERANCE = 1e-11  # relative residual of the adjoint in the D^-1 norm (gradients to ~3e-11)
ADJOINT_MAX_ITER = 40
CHUNK_VALUES = 1_000_000  # bond-sample values per working block (8 MB arrays)
MARGIN = bond_kernels.MARGIN  # the lower bound's transverse stiffness is lowered by this fraction of k


class BondOperators:
    """Bond differences on the factor-ordered free DOFs, worked out once per geometry.

    Attributes
    ----------
    diff : csr_matrix (2 m, n_free)
        Rows 0..m-1: x component of u_j - u_i for each bond; rows m..2m-1: y.
    gather : csr_matrix (n_free, 2 m)
        ``diff`` transposed: sums per-bond force vectors (x rows, then y) into DOF forces.
    d0 : ndarray (2 m, 1)
        Undeformed bond vectors x_j - x_i (x components, then y), m.
    dofs : ndarray (n_free,)
        DOF number (2 node + axis) of each unknown, in the factor's order.
    ends : ndarray (m, 4)
        Row of each bond's (x_i, y_i, x_j, y_j) in the factor's order, -1 where fixed.
    vectors : ndarray (m, 2)
        Undeformed bond vectors x_j - x_i, m (``d0`` as rows).
    """

    def __init__(self, net):
        order = net.elimination_order()
        nf = order.size
        self.dofs = net.free_dofs[order]
        position = np.full(2 * net.n_nodes, -1, dtype=np.int64)
        position[self.dofs] = np.arange(nf)
        i, j = net.bonds[:, 0], net.bonds[:, 1]
        m = i.size
        rows, cols, vals = [], [], []
        for axis in (0, 1):
            for node, sign in ((i, -1.0), (j, 1.0)):
                p = position[2 * node + axis]
                keep = np.flatnonzero(p >= 0)
                rows.append(axis * m + keep)
                cols.append(p[keep])
                vals.append(np.full(keep.size, sign))
        self.diff = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                  shape=(2 * m, nf))
        self.gather = self.diff.T.tocsr()
        self.vectors = np.ascontiguousarray(net.nodes[j] - net.nodes[i], dtype=float)
        self.d0 = self.vectors.T.reshape(-1, 1)  # the same, x components then y, as a column
        self.m = m
        # for the compiled kernels: each bond's (x_i, y_i, x_j, y_j) rows, -1 where fixed
        self.ends = np.stack([position[2 * i], position[2 * i + 1], position[2 * j], position[2 * j + 1]], axis=1)


def operators(net) -> BondOperators:
    """The network's :class:`BondOperators` (kept with its tangent patterns: dropped with its geometry)."""
    patterns = net.__dict__.setdefault("_tangent_patterns", {})
    if "batch" not in patterns:
        patterns["batch"] = BondOperators(net)
    return patterns["batch"]


def _max_abs(A: np.ndarray) -> np.ndarray:
    """Largest |entry| of each row, without an |A| temporary (NaN where a row holds one)."""
    return np.maximum(A.max(axis=1), -A.min(axis=1))


def _chunks(S: int, m: int):
    """Slices of samples whose bond arrays hold about ``CHUNK_VALUES`` values each."""
    step = max(1, CHUNK_VALUES // max(m, 1))
    return [slice(s, min(s + step, S)) for s in range(0, S, step)]


class BatchStatics:
    """The batched sparse path of one :class:`NonlinearStatics` (one network, one stiffness)."""

    def __init__(self, statics):
        if statics.dense:
            raise ValueError("the batched path is the sparse path's: this network is solved densely")
        # a proxy, not a reference: the statics hold this object, and a cycle would keep both (with the
        # linear factor, ~20 MB at 10^5 nodes) alive until the cyclic collector ran; a training step
        # would then factorise its new D beside the old one's live handle, analysing the pattern again
        self.statics = weakref.proxy(statics)
        self.net = statics.net
        self.ops = operators(self.net)
        self.eq = self.net.equilibrium(statics.k)
        k = statics.k[:, None]
        self.k = k
        self.kL = k * self.net.lengths[:, None]
        self.min_length = 1e-3 * self.net.lengths[:, None]  # MIN_STRETCH of each bond's length
        self.kernels = self._kernels() if bond_kernels.available() else None  # else the NumPy path below
        self.solves = 0  # multi-column solves made (benchmarks print them)
        self.factorisations = 0  # numeric factorisations made (stability checks)
        self.careful = 0  # samples handed to the one-by-one (factorised) path
        self.collapsed = np.zeros(0, dtype=bool)  # samples of the last :meth:`final` with a collapsed bond

    def _kernels(self) -> bond_kernels.Kernels:
        """The compiled bond kernels, on as many threads as this step's factor was given (idle cores)."""
        threads = getattr(self.eq.factor.native, "threads", 1)
        return bond_kernels.Kernels(self.ops.ends, self.ops.vectors, self.statics.k, self.net.lengths,
                                    self.net.directions, self.min_length[:, 0], threads or (os.cpu_count() or 1))

    # ------------------------------------------------------------- pieces
    def to_ordered(self, A: np.ndarray) -> np.ndarray:
        """(S, n, 2) node arrays as (S, n_free) rows in the factor's order."""
        flat = A.reshape(A.shape[0], 2 * self.net.n_nodes)
        if self.kernels is not None:
            return self.kernels.gather(flat, self.ops.dofs)
        return np.take(flat, self.ops.dofs, axis=1)

    def to_nodes(self, X: np.ndarray) -> np.ndarray:
        """(S, n_free) ordered rows back to (S, n, 2) node arrays (zero on fixed DOFs)."""
        if self.kernels is not None:
            out = self.kernels.scatter(X, self.ops.dofs, 2 * self.net.n_nodes)
        else:
            out = np.zeros((X.shape[0], 2 * self.net.n_nodes))
            out[:, self.ops.dofs] = X
        return out.reshape(X.shape[0], self.net.n_nodes, 2)

    def precondition(self, R: np.ndarray, first: bool = False) -> np.ndarray:
        """D^-1 applied to every row of ``R`` (S, n_free): one multi-column solve."""
        self.solves += 1
        if first:  # the checked solve: a mechanism slipping through the factor is diagnosed
            return np.ascontiguousarray(self.eq._solve_ordered(R.T).T)
        return np.ascontiguousarray(self.eq.factor.solve(R.T).T)

    def _bonds(self, Xc: np.ndarray):
        """Deformed bond vectors (2 m, c) and lengths (m, c) of a block of ordered rows (c, n_free)."""
        d = self.ops.diff @ np.ascontiguousarray(Xc.T)
        d += self.ops.d0
        m = self.ops.m
        length = np.square(d[:m])
        length += np.square(d[m:])
        return d, np.sqrt(length, out=length)

    def internal(self, X: np.ndarray):
        """Bond forces g(u) on the ordered DOFs (S, n_free), and which samples are finite (S,).

        Collapsed bonds are looked for once, at the answer (:meth:`final`): on
        the way a collapse shows as a residual that grows or stalls.
        """
        if self.kernels is not None:
            G = self.kernels.internal(X)
            return G, np.isfinite(G.sum(axis=1))
        S, m = X.shape[0], self.ops.m
        G = np.empty_like(X)
        for sl in _chunks(S, m):
            d, length = self._bonds(X[sl])
            c = np.divide(self.kL, length, out=length)
            np.subtract(self.k, c, out=c)  # T / l = k (1 - L / l)
            d.reshape(2, m, -1)[...] *= c
            G[sl] = (self.ops.gather @ d).T
        return G, np.isfinite(G.sum(axis=1))

    def residual(self, X: np.ndarray, F: np.ndarray):
        """R = F - g(u) for every row of X (S, n_free); each row's largest |R| (NaN where a row holds one)
        and which rows are finite."""
        if self.kernels is not None:
            R, res = self.kernels.residual(X, F)
            return R, res, np.isfinite(res)
        R, ok = self.internal(X)
        np.subtract(F, R, out=R)
        return R, _max_abs(R), ok

    def tangent_product(self, state, P: np.ndarray, active: np.ndarray, Q: np.ndarray) -> np.ndarray:
        """Q = K_t(u_s) p_s for every row of P (S, n_free) at the equilibria of ``state`` (from :meth:`final`).

        Returns p_s . q_s (S,).  Rows of samples that are not ``active`` are
        zero (on the NumPy path: rows of blocks with no active sample; the
        NumPy path reads each bond's 2x2 tangent (xx, xy, yy) per block of
        samples from ``state.blocks``, the kernels work it out again from
        ``state.ordered``).
        """
        if self.kernels is not None:
            return self.kernels.tangent_product(state.ordered, P, active, Q)
        self._tangent_product(state, P, active, Q)
        return np.einsum("sn,sn->s", P, Q)

    def _tangent_product(self, state, P: np.ndarray, active: np.ndarray, Q: np.ndarray) -> None:
        m = self.ops.m
        for sl, xx, xy, yy in state.blocks:
            if not active[sl].any():
                Q[sl] = 0.0
                continue
            dv = self.ops.diff @ np.ascontiguousarray(P[sl].T)
            f = np.multiply(xx, dv[:m])
            tmp = np.multiply(xy, dv[m:])
            f += tmp
            np.multiply(yy, dv[m:], out=dv[m:])
            np.multiply(xy, dv[:m], out=tmp)
            dv[m:] += tmp
            dv[:m] = f
            Q[sl] = (self.ops.gather @ dv).T

    # ------------------------------------------------------------ forward
    def forward(self, F: np.ndarray, tol: np.ndarray):
        """Equilibria of all samples from the linear answer; (U (S, n_free), converged (S,)).

        ``F`` (S, n_free) ordered forces, ``tol`` (S,) largest residual force accepted, N.
        Modified Newton steps z = D^-1 r with Anderson acceleration of depth one:
        x <- x + z - gamma (dx + dz), gamma = (dz . r) / (dz . dr) minimising the
        D norm of z - gamma dz (dx, dz, dr: the last changes of x, z and r).
        """
        S = F.shape[0]
        U = self._first_iterate(F, first=True)  # the linear answer
        done = np.zeros(S, dtype=bool)
        failed = np.zeros(S, dtype=bool)
        act = np.arange(S)
        X, Fa, ta = U.copy(), F, tol
        R, res, ok = self.residual(X, Fa)
        first = res.copy()
        last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the last step, the previous z and r
        trail = [res]
        for it in range(MAX_ITER + 1):
            conv = ok & (res <= ta)
            bad = ~ok | ~np.isfinite(res) | (res > DIVERGE * first)
            if it >= STALL_AFTER:
                bad |= res > STALL * trail[-3]
            if it == MAX_ITER:
                bad |= ~conv
            U[act[conv]] = X[conv]
            done[act[conv]] = True
            failed[act[bad & ~conv]] = True
            keep = ~(conv | bad)
            if not keep.any():
                break
            if not keep.all():  # the batch shrinks: later solves carry only the active columns
                act, X, Fa, ta, R, first = act[keep], X[keep], Fa[keep], ta[keep], R[keep], first[keep]
                trail = [t[keep] for t in trail]
                if last is not None:
                    last = (last[0][keep], last[1][keep], last[2][keep])
            Z = self.precondition(R)  # the modified Newton step D^-1 r
            if last is None:
                step = Z.copy()
                X += step
            else:
                step = self._anderson_step(X, last, Z, R)
            last = (step, Z, R)
            R, res, ok = self.residual(X, Fa)
            trail.append(res)
        return U, done & ~failed

    def _anderson_step(self, X: np.ndarray, last: tuple, Z: np.ndarray, R: np.ndarray) -> np.ndarray:
        """Add the accelerated step z - gamma (dx + dz) to X; returns the step (in the last step's memory).

        ``last``: the last step dx, the previous z and r (their memory is reused).
        """
        dX, Zp, Rp = last
        if self.kernels is not None:
            num, den = self.kernels.anderson_dots(Z, Zp, R, Rp)
        else:
            dZ = np.subtract(Z, Zp, out=Zp)
            dR = np.subtract(R, Rp, out=Rp)
            num, den = np.einsum("sn,sn->s", dZ, R), np.einsum("sn,sn->s", dZ, dR)
        safe = np.where(den != 0, den, 1.0)
        gamma = np.where(np.isfinite(num / safe) & (den != 0), num / safe, 0.0)
        if self.kernels is not None:
            self.kernels.anderson_update(X, dX, Z, Zp, gamma)
            return dX
        step = np.add(dX, dZ, out=dX)
        step *= gamma[:, None]
        np.subtract(Z, step, out=step)
        X += step
        return step

    def final(self, X: np.ndarray, rows: np.ndarray | None = None):
        """Everything read at the equilibria X (S, n_free), in one pass over the bonds.

        Returns the :class:`~labmnn.model.nonlinear.BarState` (holding X and,
        per block of samples, each bond's 2x2 tangent (xx, xy, yy), for the
        adjoint) and, over the samples ``rows`` (default all), the smallest
        transverse stiffness beta of each bond's lower bound, (m,) (see
        :meth:`lower_beta`).
        """
        from labmnn.model.nonlinear import BarState

        S, m = X.shape[0], self.ops.m
        take = np.zeros(S, dtype=bool)
        take[np.arange(S) if rows is None else rows] = True
        if self.kernels is not None:
            lengths, directions, stretch, tension, self.collapsed, beta = self.kernels.final(X, take)
            return BarState(lengths, directions, stretch, tension, ordered=X), beta
        lengths = np.empty((S, m))
        directions = np.empty((S, m, 2))
        beta = np.full(m, np.inf)
        blocks = []
        self.collapsed = np.zeros(S, dtype=bool)  # a bond shorter than MIN_STRETCH of its length (or NaN)
        for sl in _chunks(S, m):
            d, length = self._bonds(X[sl])
            self.collapsed[sl] = ~(length >= self.min_length).all(axis=0)
            lengths[sl] = length.T
            d.reshape(2, m, -1)[...] /= length
            nx, ny = d[:m], d[m:]
            directions[sl, :, 0] = nx.T
            directions[sl, :, 1] = ny.T
            geo = self.k - self.kL / length  # T / l
            axial = self.k - geo  # the block is (T / l) I + (k - T / l) n n^T
            blocks.append((sl, geo + axial * nx * nx, axial * nx * ny, geo + axial * ny * ny))
            cols = np.flatnonzero(take[sl])
            if cols.size:
                beta = np.minimum(beta, self.lower_beta(nx[:, cols], ny[:, cols], geo[:, cols]).min(axis=1))
        stretch = lengths - self.net.lengths[None]
        state = BarState(lengths, directions, stretch, self.statics.k[None] * stretch, ordered=X, blocks=blocks)
        return state, beta

    def betas(self, X: np.ndarray) -> np.ndarray:
        """Each sample's own lower-bound beta (S, m), for groups whose common bound fails."""
        if self.kernels is not None:
            return self.kernels.betas(X)
        m = self.ops.m
        out = np.empty((X.shape[0], m))
        for sl in _chunks(X.shape[0], m):
            d, length = self._bonds(X[sl])
            d.reshape(2, m, -1)[...] /= length
            out[sl] = self.lower_beta(d[:m], d[m:], self.k - self.kL / length).T
        return out

    def elongations_along(self, state, V: np.ndarray) -> np.ndarray:
        """n_b(u_s) . (v_j - v_i) for ordered small displacements V (S, n_free); (S, m)."""
        if self.kernels is not None:
            return self.kernels.elongations_along(state.directions, V)
        S, m = V.shape[0], self.ops.m
        out = np.empty((S, m))
        for sl in _chunks(S, m):
            dv = self.ops.diff @ np.ascontiguousarray(V[sl].T)
            e = dv[:m] * state.directions[sl, :, 0].T
            e += dv[m:] * state.directions[sl, :, 1].T
            out[sl] = e.T
        return out

    # ---------------------------------------------------------- stability
    def lower_beta(self, nx: np.ndarray, ny: np.ndarray, geo: np.ndarray) -> np.ndarray:
        """The transverse stiffness beta of a 2x2 lower bound of each bond's tangent block, (m, c).

        With n0 the undeformed direction and theta the bond's rotation (c, s its
        cosine and sine), the block A = k n n^T + t (I - n n^T) (t = T / l)
        reads, on (n0, n0 perp), [[k c^2 + t s^2, a s c], [a s c, k s^2 + t c^2]]
        with a = k - t.  M = (k / 2) n0 n0^T + beta (I - n0 n0^T) <= A holds
        when a11 = k / 2 - a s^2 > 0 and beta <= a22 - a12^2 / a11 =
        t + a s^2 - a^2 s^2 c^2 / a11: that largest beta, less a margin
        (-inf where a11 <= 0).
        """
        n0 = self.net.directions
        k = self.k
        axial = k - geo
        s2 = n0[:, :1] * ny
        s2 -= n0[:, 1:] * nx
        np.square(s2, out=s2)  # sin^2 of the rotation
        t = axial * s2  # a s^2
        a11 = 0.5 * k - t
        beta = t * axial
        beta *= 1.0 - s2  # a^2 s^2 c^2
        with np.errstate(divide="ignore", invalid="ignore"):
            beta /= a11
            np.subtract(t, beta, out=beta)
        beta += geo
        beta -= MARGIN * k
        beta[~(a11 > 0)] = -np.inf
        return beta

    def lower_bound_factors(self, beta: np.ndarray) -> bool:
        """Whether sum_b B_b^T [(k / 2) n0 n0^T + beta_b (I - n0 n0^T)] B_b is positive definite."""
        if not np.all(np.isfinite(beta)):
            return False
        statics = self.statics
        n0 = self.net.directions
        nn = n0[:, :, None] * n0[:, None, :]
        block = 0.5 * statics.k[:, None, None] * nn + beta[:, None, None] * (np.eye(2) - nn)
        full = np.concatenate([np.concatenate([block, -block], axis=2),
                               np.concatenate([-block, block], axis=2)], axis=1)  # (m, 4, 4)
        fac = statics.factor(statics.pattern.assemble(full.reshape(1, -1, 16)))
        self.factorisations += 1
        return fac is not None

    def certify(self, X: np.ndarray, beta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Which of the samples ``rows`` (ordered displacements X[rows]) have a positive definite tangent.

        A group is certified by one factorisation of its common lower bound
        (``beta`` (m,): the whole group's, from :meth:`final`; see
        :meth:`lower_beta`); a group that is not is halved; a single sample
        that its bound does not certify gets the exact check, a factorisation
        of its own tangent.
        """
        stable = np.zeros(X.shape[0], dtype=bool)
        if rows.size == 0:
            return stable
        if self.lower_bound_factors(beta):
            stable[rows] = True
            return stable
        if rows.size == 1:
            stable[rows] = self.exact_check(X[rows])
            return stable
        beta = self.betas(X[rows])
        half = rows.size // 2
        groups = [np.arange(half), np.arange(half, rows.size)]
        while groups:
            g = groups.pop()
            if self.lower_bound_factors(beta[g].min(axis=0)):
                stable[rows[g]] = True
            elif g.size > 1:
                groups += [g[: g.size // 2], g[g.size // 2:]]
            else:
                stable[rows[g]] = self.exact_check(X[rows[g]])
        return stable

    def exact_check(self, X: np.ndarray) -> bool:
        """Whether the tangent of one sample (ordered displacements (1, n_free)) factorises (is PD)."""
        from labmnn.model.nonlinear import bar_state

        statics = self.statics
        state = bar_state(self.net, self.to_nodes(X), statics.k)
        self.factorisations += 1
        return statics.factor(statics.tangent(state)) is not None

    # ------------------------------------------------------------ adjoint
    def adjoint(self, state, Fadj: np.ndarray):
        """v solving K_t(u_s) v_s = f_s for every sample at ``state`` (from :meth:`final`).

        Returns (V (S, n_free), solved (S,)).  Preconditioned conjugate
        gradients, one recurrence per sample, all active samples'
        preconditioner applications in one solve; ``solved`` is False where a
        sample met negative curvature or did not converge.
        """
        S = Fadj.shape[0]
        active = np.ones(S, dtype=bool)
        V = self._first_iterate(Fadj)
        ref = np.abs(np.einsum("sn,sn->s", Fadj, V))  # f . D^-1 f: the D^-1 norm of f, squared
        Q = np.empty_like(V)
        self.tangent_product(state, V, active, Q)
        R = np.subtract(Fadj, Q)  # C order, as the compiled updates take it
        P = self.precondition(R)
        rz = np.einsum("sn,sn->s", R, P)
        solved = np.zeros(S, dtype=bool)
        tmp = np.empty_like(V)
        for _ in range(ADJOINT_MAX_ITER):
            conv = active & (np.abs(rz) <= ADJOINT_TOLERANCE ** 2 * ref)
            solved |= conv
            active &= ~conv
            if not active.any():
                break
            P[~active] = 0.0
            pq = self.tangent_product(state, P, active, Q)
            active &= pq > 0  # negative curvature (or a broken recurrence): left unsolved
            if not active.any():
                break
            alpha = np.where(active, rz / np.where(active, pq, 1.0), 0.0)
            if self.kernels is not None:
                self.kernels.cg_update(V, R, P, Q, alpha)
            else:
                V += np.multiply(P, alpha[:, None], out=tmp)
                R -= np.multiply(Q, alpha[:, None], out=tmp)
            act = np.flatnonzero(active)
            if act.size == S:
                Z = self.precondition(R)
            else:
                Z = tmp
                Z[...] = 0.0
                Z[act] = self.precondition(R[act])
            rz_new = np.einsum("sn,sn->s", R, Z)
            beta = np.where(active, rz_new / np.where(active, rz, 1.0), 0.0)
            if self.kernels is not None:
                self.kernels.cg_direction(P, Z, beta)
            else:
                P *= beta[:, None]
                P += Z
            rz = rz_new
        return V, solved

    def _first_iterate(self, F: np.ndarray, first: bool = False) -> np.ndarray:
        """D^-1 f_s for every row of F: through the unit columns of the DOFs loaded, when they are fewer."""
        S = F.shape[0]
        loaded = np.flatnonzero(np.any(F != 0, axis=0))
        if loaded.size + _pass_columns() >= S:
            return self.precondition(F, first)
        unit = np.zeros((loaded.size, F.shape[1]))
        unit[np.arange(loaded.size), loaded] = 1.0
        Zu = self.precondition(unit, first)  # (r, n_free): D^-1 of each loaded DOF's unit force
        return F[:, loaded] @ Zu


def _pass_columns() -> int:
    """A solve's fixed cost in right-hand-side columns (:data:`labmnn.model.network.SOLVE_PASS_COLUMNS`)."""
    from labmnn.model.network import SOLVE_PASS_COLUMNS

    return SOLVE_PASS_COLUMNS

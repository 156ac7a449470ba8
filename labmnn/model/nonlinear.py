"""Geometrically exact statics of a bar network, and its exact adjoint gradient.

The linear model of :mod:`labmnn.model.network` measures each bond's stretch
along its *undeformed* direction.  A printed network rotates its bars by
several degrees under the paper's own loads, so here each bond b is a spring
on its *current* length (large rotations, small strains):

    l_b = |x_j + u_j - x_i - u_i|,   T_b = k_b (l_b - L_b),

and the joints are in equilibrium when the bonds' pull balances the applied
forces, g(u) = C(u)^T T = F, with C(u) the compatibility matrix built from the
deformed directions n_b(u).  The tangent stiffness is

    K_t(u) = C(u)^T K C(u) + sum_b (T_b / l_b) B_b^T (I - n_b n_b^T) B_b,

the linear D = C^T K C at u = 0 plus the geometric (stress) stiffness.

Newton's method with a line search solves g(u) = F from the linear answer;
when it fails (a large load, a soft network) the load is applied in steps,
each started from the tangent predictor of the one before.  A load that no
stable equilibrium carries (buckling, snap-through) raises
:class:`NoEquilibrium`, naming the load; a tangent that is not positive
definite at the answer means an unstable equilibrium, and is refused too.

The gradient stays local, as the paper's linear one is: with v solving
K_t(u*) v = -dL/du at the equilibrium u*, and e_adj_b = n_b(u*) . (v_j - v_i)
the adjoint elongation along the *deformed* bar,

    dL/dk_b = e_adj_b (l_b - L_b).

The tangent has the same sparsity pattern at every u, so the sparse path
assembles it straight into one nested-dissection-ordered CSC pattern and keeps
one symbolic analysis for every Newton step, sample and training step.

Example
-------
>>> import labmnn
>>> net = labmnn.Network.example("paper-triangle-n4")
>>> F = np.zeros((net.n_nodes, 2)); F[12, 1] = -0.010 * 9.8
>>> round(float(net.solve(F).displacements[13, 1]) * 1e3, 3), round(float(solve(net, F).displacements[13, 1]) * 1e3, 3)
(-0.805, -0.784)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from labmnn.errors import LabmnnError
from labmnn.model import solver as linear_solver

if TYPE_CHECKING:
    from labmnn.model.nonlinear_batch import BatchStatics

TOLERANCE = 1e-12  # largest residual force, relative to the largest applied force ...
ROUND_OFF = 1e-13  # ... or to the force of this strain in the stiffest bond (lengths carry ~1e-16 relative error)
MAX_NEWTON = 40  # iterations per load step
SMALLEST_STEP = 1.0 / 4096  # load steps are halved at most down to this fraction of the load
MIN_STRETCH = 1e-3  # a bond shorter than this fraction of its rest length has collapsed
MAX_STRAIN = 0.25  # the bar model (linear springs, small strains) is not trusted past 25 % strain
BATCH_FROM = 2  # samples: from this many, the sparse path solves them together (labmnn.model.nonlinear_batch)
BATCH_ONE_FROM = 10_000  # unknowns: from here a single sample takes that path too (2-2.4x faster at 2e4-2e5)


class NoEquilibrium(LabmnnError):
    """No stable equilibrium carries the load: the network would buckle, snap through or collapse."""


@dataclass
class BarState:
    """The bonds at one configuration (arrays over samples S and bonds m).

    Attributes
    ----------
    lengths : ndarray (S, m)
        Current bond lengths, m.
    directions : ndarray (S, m, 2)
        Current unit vectors from node i to node j.
    stretch : ndarray (S, m)
        Geometric elongations l - L, m.
    tension : ndarray (S, m)
        Axial force k (l - L), N (positive in tension).
    ordered : ndarray (S, n_free) or None
        The displacements in the factor's order, when the batched sparse path
        made the state (its adjoint works on them).
    blocks : list or None
        The batched path's tangent blocks per bond (see
        :meth:`labmnn.model.nonlinear_batch.BatchStatics.final`).
    """

    lengths: np.ndarray
    directions: np.ndarray
    stretch: np.ndarray
    tension: np.ndarray
    ordered: np.ndarray | None = None
    blocks: list | None = None

    def sample(self, s: int) -> BarState:
        """The state of sample ``s`` alone (arrays keep a leading axis of 1)."""
        pick = slice(s, s + 1)
        return BarState(self.lengths[pick], self.directions[pick], self.stretch[pick], self.tension[pick])


class Pattern:
    """Where each bond's 4x4 tangent block lands in the free-DOF matrix, worked out once per geometry.

    Parameters
    ----------
    net : Network
    dense : bool
        Dense target (n_free x n_free, natural order) or a CSC matrix in the
        network's nested-dissection elimination order.
    """

    def __init__(self, net, dense: bool):
        self.dense = dense
        nf = net.free_dofs.size
        i, j = net.bonds[:, 0], net.bonds[:, 1]
        dofs = np.stack([2 * i, 2 * i + 1, 2 * j, 2 * j + 1], axis=1)  # (m, 4)
        free = net._dof_to_free[dofs]  # -1 on fixed DOFs
        if dense:
            self.order = np.arange(nf)
            pos = free
        else:
            self.order = net.elimination_order()  # free indices in elimination order
            position = np.full(nf, -1, dtype=np.int64)
            position[self.order] = np.arange(nf)
            pos = np.where(free >= 0, position[np.maximum(free, 0)], -1)
        rows = np.repeat(pos, 4, axis=1).reshape(-1)  # entry (a, b) of each 4x4 block, row-major
        cols = np.tile(pos, (1, 4)).reshape(-1)
        self.keep = np.flatnonzero((rows >= 0) & (cols >= 0))  # block entries between free DOFs
        rows, cols = rows[self.keep], cols[self.keep]
        self.n = nf
        if dense:
            self.slot = rows * nf + cols
            self.nnz = nf * nf
            return
        key = cols * nf + rows  # column-major: sorted keys give canonical CSC
        unique, self.slot = np.unique(key, return_inverse=True)
        self.nnz = unique.size
        self.indices = (unique % nf).astype(np.int32)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(unique // nf, minlength=nf))]).astype(np.int32)

    def assemble(self, blocks: np.ndarray):
        """The matrix (dense (S, nf, nf), or one CSC for S = 1) from (S, m, 16) block values."""
        vals = blocks.reshape(blocks.shape[0], -1)[:, self.keep]
        S = vals.shape[0]
        if self.dense:
            offsets = (np.arange(S) * self.nnz)[:, None]
            flat = np.bincount((self.slot[None, :] + offsets).ravel(), weights=vals.ravel(), minlength=S * self.nnz)
            return flat.reshape(S, self.n, self.n)
        data = np.bincount(self.slot, weights=vals[0], minlength=self.nnz)
        return sp.csc_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))


def bar_state(net, u: np.ndarray, stiffness: np.ndarray) -> BarState:
    """Bond lengths, directions and tensions at displacements ``u`` (S, n, 2).

    Raises
    ------
    NoEquilibrium
        If a bond has collapsed (shorter than ``MIN_STRETCH`` of its length), or the state is not finite.
    """
    i, j = net.bonds[:, 0], net.bonds[:, 1]
    d = (net.nodes[j] - net.nodes[i])[None] + u[:, j] - u[:, i]
    lengths = np.hypot(d[..., 0], d[..., 1])
    if not np.all(np.isfinite(lengths)):
        raise NoEquilibrium(f"{net.name}: the solution is not finite (NaN or overflow in the state)")
    short = lengths < MIN_STRETCH * net.lengths[None]
    if short.any():
        b = int(np.argwhere(short)[0, 1])
        raise NoEquilibrium(f"{net.name}: bond {b} (nodes {int(i[b])}-{int(j[b])}) collapsed to zero length")
    stretch = lengths - net.lengths[None]
    return BarState(lengths, d / lengths[..., None], stretch, stiffness[None] * stretch)


class NonlinearStatics:
    """Exact (large-rotation) equilibria of one network at one stiffness.

    Parameters
    ----------
    net : Network
    stiffness : ndarray (m,)
        Axial stiffness per bond, N/m.
    """

    def __init__(self, net, stiffness: np.ndarray):
        self.net = net
        self.k = np.asarray(stiffness, dtype=float)
        self.free = net.free_dofs
        self.dense = self.free.size < linear_solver.DENSE_BELOW and not os.environ.get("LABMNN_SOLVER")
        key = "dense" if self.dense else "sparse"
        patterns = net.__dict__.setdefault("_tangent_patterns", {})
        if key not in patterns:
            patterns[key] = Pattern(net, self.dense)
        self.pattern: Pattern = patterns[key]
        self.cache = net.__dict__.setdefault("_tangent_cache", {})  # symbolic analysis, one per pattern
        self.floor = ROUND_OFF * float(np.max(self.k * net.lengths, initial=0.0))  # newtons
        self.batch: BatchStatics | None = None  # the batched path's pieces, made once (see _batch_statics)

    def tolerance(self, F_free: np.ndarray) -> np.ndarray:
        """Largest residual force accepted as equilibrium, per sample (N)."""
        return np.maximum(TOLERANCE * np.abs(F_free).max(axis=-1), self.floor)

    # ------------------------------------------------------------ the pieces
    def _bond_forces_to_dofs(self, per_bond: np.ndarray) -> np.ndarray:
        """Sum (S, m, 2) vectors acting on node j (and minus them on node i) into (S, 2n) DOF forces."""
        net = self.net
        S, n2 = per_bond.shape[0], 2 * net.n_nodes
        i, j = net.bonds[:, 0], net.bonds[:, 1]
        dofs = np.concatenate([np.stack([2 * i, 2 * i + 1], 1), np.stack([2 * j, 2 * j + 1], 1)], axis=1)  # (m, 4)
        vals = np.concatenate([-per_bond, per_bond], axis=2)  # (S, m, 4)
        idx = (dofs[None] + (np.arange(S) * n2)[:, None, None]).ravel()
        return np.bincount(idx, weights=vals.ravel(), minlength=S * n2).reshape(S, n2)

    def residual(self, u: np.ndarray, F_free: np.ndarray, state: BarState) -> np.ndarray:
        """Unbalanced force F - g(u) on the free DOFs, (S, n_free)."""
        g = self._bond_forces_to_dofs(state.tension[..., None] * state.directions)
        return F_free - g[:, self.free]

    def energy(self, u: np.ndarray, F_free: np.ndarray, state: BarState) -> np.ndarray:
        """Potential energy 1/2 sum k (l - L)^2 - F . u per sample, J."""
        work = (F_free * u.reshape(u.shape[0], -1)[:, self.free]).sum(axis=1)
        return 0.5 * (self.k[None] * state.stretch ** 2).sum(axis=1) - work

    def tangent(self, state: BarState):
        """K_t at ``state``: dense (S, nf, nf), or a CSC matrix (S = 1) in the elimination order."""
        n = state.directions
        nn = n[..., :, None] * n[..., None, :]  # (S, m, 2, 2)
        geo = (state.tension / state.lengths)[..., None, None]
        block = self.k[None, :, None, None] * nn + geo * (np.eye(2) - nn)
        full = np.concatenate([np.concatenate([block, -block], axis=3),
                               np.concatenate([-block, block], axis=3)], axis=2)  # (S, m, 4, 4)
        return self.pattern.assemble(full.reshape(full.shape[0], full.shape[1], 16))

    def factor(self, K):
        """A solver for K_t (one sample), or None if K_t is not positive definite (unstable)."""
        try:
            if self.dense:
                with linear_solver.one_blas_thread(self.free.size):
                    return linear_solver.factorize(K, backend="dense")
            return linear_solver.factorize(K, cache=self.cache, ordered=True)
        except linear_solver.SingularMatrix:
            return None

    def solve_free(self, fac, rhs: np.ndarray) -> np.ndarray:
        """Apply a :meth:`factor` to (n_free,) right-hand sides given in natural free-DOF order."""
        if self.dense:
            with linear_solver.one_blas_thread(self.free.size):
                return fac.solve(rhs)
        order = self.pattern.order
        x = fac.solve(rhs[order])
        out = np.empty_like(x)
        out[order] = x
        return out

    # -------------------------------------------------------------- Newton
    def _newton(self, F_free: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, bool]:
        """Newton with a backtracking line search for one sample; returns (u, converged)."""
        tol = float(self.tolerance(F_free)[0])
        try:
            state = bar_state(self.net, u, self.k)
        except NoEquilibrium:
            return u, False
        r = self.residual(u, F_free, state)
        for _ in range(MAX_NEWTON):
            if np.abs(r).max() <= tol:
                return u, True
            fac = self.factor(self._tangent_one(state))
            if fac is None:
                return u, False
            du = self.solve_free(fac, r[0])
            del fac  # drop the factor before the next: its symbolic analysis is then reused
            slope = -float(r[0] @ du)  # dPi/dalpha at alpha = 0: negative for a descent direction
            if not np.isfinite(slope) or slope >= 0:
                return u, False
            accepted = self._line_search(u, du, F_free, state, r, slope)
            if accepted is None:
                return u, False
            u, state, r = accepted
        return u, bool(np.abs(r).max() <= tol)

    def _tangent_one(self, state: BarState):
        K = self.tangent(state)
        return K[0] if self.dense else K

    def _line_search(self, u, du, F_free, state, r, slope):
        """The first step u + a du, a = 1, 1/2, ..., that lowers the energy or the residual."""
        e0 = self.energy(u, F_free, state)[0]
        r0 = float(np.linalg.norm(r))
        alpha = 1.0
        while alpha >= 1.0 / 64:
            trial = u.copy()
            trial.reshape(1, -1)[0, self.free] += alpha * du
            try:
                st = bar_state(self.net, trial, self.k)
            except NoEquilibrium:
                alpha /= 2
                continue
            rt = self.residual(trial, F_free, st)
            if (np.linalg.norm(rt) <= (1 - 1e-4 * alpha) * r0
                    or self.energy(trial, F_free, st)[0] <= e0 + 1e-4 * alpha * slope):
                return trial, st, rt
            alpha /= 2
        return None

    def _predict(self, u: np.ndarray, dF_free: np.ndarray) -> np.ndarray | None:
        """Tangent predictor: u + K_t(u)^-1 dF (None when K_t is not positive definite)."""
        fac = self.factor(self._tangent_one(bar_state(self.net, u, self.k)))
        if fac is None:
            return None
        out = u.copy()
        out.reshape(1, -1)[0, self.free] += self.solve_free(fac, dF_free[0])
        return out

    def solve_one(self, F: np.ndarray) -> np.ndarray:
        """Equilibrium displacements (1, n, 2) under forces F (1, n, 2), in load steps when needed."""
        net = self.net
        F_free = F.reshape(1, -1)[:, self.free]
        u = np.zeros_like(F)
        done, step = 0.0, 1.0
        while done < 1.0:
            target = min(1.0, done + step)
            guess = self._predict(u, (target - done) * F_free)
            ok = False
            if guess is not None:
                trial, ok = self._newton(target * F_free, guess)
            if ok:
                u, done = trial, target
                step = min(2 * step, 1.0 - done) if done < 1 else step
                continue
            step /= 2
            if step < SMALLEST_STEP:
                raise NoEquilibrium(self._overload_message(F, done))
        if self.factor(self._tangent_one(bar_state(net, u, self.k))) is None:
            raise NoEquilibrium(self._overload_message(F, 1.0, unstable=True))
        return u

    def _overload_message(self, F: np.ndarray, reached: float, unstable: bool = False, why: str = "") -> str:
        mag = np.hypot(F[0, :, 0], F[0, :, 1])
        node = int(np.argmax(mag))
        what = why or ("its equilibrium there is unstable (it would buckle or snap through)" if unstable else
                       f"no equilibrium beyond {100 * reached:.0f} % of it (buckling, snap-through or collapse)")
        return (f"{self.net.name}: the load ({mag.sum():.4g} N in all; largest {mag[node]:.4g} N "
                f"= {mag[node] / 9.8e-3:.4g} g on node {node}) is beyond what the network carries with "
                f"large-rotation mechanics: {what}")

    # ------------------------------------------------------- public answers
    def solve(self, forces: np.ndarray) -> tuple[np.ndarray, BarState]:
        """Displacements (S, n, 2) and the bonds' state for forces (S, n, 2), newtons."""
        F = np.asarray(forces, dtype=float)
        if not np.all(np.isfinite(F)):
            raise NoEquilibrium(f"{self.net.name}: the forces hold NaN or infinite values")
        if self._batched(F.shape[0]):
            return self._solve_batch(F)
        U = self._batch_newton(F) if self.dense and F.shape[0] > 1 else np.zeros_like(F)
        todo = np.ones(F.shape[0], dtype=bool) if not (self.dense and F.shape[0] > 1) else \
            ~np.all(np.isfinite(U.reshape(F.shape[0], -1)), axis=1)
        for s in np.flatnonzero(todo):  # one by one, with load steps where Newton alone fails
            U[s] = self.solve_one(F[s:s + 1])[0]
        state = bar_state(self.net, U, self.k)
        if self.dense and F.shape[0] > 1:
            self._check_stable(state, F)
        self._check_strain(state, F)
        return U, state

    def _batched(self, S: int) -> bool:
        """Whether ``S`` samples take the batched sparse path (:mod:`labmnn.model.nonlinear_batch`)."""
        return not self.dense and (S >= BATCH_FROM or (S >= 1 and self.free.size >= BATCH_ONE_FROM))

    def _batch_statics(self) -> BatchStatics:
        """The batched path's pieces for this network and stiffness, made once: the forward solve,
        the adjoint and the elongations share them (and the linear factor they hold)."""
        if self.batch is None:
            from labmnn.model.nonlinear_batch import BatchStatics

            self.batch = BatchStatics(self)
        return self.batch

    def _solve_batch(self, F: np.ndarray) -> tuple[np.ndarray, BarState]:
        """All samples at once with the linear factor; those it cannot settle, one by one."""
        batch = self._batch_statics()
        F_ordered = batch.to_ordered(F)
        X, converged = batch.forward(F_ordered, self.tolerance(F_ordered))
        state, beta = batch.final(X, np.flatnonzero(converged))
        converged &= ~batch.collapsed
        stable = batch.certify(X, beta, np.flatnonzero(converged))
        del beta
        U = batch.to_nodes(X)
        careful = np.flatnonzero(~stable)
        batch.careful += careful.size
        for s in careful:  # load steps and line search, the same refusals as one by one
            U[s] = self.solve_one(F[s:s + 1])[0]
        if careful.size:
            X[careful] = batch.to_ordered(U[careful])
            state, _ = batch.final(X)
        self._check_strain(state, F)
        return U, state

    def _check_strain(self, state: BarState, F: np.ndarray) -> None:
        """Refuse answers whose strains are past what the small-strain bar model describes."""
        S, m = state.stretch.shape
        rows = max(1, 1_000_000 // max(m, 1))  # blocks of rows: no (S, m) temporaries on large batches
        largest = max((float((np.abs(state.stretch[r:r + rows]) / self.net.lengths[None]).max(initial=0.0))
                       for r in range(0, S, rows)), default=0.0)
        if largest > MAX_STRAIN:
            strain = np.abs(state.stretch) / self.net.lengths[None]
            s, b = np.unravel_index(int(np.argmax(strain)), strain.shape)
            raise NoEquilibrium(self._overload_message(
                F[s:s + 1], 1.0, why=f"bond {b} would be strained {100 * strain[s, b]:.0f} % (the model "
                                     f"holds to {100 * MAX_STRAIN:.0f} %)"))

    def _batch_newton(self, F: np.ndarray) -> np.ndarray:
        """Plain Newton for a batch on the dense path, all samples at once; NaN where it fails."""
        S = F.shape[0]
        F_free = F.reshape(S, -1)[:, self.free]
        tol = self.tolerance(F_free)
        U = self.net.solve(F, stiffness=self.k).displacements.copy()  # the linear answer: a close start
        flat = U.reshape(S, -1)
        active = np.ones(S, dtype=bool)
        for _ in range(MAX_NEWTON // 2):
            try:
                state = bar_state(self.net, U[active], self.k)
            except NoEquilibrium:
                break
            r = self.residual(U[active], F_free[active], state)
            still = np.abs(r).max(axis=1) > tol[active]
            idx = np.flatnonzero(active)
            active[idx[~still]] = False
            if not still.any():
                return U
            K = self.tangent(state)[still]
            with linear_solver.one_blas_thread(self.free.size):
                du = np.linalg.solve(K, r[still][..., None])[..., 0]
            rows = idx[still]
            flat[np.ix_(rows, self.free)] += du
        U[active] = np.nan  # left to the careful one-by-one path
        return U

    def _check_stable(self, state: BarState, F: np.ndarray) -> None:
        """Refuse equilibria whose tangent is not positive definite (dense batch path)."""
        K = self.tangent(state)
        try:
            with linear_solver.one_blas_thread(self.free.size):
                np.linalg.cholesky(K)
        except np.linalg.LinAlgError:
            for s in range(K.shape[0]):
                if self.factor(K[s]) is None:
                    raise NoEquilibrium(self._overload_message(F[s:s + 1], 1.0, unstable=True)) from None

    def adjoint(self, state: BarState, forces: np.ndarray) -> np.ndarray:
        """v solving K_t(u*) v = forces (S, n, 2) at the equilibrium ``state``; (S, n, 2)."""
        S = forces.shape[0]
        rhs = forces.reshape(S, -1)[:, self.free]
        V = np.zeros((S, 2 * self.net.n_nodes))
        if self.dense:
            with linear_solver.one_blas_thread(self.free.size):
                V[:, self.free] = np.linalg.solve(self.tangent(state), rhs[..., None])[..., 0]
            return V.reshape(forces.shape)
        todo = np.arange(S)
        if state.ordered is not None:  # the batched path's state: conjugate gradients for all samples
            batch = self._batch_statics()
            X, ok = batch.adjoint(state, batch.to_ordered(forces))
            V = batch.to_nodes(X).reshape(S, -1)
            todo = np.flatnonzero(~ok)
            batch.careful += todo.size
        for s in todo.tolist():  # a factorisation of each sample's tangent
            fac = self.factor(self.tangent(state.sample(s)))
            if fac is None:
                raise NoEquilibrium(f"{self.net.name}: the equilibrium is unstable (the tangent "
                                    "stiffness is not positive definite); no gradient exists there")
            V[s, self.free] = self.solve_free(fac, rhs[s])
            del fac
        return V.reshape(forces.shape)

    def elongations_along(self, state: BarState, v: np.ndarray) -> np.ndarray:
        """Elongations (S, m) of small displacements ``v`` (S, n, 2) along the deformed bars."""
        if state.ordered is not None:
            batch = self._batch_statics()
            return batch.elongations_along(state, batch.to_ordered(v))
        i, j = self.net.bonds[:, 0], self.net.bonds[:, 1]
        return np.einsum("smk,smk->sm", state.directions, v[:, j] - v[:, i])


def solve(net, forces: np.ndarray, stiffness: np.ndarray | None = None):
    """Exact (large-rotation) response to ``forces`` (n, 2) or (S, n, 2): a :class:`SolveResult`.

    ``displacements`` in the shape of ``forces`` (m) and ``elongations`` l - L
    (..., m) (m), the geometric length changes.
    """
    from labmnn.model.network import SolveResult

    F = np.asarray(forces, dtype=float)
    batch = F.ndim == 3
    k = net.stiffness if stiffness is None else np.asarray(stiffness, dtype=float)
    U, state = NonlinearStatics(net, k).solve(F if batch else F[None])
    e = state.stretch
    return SolveResult(U, e) if batch else SolveResult(U[0], e[0])


LINEAR_REGIME = 0.01  # the linear model is trusted while elongations differ by less than 1 % of the largest


def nonlinearity(net, forces: np.ndarray, stiffness: np.ndarray | None = None) -> float:
    """How far a load takes the network out of the linear regime.

    The largest difference between the geometric (exact) and the linear bond
    elongations, as a fraction of the largest linear elongation: 0 for a
    vanishing load, 0.03 for the paper network under 10 g.  Above
    :data:`LINEAR_REGIME` the two models disagree visibly.

    >>> import labmnn
    >>> net = labmnn.Network.example("paper-triangle-n4")
    >>> F = np.zeros((14, 2)); F[12, 1] = -0.010 * 9.8
    >>> round(nonlinearity(net, F), 3)
    0.03
    """
    lin = net.solve(forces, stiffness=stiffness).elongations
    geo = net.solve(forces, stiffness=stiffness, mechanics="nonlinear").elongations
    scale = float(np.abs(lin).max())
    return float(np.abs(geo - lin).max()) / scale if scale > 0 else 0.0


def regime_warning(value: float) -> str | None:
    """One line for the user when ``value`` (see :func:`nonlinearity`) is past :data:`LINEAR_REGIME`."""
    if value <= LINEAR_REGIME:
        return None
    return (f"warning: this load is outside the linear regime: geometric and linear elongations differ "
            f"by {100 * value:.1f} % of the largest elongation (threshold {100 * LINEAR_REGIME:.0f} %); "
            "the exact model is --mechanics nonlinear")

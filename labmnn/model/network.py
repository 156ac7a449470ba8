"""The bar-network model: geometry, stiffness, linear statics and exact gradients.

A network of n nodes and m bonds in the plane.  Bond b joins nodes i and j with
unit vector n_b and axial stiffness k_b = E w_b t / L_b.  Displacements u of the
free nodes under forces F solve D u = F with D = C^T K C, where C maps node
displacements to bond elongations, e_b = n_b . (u_j - u_i).

For a loss L(u) the exact gradient is obtained the in-situ way: apply the
adjoint force -dL/du to the same network, read its elongations e_adj, and
dL/dk = e_adj * e (element-wise).  In simulation both solves reuse one
factorisation of D, and a batch of samples is one multi-column solve.

Everything inside is SI (m, N, N/m, Pa); files hold millimetres.

Example
-------
>>> import labmnn
>>> net = labmnn.Network.example("paper-triangle-n4")
>>> F = np.zeros((net.n_nodes, 2)); F[12, 1] = -0.010 * 9.8
>>> res = net.solve(F)
>>> round(float(res.displacements[13, 1]) * 1e3, 3)   # mm
-0.805
"""

from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from labmnn.errors import InputError, ZeroModeError
from labmnn.model import solver as linear_solver
from labmnn.model.assembly import Layout
from labmnn.model.network_file import network_to_dict, parse_network_dict, read_json
from labmnn.resources import DATA

GRAVITY = 9.8  # m/s^2, as the paper uses
SOLVE_PASS_COLUMNS = 12  # a sparse solve's fixed cost (passes over the factor) in right-hand-side columns (measured)
RIGIDITY_CHECK_BELOW = 600  # unknowns: below, zero modes are counted by a dense eigen-decomposition up front
EXAMPLES_DIR = DATA / "networks"


@dataclass
class SolveResult:
    """Response of a network to forces.

    Attributes
    ----------
    displacements : ndarray, (..., n_nodes, 2)
        Node displacements, metres (zero on fixed nodes).
    elongations : ndarray, (..., n_bonds)
        Bond elongations of the linear model e = C u, metres.
    """

    displacements: np.ndarray
    elongations: np.ndarray


class Equilibrium:
    """One factorisation of a network's stiffness matrix, reusable for many solves."""

    def __init__(self, net: Network, stiffness: np.ndarray):
        self.net = net
        self.stiffness = stiffness
        self._order = None  # free-DOF indices in elimination order (sparse path)
        self._dofs: np.ndarray | None = None  # DOF numbers of the unknowns in the factor's order
        self._dense = net.free_dofs.size < linear_solver.DENSE_BELOW and not os.environ.get("LABMNN_SOLVER")
        try:
            with self._blas():
                if self._dense:
                    D = net.dense_reduced_stiffness_matrix(stiffness)  # small: dense is fastest
                else:
                    # The upper triangle, assembled directly in a nested-dissection order on a
                    # pattern fixed per geometry: the factorisation needs no ordering step of its
                    # own, and its symbolic analysis serves every later stiffness.
                    self._order = net.elimination_order()
                    D = linear_solver.upper_triangle(net.ordered_upper_stiffness(stiffness))
                self.factor = linear_solver.factorize(D, cache=net._solver_cache, ordered=self._order is not None)
        except linear_solver.SingularMatrix:
            net.check_rigid(force=True)
            raise  # pragma: no cover  (check_rigid raises first)
        native = self.factor.native
        if hasattr(native, "matrix"):  # for the residual check
            self._D = native.matrix()
        else:
            self._D = D if self._dense else linear_solver.UpperSymmetric(D)

    def _blas(self):
        """One BLAS thread for the small dense path (see :func:`linear_solver.one_blas_thread`)."""
        if self._dense:
            return linear_solver.one_blas_thread(self.net.free_dofs.size)
        return contextlib.nullcontext()

    def solve_free(self, f_free: np.ndarray) -> np.ndarray:
        """Solve on the free degrees of freedom; ``f_free`` is (n_free,) or (n_free, k).

        A mechanism can slip through a factorisation as a tiny positive pivot; it
        then shows as a non-finite solution or a large residual, and is diagnosed.
        """
        f = np.asarray(f_free, dtype=float)
        if self._order is not None:
            f = f[self._order]
        u = self._solve_ordered(f)
        if self._order is not None:
            out = np.empty_like(u)
            out[self._order] = u
            u = out
        return u

    def _solve_ordered(self, f: np.ndarray) -> np.ndarray:
        """Solve D x = f with f already in the factor's own order; checks for a slipped mechanism."""
        with self._blas():
            u = self.factor.solve(f)
            suspect = not np.all(np.isfinite(u))
            if not suspect and not self.net._rigid_checked:
                if u.ndim == 1:
                    suspect = self._residual_large(u, f)
                elif u.shape[1] <= 4:  # a few columns: each one as it stands (no copies at 10^6 nodes)
                    suspect = any(self._residual_large(u[:, j], f[:, j]) for j in range(u.shape[1]))
                else:
                    # One weighted sum of the columns carries any column's large residual
                    # (weights fixed, distinct and positive: no cancellation by accident).
                    w = 1.0 + np.arange(u.shape[1]) / (3.0 * u.shape[1])
                    suspect = self._residual_large(u @ w, f @ w)
        if suspect:
            self.net.check_rigid(force=True)
        return u

    def _residual_large(self, u: np.ndarray, f: np.ndarray) -> bool:
        """Whether D u - f is large against f (max-norms, from max and min: no temporaries, no BLAS)."""
        r = self._D @ u
        r -= f
        r_max = max(r.max(initial=0.0), -r.min(initial=0.0))
        del r
        return r_max > 1e-6 * max(f.max(initial=0.0), -f.min(initial=0.0), 1e-300)

    def _gather(self) -> np.ndarray:
        """DOF numbers of the factor's unknowns, in its order (free DOFs, elimination order if sparse)."""
        dofs = self._dofs
        if dofs is None:
            free = self.net.free_dofs
            dofs = self._dofs = free if self._order is None else free[self._order]
        return dofs

    def _elongations(self, u: np.ndarray) -> np.ndarray:
        """C u for displacements ``u`` (n_free, r) in the factor's order."""
        if self._order is not None:
            return self.net.ordered_layout().elongations(u)  # from the bonds: no C is kept
        return self.net.dense_free_compatibility() @ u

    def outputs_pay(self, forces: np.ndarray, loss) -> bool:
        """Whether :meth:`output_adjoint` is the cheaper way to the gradient of ``loss``.

        It needs a loss with a declared support (``support``, ``on_support``) and
        solves 2 r columns instead of 2 S; a sample's full field costs a little
        more than an output column besides (its elongations C u), so it is taken
        when r <= S, on the dense and the sparse path alike (measured at r = S:
        1.0-1.2x faster on both; see docs/physics.md).
        """
        support = getattr(loss, "support", None)
        if support is None or not callable(getattr(loss, "on_support", None)):
            return False
        S = 1 if np.ndim(forces) == 2 else np.shape(forces)[0]
        r = len(support[0])
        return r <= S

    def output_adjoint(self, forces: np.ndarray, loss) -> OutputAdjoint:
        """The batch gradient dL/dk through the loss's output components only (exact).

        With r output components (``loss.support``) the forward outputs of every
        sample are y_s = Z^T f_s, Z = D^-1 P (P: the r unit columns of the
        outputs; D is symmetric), and the batch-mean gradient

            g = mean_s (C D^-1 P a_s) * (C D^-1 f_s),   a_s = -dL/dy_s,
              = sum_i (C Z)_i * (C W)_i,                W = D^-1 (mean_s f_s a_s^T),

        so two solves of r columns each replace two of S columns, whatever S,
        and no sample's displacement field is formed.  The adjoint displacements
        are Z a_s, with no solve.  With few samples (S < r + SOLVE_PASS_COLUMNS)
        one solve of the r + S columns [P | F] is cheaper still: it gives Z and
        the displacements U, and W = U A^T / S needs no second solve.

        Parameters
        ----------
        forces : ndarray (n, 2) or (S, n, 2)
        loss : object with ``support`` and ``on_support`` (see :mod:`labmnn.model.losses`)
        """
        with self._blas():  # the small dense path keeps BLAS on one thread throughout
            net = self.net
            F = net._checked_forces(forces)
            batch = F.ndim == 3
            Fb = F.reshape(-1, 2 * net.n_nodes)  # (S, 2n)
            S = Fb.shape[0]
            dofs = self._gather()
            nodes, axes = loss.support
            support_dofs = 2 * np.asarray(nodes, dtype=np.int64) + np.asarray(axes, dtype=np.int64)
            position = np.full(2 * net.n_nodes, -1, dtype=np.int64)  # DOF -> row of the factor (-1: fixed)
            position[dofs] = np.arange(dofs.size)
            rows = position[support_dofs]
            r = rows.size
            del position
            free = np.flatnonzero(rows >= 0)  # a fixed output component never moves: its column stays zero
            if S - r < SOLVE_PASS_COLUMNS:  # few samples: one solve of [P | F] (one pass over the factor)
                rhs = np.zeros((dofs.size, r + S), order="F")
                rhs[rows[free], free] = 1.0  # P: the unit columns of the outputs
                np.take(Fb, dofs, axis=1, out=rhs[:, r:].T, mode="clip")  # the forces, gathered in place
                X = self._solve_ordered(rhs).reshape(dofs.size, r + S)
                del rhs
                Z, U = X[:, :r], X[:, r:]  # U: every sample's displacements
                Y = np.zeros((S, r))
                Y[:, free] = U[rows[free]].T  # the outputs (fixed ones stay zero)
            else:  # many samples: two solves of r columns
                U = None  # never formed
                P = np.zeros((dofs.size, r), order="F")
                P[rows[free], free] = 1.0
                Z = self._solve_ordered(P).reshape(dofs.size, r)
                del P
                Z_all = np.zeros((2 * net.n_nodes, r))  # Z on every DOF (zero rows where fixed: forces do nothing)
                Z_all[dofs] = Z
                with linear_solver.one_blas_thread(0):  # memory-bound products: no BLAS threads (busy machines)
                    Y = Fb @ Z_all  # (S, r): the outputs of every sample
            value, dL_dy = loss.on_support(Y if batch else Y[0])
            A = -np.asarray(dL_dy, dtype=float).reshape(S, r)
            with linear_solver.one_blas_thread(0):  # memory-bound products: no BLAS threads (busy machines)
                if U is not None:  # W = D^-1 mean_s f_s a_s^T without a second solve
                    W = U @ (A / S)
                else:  # W by a second solve of mean_s f_s a_s^T, in the factor's order
                    M = np.asfortranarray((Fb.T @ A)[dofs] / S)
            if U is None:
                W = self._solve_ordered(M).reshape(dofs.size, r)
            # g = sum over the outputs of (C Z)_i (C W)_i
            Z2, W2 = Z.reshape(-1, r), W.reshape(-1, r)
            if self._order is not None:  # from the bonds, in blocks: only g is bond-sized
                g = net.ordered_layout().elongation_products(Z2, W2)
            else:
                g = np.einsum("ij,ij->i", self._elongations(Z2), self._elongations(W2))
            del W, W2
            return OutputAdjoint(g, value, Z, A, dofs, support_dofs, U)

    def solve(self, forces: np.ndarray) -> SolveResult:
        """Displacements and elongations under ``forces`` (n, 2) or (S, n, 2), newtons."""
        net = self.net
        F = net._checked_forces(forces)
        Fb = F.reshape(-1, 2 * net.n_nodes)  # (S, 2n)
        dofs = self._gather()
        # One gather straight into the factor's order; take(...).T is column-major, as the
        # solvers want it, and the solution goes back with one scatter (no transposing copies).
        u = self._solve_ordered(np.take(Fb, dofs, axis=1).T).reshape(dofs.size, -1)  # (n_free, S)
        return _result_from_ordered(net, dofs, u.T, F.shape)


class Network:
    """A planar bar network as printed: geometry, widths, material and supports.

    Load one with :meth:`load` (a ``labmnn-network/1`` JSON file) or
    :meth:`example`; build lattices with :mod:`labmnn.model.lattice`.

    Attributes
    ----------
    nodes : ndarray (n, 2)
        Joint centres in metres, y up.
    bonds : ndarray (m, 2) of int
        Node pairs.
    width : ndarray (m,)
        In-plane bar widths, metres.
    thickness, youngs_modulus : float
        Out-of-plane thickness (m) and Young's modulus (Pa).
    width_bounds : ndarray (2,) or None
        Printable width range, metres.
    fixed_nodes : ndarray of int
        Nodes clamped to the frame.
    stiffness_override : ndarray (m,) or None
        Identified or spring stiffnesses (N/m) that replace the bar formula.
    """

    def __init__(self, nodes, bonds, width, thickness, youngs_modulus, fixed_nodes,
                 width_bounds=None, stiffness=None, name="network", description="", extra=None):
        self.name = name
        self.description = description
        self.nodes = np.asarray(nodes, dtype=float)
        self.bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        self.width = np.broadcast_to(np.asarray(width, dtype=float), (len(self.bonds),)).copy()
        self.thickness = float(thickness)
        self.youngs_modulus = float(youngs_modulus)
        self.fixed_nodes = np.unique(np.asarray(fixed_nodes, dtype=np.int64))
        self.width_bounds = None if width_bounds is None else np.asarray(width_bounds, dtype=float)
        self.stiffness_override = None if stiffness is None else np.asarray(stiffness, dtype=float)
        self.extra = dict(extra or {})
        self.source = name
        self._geometry()
        self._equilibrium: Equilibrium | None = None
        self._rigid_checked = False
        self._solver_cache: dict = {}

    # ------------------------------------------------------------------ files
    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Read a ``labmnn-network/1`` file; a bad file raises a one-line :class:`InputError`."""
        fields = parse_network_dict(read_json(path), str(path))
        net = cls(**{k: v for k, v in fields.items() if k != "stiffness"}, stiffness=fields["stiffness"])
        net.source = str(path)
        return net

    @classmethod
    def from_dict(cls, data: dict, source: str = "<network>") -> Network:
        """Build from a decoded ``labmnn-network/1`` object (checked as :meth:`load` does)."""
        fields = parse_network_dict(data, source)
        net = cls(**{k: v for k, v in fields.items() if k != "stiffness"}, stiffness=fields["stiffness"])
        net.source = source
        return net

    @classmethod
    def example(cls, name: str = "paper-triangle-n4") -> Network:
        """A network shipped with labmnn (``paper-triangle-n4``: the paper's 14-node network)."""
        path = EXAMPLES_DIR / f"{name}.json"
        if not path.exists():
            names = sorted(p.stem for p in EXAMPLES_DIR.glob("*.json"))
            raise InputError(name, "", f"no such example network; shipped: {', '.join(names)}")
        return cls.load(path)

    @classmethod
    def open(cls, spec: str | Path) -> Network:
        """Load a file path, or a shipped example by name (``paper-triangle-n4``)."""
        p = Path(spec)
        if p.exists() or p.suffix == ".json":
            return cls.load(p)
        return cls.example(str(spec))

    def to_dict(self) -> dict:
        """The ``labmnn-network/1`` object (millimetres)."""
        return network_to_dict(self)

    def save(self, path: str | Path) -> None:
        """Write the network as ``labmnn-network/1`` JSON (atomically)."""
        from labmnn.text_files import write_json_atomic

        path = Path(path)
        try:
            write_json_atomic(path, self.to_dict(), fsync=False)
        except OSError as exc:
            raise InputError(str(path), "", f"cannot write the network here ({exc.strerror or exc})") from None

    def copy(self) -> Network:
        """An independent copy (arrays copied, caches dropped)."""
        new = copy.copy(self)
        for attr in ("nodes", "bonds", "width", "fixed_nodes"):
            setattr(new, attr, getattr(self, attr).copy())
        if self.stiffness_override is not None:
            new.stiffness_override = self.stiffness_override.copy()
        new.extra = copy.deepcopy(self.extra)
        new._geometry()
        new._equilibrium = None
        new._solver_cache = {}
        for cache in ("_tangent_patterns", "_tangent_cache"):  # the exact model's, per topology
            new.__dict__.pop(cache, None)
        return new

    # --------------------------------------------------------------- geometry
    def _geometry(self) -> None:
        d = self.nodes[self.bonds[:, 1]] - self.nodes[self.bonds[:, 0]]
        self.lengths = np.hypot(d[:, 0], d[:, 1])
        self.directions = d / self.lengths[:, None]
        n = self.n_nodes
        self._compatibility: sp.csr_matrix | None = None  # C, made when first asked for
        fixed = np.zeros(2 * n, dtype=bool)
        fixed[2 * self.fixed_nodes] = True
        fixed[2 * self.fixed_nodes + 1] = True
        self.free_dofs = np.flatnonzero(~fixed)
        self._dof_to_free = np.full(2 * n, -1, dtype=np.int64)
        self._dof_to_free[self.free_dofs] = np.arange(self.free_dofs.size)
        # Caches for the current geometry, filled on first use.
        self._free_compat: sp.csr_matrix | None = None
        self._free_compat_dense: np.ndarray | None = None
        self._order: np.ndarray | None = None
        self._layout: Layout | None = None  # D's upper triangle in elimination order (labmnn.model.assembly)
        # the exact model's tangent patterns (labmnn.model.nonlinear) belong to a geometry too
        self.__dict__.pop("_tangent_patterns", None)
        self.__dict__.pop("_tangent_cache", None)

    @property
    def compatibility_matrix(self) -> sp.csr_matrix:
        """C (n_bonds, 2 n_nodes): bond elongations e = C u of the node displacements u.

        Made when first asked for (the ordered assembly and the sparse gradient
        work from the bonds and never need it: at 10^6 nodes it would be 150 MB
        beside the factor).
        """
        if self._compatibility is None:
            n, m = self.n_nodes, self.n_bonds
            i, j = self.bonds[:, 0], self.bonds[:, 1]
            rows = np.repeat(np.arange(m), 4)
            cols = np.stack([2 * i, 2 * i + 1, 2 * j, 2 * j + 1], axis=1).ravel()
            vals = np.concatenate([-self.directions, self.directions], axis=1).ravel()
            self._compatibility = sp.csr_matrix((vals, (rows, cols)), shape=(m, 2 * n))
        return self._compatibility

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_bonds(self) -> int:
        return len(self.bonds)

    @property
    def stiffness(self) -> np.ndarray:
        """Axial stiffness per bond, N/m: the override if given, else E w t / L."""
        if self.stiffness_override is not None:
            return self.stiffness_override
        return self.youngs_modulus * self.width * self.thickness / self.lengths

    def set_widths(self, width: np.ndarray) -> None:
        """Change the bar widths (metres); an override stiffness scales in proportion."""
        width = np.asarray(width, dtype=float)
        if self.stiffness_override is not None:
            self.stiffness_override = self.stiffness_override * (width / self.width)
        self.width = width.copy()
        self._equilibrium = None

    def without_bonds(self, bonds) -> Network:
        """A copy with the given bond indices removed (damage / pruning)."""
        drop = np.atleast_1d(np.asarray(bonds, dtype=np.int64))
        bad = drop[(drop < 0) | (drop >= self.n_bonds)]
        if bad.size:
            raise InputError(self.source, "bond", f"{int(bad[0])} is out of range (0..{self.n_bonds - 1})")
        keep = np.ones(self.n_bonds, dtype=bool)
        keep[drop] = False
        new = self.copy()
        new.bonds = self.bonds[keep].copy()
        new.width = self.width[keep].copy()
        if self.stiffness_override is not None:
            new.stiffness_override = self.stiffness_override[keep].copy()
        new._geometry()
        new._rigid_checked = False
        new._solver_cache = {}
        return new

    # -------------------------------------------------------------- mechanics
    def _stiffness_or(self, stiffness: np.ndarray | None) -> np.ndarray:
        """``stiffness`` as a float array, or the network's own when it is None."""
        return self.stiffness if stiffness is None else np.asarray(stiffness, dtype=float)

    def reduced_stiffness_matrix(self, stiffness: np.ndarray | None = None) -> sp.csc_matrix:
        """D = C^T K C restricted to the free degrees of freedom (sparse, SPD if rigid)."""
        k = self._stiffness_or(stiffness)
        if self._free_compat is None:
            self._free_compat = self.compatibility_matrix[:, self.free_dofs].tocsr()
        Cf = self._free_compat
        D = (Cf.T @ sp.diags(k) @ Cf).tocsc()
        D.sort_indices()
        return D

    def elimination_order(self) -> np.ndarray:
        """Free-DOF indices in a fill-reducing elimination order (geometric nested dissection).

        Computed once per geometry (see :mod:`labmnn.model.ordering`).
        """
        if self._order is None:
            from labmnn.model import threads
            from labmnn.model.ordering import dof_order, nested_dissection

            if self.free_dofs.size >= linear_solver.PARALLEL_ABOVE:
                threads.open_window()  # the factorisation's thread choice measures the load over the ordering
            self._order = dof_order(nested_dissection(self.nodes, self.bonds), self._dof_to_free)
        return self._order

    def ordered_layout(self) -> Layout:
        """Where each bond's stiffness goes in D's upper triangle in elimination order (once per geometry)."""
        if self._layout is None:
            position = np.full(2 * self.n_nodes, -1, dtype=np.int64)
            position[self.free_dofs[self.elimination_order()]] = np.arange(self.free_dofs.size)
            # the build's temporaries (24 MB each at 10^6 nodes) come from the C heap and are reused
            # there, not mapped fresh one after another (fewer first touches of fresh pages: 0.92 s
            # against 1.06 s at 10^6 nodes on this VM, medians); the heap is given back at the end
            with linear_solver.retained_heap():
                self._layout = Layout(self.bonds, self.directions, position)
        return self._layout

    def ordered_upper_stiffness(self, stiffness: np.ndarray | None = None) -> sp.csr_matrix:
        """The upper triangle of D in :meth:`elimination_order` (CSR, sorted).

        Its pattern is the structural one, fixed per geometry (the index arrays
        share one memory for every stiffness): entries that cancel for some
        stiffness stay as explicit zeros, so one symbolic analysis serves all.
        """
        first = self._layout is None
        U = self.ordered_layout().upper(self._stiffness_or(stiffness))
        if first:
            # The layout's build leaves ~420 MB of freed temporaries in the C heap at 10^6 nodes:
            # given back once, before the first factor is made (later assemblies reuse the heap
            # as it is: giving it back every time would make them fault fresh pages, 2-3x slower).
            linear_solver.release_free_memory()
        return U

    def ordered_stiffness_matrix(self, stiffness: np.ndarray | None = None) -> sp.csc_matrix:
        """D with rows and columns in :meth:`elimination_order` (canonical CSC, the structural pattern)."""
        return self.ordered_layout().full(self._stiffness_or(stiffness))

    def dense_reduced_stiffness_matrix(self, stiffness: np.ndarray | None = None) -> np.ndarray:
        """D on the free degrees of freedom as a dense array (for small networks)."""
        k = self._stiffness_or(stiffness)
        Cf = self.dense_free_compatibility()
        return Cf.T @ (k[:, None] * Cf)

    def dense_free_compatibility(self) -> np.ndarray:
        """C on the free degrees of freedom as a dense array (n_bonds, n_free), made once (small networks)."""
        if self._free_compat_dense is None:
            self._free_compat_dense = self.compatibility_matrix[:, self.free_dofs].toarray()
        return self._free_compat_dense

    def zero_modes(self) -> tuple[int, np.ndarray]:
        """Count the zero modes under the fixed nodes and list the nodes they move.

        Returns
        -------
        n_modes : int
        nodes : ndarray of int
            Nodes with a visible displacement in some zero mode.
        """
        import scipy.linalg

        nf = self.free_dofs.size
        # Rigidity is a property of geometry and topology: use unit stiffness.
        Cf = self.compatibility_matrix[:, self.free_dofs]
        if nf <= 3000:
            s, V = scipy.linalg.eigh((Cf.T @ Cf).toarray())
            tol = max(s.max(), 1.0) * 1e-10
            null = V[:, s < tol]
        else:
            import scipy.sparse.linalg as spla

            D = (Cf.T @ Cf).tocsc()
            k = min(30, nf - 2)
            s, V = spla.eigsh(D, k=k, sigma=-1e-6, which="LM")
            null = V[:, s < 1e-9]
        if null.shape[1] == 0:
            return 0, np.array([], dtype=np.int64)
        amp = np.zeros(2 * self.n_nodes)
        amp[self.free_dofs] = np.abs(null).max(axis=1)
        node_amp = amp.reshape(-1, 2).max(axis=1)
        nodes = np.flatnonzero(node_amp > 1e-6 * node_amp.max())
        return null.shape[1], nodes

    def check_rigid(self, force: bool = False) -> None:
        """Raise :class:`ZeroModeError` if the network has zero modes (checked once)."""
        if self._rigid_checked and not force:
            return
        n, nodes = self.zero_modes()
        if n:
            raise ZeroModeError(n, nodes, self.source)
        self._rigid_checked = True

    def equilibrium(self, stiffness: np.ndarray | None = None) -> Equilibrium:
        """The (cached) factorisation of D for the current or the given stiffness."""
        k = self._stiffness_or(stiffness)
        eq = self._equilibrium
        if eq is not None and eq.stiffness.shape == k.shape and np.array_equal(eq.stiffness, k):
            return eq
        if not self._rigid_checked and self.free_dofs.size <= RIGIDITY_CHECK_BELOW:
            with linear_solver.one_blas_thread(self.free_dofs.size):
                self.check_rigid()
        eq = Equilibrium(self, k.copy())
        if stiffness is None:
            self._equilibrium = eq
        return eq

    def solve(self, forces: np.ndarray, stiffness: np.ndarray | None = None,
              mechanics: str = "linear") -> SolveResult:
        """Static response to ``forces`` of shape (n_nodes, 2) or (S, n_nodes, 2), newtons.

        Parameters
        ----------
        mechanics : {"linear", "nonlinear"}
            The linear bar model, or bars that carry T = k (l - L) along their
            current direction (large rotations, small strains; see
            :mod:`labmnn.model.nonlinear`).

        Returns
        -------
        SolveResult
            ``displacements`` in the shape of ``forces`` (m) and ``elongations``
            (..., n_bonds) (m): C u for the linear model, the geometric length
            changes l - L for the nonlinear one.
        """
        if check_mechanics(mechanics) == "linear":
            return self.equilibrium(stiffness).solve(forces)
        self.equilibrium(stiffness)  # rigidity checked (and the linear factor kept for the first guess)
        from labmnn.model import nonlinear

        return nonlinear.solve(self, self._checked_forces(forces), stiffness)

    def _checked_forces(self, forces: np.ndarray) -> np.ndarray:
        """``forces`` as a float array of shape (n_nodes, 2) or (S, n_nodes, 2), else a ValueError."""
        F = np.asarray(forces, dtype=float)
        if F.shape[-2:] != (self.n_nodes, 2) or F.ndim not in (2, 3):
            raise ValueError(f"forces must have shape ({self.n_nodes}, 2) or (S, {self.n_nodes}, 2), got {F.shape}")
        return F

    def gradient(self, forces: np.ndarray, loss, wrt: str = "stiffness",
                 stiffness: np.ndarray | None = None, return_details: bool = False,
                 mechanics: str = "linear"):
        """Exact dL/dk (or dL/dw) by the adjoint method, averaged over a batch.

        Parameters
        ----------
        forces : ndarray (n, 2) or (S, n, 2)
            Input forces, newtons.
        loss : callable
            ``value, dL_du = loss(u)`` (see :mod:`labmnn.model.losses`).
        wrt : {"stiffness", "width"}
            dL/dk in (loss units) per N/m, or dL/dw per metre of width.
        mechanics : {"linear", "nonlinear"}
            ``"nonlinear"``: the adjoint of the tangent stiffness at the exact
            equilibrium, dL/dk_b = e_adj_b (l_b - L_b) with e_adj_b measured
            along the deformed bar (:mod:`labmnn.model.nonlinear`).

        Returns
        -------
        ndarray (n_bonds,), or a :class:`GradientResult` with ``return_details``.
        """
        if wrt not in ("stiffness", "width"):
            raise ValueError(f"wrt must be 'stiffness' or 'width', not {wrt!r}")
        if check_mechanics(mechanics) == "linear":
            eq = self.equilibrium(stiffness)
            k = eq.stiffness
            if eq.outputs_pay(forces, loss):
                out = eq.output_adjoint(forces, loss)
                g = out.gradient * (k / self.width) if wrt == "width" else out.gradient
                if return_details:
                    return GradientResult(g, np.mean(out.value), _fields=_OutputFields(self, k, forces, out))
                return g
            fwd = eq.solve(forces)
            value, dL_du = loss(fwd.displacements)
            adj = eq.solve(-np.asarray(dL_du))
        else:
            fwd, value, dL_du, adj, k = self._nonlinear_adjoint(forces, loss, stiffness)
        per_sample = adj.elongations * fwd.elongations
        g = per_sample.mean(axis=0) if per_sample.ndim == 2 else per_sample
        if wrt == "width":
            g = g * (k / self.width)
        if return_details:
            return GradientResult(g, np.mean(value), fwd, adj, -np.asarray(dL_du))
        return g

    def _nonlinear_adjoint(self, forces, loss, stiffness):
        """Forward equilibrium, loss and adjoint of the exact model (see :meth:`gradient`)."""
        from labmnn.model.nonlinear import NonlinearStatics

        k = self.equilibrium(stiffness).stiffness
        F = self._checked_forces(forces)
        batch = F.ndim == 3
        statics = NonlinearStatics(self, k)
        U, state = statics.solve(F if batch else F[None])
        value, dL_du = loss(U if batch else U[0])
        adj_forces = -np.asarray(dL_du, dtype=float)
        V = statics.adjoint(state, adj_forces if batch else adj_forces[None])
        e_adj = statics.elongations_along(state, V)
        if batch:
            return SolveResult(U, state.stretch), value, dL_du, SolveResult(V, e_adj), k
        return SolveResult(U[0], state.stretch[0]), value, dL_du, SolveResult(V[0], e_adj[0]), k


MECHANICS = ("linear", "nonlinear")


def check_mechanics(mechanics: str) -> str:
    """``mechanics`` if it is one labmnn knows, else a one-line :class:`InputError`."""
    if mechanics not in MECHANICS:
        raise InputError("mechanics", "", f"must be \"linear\" or \"nonlinear\", found {mechanics!r}")
    return mechanics


@dataclass
class OutputAdjoint:
    """What :meth:`Equilibrium.output_adjoint` works out.

    Attributes
    ----------
    gradient : ndarray (n_bonds,)
        Batch-mean dL/dk.
    value : float or ndarray (S,)
        The loss per sample.
    Z : ndarray (n_free, r)
        D^-1 of the output components' unit columns, in the factor's order.
    A : ndarray (S, r)
        -dL/dy per sample: the adjoint forces on the output components.
    dofs : ndarray (n_free,)
        DOF numbers of the factor's rows.
    support_dofs : ndarray (r,)
        DOF numbers of the output components.
    U : ndarray (n_free, S) or None
        Every sample's displacements in the factor's order, when the one-solve
        way formed them (few samples), else None.
    """

    gradient: np.ndarray
    value: float | np.ndarray
    Z: np.ndarray
    A: np.ndarray
    dofs: np.ndarray
    support_dofs: np.ndarray
    U: np.ndarray | None = None


class _OutputFields:
    """The full forward and adjoint fields of an output-space gradient, made when first asked for.

    The adjoint displacements are Z a_s (no solve); the forward ones were
    formed already when the gradient took one solve of [P | F], else they take
    one solve of all samples on the factor of the stiffness the gradient used.
    Holds the stiffness, not the factor, so a kept result never pins a factor.
    """

    def __init__(self, net: Network, stiffness: np.ndarray, forces: np.ndarray, out: OutputAdjoint):
        self.net, self.stiffness, self.forces, self.out = net, stiffness, forces, out
        self.shape = np.shape(forces)

    def forward(self) -> SolveResult:
        if self.out.U is None:
            return self.net.equilibrium(self.stiffness).solve(self.forces)
        return _result_from_ordered(self.net, self.out.dofs, self.out.U.T, self.shape)

    def adjoint(self) -> SolveResult:
        return _result_from_ordered(self.net, self.out.dofs, self.out.A @ self.out.Z.T, self.shape)

    def adjoint_forces(self) -> np.ndarray:
        out = self.out
        f = np.zeros((out.A.shape[0], 2 * self.net.n_nodes))
        f[:, out.support_dofs] = out.A
        return f.reshape(self.shape)


def _result_from_ordered(net: Network, dofs: np.ndarray, u: np.ndarray, shape: tuple) -> SolveResult:
    """Displacements and elongations C u, in the shape of forces ``shape``, from the free
    displacements ``u`` (S, n_free) in the factor's order (``dofs``: their DOF numbers)."""
    U = np.zeros((u.shape[0], 2 * net.n_nodes))
    U[:, dofs] = u
    E = (net.compatibility_matrix @ U.T).T  # (S, m)
    if len(shape) == 2:
        return SolveResult(U.reshape(net.n_nodes, 2), E[0])
    return SolveResult(U.reshape(shape), E)


class GradientResult:
    """Everything the adjoint gradient was built from.

    Attributes
    ----------
    gradient : ndarray (n_bonds,)
    loss : float
        The batch-mean loss.
    forward, adjoint : SolveResult
        The forward and adjoint responses (an output-space gradient makes them
        when first read).
    adjoint_forces : ndarray
        -dL/du, in the shape of the forces.
    """

    def __init__(self, gradient, loss, forward=None, adjoint=None, adjoint_forces=None, _fields=None):
        self.gradient = gradient
        self.loss = loss
        self._forward, self._adjoint, self._adjoint_forces = forward, adjoint, adjoint_forces
        self._fields = _fields

    @property
    def forward(self) -> SolveResult:
        if self._forward is None:
            self._forward = self._fields.forward()
        return self._forward

    @property
    def adjoint(self) -> SolveResult:
        if self._adjoint is None:
            self._adjoint = self._fields.adjoint()
        return self._adjoint

    @property
    def adjoint_forces(self) -> np.ndarray:
        if self._adjoint_forces is None:
            self._adjoint_forces = self._fields.adjoint_forces()
        return self._adjoint_forces

"""Large-rotation equilibrium of a bar network (the geometrically exact bar model).

Each bond is a linear spring on its *current* length: tension T = k (l - L), with
l = |x_j + u_j - x_i - u_i|.  Newton's method on the free degrees of freedom,
starting from the linear solution, with the tangent stiffness
``C(u)^T K C(u) + sum T / l (I - n n^T)`` assembled sparsely.

Example
-------
>>> import labmnn
>>> net = labmnn.Network.example("paper-triangle-n4")
>>> F = np.zeros((14, 2)); F[12, 1] = -0.098
>>> u = solve_nonlinear(net, F)
>>> bool(abs(u[13, 1] - net.solve(F).displacements[13, 1]) < 5e-5)
True
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from labmnn.errors import LabmnnError


class NoEquilibrium(LabmnnError):
    """The loaded network found no equilibrium (it would collapse or snap)."""


def _state(net, u, stiffness):
    i, j = net.bonds[:, 0], net.bonds[:, 1]
    d = (net.nodes[j] + u[j]) - (net.nodes[i] + u[i])
    length = np.hypot(d[:, 0], d[:, 1])
    n = d / length[:, None]
    tension = stiffness * (length - net.lengths)
    return i, j, n, length, tension


def internal_forces(net, u, stiffness) -> np.ndarray:
    """Forces (n, 2) the stretched bonds exert on the joints at displacements ``u``."""
    i, j, n, _, tension = _state(net, u, stiffness)
    f = np.zeros_like(u)
    np.add.at(f, i, tension[:, None] * n)
    np.add.at(f, j, -tension[:, None] * n)
    return f


def _tangent(net, u, stiffness) -> sp.csr_matrix:
    i, j, n, length, tension = _state(net, u, stiffness)
    nn = n[:, :, None] * n[:, None, :]
    block = stiffness[:, None, None] * nn + (tension / length)[:, None, None] * (np.eye(2) - nn)  # (m, 2, 2)
    dofs = np.stack([2 * i, 2 * i + 1, 2 * j, 2 * j + 1], axis=1)  # (m, 4)
    full = np.concatenate([np.concatenate([block, -block], axis=2),
                           np.concatenate([-block, block], axis=2)], axis=1)  # (m, 4, 4)
    rows = np.repeat(dofs, 4, axis=1).ravel()
    cols = np.tile(dofs, (1, 4)).ravel()
    size = 2 * net.n_nodes
    return sp.csr_matrix((full.ravel(), (rows, cols)), shape=(size, size))


def solve_nonlinear(net, forces, stiffness=None, tol: float = 1e-10, max_iter: int = 50) -> np.ndarray:
    """Displacements (n, 2), metres, at which the stretched bonds balance ``forces`` (n, 2) N.

    Raises
    ------
    NoEquilibrium
        If Newton's method does not converge (the load is beyond what the
        network can carry as a bar model).
    """
    k = net.stiffness if stiffness is None else np.asarray(stiffness, dtype=float)
    F = np.asarray(forces, dtype=float)
    free = net.free_dofs
    u = net.solve(F, stiffness=k).displacements.copy()
    scale = max(float(np.abs(F).max()), 1e-12)
    for _ in range(max_iter):
        residual = (F + internal_forces(net, u, k)).reshape(-1)[free]
        if np.abs(residual).max() <= tol * scale:
            return u
        Kt = _tangent(net, u, k)[free][:, free].tocsc()
        step = spla.spsolve(Kt, residual)
        if not np.all(np.isfinite(step)):
            break
        flat = u.reshape(-1)
        flat[free] += step
    raise NoEquilibrium(f"{net.name}: no equilibrium found under these loads (largest force "
                        f"{scale:.3g} N): the network would collapse or snap through")

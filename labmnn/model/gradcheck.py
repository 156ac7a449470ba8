"""Finite-difference gradients, to check the adjoint gradient against.

``finite_difference_gradient`` perturbs one stiffness at a time (m + 1 or 2m
solves): what the adjoint method replaces with two solves (or two photographs).
"""

from __future__ import annotations

import numpy as np


def finite_difference_gradient(net, forces, loss, step: float | None = None,
                               scheme: str = "central", mechanics: str = "linear") -> np.ndarray:
    """dL/dk by finite differences of the batch-mean loss.

    Parameters
    ----------
    net : Network
    forces : ndarray (n, 2) or (S, n, 2)
    loss : callable returning ``(value, dL_du)``
    step : float, optional
        Absolute stiffness step in N/m; default 1e-4 of each bond's stiffness
        (central differences are then accurate to about 1e-8 relative).
    scheme : {"central", "forward"}
    mechanics : {"linear", "nonlinear"}
        The model whose loss is differentiated (see :meth:`Network.solve`).
    """
    k0 = net.stiffness.astype(float).copy()

    def L(k):
        return float(np.mean(loss(net.solve(forces, stiffness=k, mechanics=mechanics).displacements)[0]))

    g = np.empty_like(k0)
    base = L(k0) if scheme == "forward" else None
    for b in range(len(k0)):
        h = step if step is not None else 1e-4 * k0[b]
        kp = k0.copy()
        kp[b] += h
        if scheme == "forward":
            g[b] = (L(kp) - base) / h
        else:
            km = k0.copy()
            km[b] -= h
            g[b] = (L(kp) - L(km)) / (2 * h)
    return g


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b||."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two gradient vectors."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

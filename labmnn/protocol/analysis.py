"""Pure assembly of measurements: elongations, summed loadings, gradients, comparisons.

The elongations that enter the gradient are the linear model's, the measured
displacements projected on each bond's reference direction,
``e_b = n_b . (u_j - u_i)``; the geometric length changes are kept beside them
and their difference is reported as nonlinearity.

Example
-------
>>> import labmnn
>>> net = labmnn.Network.example()
>>> F = np.zeros((14, 2)); F[12, 1] = -0.098
>>> res = net.solve(F)
>>> bool(np.allclose(linear_elongations(net, res.displacements), res.elongations))
True
"""

from __future__ import annotations

import numpy as np


def linear_elongations(net, displacements_m: np.ndarray) -> np.ndarray:
    """e = C u for displacements (..., n, 2) in metres; returns (..., m)."""
    u = np.asarray(displacements_m, dtype=float)
    i, j = net.bonds[:, 0], net.bonds[:, 1]
    du = u[..., j, :] - u[..., i, :]
    return np.sum(du * net.directions, axis=-1)


def geometric_elongations(net, displacements_m: np.ndarray) -> np.ndarray:
    """Exact length changes |x_j + u_j - x_i - u_i| - L of the bonds, (..., m)."""
    x = net.nodes + np.asarray(displacements_m, dtype=float)
    d = x[..., net.bonds[:, 1], :] - x[..., net.bonds[:, 0], :]
    return np.hypot(d[..., 0], d[..., 1]) - net.lengths


def deformed_directions(net, displacements_m: np.ndarray) -> np.ndarray:
    """Unit directions (..., m, 2) of the bonds at the displaced joints."""
    x = net.nodes + np.asarray(displacements_m, dtype=float)
    d = x[..., net.bonds[:, 1], :] - x[..., net.bonds[:, 0], :]
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def incremental_elongations(net, base_m: np.ndarray, loaded_m: np.ndarray) -> np.ndarray:
    """Elongation change along each *deformed* bar between two states, (m,).

    ``base_m`` are the displacements (n, 2) under the held forward load,
    ``loaded_m`` those with an increment added on top:
    ``n_b(u_base) . (du_j - du_i)`` with ``du = loaded - base``, the first-order
    length change of bar b about the forward equilibrium (the tangent's
    elongations, as in :mod:`labmnn.model.nonlinear`).
    """
    du = np.asarray(loaded_m, dtype=float) - np.asarray(base_m, dtype=float)
    n = deformed_directions(net, base_m)
    return np.sum((du[..., net.bonds[:, 1], :] - du[..., net.bonds[:, 0], :]) * n, axis=-1)


def combine_increments(net, plan, steps: list[dict]) -> dict:
    """Sum recorded increments of a plan (each against its own forward-only photo) per unit target.

    Returns
    -------
    dict
        ``elongations`` (m,) along the deformed bars, ``displacements`` (n, 2) m
        (increment), ``forces`` (n, 2) N the increments stand for, ``size`` the
        applied increment relative to the target (``plan.scale`` over the mean
        correction: what the first-order bias grows with).
    """
    grams = [s["masses_g"] for s in steps]
    es, dus = [], []
    for s in steps:
        base = np.asarray(s["base_displacements_mm"], dtype=float) * 1e-3
        loaded = np.asarray(s["displacements_mm"], dtype=float) * 1e-3
        es.append(incremental_elongations(net, base, loaded))
        dus.append(loaded - base)
    corr = [ld.correction(net.n_nodes, g) for ld, g in zip(plan.loadings, grams)]
    return {"elongations": plan.combine(es, grams), "displacements": plan.combine(dus, grams),
            "forces": plan.effective_forces(grams), "size": plan.scale / float(np.mean(corr))}


def extrapolate_increments(r1: np.ndarray, s1: float, r2: np.ndarray, s2: float) -> np.ndarray:
    """Remove the bias that grows linearly with the increment size: r(s) = r0 + a s gives
    r0 = (s2 r1 - s1 r2) / (s2 - s1)."""
    return (s2 * np.asarray(r1, dtype=float) - s1 * np.asarray(r2, dtype=float)) / (s2 - s1)


def nonlinearity(e_linear: np.ndarray, e_geometric: np.ndarray) -> float:
    """RMS(e_geo - e_lin) / RMS(e_lin): how far the bars are from the linear model."""
    e_linear = np.asarray(e_linear, dtype=float)
    den = float(np.sqrt(np.mean(e_linear ** 2)))
    if den == 0:
        return 0.0
    return float(np.sqrt(np.mean((np.asarray(e_geometric) - e_linear) ** 2)) / den)


def relative_error(measured: np.ndarray, reference: np.ndarray) -> float:
    """||measured - reference|| / ||reference||."""
    ref = np.asarray(reference, dtype=float)
    return float(np.linalg.norm(np.asarray(measured) - ref) / np.linalg.norm(ref))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def loading_arrays(step: dict) -> tuple[np.ndarray, np.ndarray]:
    """Displacements (n, 2) and geometric elongations (m,) of a recorded loading, metres."""
    u = np.asarray(step["displacements_mm"], dtype=float) * 1e-3
    e = np.asarray(step["elongations_geo_mm"], dtype=float) * 1e-3
    return u, e


def combine_loadings(net, plan, steps: list[dict]) -> dict:
    """Sum recorded loadings of a plan into the response to its (unscaled) target.

    Parameters
    ----------
    net : Network
    plan : LoadingPlan
    steps : list of dict
        The recorded loading steps, in plan order (``masses_g``,
        ``displacements_mm``, ``elongations_geo_mm``).

    Returns
    -------
    dict
        ``displacements`` (n, 2) m, ``elongations`` (m,) linear, ``elongations_geo``
        (m,), ``forces`` (n, 2) N the measurement stands for (weighed masses).
    """
    grams = [s["masses_g"] for s in steps]
    us, eg = zip(*(loading_arrays(s) for s in steps))
    u = plan.combine(list(us), grams)
    return {
        "displacements": u,
        "elongations": linear_elongations(net, u),
        "elongations_geo": plan.combine(list(eg), grams),
        "forces": plan.effective_forces(grams),
    }


def gradient_summary(measured: np.ndarray, simulated: np.ndarray) -> dict:
    """Mean, spread and accuracy of per-repeat measured gradients against the model.

    Parameters
    ----------
    measured : ndarray (R, m)
        One measured gradient per repeat.
    simulated : ndarray (m,) or (R, m)
        The model's exact gradient (per repeat if the forward load differed).
    """
    g = np.atleast_2d(np.asarray(measured, dtype=float))
    sim = np.asarray(simulated, dtype=float)
    sim_mean = sim if sim.ndim == 1 else sim.mean(axis=0)
    per = [relative_error(gr, sim_mean if sim.ndim == 1 else sim[r]) for r, gr in enumerate(g)]
    mean = g.mean(axis=0)
    return {
        "gradient_measured": mean,
        "gradient_measured_std": g.std(axis=0, ddof=1) if len(g) > 1 else np.zeros_like(mean),
        "gradient_simulated": sim_mean,
        "relative_error": relative_error(mean, sim_mean),
        "cosine": cosine(mean, sim_mean),
        "relative_error_per_repeat": per,
    }

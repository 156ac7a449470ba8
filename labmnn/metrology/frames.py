"""Rigid and similarity fits between point sets (Procrustes), reflection allowed.

Example
-------
>>> P = np.array([[0., 0.], [1., 0.], [0., 2.]])
>>> Q = P * [1, -1] + [5, 5]          # mirrored, shifted
>>> fit = fit_procrustes(P, Q)
>>> fit.reflection, round(fit.rms, 9)
(True, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Procrustes:
    """``Q ~ scale * P @ rotation.T + translation``.

    Attributes
    ----------
    rotation : ndarray (2, 2)
        Orthogonal; determinant -1 when ``reflection``.
    translation : ndarray (2,)
    scale : float
        1 for a rigid fit.
    reflection : bool
    rms : float
        RMS residual, in the units of Q.
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: float
    reflection: bool
    rms: float

    def apply(self, P) -> np.ndarray:
        return self.scale * np.asarray(P, float) @ self.rotation.T + self.translation

    def rotate(self, vectors) -> np.ndarray:
        """Rotate (and reflect) vectors, no scale, no translation."""
        return np.asarray(vectors, float) @ self.rotation.T

    def to_dict(self) -> dict:
        return {"rotation": self.rotation.tolist(), "translation_mm": self.translation.tolist(),
                "scale": self.scale, "reflection": self.reflection,
                "angle_deg": float(np.degrees(np.arctan2(self.rotation[1, 0], self.rotation[0, 0]))),
                "rms_mm": self.rms}


def fit_procrustes(P, Q, weights=None, with_scale=False, allow_reflection=True) -> Procrustes:
    """Least-squares rotation (+reflection, +scale) and translation taking P onto Q.

    Parameters
    ----------
    P, Q : array (n, 2)
    weights : array (n,), optional
    with_scale : bool
        Fit a similarity instead of a rigid motion.
    allow_reflection : bool
        Let the orthogonal part have determinant -1.
    """
    P, Q = np.asarray(P, float), np.asarray(Q, float)
    w = np.ones(len(P)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    pm, qm = w @ P, w @ Q
    Pc, Qc = P - pm, Q - qm
    C = (Qc * w[:, None]).T @ Pc
    U, s, Vt = np.linalg.svd(C)
    if not allow_reflection and np.linalg.det(U @ Vt) < 0:
        U[:, -1] *= -1
        s[-1] *= -1
    R = U @ Vt
    scale = float(s.sum() / (w @ np.sum(Pc ** 2, 1))) if with_scale else 1.0
    t = qm - scale * pm @ R.T
    res = scale * P @ R.T + t - Q
    return Procrustes(R, t, scale, bool(np.linalg.det(R) < 0), float(np.sqrt(w @ np.sum(res ** 2, 1))))

"""Adam, and the maps between bar widths and the variables Adam moves.

Widths must stay printable, inside ``[lo, hi]``.  Three maps (see
``docs/training.md`` for the measurements behind the default):

``projection`` (default)
    theta = (w - lo) / (hi - lo) in [0, 1]; Adam steps theta with
    dL/dtheta = (hi - lo) dL/dw, then theta is clipped back to [0, 1].  A bond
    pushed against a bound stays there until its gradient turns round.
``sigmoid``
    w = lo + (hi - lo) s(beta x) with the exact chain rule
    dL/dx = (hi - lo) beta s (1 - s) dL/dw.  Smooth, but the factor s (1 - s)
    freezes bonds near a bound.
``sigmoid-paper``
    The seed paper's authors' choice: the same map but Adam is fed dL/dw
    without the sigmoid's chain-rule factor (not a gradient of the loss in x).

Adam's ``eps`` is relative: gradients are divided by the RMS of the first
gradient, so a loss in m^2 (1e-8) and one in nats (1) behave alike.

Example
-------
>>> wm = WidthMap(np.array([1.5e-3, 2.5e-3]), "projection")
>>> x = wm.to_variable(np.full(3, 2e-3)); x
array([0.5, 0.5, 0.5])
>>> opt = Adam(lr=0.1)
>>> x = wm.clip(opt.step(x, wm.variable_gradient(x, np.array([1.0, -1.0, 0.0]))))
>>> np.round(wm.to_width(x) * 1e3, 3)
array([1.9, 2.1, 2. ])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Adam:
    """Adam (Kingma & Ba) on a flat parameter vector.

    Parameters
    ----------
    lr : float
        Step size, in units of the variable.
    betas : (float, float)
        Decay rates of the first and second moment estimates.
    eps : float
        Added to the root second moment, relative to the first gradient's RMS.
    """

    lr: float = 0.005
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    t: int = 0
    m: np.ndarray | None = field(default=None, repr=False)
    v: np.ndarray | None = field(default=None, repr=False)
    gscale: float | None = None

    def step(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """One update; returns the new variable (``x`` is not modified)."""
        g = np.asarray(grad, dtype=float)
        if self.gscale is None:
            rms = float(np.sqrt(np.mean(g * g)))
            self.gscale = 1.0 / rms if rms > 0 else 1.0
        g = g * self.gscale
        if self.m is None:
            self.m = np.zeros_like(g)
            self.v = np.zeros_like(g)
        b1, b2 = self.betas
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat = self.m / (1 - b1 ** self.t)
        v_hat = self.v / (1 - b2 ** self.t)
        return x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


@dataclass
class WidthMap:
    """Map between widths (m) inside ``bounds`` and the optimiser's variable.

    Parameters
    ----------
    bounds : ndarray (2,)
        ``[lo, hi]`` in metres.
    method : {"projection", "sigmoid", "sigmoid-paper"}
    beta : float
        Sigmoid steepness (the authors use 5 for Iris, 10 elsewhere).
    """

    bounds: np.ndarray
    method: str = "projection"
    beta: float = 5.0

    def __post_init__(self):
        self.bounds = np.asarray(self.bounds, dtype=float)
        if self.method not in ("projection", "sigmoid", "sigmoid-paper"):
            raise ValueError(f"unknown width method {self.method!r}")

    @property
    def span(self) -> float:
        return float(self.bounds[1] - self.bounds[0])

    def _s(self, x):
        return 1.0 / (1.0 + np.exp(-self.beta * x))

    def to_variable(self, width: np.ndarray) -> np.ndarray:
        """The variable that gives ``width`` (widths outside the bounds are clipped)."""
        theta = np.clip((np.asarray(width, dtype=float) - self.bounds[0]) / self.span, 0.0, 1.0)
        if self.method == "projection":
            return theta
        theta = np.clip(theta, 1e-6, 1 - 1e-6)
        return np.log(theta / (1 - theta)) / self.beta

    def to_width(self, x: np.ndarray) -> np.ndarray:
        """Widths (m) of variable ``x``."""
        theta = x if self.method == "projection" else self._s(x)
        return self.bounds[0] + self.span * theta

    def variable_gradient(self, x: np.ndarray, dL_dw: np.ndarray) -> np.ndarray:
        """What Adam is fed: dL/dx (or the authors' stand-in for it)."""
        g = self.span * np.asarray(dL_dw, dtype=float)
        if self.method == "sigmoid":
            s = self._s(x)
            g = g * self.beta * s * (1 - s)
        return g

    def clip(self, x: np.ndarray) -> np.ndarray:
        """Project the variable back onto the feasible set (a no-op for the sigmoids)."""
        return np.clip(x, 0.0, 1.0) if self.method == "projection" else x

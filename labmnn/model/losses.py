"""Loss functions of node displacements, with their exact derivative dL/du.

A loss is called on displacements ``u`` of shape (n_nodes, 2) or a batch
(S, n_nodes, 2) (metres) and returns ``(value, dL_du)``: the value per sample
(a float, or (S,)) and dL/du in the shape of ``u``.  The adjoint force that the
rig (or the solver) applies is ``-dL_du``.

Losses are built from the small dicts that task and protocol files hold:

>>> loss = from_spec({"kind": "mse", "targets": [{"node": 13, "axis": "y", "value": -0.025}]})
>>> u = np.zeros((14, 2)); u[13, 1] = -0.001
>>> value, g = loss(u)
>>> round(value, 8), round(float(g[13, 1]), 4)
(0.000576, 0.048)

Kinds
-----
Both kinds read ``u`` only at a few output components, their *support*
(``loss.support``: node and axis arrays, each component once), and
``loss.on_support(y)`` gives the value and dL/dy from those components alone
(y of shape (r,) or (S, r), in the support's order).  The gradient uses this to
solve for the outputs instead of for every sample's whole displacement field
(:meth:`labmnn.model.network.Equilibrium.output_adjoint`).

``mse``
    Mean over targets of (u[node, axis] - value)^2.  ``value`` may be a number or,
    for a batch, one number per sample.
``cross_entropy``
    Class probabilities from the output displacement magnitudes a_c = |u[c, axis]|:
    ``form = "softmax"`` gives p = softmax(a / scale) (the paper's formula, with
    ``scale`` in metres, default 1 mm); ``form = "ratio"`` gives p_c = a_c / sum(a)
    (the authors' code).  L = -ln p[label]; ``label`` may be one per sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labmnn import checks
from labmnn.errors import InputError

SCALE_RANGE_M = (1e-9, 1.0)  # sane softmax temperatures: a nanometre to a metre of displacement

AXES = checks.AXES


def _support(nodes: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (node, axis) components in DOF order, and where each given one sits among them."""
    dofs, where = np.unique(2 * np.asarray(nodes, dtype=np.int64) + np.asarray(axes, dtype=np.int64),
                            return_inverse=True)
    return dofs // 2, dofs % 2, where.reshape(-1)


def _on_nodes(loss, u: np.ndarray):
    """``loss(u)`` through ``loss.on_support``: read the support, scatter dL/dy back into u's shape."""
    u = np.asarray(u, dtype=float)
    nodes, axes = loss.support
    value, grad_y = loss.on_support(u[..., nodes, axes])
    grad = np.zeros_like(u)
    grad[..., nodes, axes] = grad_y
    return value, grad


@dataclass
class MSELoss:
    """Mean squared error of chosen displacement components against targets.

    Parameters
    ----------
    nodes, axes : sequence of int
        Target node numbers and components (0 = x, 1 = y).
    values : array_like, (T,) or (S, T)
        Target displacements, metres; one row per sample for a batch.
    """

    nodes: np.ndarray
    axes: np.ndarray
    values: np.ndarray
    kind: str = field(default="mse", init=False)

    def __post_init__(self):
        self.nodes = np.asarray(self.nodes, dtype=np.int64)
        self.axes = np.asarray(self.axes, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=float)
        nodes, axes, self._target_at = _support(self.nodes, self.axes)
        self.support = (nodes, axes)

    def outputs(self, u: np.ndarray) -> np.ndarray:
        """The targeted components of ``u``: (T,) or (S, T)."""
        return np.asarray(u)[..., self.nodes, self.axes]

    def on_support(self, y: np.ndarray):
        """Value and dL/dy from the support's displacements ``y`` (r,) or (S, r)."""
        y = np.asarray(y, dtype=float)
        r = y[..., self._target_at] - self.values  # (..., T)
        T = len(self.nodes)
        value = np.mean(r * r, axis=-1)
        grad = np.zeros_like(y)
        for t in range(T):  # a few targets; a repeated target accumulates
            grad[..., self._target_at[t]] += 2.0 * r[..., t] / T
        return (float(value) if np.ndim(value) == 0 else value), grad

    def __call__(self, u: np.ndarray):
        return _on_nodes(self, u)


@dataclass
class CrossEntropyLoss:
    """Cross-entropy of class probabilities read from output displacement magnitudes.

    Parameters
    ----------
    outputs : sequence of int
        One output node per class.
    axis : int
        Component read (0 = x, 1 = y).
    labels : int or array of int (S,)
        The true class of each sample (index into ``outputs``).
    form : {"softmax", "ratio"}
    scale : float
        Softmax temperature in metres (|u| / scale enters the softmax).
    """

    outputs_nodes: np.ndarray
    axis: int
    labels: Any
    form: str = "softmax"
    scale: float = 1e-3
    kind: str = field(default="cross_entropy", init=False)
    eps: float = 1e-15

    def __post_init__(self):
        self.outputs_nodes = np.asarray(self.outputs_nodes, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.form not in ("softmax", "ratio"):
            raise ValueError(f"form must be 'softmax' or 'ratio', not {self.form!r}")
        nodes, axes, self._class_at = _support(self.outputs_nodes, np.full(self.outputs_nodes.shape, self.axis))
        self.support = (nodes, axes)

    def outputs(self, u: np.ndarray) -> np.ndarray:
        """Signed output components (..., C)."""
        return np.asarray(u)[..., self.outputs_nodes, self.axis]

    def probabilities(self, u: np.ndarray) -> np.ndarray:
        """Class probabilities (..., C)."""
        return self._probabilities(np.abs(self.outputs(u)))

    def _probabilities(self, a: np.ndarray) -> np.ndarray:
        """Class probabilities (..., C) from the output magnitudes ``a``."""
        if self.form == "softmax":
            z = a / self.scale
            z = z - z.max(axis=-1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=-1, keepdims=True)
        s = a.sum(axis=-1, keepdims=True)
        return (a + self.eps) / (s + self.eps * a.shape[-1])

    def predict(self, u: np.ndarray) -> np.ndarray:
        """Predicted class: the output node that moves most."""
        return np.argmax(np.abs(self.outputs(u)), axis=-1)

    def on_support(self, y: np.ndarray):
        """Value and dL/dy from the support's displacements ``y`` (r,) or (S, r)."""
        y = np.asarray(y, dtype=float)
        out = y[..., self._class_at]  # signed output components (..., C)
        a = np.abs(out)
        sign = np.where(out >= 0, 1.0, -1.0)
        C = a.shape[-1]
        onehot = np.eye(C)[np.broadcast_to(self.labels, a.shape[:-1])]
        p = self._probabilities(a)
        value = -np.log(np.sum(p * onehot, axis=-1) + 1e-300)
        if self.form == "softmax":
            dL_da = (p - onehot) / self.scale
        else:
            s = a.sum(axis=-1, keepdims=True) + self.eps * C
            a_label = np.sum((a + self.eps) * onehot, axis=-1, keepdims=True)
            dL_da = 1.0 / s - onehot / a_label
        grad = np.zeros_like(y)
        grad[..., self._class_at] = dL_da * sign
        return (float(value) if np.ndim(value) == 0 else value), grad

    def __call__(self, u: np.ndarray):
        return _on_nodes(self, u)


def from_spec(spec: dict, source: str = "loss", n_nodes: int | None = None):
    """Build a loss from its dict form (as task and protocol files hold it).

    Parameters
    ----------
    spec : dict
        ``{"kind": "mse", "targets": [{"node": 13, "axis": "y", "value": -0.025}, ...]}`` or
        ``{"kind": "cross_entropy", "outputs": [12, 13], "axis": "y", "label": 0,
        "form": "softmax" | "ratio", "scale": 0.001}``.
    source : str
        Where the spec came from (file and table), for error messages.
    n_nodes : int, optional
        Node count of the network, to check node numbers.

    Returns
    -------
    MSELoss or CrossEntropyLoss

    Raises
    ------
    InputError
        Naming the source, the key and the bad value.
    """
    if not isinstance(spec, dict):
        raise InputError(source, "", f"must be a table, found {spec!r}")
    kind = spec.get("kind")

    def check_node(key, v):
        return checks.node(source, key, v, n_nodes)

    if kind == "mse":
        targets = spec.get("targets")
        if not isinstance(targets, list) or not targets:
            raise InputError(source, "targets", f"must be a non-empty list of {{node, axis, value}}, found {targets!r}")
        nodes, axes, values = [], [], []
        for t, tgt in enumerate(targets):
            key = f"targets[{t}]"
            if not isinstance(tgt, dict):
                raise InputError(source, key, f"must be a table {{node, axis, value}}, found {tgt!r}")
            for k in ("node", "axis", "value"):
                if k not in tgt:
                    raise InputError(source, f"{key}.{k}", "is missing")
            nodes.append(check_node(f"{key}.node", tgt["node"]))
            axes.append(checks.axis(source, f"{key}.axis", tgt["axis"]))
            v = tgt["value"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise InputError(source, f"{key}.value", f"must be a finite number (metres), found {v!r}")
            checks.bounded(source, f"{key}.value", v, -checks.TARGET_M, checks.TARGET_M, "m")
            values.append(float(v))
        return MSELoss(np.asarray(nodes), np.asarray(axes), np.asarray(values))

    if kind == "cross_entropy":
        outputs = spec.get("outputs")
        if not isinstance(outputs, list) or len(outputs) < 2:
            raise InputError(source, "outputs", f"must list at least two output nodes, found {outputs!r}")
        nodes = [check_node(f"outputs[{c}]", v) for c, v in enumerate(outputs)]
        axis = checks.axis(source, "axis", spec.get("axis", "y"))
        label = spec.get("label", 0)
        labels = np.asarray(label)
        if labels.dtype.kind not in "iu" or np.any(labels < 0) or np.any(labels >= len(nodes)):
            raise InputError(source, "label", f"must be a class index 0..{len(nodes) - 1}, found {label!r}")
        form = spec.get("form", "softmax")
        if form not in ("softmax", "ratio"):
            raise InputError(source, "form", f"must be \"softmax\" or \"ratio\", found {form!r}")
        scale = spec.get("scale", 1e-3)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0 or not np.isfinite(scale):
            raise InputError(source, "scale", f"must be a positive number (metres), found {scale!r}")
        if not SCALE_RANGE_M[0] <= scale <= SCALE_RANGE_M[1]:  # a typo (mm for m, an extra zero): flat softmax
            raise InputError(source, "scale", f"must be between {SCALE_RANGE_M[0]:g} and {SCALE_RANGE_M[1]:g} m "
                                              f"(a displacement scale), found {scale:g}")
        return CrossEntropyLoss(np.asarray(nodes), axis, labels, form=form, scale=float(scale))

    raise InputError(source, "kind", f"must be \"mse\" or \"cross_entropy\", found {kind!r}")

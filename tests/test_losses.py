"""Losses and their derivatives."""

import numpy as np
import pytest

from labmnn import InputError
from labmnn.model import losses


def numeric_grad(loss, u, h=1e-9):
    g = np.zeros_like(u)
    for idx in np.ndindex(u.shape):
        up, um = u.copy(), u.copy()
        up[idx] += h
        um[idx] -= h
        g[idx] = (np.sum(loss(up)[0]) - np.sum(loss(um)[0])) / (2 * h)
    return g


@pytest.mark.parametrize("spec", [
    {"kind": "mse", "targets": [{"node": 1, "axis": "y", "value": -5e-4}, {"node": 2, "axis": "x", "value": 1e-4}]},
    {"kind": "cross_entropy", "outputs": [1, 2, 3], "axis": "x", "label": 2, "form": "softmax", "scale": 2e-4},
    {"kind": "cross_entropy", "outputs": [1, 2], "axis": "y", "label": 0, "form": "ratio"},
])
def test_derivative_matches_numeric(spec):
    rng = np.random.default_rng(0)
    u = rng.normal(scale=5e-4, size=(3, 5, 2))
    loss = losses.from_spec(spec)
    value, grad = loss(u)
    assert value.shape == (3,)
    assert np.allclose(grad, numeric_grad(loss, u), rtol=1e-4, atol=1e-6 * np.abs(grad).max())


def test_cross_entropy_prefers_the_labelled_node():
    loss = losses.from_spec({"kind": "cross_entropy", "outputs": [0, 1], "axis": "y", "label": 1, "form": "ratio"})
    u = np.zeros((2, 2))
    u[:, 1] = [-1e-3, -3e-3]
    good, _ = loss(u)
    u[:, 1] = [-3e-3, -1e-3]
    bad, _ = loss(u)
    assert good < np.log(2) < bad
    assert loss.predict(u) == 0


@pytest.mark.parametrize("spec,key", [
    ({"kind": "l1"}, "kind"),
    ({"kind": "mse", "targets": []}, "targets"),
    ({"kind": "mse", "targets": [{"node": 1, "axis": "z", "value": 0}]}, "targets[0].axis"),
    ({"kind": "mse", "targets": [{"node": 99, "axis": "y", "value": 0}]}, "targets[0].node"),
    ({"kind": "mse", "targets": [{"node": 1, "axis": "y"}]}, "targets[0].value"),
    ({"kind": "cross_entropy", "outputs": [1, 2], "label": 5}, "label"),
    ({"kind": "cross_entropy", "outputs": [1, 2], "scale": -1}, "scale"),
])
def test_bad_specs_name_the_key(spec, key):
    with pytest.raises(InputError) as exc:
        losses.from_spec(spec, source="task.toml [loss]", n_nodes=14)
    assert key in str(exc.value) and "task.toml" in str(exc.value)


@pytest.mark.parametrize("scale", [1e15, 1e308, 1e-12])
def test_softmax_scale_outside_sane_displacements_is_refused(scale):
    spec = {"kind": "cross_entropy", "outputs": [13, 14], "axis": "y", "label": 0, "scale": scale}
    with pytest.raises(InputError, match="scale: must be between 1e-09 and 1 m"):
        losses.from_spec(spec, "task.toml: loss", 15)
    losses.from_spec(dict(spec, scale=1e-3), "task.toml: loss", 15)  # the default is fine

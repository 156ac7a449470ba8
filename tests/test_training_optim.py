"""Adam and the width maps."""

import numpy as np
import pytest

from labmnn.training.optim import Adam, WidthMap

BOUNDS = np.array([1.5e-3, 2.5e-3])


def test_adam_minimises_a_quadratic_whatever_the_loss_units():
    # a loss in m^2 (gradients ~1e-8) must train like one in nats: eps is relative
    curv = np.array([1.0, 3.0, 10.0])
    finals = []
    for units in (1e-9, 1.0, 1e6):
        x = np.array([0.9, -0.7, 0.4])
        opt = Adam(lr=0.02)
        for _ in range(600):
            x = opt.step(x, units * curv * x)
        finals.append(x)
        assert np.all(np.abs(x) < 0.02)
    assert np.allclose(finals[0], finals[1], atol=1e-9) and np.allclose(finals[1], finals[2], atol=1e-9)


@pytest.mark.parametrize("method", ["projection", "sigmoid", "sigmoid-paper"])
def test_width_map_round_trip_and_bounds(method):
    wm = WidthMap(BOUNDS, method, beta=5)
    w = np.array([1.6e-3, 2.0e-3, 2.4e-3])
    assert np.allclose(wm.to_width(wm.to_variable(w)), w)
    x = wm.to_variable(w)
    for _ in range(200):  # push hard against both bounds
        x = wm.clip(x - 0.5 * np.sign(wm.variable_gradient(x, np.array([1.0, -1.0, 1.0]))))
    wf = wm.to_width(x)
    assert np.all(wf >= BOUNDS[0] - 1e-15) and np.all(wf <= BOUNDS[1] + 1e-15)
    assert wf[0] < 1.52e-3 and wf[1] > 2.48e-3


def test_sigmoid_chain_rule_matches_finite_differences():
    wm = WidthMap(BOUNDS, "sigmoid", beta=10)
    x = np.array([-0.2, 0.05, 0.3])
    dL_dw = np.array([2.0, -1.0, 0.5])  # L = dL_dw . w
    h = 1e-7
    fd = np.array([(dL_dw @ wm.to_width(x + h * e) - dL_dw @ wm.to_width(x - h * e)) / (2 * h) for e in np.eye(3)])
    assert np.allclose(wm.variable_gradient(x, dL_dw), fd, rtol=1e-6)
    # the authors' variant drops the sigmoid factor: same sign, different size
    paper = WidthMap(BOUNDS, "sigmoid-paper", beta=10).variable_gradient(x, dL_dw)
    assert np.all(np.sign(paper) == np.sign(fd)) and not np.allclose(paper, fd)


def test_projection_gradient_is_the_width_gradient_times_span():
    wm = WidthMap(BOUNDS, "projection")
    assert np.allclose(wm.variable_gradient(np.zeros(2), np.array([1.0, -2.0])), [1e-3, -2e-3])

"""The report's "last training step" is the highest-numbered step, not the last in text order."""

import numpy as np

from labmnn.protocol.report import _train_last


def test_last_training_step_is_numerically_last():
    g_old, g_new = [1.0, 2.0, 3.0], [3.0, -1.0, 0.5]
    steps = {f"t{k}/r0/gradient": {"gradient": g_old, "gradient_simulated": g_old} for k in range(1, 10)}
    steps["t10/r0/gradient"] = {"gradient": g_new, "gradient_simulated": g_new}
    steps["t10/r0/forward"] = {"displacements": [0.0]}  # not a gradient step
    last = _train_last(steps, {})
    assert last["repeats"] == 1
    assert np.allclose(last["gradient_measured"], g_new) and np.allclose(last["gradient_simulated"], g_new)

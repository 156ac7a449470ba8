"""The loading planner: scaling, rounding to the weight set, splitting by linearity."""

import numpy as np
import pytest

import labmnn
from labmnn.protocol.planner import PlanError, RigLimits, WeightSet, plan_loading

WS = WeightSet((1, 2, 5, 10, 20), (4, 4, 4, 4, 2))
G = 9.8e-3  # newtons per gram


def test_weight_set_combinations_are_nearest_with_fewest_pieces():
    combo, mass = WS.best_combination(13.2)
    assert mass == 13 and dict(zip(WS.sizes_g, combo)) == {1: 1, 2: 1, 5: 0, 10: 1, 20: 0}
    assert WS.best_combination(200)[1] == WS.total_g == 112
    assert WS.best_combination(0.4)[1] == 0
    # limited stock: without the 10 g pieces 10 g is made of 5 + 5
    combo, mass = WS.best_combination(10, (4, 4, 4, 0, 2))
    assert mass == 10 and combo[2] == 2


def test_single_node_adjoint_is_scaled_to_max_and_exact():
    F = np.zeros((14, 2))
    F[13, 1] = -0.0484  # the paper's adjoint force, about 4.94 g
    plan = plan_loading(F, WS, RigLimits(20, 40), scale="auto", max_g=10)
    assert len(plan.loadings) == 1 and plan.loadings[0].sign == 1
    (stack,) = plan.loadings[0].stacks
    assert stack.node == 13 and stack.nominal_g == 10 and stack.direction == (0.0, -1.0)
    assert plan.scale == pytest.approx(10 * G / 0.0484)
    assert plan.predicted_error < 1e-12
    # weighed mass differs from nominal: the correction keeps the effective force exact
    np.testing.assert_allclose(plan.effective_forces([[10.03]]), F, atol=1e-12)


def test_upward_component_is_applied_downward_in_a_separate_negated_loading():
    F = np.zeros((14, 2))
    F[13, 1] = -5 * G
    F[12, 1] = +3 * G
    plan = plan_loading(F, WS, RigLimits(20, 40), scale=1.0)
    assert sorted(ld.sign for ld in plan.loadings) == [-1, 1]
    neg = next(ld for ld in plan.loadings if ld.sign < 0)
    assert [(s.node, s.nominal_g, s.direction) for s in neg.stacks] == [(12, 3.0, (0.0, -1.0))]
    np.testing.assert_allclose(plan.effective_forces(), F, atol=1e-12)
    # measured responses are summed with signs: a linear response reproduces the target's
    net = labmnn.Network.example()
    resp = [net.solve(ld.forces(14)).displacements for ld in plan.loadings]
    np.testing.assert_allclose(plan.combine(resp), net.solve(F).displacements, atol=1e-12)


def test_pulley_direction_and_unappliable_component():
    F = np.zeros((14, 2))
    F[12] = [2 * G, -4 * G]
    only_down = plan_loading(F, WS, RigLimits(20, 40), scale=1.0)
    assert only_down.dropped_n[12, 0] == pytest.approx(2 * G)
    assert only_down.predicted_error == pytest.approx(np.hypot(2, 0) / np.hypot(2, 4), rel=1e-9)
    pulley = plan_loading(F, WS, RigLimits(20, 40, directions={12: ((0.0, -1.0), (1.0, 0.0))}), scale=1.0)
    assert not np.any(pulley.dropped_n)
    np.testing.assert_allclose(pulley.effective_forces(), F, atol=1e-12)
    assert {s.direction for ld in pulley.loadings for s in ld.stacks} == {(0.0, -1.0), (1.0, 0.0)}


def test_total_limit_splits_into_loadings_and_stock_is_respected():
    F = np.zeros((14, 2))
    F[[10, 11, 12, 13], 1] = -15 * G
    plan = plan_loading(F, WS, RigLimits(20, 30), scale=1.0)
    assert all(sum(s.nominal_g for s in ld.stacks) <= 30 for ld in plan.loadings)
    for ld in plan.loadings:
        used = np.sum([[s.pieces.get(z, 0) for z in WS.sizes_g] for s in ld.stacks], axis=0)
        assert np.all(used <= WS.counts)
    np.testing.assert_allclose(plan.effective_forces(), F, atol=1e-12)


def test_rounding_error_is_predicted_for_multi_node_loadings():
    F = np.zeros((14, 2))
    F[12, 1] = -4.4 * G
    F[13, 1] = -2.2 * G
    plan = plan_loading(F, WS, RigLimits(20, 40), scale=1.0)
    eff = plan.effective_forces()
    assert plan.predicted_error == pytest.approx(np.linalg.norm(eff - F) / np.linalg.norm(F))
    assert 0 < plan.predicted_error < 0.1
    auto = plan_loading(F, WS, RigLimits(20, 40), scale="auto", max_g=10)
    assert auto.predicted_error <= plan.predicted_error + 1e-12  # auto picks the best-rounding scale


def test_too_large_fixed_load_is_refused_with_a_clear_message():
    F = np.zeros((14, 2))
    F[13, 1] = -45 * G
    with pytest.raises(PlanError, match=r"node 13 needs 45 g pulling down.*20 g per node"):
        plan_loading(F, WS, RigLimits(20, 40), scale=1.0)
    small = WeightSet((1, 2), (2, 2))
    F[13, 1] = -9 * G
    with pytest.raises(PlanError, match="whole weight set.*makes at most 6 g"):
        plan_loading(F, small, RigLimits(20, 40), scale=1.0)
    with pytest.raises(PlanError, match="zero"):
        plan_loading(np.zeros((14, 2)), WS, RigLimits(), scale="auto")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 13), st.floats(-12, 12), st.floats(-12, 12)), min_size=1, max_size=4))
def test_plans_respect_limits_and_predict_their_own_error(loads):
    F = np.zeros((14, 2))
    for node, gx, gy in loads:
        F[node] += [gx * G, gy * G]
    if np.abs(F).max() < 0.5 * G:
        return
    rig = RigLimits(20, 40, default_directions=((0.0, -1.0), (1.0, 0.0)))
    plan = plan_loading(F, WS, rig, scale="auto", max_g=10)
    for ld in plan.loadings:
        assert sum(s.nominal_g for s in ld.stacks) <= 40 + 1e-9
        assert all(s.nominal_g <= 20 + 1e-9 for s in ld.stacks)
        used = np.sum([[s.pieces.get(z, 0) for z in WS.sizes_g] for s in ld.stacks], axis=0)
        assert np.all(used <= WS.counts)
        pairs = [(s.node, s.direction) for s in ld.stacks]
        assert len(pairs) == len(set(pairs))
    eff = plan.effective_forces()
    assert plan.predicted_error == pytest.approx(np.linalg.norm(eff - F) / np.linalg.norm(F), abs=1e-12)
    # the largest stack sits in the auto range
    assert max(s.nominal_g for ld in plan.loadings for s in ld.stacks) <= 10 + 1e-9

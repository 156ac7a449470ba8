"""The simulated rig, weights and operator."""

import numpy as np
import pytest

import labmnn
from hardware_sim import SimOperator, SimRig, SimWeightSet
from labmnn.devices import Loader
from labmnn.errors import InputError

NET = labmnn.Network.example("paper-triangle-n4")


def test_hang_accumulates_forces_and_clear_removes_them():
    rig = SimRig(NET)
    rig.hang(12, 10.0)
    rig.hang(12, 5.0)
    rig.hang(10, 2.0, direction=(3.0, 4.0))
    assert np.allclose(rig.loads[12], [0, -0.015 * labmnn.GRAVITY])
    assert np.allclose(rig.loads[10], [0.002 * labmnn.GRAVITY * 0.6, 0.002 * labmnn.GRAVITY * 0.8])
    assert rig.hung_grams == pytest.approx({12: 15.0, 10: 2.0})
    assert np.abs(rig.displacements_m()).max() > 1e-4
    rig.clear()
    assert rig.loads == {}
    assert np.allclose(rig.node_positions_m(), NET.nodes)


@pytest.mark.parametrize("node, grams, direction", [(14, 1.0, (0, -1)), (-1, 1.0, (0, -1)), (1.5, 1.0, (0, -1)),
                                                    (3, 0.0, (0, -1)), (3, float("nan"), (0, -1)),
                                                    (3, 1.0, (0, 0))])
def test_hang_rejects_bad_input(node, grams, direction):
    with pytest.raises(InputError):
        SimRig(NET).hang(node, grams, direction)


def test_fixed_nodes_do_not_move_and_stiffness_error_changes_the_response():
    rig = SimRig(NET)
    rig.hang(12, 10.0)
    assert np.allclose(rig.displacements_m()[NET.fixed_nodes], 0)
    printed = SimRig(NET, stiffness_rel_error=0.1, seed=3)
    printed.hang(12, 10.0)
    assert not np.allclose(printed.true_stiffness, NET.stiffness)
    assert not np.allclose(printed.displacements_m(), rig.displacements_m())
    again = SimRig(NET, stiffness_rel_error=0.1, seed=3)
    assert np.array_equal(again.true_stiffness, printed.true_stiffness)


def test_board_poses_are_inside_the_picture_and_reproducible():
    rig = SimRig(NET)
    poses = rig.board_poses(6, seed=2)
    again = rig.board_poses(6, seed=2)
    assert all(np.array_equal(a.rvec, b.rvec) for a, b in zip(poses, again))
    for pose in poses:
        px = rig.camera.project(pose.to_world(rig.board.outline_mm()))
        assert (px[:, 0] > 0).all() and (px[:, 0] < rig.camera.width).all()
        assert (px[:, 1] > 0).all() and (px[:, 1] < rig.camera.height).all()
    tilts = [np.degrees(np.arccos(abs((rig.camera.rotation @ __import__("hardware_sim").camera_model
                                        .rotation_matrix(p.rvec))[2, 2]))) for p in poses]
    assert max(tilts) - min(tilts) > 10  # varied


def test_weight_set_pieces_have_their_own_true_mass():
    ws = SimWeightSet({1: 4, 2: 4, 5: 4, 10: 4, 20: 2}, rel_error=0.003, seed=1)
    assert len(ws.pieces) == 18
    rel = np.array([p.true_g / p.nominal_g - 1 for p in ws.pieces])
    assert 0 < np.abs(rel).max() < 0.02 and len(set(rel)) == 18
    picked = ws.pick(13)
    assert sum(p.nominal_g for p in picked) == 13
    assert sum(p.true_g for p in picked) != 13
    assert SimWeightSet(seed=1).pieces == ws.pieces
    assert SimWeightSet(seed=2).pieces != ws.pieces


def test_weight_set_runs_out_and_says_so():
    ws = SimWeightSet({5: 1, 2: 2}, seed=0)
    assert len(ws.pick(9)) == 3
    with pytest.raises(InputError, match="cannot make 1 g"):
        ws.pick(1)
    ws.release_all()
    assert sorted(p.nominal_g for p in ws.pick(4)) == [2.0, 2.0]  # not greedy-only
    with pytest.raises(InputError):
        ws.pick(2.5)


def test_operator_is_a_loader_and_hangs_what_it_weighed():
    rig = SimRig(NET, seed=4)
    op = SimOperator(rig)
    assert isinstance(op, Loader)
    true_g = op.put_on_balance(10)
    assert rig.pan_mass_g == pytest.approx(true_g) and true_g != 10
    op.take_off_balance()
    assert rig.pan_mass_g == 0
    op.apply(12, 10)
    assert rig.hung_grams[12] == pytest.approx(true_g)
    op.apply(13, 5, direction=(0, -1))
    assert set(rig.hung_grams) == {12, 13}
    op.clear()
    assert rig.loads == {} and len(rig.weights.available()) == len(rig.weights.pieces)


def test_operator_hanger_mass_and_failed_hang_returns_pieces():
    rig = SimRig(NET, seed=4)
    op = SimOperator(rig, hanger_g=0.5)
    op.apply(12, 1)
    assert rig.hung_grams[12] == pytest.approx(op.hung[0][2][0].true_g + 0.5)
    free = len(rig.weights.available())
    with pytest.raises(InputError):
        op.apply(99, 2)
    assert len(rig.weights.available()) == free


def test_nonlinear_mechanics_balances_the_load_exactly():
    from hardware_sim.mechanics import internal_forces, solve_nonlinear

    linear, exact = SimRig(NET), SimRig(NET, mechanics="nonlinear")
    for rig in (linear, exact):
        rig.hang(12, 10.0)
    F = exact.forces_n()
    u = exact.displacements_m()
    free = np.setdiff1d(np.arange(NET.n_nodes), NET.fixed_nodes)
    assert np.abs((F + internal_forces(NET, u, NET.stiffness))[free]).max() < 1e-12
    # the linear model's residual at its own solution is first order in the rotations
    assert np.abs((F + internal_forces(NET, linear.displacements_m(), NET.stiffness))[free]).max() > 1e-4
    # close to linear for small loads, apart for large ones
    assert np.abs(u - linear.displacements_m()).max() < 0.1 * np.abs(u).max()
    big = np.zeros_like(F)
    big[12, 1] = -0.2 * labmnn.GRAVITY
    assert np.abs(solve_nonlinear(NET, big) - NET.solve(big).displacements).max() > 1e-3
    assert np.allclose(exact.elongations_m(False), NET.compatibility_matrix @ u.ravel())
    with pytest.raises(InputError):
        SimRig(NET, mechanics="quadratic")

"""The factory's simulated devices wired to the real simulated rig (branch rig-sim)."""

import pytest

from labmnn.cli.sim.devices import open_balance, open_camera
from labmnn.devices import Balance, Camera
from labmnn.errors import DeviceError
from labmnn.model.network import Network

rig_mod = pytest.importorskip("hardware_sim.rig")
operator_mod = pytest.importorskip("hardware_sim.operator")


@pytest.fixture
def rig():
    return rig_mod.SimRig(Network.example("paper-triangle-n4"))


def test_balance_weighs_what_the_operator_puts_on_it(rig):
    op = operator_mod.SimOperator(rig)
    bal = open_balance(sim=True, mass_fn=lambda: rig.pan_mass_g, settle_timeout=3.0)
    try:
        assert isinstance(bal, Balance)
        assert bal.read_stable().mass_g == 0.0
        true_g = op.put_on_balance(10)
        assert true_g != 10.0  # each piece has its own manufacturing error
        reading = bal.read_stable()
        assert reading.stable and reading.mass_g == pytest.approx(true_g, abs=0.011)
        op.take_off_balance()
        assert bal.read_stable().mass_g == pytest.approx(0.0, abs=0.011)
    finally:
        bal.close()


def test_sim_camera_photographs_the_loaded_rig(rig, tmp_path):
    cam = open_camera(sim=True, rig=rig, width=600, height=400)
    try:
        assert isinstance(cam, Camera)
        rig.hang(12, 10)
        shot = cam.capture(tmp_path)
        assert shot.path.exists() and shot.truth["joints_px"].shape == (rig.network.n_nodes, 2)
        cam.inject("busy")
        with pytest.raises(DeviceError, match="busy"):
            cam.capture(tmp_path)
    finally:
        cam.close()

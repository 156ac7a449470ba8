"""The engine on the simulated rig (rendered photos, MT-SICS balance on a pty, real tracker):
accuracy, camera unplugged mid-protocol, balance timeout, and the demo command."""

import json
from pathlib import Path

import pytest

pytest.importorskip("hardware_sim.rig")

from labmnn.cli import main  # noqa: E402
from labmnn.cli.sim.bench import open_sim_bench  # noqa: E402
from labmnn.model.network import Network  # noqa: E402
from labmnn.protocol.operator import AutoOperator  # noqa: E402
from labmnn.protocol.runner import start_run  # noqa: E402
from labmnn.protocol.spec import load_protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sim_rig_gradient_with_camera_unplug_and_balance_timeout(tmp_path):
    text = (ROOT / "protocols" / "gradient.toml").read_text().replace("repeats = 3", "repeats = 1")
    text += "\n[balance]\ntimeout = 0.3\nsettle_timeout = 0.6\n"
    proto = tmp_path / "g.toml"
    proto.write_text(text)
    spec = load_protocol(proto)
    bench = open_sim_bench(spec, Network.open(spec.network))
    armed = {"camera": False, "balance": False}
    notes = []

    def hook(ins):
        if ins.kind == "weigh" and not armed["balance"]:
            bench.balance.server.inject("silence", 1)  # the next command gets no answer
            armed["balance"] = True
        if ins.kind == "hang" and ins.node == 13 and not armed["camera"]:
            bench.camera.inject("disconnect", 2)  # unplugged: capture fails, one reconnect fails
            armed["camera"] = True
        if ins.kind == "info":
            notes.append(ins.text)

    op = AutoOperator(bench.sim_operator, hook=hook)
    engine = start_run(proto, out=tmp_path / "s", sim=True, auto=True, operator=op, bench=bench)
    try:
        out = engine.run()
    finally:
        bench.close()
    assert out["status"] == "success"
    s = out["summary"]
    assert s["relative_error"] < 0.03 and s["cosine"] > 0.999
    faults = [r["device"] for r in engine.session.records if r.get("name") == "device_fault"]
    assert "balance" in faults and faults.count("camera") >= 2
    assert any(n.startswith("balance:") for n in notes)
    assert any(n.startswith("camera:") and "reconnect" in n for n in notes)
    states = [r.get("name") for r in engine.session.records]
    assert states.count("image") == 5  # reference, 2 forward, 2 adjoint: failed captures left no photo


@pytest.mark.slow
def test_demo_command_writes_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--repeats", "1"]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    for key in ("gradient_measured", "gradient_simulated", "relative_error", "cosine", "session"):
        assert key in s
    assert len(s["gradient_measured"]) == 28 and s["relative_error"] < 0.03
    assert Path(s["session"], "results.h5").exists()
    out = capsys.readouterr().out
    assert "step 1/7" in out and "relative error" in out  # two-level: 2 forward + 2 adjoint photos


def test_shipped_sim_calibration_matches_the_default_simulated_camera():
    """If the simulated camera changes, the demo would first spend a minute calibrating:
    regenerate with `python -m labmnn.cli.sim.calibration`."""
    from hardware_sim.camera import SimCamera
    from hardware_sim.rig import SimRig
    from labmnn.cli.sim.calibration import SHIPPED_NAME, calibration_name, shipped_calibration, sim_calibration
    from labmnn.resources import calibration_dir

    rig = SimRig(Network.example("paper-triangle-n4"))
    cam = SimCamera(rig)
    assert calibration_name(rig, cam) == SHIPPED_NAME
    assert shipped_calibration() == calibration_dir() / "simulated-rig.json"
    assert sim_calibration(rig, cam) == shipped_calibration()  # found, not re-made
    shipped = json.loads(shipped_calibration().read_text())
    assert tuple(shipped["image_size"]) == (cam.width, cam.height)


def test_a_changed_simulated_camera_is_not_given_the_shipped_calibration():
    from hardware_sim.camera import SimCamera
    from hardware_sim.rig import SimRig
    from labmnn.cli.sim.calibration import SHIPPED_NAME, calibration_name

    rig = SimRig(Network.example("paper-triangle-n4"))
    assert calibration_name(rig, SimCamera(rig, width=3000, height=2000)) != SHIPPED_NAME


@pytest.mark.slow
def test_sim_rig_joint_hidden_in_a_photo_is_retaken_not_recorded(tmp_path):
    """A thread/hand across joint 7 in the first loaded photo: the real tracker loses it,
    the engine rejects that photo and retakes it."""
    import cv2
    import numpy as np

    text = (ROOT / "protocols" / "gradient.toml").read_text().replace("repeats = 3", "repeats = 1")
    text = text.replace('linearize = "two_level"', 'linearize = "none"')
    proto = tmp_path / "g.toml"
    proto.write_text(text)
    spec = load_protocol(proto)
    bench = open_sim_bench(spec, Network.open(spec.network))
    capture = bench.camera.capture
    shots = []

    def occluded_capture(folder):
        cap = capture(folder)
        shots.append(cap.path.name)
        if len(shots) == 2:  # the first loaded photo
            img = cv2.imread(str(cap.path))
            x, y = np.asarray(cap.truth["joints_px"])[7]
            cv2.circle(img, (int(x), int(y)), 40, (200, 200, 200), -1)
            cv2.imwrite(str(cap.path), img)
        return cap

    bench.camera.capture = occluded_capture
    engine = start_run(proto, out=tmp_path / "s", sim=True, auto=True, bench=bench)
    try:
        out = engine.run()
    finally:
        bench.close()
    assert out["status"] == "success" and out["summary"]["relative_error"] < 0.03
    step = engine.session.completed_steps()["r0/forward/0"]
    assert len(step["rejected"]) == 1 and not any(step["lost"])
    rejected = [r for r in engine.session.records if r.get("name") == "rejected"]
    assert 7 in rejected[0]["lost_nodes"]
    assert (engine.session.folder / step["rejected"][0]).exists()  # kept as raw data, not used

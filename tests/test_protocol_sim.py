"""The engine on the simulated rig (rendered photos, MT-SICS balance on a pty, real tracker):
accuracy, camera unplugged mid-protocol, balance timeout, and the demo command."""

import json
from pathlib import Path

import pytest

pytest.importorskip("hardware_sim.rig")

from labmnn.cli import main  # noqa: E402
from labmnn.network import Network  # noqa: E402
from labmnn.protocol.bench import open_bench  # noqa: E402
from labmnn.protocol.operator import AutoOperator  # noqa: E402
from labmnn.protocol.runner import start_run  # noqa: E402
from labmnn.protocol.spec import load_protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_sim_rig_gradient_with_camera_unplug_and_balance_timeout(tmp_path):
    text = (ROOT / "protocols" / "gradient.toml").read_text().replace("repeats = 3", "repeats = 1")
    text += "\n[balance]\ntimeout = 0.3\n"
    proto = tmp_path / "g.toml"
    proto.write_text(text)
    spec = load_protocol(proto)
    bench = open_bench(spec, Network.open(spec.network), sim=True)
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
    assert states.count("image") == 3  # the failed captures left no photo behind


def test_demo_command_writes_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--repeats", "1"]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    for key in ("gradient_measured", "gradient_simulated", "relative_error", "cosine", "session"):
        assert key in s
    assert len(s["gradient_measured"]) == 28 and s["relative_error"] < 0.03
    assert Path(s["session"], "results.h5").exists()
    out = capsys.readouterr().out
    assert "step 1/5" in out and "relative error" in out

"""``labmnn camera ...`` on the fake gphoto2 body and on the (stub) simulated camera."""

import json
import sys

import cv2
import pytest
import sim_camera_stub
from fake_gphoto2 import FakeBody, FakeGPhoto2

from labmnn.cli import main
from labmnn.cli.sim import devices as factory
from labmnn.devices import Camera
from labmnn.errors import DeviceError
from labmnn.instruments import gphoto2_camera


@pytest.fixture
def body(monkeypatch):
    b = FakeBody()
    monkeypatch.setitem(sys.modules, "gphoto2", FakeGPhoto2(b))
    monkeypatch.setattr(gphoto2_camera, "DEFAULT_BACKOFF_S", 0.0)
    return b


@pytest.fixture
def stub(monkeypatch):
    sim_camera_stub.install(monkeypatch)


def test_list(body, capsys):
    assert main(["camera", "list"]) == 0
    assert capsys.readouterr().out == "Canon EOS 5D Mark IV\tusb:001,004\n"
    body.unplug()
    assert main(["camera", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_capture_with_settings_json(body, tmp_path, capsys):
    code = main(["camera", "capture", "--out", str(tmp_path), "--iso", "400", "--format", "jpeg",
                 "--target", "ram", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == str(tmp_path / "IMG_0001.JPG") and (tmp_path / "IMG_0001.JPG").exists()
    assert out["settings"]["iso"] == "400" and out["settings"]["capture_target"] == "ram"
    assert body.files == {}


def test_settings_ignored_exits_2(body, capsys):
    body.ignores.add("shutterspeed")
    assert main(["camera", "settings", "--shutter-speed", "1/250"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labmnn: error: the camera ignored shutter_speed='1/250' (camera kept '1/60')")


def test_settings_choices(body, capsys):
    assert main(["camera", "settings", "--choices", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["image_format"] == "JPEG"
    assert "RAW + Large Fine JPEG" in out["choices"]["image_format"]


def test_preview_writes_png(body, tmp_path, capsys):
    out = tmp_path / "lv.png"
    assert main(["camera", "preview", "--out", str(out)]) == 0
    assert cv2.imread(str(out)).shape == (48, 64, 3)


@pytest.mark.parametrize("setup,words", [
    (lambda b: setattr(b, "claimed_elsewhere", True), "gvfs"),
    (lambda b: b.unplug(), "no camera found"),
    (lambda b: b.fail("capture", *[-110] * 9), "busy"),
])
def test_failures_are_one_line_exit_2(body, tmp_path, capsys, setup, words):
    setup(body)
    assert main(["camera", "capture", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("labmnn: error: camera") and words in err


def test_bad_value_names_the_flag(body, capsys):
    assert main(["camera", "settings", "--iso", "31"]) == 2
    assert "--iso: '31' is not offered" in capsys.readouterr().err


def test_sim_capture_preview_settings(stub, tmp_path, capsys):
    assert main(["camera", "capture", "--sim", "--out", str(tmp_path), "--iso", "200"]) == 0
    assert (tmp_path / "sim_0001.jpg").exists() and "iso 200" in capsys.readouterr().out
    assert main(["camera", "preview", "--sim", "--out", str(tmp_path / "p.png")]) == 0
    assert cv2.imread(str(tmp_path / "p.png")).shape == (43, 64, 3)
    assert main(["camera", "list", "--sim"]) == 0
    assert "simulated" in capsys.readouterr().out


def test_factory_sim_uses_the_given_rig(stub):
    rig = sim_camera_stub.StubRig(network=None)
    cam = factory.open_camera(sim=True, rig=rig, width=10, height=8)
    assert isinstance(cam, Camera) and cam.rig is rig and cam.connected and cam.size == (10, 8)


def test_factory_without_hardware_sim_camera(monkeypatch):
    monkeypatch.setitem(sys.modules, "hardware_sim.camera", None)  # import fails
    with pytest.raises(DeviceError, match="simulated camera is not available"):
        factory.open_camera(sim=True)


def test_real_sim_camera_preview_via_cli(tmp_path, capsys):
    pytest.importorskip("hardware_sim.camera")
    out = tmp_path / "lv.png"
    assert main(["camera", "preview", "--sim", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"path": str(out), "width": 640, "height": 427}
    assert cv2.imread(str(out)).shape == (427, 640, 3)


def test_preview_bad_file_name_is_refused_before_opening(body, tmp_path, capsys):
    assert main(["camera", "preview", "--out", str(tmp_path / "frame.foo")]) == 2
    assert "--out" in capsys.readouterr().err and body.calls == []


def test_capture_out_is_a_file(body, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["camera", "capture", "--out", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err.startswith("labmnn: error: --out: cannot use")

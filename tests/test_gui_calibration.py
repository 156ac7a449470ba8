"""Calibration wizard on the simulated rig: photos, corners, calibration, per-image error, save."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("hardware_sim")

from PySide6.QtCore import Qt

import labmnn.gui  # noqa: F401  (PySide6 6.12 refcount workaround)
from hardware_sim.camera import SimCamera
from hardware_sim.rig import SimRig
from labmnn.gui.calibration_wizard import CalibrationWizard
from labmnn.gui.context import RigContext
from labmnn.gui.workers import DeviceOwner
from labmnn.metrology.calibration import Calibration
from labmnn.model.network import Network


@pytest.fixture
def wizard(qtbot, tmp_path):
    rig = SimRig(Network.example("paper-triangle-n4"))
    cam = SimCamera(rig, width=1200, height=800)
    owner = DeviceOwner("camera", cam, poll="preview", period=0.2)
    owner.start()
    owner.call("connect")
    ctx = RigContext(bench=None, sim=True, sessions_root=tmp_path, board_rig=rig)
    wiz = CalibrationWizard(owner, ctx)
    qtbot.addWidget(wiz)
    wiz.show()
    yield wiz
    owner.stop()
    wiz.finish()


def take(qtbot, wiz, button):
    qtbot.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not wiz.busy, timeout=30000)


@pytest.mark.slow
def test_wizard_calibrates_and_saves(qtbot, wizard, tmp_path):
    wiz = wizard
    for _ in range(3):
        take(qtbot, wiz, wiz.take_button)
    take(qtbot, wiz, wiz.plane_button)
    texts = [wiz.photo_list.item(i).text() for i in range(wiz.photo_list.count())]
    assert len(texts) == 4 and all("54 corners" in t for t in texts) and "(plane)" in texts[-1]
    assert len(wiz.corners_item.data) == 54  # corners drawn on the selected photo
    assert not wiz.save_button.isEnabled()
    qtbot.mouseClick(wiz.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: wiz.calibration is not None or "c00000" in wiz.status.text(), timeout=30000)
    cal = wiz.calibration
    assert cal is not None and cal.rms_px < 0.5 and cal.plane_homography is not None
    assert wiz.table.rowCount() == 3
    assert f"{cal.rms_px:.3f} px" in wiz.result_label.text()
    assert {wiz.table.item(r, 1).text() for r in range(3)} == {f"{v:.3f}" for v in cal.per_image_rms_px.values()}
    with qtbot.waitSignal(wiz.saved, timeout=5000) as sig:
        wiz.save_to(tmp_path / "cal.json")
    assert sig.args == [str(tmp_path / "cal.json")]
    assert Calibration.load(tmp_path / "cal.json").rms_px == pytest.approx(cal.rms_px)


def test_wrong_board_size_is_reported_per_photo(qtbot, wizard):
    wiz = wizard
    wiz.cols.setValue(wiz.cols.value() + 2)
    take(qtbot, wiz, wiz.take_button)
    assert "board not found" in wiz.photo_list.item(0).text()
    assert "not found" in wiz.status.text()
    qtbot.mouseClick(wiz.run_button, Qt.LeftButton)
    assert "at least 3" in wiz.status.text() and wiz.calibration is None

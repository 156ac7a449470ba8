"""The operator window driven button by button on the light simulated rig (pytest-qt, offscreen)."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

import labmnn.gui  # noqa: E401,F401  (applies the PySide6 6.12 refcount workaround first)
from labmnn.cli.sim.bench import sim_context
from labmnn.gui.main_window import MainWindow
from labmnn.protocol.recorder import Session

ROOT = Path(__file__).resolve().parents[1]
GRADIENT = ROOT / "protocols" / "gradient.toml"
TIMEOUT_MS = 20000


def protocol_with(tmp_path: Path, repeats: int) -> Path:
    text = GRADIENT.read_text()
    text = re.sub(r"(?m)^repeats = \d+", f"repeats = {repeats}", text)
    path = tmp_path / f"gradient-r{repeats}.toml"
    path.write_text(text)
    return path


@pytest.fixture
def window(qtbot, tmp_path):
    ctx = sim_context(tmp_path / "sessions", width=1200, height=800)
    win = MainWindow(ctx, protocol=None)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.shutdown()
    assert gc.isenabled()  # the window handed garbage collection back


def test_gc_runs_in_the_gui_thread_while_a_window_is_open(window):
    assert not gc.isenabled()


def wait_instruction_or_end(qtbot, win):
    panel = win.protocol_panel
    qtbot.waitUntil(lambda: panel.current is not None or win.outcome is not None, timeout=TIMEOUT_MS)
    return panel.current


def click_confirm(qtbot, win):
    """Click the one enabled confirm button (Captured for photos, Next otherwise)."""
    panel = win.protocol_panel
    ins = panel.current
    button = panel.captured_button if ins.kind == "capture" else panel.next_button
    other = panel.next_button if ins.kind == "capture" else panel.captured_button
    assert button.isEnabled() and not other.isEnabled()
    qtbot.mouseClick(button, Qt.LeftButton)
    return ins


def run_to_end(qtbot, win, stop_at=None):
    kinds = []
    while True:
        ins = wait_instruction_or_end(qtbot, win)
        if ins is None:
            return kinds
        if stop_at is not None and stop_at(ins, kinds):
            return kinds
        kinds.append(click_confirm(qtbot, win).kind)


@pytest.mark.slow
def test_gradient_measurement_button_by_button(qtbot, window, tmp_path):
    win = window
    assert win.open_protocol(GRADIENT)
    panel = win.protocol_panel
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    assert not panel.start_button.isEnabled()
    kinds = run_to_end(qtbot, win)
    assert win.outcome["status"] == "success", win.outcome
    summary = win.outcome["summary"]
    session = Session.open(win.outcome["session"])
    # each Captured click took one photo; each weighed stack was hung
    assert kinds.count("capture") == len(session.images()) >= 3 * 3
    assert kinds.count("hang") == kinds.count("weigh") >= 3 * 2
    qtbot.waitUntil(lambda: win.results.bonds is not None and win.results.bonds.repeats == 3
                    and "gradient_measured" in win.results.summary, timeout=TIMEOUT_MS)
    shown_mean, shown_std = win.results.shown_gradient()
    np.testing.assert_allclose(shown_mean, summary["gradient_measured"], rtol=1e-12)
    np.testing.assert_allclose(shown_std, summary["gradient_measured_std"], rtol=1e-12, atol=1e-30)
    assert f"{summary['relative_error']:.2%}" in win.results.summary_label.text()
    # the overlay colours the bonds by the same measured gradient
    np.testing.assert_allclose(win.camera_view.values["gradient"], summary["gradient_measured"])
    # and what is on disk agrees
    session = Session.open(win.outcome["session"])
    assert session.status() == "success"
    on_disk = json.loads((session.folder / "results.json").read_text())
    np.testing.assert_allclose(on_disk["gradient_measured"], shown_mean)
    # every step ticked, buttons back to idle, photo shown with tracked joints
    assert all(panel.steps.item(i).text().startswith("\u2713") for i in range(panel.steps.count()))
    assert panel.start_button.isEnabled() and not panel.abort_button.isEnabled()
    assert win.camera_view.photo_path is not None and win.camera_view.current_joints_px()[1]
    assert win.camera_view.frames_shown > 0


def test_repeat_step_redoes_the_loading_from_an_empty_rig(qtbot, window, tmp_path):
    win = window
    assert win.open_protocol(protocol_with(tmp_path, 1))
    panel = win.protocol_panel
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    run_to_end(qtbot, win, stop_at=lambda ins, kinds: ins.kind == "hang")
    assert panel.current.kind == "hang" and panel.repeat_button.isEnabled()
    qtbot.mouseClick(panel.repeat_button, Qt.LeftButton)
    ins = wait_instruction_or_end(qtbot, win)
    assert ins.kind == "remove" and "forward loading" in ins.step  # starts the step again, rig cleared
    run_to_end(qtbot, win)
    assert win.outcome["status"] == "success"
    records = Session.open(win.outcome["session"]).records
    stops = [r["status"] for r in records if r["kind"] == "stop"]
    assert stops == ["abort", "success"]
    assert any(r.get("name") == "resumed" for r in records)
    assert sum(1 for r in records if r["kind"] == "step" and r["key"] == "r0/forward/0") == 1


def test_abort_keeps_the_session(qtbot, window, tmp_path):
    win = window
    assert win.open_protocol(protocol_with(tmp_path, 1))
    panel = win.protocol_panel
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    run_to_end(qtbot, win, stop_at=lambda ins, kinds: ins.kind == "weigh")
    qtbot.mouseClick(panel.abort_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: win.outcome is not None, timeout=TIMEOUT_MS)
    assert win.outcome["status"] == "abort"
    assert Session.open(win.outcome["session"]).status() == "abort"
    assert "kept" in panel.instruction_label.text()
    assert panel.start_button.isEnabled()


def test_pause_holds_the_next_instruction_until_resume(qtbot, window, tmp_path):
    win = window
    assert win.open_protocol(protocol_with(tmp_path, 1))
    panel = win.protocol_panel
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    wait_instruction_or_end(qtbot, win)
    qtbot.mouseClick(panel.pause_button, Qt.LeftButton)
    assert panel.pause_button.text() == "Resume"
    click_confirm(qtbot, win)
    qtbot.waitUntil(lambda: "Paused" in panel.instruction_label.text(), timeout=TIMEOUT_MS)
    qtbot.wait(300)
    assert panel.current is None  # nothing asked while paused
    qtbot.mouseClick(panel.pause_button, Qt.LeftButton)
    assert wait_instruction_or_end(qtbot, win) is not None
    qtbot.mouseClick(panel.abort_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: win.outcome is not None, timeout=TIMEOUT_MS)


def test_camera_error_is_shown_and_reconnect_recovers(qtbot, window):
    win = window
    devices = win.devices
    qtbot.waitUntil(lambda: win.camera_view.frames_shown > 2, timeout=TIMEOUT_MS)
    win.ctx.bench.camera.inject("disconnect")
    qtbot.waitUntil(lambda: "error" in devices.camera_status.text(), timeout=TIMEOUT_MS)
    assert "#c00000" in devices.camera_status.text()
    assert any("camera" in w for w in win.protocol_panel.warning_texts())
    shown = win.camera_view.frames_shown
    qtbot.mouseClick(devices.camera_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "connected" in devices.camera_status.text()
                    and "error" not in devices.camera_status.text(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: win.camera_view.frames_shown > shown + 2, timeout=TIMEOUT_MS)


def test_balance_reading_is_live(qtbot, window):
    win = window
    win.ctx.bench.rig.pan_mass_g = 12.5
    qtbot.waitUntil(lambda: "12.5" in win.protocol_panel.balance_label.text(), timeout=TIMEOUT_MS)
    assert "12.5" in win.devices.balance_reading.text()


@pytest.mark.slow
def test_past_session_opens_with_the_same_results(qtbot, window, tmp_path):
    win = window
    assert win.open_protocol(protocol_with(tmp_path, 2))
    qtbot.mouseClick(win.protocol_panel.start_button, Qt.LeftButton)
    run_to_end(qtbot, win)
    summary = win.outcome["summary"]
    folder = win.outcome["session"]
    win.results.gradient_plot.getPlotItem().clear()
    items = [win.results.sessions.item(i).data(Qt.UserRole) for i in range(win.results.sessions.count())]
    assert folder in items
    win.results.show_bonds.__self__.bonds = None
    win.open_session(folder)
    qtbot.waitUntil(lambda: win.results.bonds is not None and win.results.bonds.repeats == 2, timeout=TIMEOUT_MS)
    mean, std = win.results.shown_gradient()
    np.testing.assert_allclose(mean, summary["gradient_measured"], rtol=1e-12)
    assert folder.split("/")[-1] in win.results.summary_label.text()


def test_bad_protocol_is_a_warning_not_a_crash(qtbot, window, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GRADIENT.read_text().replace("repeats = 3", "repeats = -1"))
    assert not window.open_protocol(bad)
    assert any("repeats" in w for w in window.protocol_panel.warning_texts())
    assert window.spec is None


@pytest.mark.slow
def test_training_run_shows_the_loss_curve(qtbot, window):
    win = window
    assert win.open_protocol(ROOT / "protocols" / "train.toml")
    qtbot.mouseClick(win.protocol_panel.start_button, Qt.LeftButton)
    kinds = run_to_end(qtbot, win)
    assert win.outcome["status"] == "success", win.outcome
    # start check + mount each updated design + condition each of the 3 designs ([train] condition_s)
    assert kinds.count("info") == 1 + 2 + 3
    history = win.outcome["summary"]["history"]
    np.testing.assert_allclose(win.results.shown_history(), [h["loss"] for h in history])
    assert win.results.tabs.currentIndex() == 1
    qtbot.waitUntil(lambda: win.results.bonds is not None and win.results.bonds.title == "training step 3",
                    timeout=TIMEOUT_MS)
    assert win.results.bonds.repeats == 1  # only the latest design's gradient is plotted


def test_real_rig_window_opens_with_device_errors_shown(qtbot, tmp_path):
    from labmnn.gui.context import FailedDevice, real_context

    ctx = real_context(tmp_path / "sessions", "/dev/ttyLABMNN-NO-SUCH-PORT", None)
    ctx.bench.camera = FailedDevice("camera", RuntimeError("no camera on this machine (test)"))
    win = MainWindow(ctx, protocol=GRADIENT)
    qtbot.addWidget(win)
    win.show()
    try:
        dev = win.devices
        qtbot.waitUntil(lambda: "error" in dev.balance_status.text() and "error" in dev.camera_status.text(),
                        timeout=TIMEOUT_MS)
        assert "ttyLABMNN-NO-SUCH-PORT" in dev.balance_status.text()
        assert "no camera on this machine" in dev.camera_status.text()
        assert "missing" in dev.calibration_status.text()
        warnings = " ".join(win.protocol_panel.warning_texts())
        assert "calibration missing" in warnings and "balance:" in warnings
        assert win.protocol_panel.balance_label.text() == "error"
        assert win.spec is not None and win.protocol_panel.start_button.isEnabled()  # the window works on
    finally:
        win.shutdown()


def test_aborted_session_is_resumed_from_the_results_tab(qtbot, window, tmp_path):
    win = window
    assert win.open_protocol(protocol_with(tmp_path, 1))
    panel = win.protocol_panel
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    run_to_end(qtbot, win, stop_at=lambda ins, kinds: ins.kind == "hang" and "adjoint" in ins.step)
    qtbot.mouseClick(panel.abort_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: win.outcome is not None, timeout=TIMEOUT_MS)
    folder = win.outcome["session"]
    done_before = set(Session.open(folder).completed_steps())
    assert "r0/forward/0" in done_before and "r0/gradient" not in done_before
    sessions = win.results.sessions
    row = next(i for i in range(sessions.count()) if sessions.item(i).data(Qt.UserRole) == folder)
    assert "[abort]" in sessions.item(row).text()
    sessions.setCurrentRow(row)
    win.outcome = None
    qtbot.mouseClick(win.results.resume_button, Qt.LeftButton)
    kinds = run_to_end(qtbot, win)
    assert win.outcome["status"] == "success" and win.outcome["session"] == folder
    assert "weigh" in kinds and kinds.count("capture") < 5  # the forward loadings were not redone
    assert Session.open(folder).status() == "success"

"""Screenshots of the Devices tab (a camera fault) and the calibration wizard, for docs/gui.md.

The protocol and results screenshots come from the command itself::

    labmnn gui --sim --screenshot docs/gui-results.png --screenshot-protocol docs/gui-protocol.png
    labmnn gui --sim --protocol protocols/train.toml --screenshot docs/gui-training.png

Run: ``QT_QPA_PLATFORM=offscreen python docs/make_gui_screenshots.py``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore, QtWidgets  # noqa: E402

import labmnn.gui  # noqa: E402,F401


def pump(app, seconds, until=None):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not (until and until()):
        app.processEvents(QtCore.QEventLoop.AllEvents, 20)


def main() -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from labmnn.cli.sim.bench import full_sim_context
    from labmnn.gui.main_window import MainWindow

    protocol = ROOT / "labmnn" / "data" / "protocols" / "gradient.toml"
    ctx = full_sim_context(Path(tempfile.mkdtemp(prefix="labmnn-shots-")), protocol)
    win = MainWindow(ctx, protocol=protocol)
    win.resize(1440, 900)
    win.show()
    pump(app, 3)
    win.tabs.setCurrentWidget(win.devices)
    ctx.bench.camera.inject("disconnect")
    pump(app, 2)
    win.grab().save(str(ROOT / "docs" / "gui-devices.png"))
    win.reconnect_camera()
    pump(app, 2)
    win.open_calibration_wizard()
    wiz = win.wizard
    wiz.resize(1280, 800)
    for _ in range(6):
        wiz.take_photo(plane=False)
        pump(app, 60, until=lambda: not wiz.busy)
    wiz.take_photo(plane=True)
    pump(app, 60, until=lambda: not wiz.busy)
    wiz.photo_list.setCurrentRow(2)
    wiz.run_calibration()
    pump(app, 120, until=lambda: not wiz.busy)
    pump(app, 1)
    wiz.grab().save(str(ROOT / "docs" / "gui-calibration.png"))
    wiz.close()
    win.shutdown()
    print("wrote docs/gui-devices.png, docs/gui-calibration.png;", wiz.result_label.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

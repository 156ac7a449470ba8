"""Devices panel: camera, balance and calibration, each with its state in plain
colours (green ok, red error with the device's message, amber attention) and a
way to reconnect.

The panel never calls a device: it emits requests that the main window queues
to the device's owner thread, and shows what the owners report.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6 import QtWidgets
from PySide6.QtCore import Signal

OK, ERROR, ATTENTION, OFF = "#2a8a2a", "#c00000", "#c77700", "#777777"
STALE_DAYS = 7.0
SETTINGS = {
    "iso": ("ISO", ["100", "200", "400", "800", "1600"]),
    "aperture": ("Aperture", ["4", "5", "5.6", "8", "11"]),
    "shutter_speed": ("Shutter", ["1/30", "1/60", "1/125", "1/250"]),
    "image_format": ("Format", ["JPEG", "RAW", "RAW+JPEG"]),
}


def status_html(colour: str, text: str) -> str:
    return f"<span style='color:{colour}; font-size:18px'>&#9679;</span> <b style='color:{colour}'>{text}</b>"


def calibration_state(path: str | Path | None, rms_px: float | None, now: float | None = None) -> tuple[str, str]:
    """(colour, text) of the calibration status: missing, stale (older than 7 days), poor RMS, or ok."""
    if path is None or not Path(path).is_file():
        return ERROR, "missing: run the calibration wizard"
    age_days = ((now or time.time()) - Path(path).stat().st_mtime) / 86400
    age = f"{age_days * 24:.1f} h" if age_days < 1 else f"{age_days:.1f} days"
    rms = "RMS ?" if rms_px is None else f"RMS {rms_px:.2f} px"
    if age_days > STALE_DAYS:
        return ATTENTION, f"stale: made {age} ago, {rms}; recalibrate if the camera moved"
    if rms_px is not None and rms_px > 1.0:
        return ATTENTION, f"poor: {rms} (over 1 px), made {age} ago"
    return OK, f"ok: {rms}, made {age} ago"


class DevicesPanel(QtWidgets.QWidget):
    """Camera, balance and calibration status with reconnect buttons.

    Signals
    -------
    camera_reconnect(), balance_reconnect(str)
        Reconnect (the balance to the given port).
    camera_apply(dict)
        Settings to write (read back afterwards).
    calibration_load(), calibration_wizard()
    """

    camera_reconnect = Signal()
    camera_apply = Signal(dict)
    balance_reconnect = Signal(str)
    calibration_load = Signal()
    calibration_wizard = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._build()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)

        cam = QtWidgets.QGroupBox("Camera")
        cl = QtWidgets.QGridLayout(cam)
        self.camera_status = QtWidgets.QLabel(status_html(OFF, "not connected"))
        self.camera_status.setWordWrap(True)
        cl.addWidget(self.camera_status, 0, 0, 1, 3)
        self.camera_name = QtWidgets.QLabel("")
        cl.addWidget(self.camera_name, 1, 0, 1, 3)
        self.setting_boxes: dict[str, QtWidgets.QComboBox] = {}
        for row, (key, (label, values)) in enumerate(SETTINGS.items(), start=2):
            cl.addWidget(QtWidgets.QLabel(label), row, 0)
            box = QtWidgets.QComboBox()
            box.setEditable(True)
            box.addItems(values)
            cl.addWidget(box, row, 1)
            self.setting_boxes[key] = box
        self.apply_button = QtWidgets.QPushButton("Apply settings")
        self.apply_button.clicked.connect(
            lambda: self.camera_apply.emit({k: b.currentText() for k, b in self.setting_boxes.items()}))
        cl.addWidget(self.apply_button, 2, 2)
        self.camera_button = QtWidgets.QPushButton("Reconnect camera")
        self.camera_button.clicked.connect(self.camera_reconnect.emit)
        cl.addWidget(self.camera_button, 3, 2)
        layout.addWidget(cam)

        bal = QtWidgets.QGroupBox("Balance")
        bl = QtWidgets.QGridLayout(bal)
        self.balance_status = QtWidgets.QLabel(status_html(OFF, "not connected"))
        self.balance_status.setWordWrap(True)
        bl.addWidget(self.balance_status, 0, 0, 1, 3)
        bl.addWidget(QtWidgets.QLabel("Port"), 1, 0)
        self.port_edit = QtWidgets.QLineEdit()
        self.port_edit.setPlaceholderText("/dev/ttyUSB0")
        bl.addWidget(self.port_edit, 1, 1)
        self.balance_button = QtWidgets.QPushButton("Reconnect balance")
        self.balance_button.clicked.connect(lambda: self.balance_reconnect.emit(self.port_edit.text().strip()))
        bl.addWidget(self.balance_button, 1, 2)
        self.balance_reading = QtWidgets.QLabel("--")
        bl.addWidget(self.balance_reading, 2, 0, 1, 3)
        layout.addWidget(bal)

        calib = QtWidgets.QGroupBox("Calibration")
        kl = QtWidgets.QGridLayout(calib)
        self.calibration_status = QtWidgets.QLabel(status_html(ERROR, "missing"))
        self.calibration_status.setWordWrap(True)
        kl.addWidget(self.calibration_status, 0, 0, 1, 3)
        self.calibration_file = QtWidgets.QLabel("")
        self.calibration_file.setWordWrap(True)
        kl.addWidget(self.calibration_file, 1, 0, 1, 3)
        self.load_button = QtWidgets.QPushButton("Load...")
        self.load_button.clicked.connect(self.calibration_load.emit)
        kl.addWidget(self.load_button, 2, 0)
        self.wizard_button = QtWidgets.QPushButton("Calibration wizard...")
        self.wizard_button.clicked.connect(self.calibration_wizard.emit)
        kl.addWidget(self.wizard_button, 2, 1)
        layout.addWidget(calib)
        layout.addStretch(1)

    # ----------------------------------------------------------------- state
    def set_camera_state(self, state: str, message: str = "", name: str = "") -> None:
        """``state``: ``connected``, ``disconnected`` or ``error`` (with the device's message)."""
        colour = {"connected": OK, "error": ERROR}.get(state, OFF)
        text = {"connected": "connected", "error": f"error: {message}"}.get(state, "not connected")
        self.camera_status.setText(status_html(colour, text))
        self.camera_button.setStyleSheet("font-weight: bold; color: #c00000;" if state == "error" else "")
        if name:
            self.camera_name.setText(name)

    def set_camera_settings(self, settings: dict) -> None:
        for key, box in self.setting_boxes.items():
            value = settings.get(key)
            if value is not None:
                box.setCurrentText(str(value))

    def set_balance_state(self, state: str, message: str = "", port: str = "") -> None:
        colour = {"connected": OK, "error": ERROR}.get(state, OFF)
        text = {"connected": "connected", "error": f"error: {message}"}.get(state, "not connected")
        self.balance_status.setText(status_html(colour, text))
        self.balance_button.setStyleSheet("font-weight: bold; color: #c00000;" if state == "error" else "")
        if port and not self.port_edit.text():
            self.port_edit.setText(port)

    def set_balance_reading(self, mass_g: float, stable: bool) -> None:
        self.balance_reading.setText(f"{mass_g:.3f} g ({'stable' if stable else 'settling'})")

    def set_calibration(self, path: str | Path | None, rms_px: float | None, note: str = "") -> tuple[str, str]:
        colour, text = calibration_state(path, rms_px)
        if note:
            colour, text = OK, note
        self.calibration_status.setText(status_html(colour, text))
        self.calibration_file.setText(str(path) if path else "")
        return colour, text

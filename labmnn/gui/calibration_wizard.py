"""Calibration wizard: board photos from the GUI, detected corners, calibration,
per-image error, save.

Steps on the dialog, top to bottom: the board (inner corners, square size);
"Take board photo" (vary the pose: tilt it, turn it, fill the frame) and "Take
plane photo" (the board lying where the network hangs, for pixels to mm); the
photo list with the corners found in each (drawn on the selected photo);
"Run calibration" (RMS reprojection error overall and per photo; over 1 px
means a problem); "Save...".

The camera is used through its owner thread; corner detection and calibration
run in worker threads, so the window keeps responding.  On a simulated rig
each "Take" first places the simulated board at a new pose.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets
from PySide6.QtCore import Qt, Signal

from labmnn.errors import LabmnnError
from labmnn.gui.camera_view import load_photo
from labmnn.gui.channel import Channel, hold_gc, release_gc

GOOD_RMS_PX = 0.5
BAD_RMS_PX = 1.0


class CalibrationWizard(QtWidgets.QDialog):
    """The calibration dialog.

    Parameters
    ----------
    camera_owner : DeviceOwner
        Owner thread of the camera (captures are queued to it).
    context : RigContext
        ``board_rig`` (simulated rigs) places the board; ``sessions_root`` hosts
        the photos in ``calibration/<time>/``.

    Signals
    -------
    saved(str)
        The calibration file written.
    """

    saved = Signal(str)

    def __init__(self, camera_owner, context, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Camera calibration")
        self.resize(1100, 760)
        self.camera_owner = camera_owner
        self.rig = context.board_rig
        self.folder = Path(context.sessions_root) / "calibration" / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.photos: list[dict] = []  # {"path", "plane", "corners" (None until found / ndarray / False)}
        self.calibration = None
        self.busy = False
        self._pose_index = 0
        self._poses = self.rig.board_poses(24, seed=1) if self.rig is not None else []
        self.events = Channel()
        self.events.connect(self._on_event)
        hold_gc()
        self._released = False
        self._build(context)

    # ------------------------------------------------------------- layout
    def _build(self, context) -> None:
        layout = QtWidgets.QHBoxLayout(self)
        left = QtWidgets.QVBoxLayout()
        form = QtWidgets.QFormLayout()
        board = getattr(self.rig, "board", None)
        self.cols = QtWidgets.QSpinBox(minimum=3, maximum=40, value=getattr(board, "cols", 9))
        self.rows = QtWidgets.QSpinBox(minimum=3, maximum=40, value=getattr(board, "rows", 6))
        self.square = QtWidgets.QDoubleSpinBox(minimum=1.0, maximum=200.0, decimals=2,
                                               value=float(getattr(board, "square_mm", 20.0)))
        self.square.setSuffix(" mm")
        form.addRow("Inner corners across", self.cols)
        form.addRow("Inner corners down", self.rows)
        form.addRow("Square size", self.square)
        left.addLayout(form)
        note = QtWidgets.QLabel("Take 6 or more board photos in varied poses (tilted, turned, near the corners "
                                "of the frame), then one with the board lying in the network's plane.")
        note.setWordWrap(True)
        left.addWidget(note)
        row = QtWidgets.QHBoxLayout()
        self.take_button = QtWidgets.QPushButton("Take board photo")
        self.take_button.clicked.connect(lambda: self.take_photo(plane=False))
        self.plane_button = QtWidgets.QPushButton("Take plane photo")
        self.plane_button.clicked.connect(lambda: self.take_photo(plane=True))
        row.addWidget(self.take_button)
        row.addWidget(self.plane_button)
        left.addLayout(row)
        self.photo_list = QtWidgets.QListWidget()
        self.photo_list.currentRowChanged.connect(self._show_photo)
        left.addWidget(self.photo_list, 1)
        self.run_button = QtWidgets.QPushButton("Run calibration")
        self.run_button.clicked.connect(self.run_calibration)
        left.addWidget(self.run_button)
        self.result_label = QtWidgets.QLabel("")
        self.result_label.setWordWrap(True)
        left.addWidget(self.result_label)
        self.table = QtWidgets.QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["photo", "RMS error (px)"])
        self.table.horizontalHeader().setStretchLastSection(True)
        left.addWidget(self.table, 1)
        self.save_button = QtWidgets.QPushButton("Save...")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._ask_save)
        left.addWidget(self.save_button)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        left.addWidget(self.status)
        layout.addLayout(left, 2)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("#202020")
        self.box = self.view.addViewBox(lockAspect=True, invertY=True)
        self.image = pg.ImageItem()
        self.box.addItem(self.image)
        self.corners_item = pg.ScatterPlotItem(pen=pg.mkPen("#00ff66", width=2), brush=None, size=9, symbol="o")
        self.box.addItem(self.corners_item)
        self.first_corner = pg.ScatterPlotItem(pen=pg.mkPen("#ff3030", width=3), brush=None, size=16, symbol="s")
        self.box.addItem(self.first_corner)
        layout.addWidget(self.view, 3)

    def board_spec(self):
        from labmnn.metrology.calibration import BoardSpec

        return BoardSpec(self.cols.value(), self.rows.value(), float(self.square.value()))

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy = busy
        for b in (self.take_button, self.plane_button, self.run_button):
            b.setEnabled(not busy)
        self.save_button.setEnabled(not busy and self.calibration is not None)
        if text:
            self.status.setText(text)

    # ------------------------------------------------------------- photos
    def take_photo(self, plane: bool = False) -> None:
        """Capture a board photo in the camera's thread; corners are searched in a worker."""
        if self.busy:
            return
        if self.rig is not None:
            if plane:
                self.rig.place_board(self.rig.plane_board_pose())
            else:
                self.rig.place_board(self._poses[self._pose_index % len(self._poses)])
                self._pose_index += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        self._set_busy(True, "Taking the photo...")
        board = self.board_spec()

        def captured(capture, error):
            if error is not None:
                self.events.emit("error", error)
                return
            self.events.emit("photo", {"path": Path(capture.path), "plane": plane})
            from labmnn.metrology.calibration import find_corners

            try:
                corners = find_corners(str(capture.path), board)
            except Exception as exc:  # noqa: BLE001 - shown in the list
                self.events.emit("error", exc)
                return
            self.events.emit("corners", (Path(capture.path), corners))

        self.camera_owner.call_async("capture", self.folder, callback=captured)

    def _on_event(self, kind: str, payload) -> None:
        if kind == "photo":
            self.photos.append({**payload, "corners": None})
            item = QtWidgets.QListWidgetItem(self._photo_text(self.photos[-1]))
            self.photo_list.addItem(item)
            self.photo_list.setCurrentRow(self.photo_list.count() - 1)
            self.status.setText("Looking for the board's corners...")
        elif kind == "corners":
            path, corners = payload
            for i, p in enumerate(self.photos):
                if p["path"] == path:
                    p["corners"] = corners if corners is not None else False
                    self.photo_list.item(i).setText(self._photo_text(p))
                    self.photo_list.item(i).setForeground(Qt.darkGreen if corners is not None else Qt.red)
                    if self.photo_list.currentRow() == i:
                        self._show_photo(i)
            self._set_busy(False, "Board found." if corners is not None else
                           "Board not found in this photo: check the corner counts, light and focus.")
        elif kind == "calibrated":
            self.calibration = payload
            self._show_calibration(payload)
            self._set_busy(False, "Calibrated. Save it to use it.")
        elif kind == "error":
            text = payload.one_line() if isinstance(payload, LabmnnError) else f"{type(payload).__name__}: {payload}"
            self._set_busy(False, f"<span style='color:#c00000'>{text}</span>")
        elif kind == "image":
            index, rgb, factor = payload
            if index == self.photo_list.currentRow() and rgb is not None:
                self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
                h, w = rgb.shape[:2]
                self.image.setRect(0, 0, w / factor, h / factor)
                self.box.autoRange(padding=0.02)

    def _photo_text(self, p: dict) -> str:
        tag = " (plane)" if p["plane"] else ""
        c = p["corners"]
        state = "searching..." if c is None else ("board not found" if c is False else f"{len(c)} corners")
        return f"{p['path'].name}{tag}: {state}"

    def _show_photo(self, index: int) -> None:
        if not 0 <= index < len(self.photos):
            return
        p = self.photos[index]
        c = p["corners"]
        if isinstance(c, np.ndarray):
            self.corners_item.setData(pos=c)
            self.first_corner.setData(pos=c[:1])
        else:
            self.corners_item.setData(pos=np.zeros((0, 2)))
            self.first_corner.setData(pos=np.zeros((0, 2)))

        def work():
            rgb, factor = load_photo(p["path"], max_side=2000)
            self.events.emit("image", (index, rgb, factor))

        threading.Thread(target=work, name="labmnn-calib-photo", daemon=True).start()

    # --------------------------------------------------------- calibration
    def run_calibration(self) -> None:
        """Calibrate from the photos where the board was found (worker thread)."""
        if self.busy:
            return
        shots = [p["path"] for p in self.photos if not p["plane"] and isinstance(p["corners"], np.ndarray)]
        planes = [p["path"] for p in self.photos if p["plane"] and isinstance(p["corners"], np.ndarray)]
        if len(shots) < 3:
            self.status.setText(f"<span style='color:#c00000'>The board was found in {len(shots)} tilted "
                                "photo(s); take at least 3 (6 or more is better).</span>")
            return
        board = self.board_spec()
        self._set_busy(True, f"Calibrating from {len(shots)} photos...")

        def work():
            from labmnn.metrology.calibration import calibrate

            try:
                cal = calibrate(shots, board, plane_image=planes[-1] if planes else None)
            except Exception as exc:  # noqa: BLE001 - shown in the dialog
                self.events.emit("error", exc)
                return
            self.events.emit("calibrated", cal)

        threading.Thread(target=work, name="labmnn-calibrate", daemon=True).start()

    def _show_calibration(self, cal) -> None:
        rms = float(cal.rms_px)
        colour = "#2a8a2a" if rms <= GOOD_RMS_PX else ("#c77700" if rms <= BAD_RMS_PX else "#c00000")
        plane = (f", plane: {cal.plane_rms_mm:.3f} mm RMS" if getattr(cal, "plane_rms_mm", None) is not None
                 else ", no plane photo (pixels cannot be turned into mm)")
        self.result_label.setText(f"<b style='color:{colour}'>RMS reprojection error {rms:.3f} px</b>{plane}")
        errors = dict(cal.per_image_rms_px)
        self.table.setRowCount(len(errors) + len(cal.rejected))
        for row, (name, err) in enumerate(sorted(errors.items())):
            label = name + (" (outlier)" if name in cal.outliers else "")
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(label))
            item = QtWidgets.QTableWidgetItem(f"{err:.3f}")
            if err > BAD_RMS_PX or name in cal.outliers:
                item.setForeground(Qt.red)
            self.table.setItem(row, 1, item)
        for row, (name, why) in enumerate(sorted(cal.rejected.items()), start=len(errors)):
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(name))
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem(f"not used: {why}"))

    def _ask_save(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save calibration", str(self.folder / "calibration.json"),
                                                        "Calibration (*.json)")
        if path:
            self.save_to(path)

    def save_to(self, path: str | Path) -> Path:
        """Write the calibration (JSON) and emit :attr:`saved`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.calibration.save(path)
        self.status.setText(f"Saved {path}")
        self.saved.emit(str(path))
        return path

    def finish(self) -> None:
        """Put the simulated board away and hand garbage collection back (safe to call twice)."""
        if self.rig is not None:
            self.rig.remove_board()
        if not self._released:
            self._released = True
            release_gc()

    def done(self, result: int) -> None:  # noqa: D401 - Qt API (closing the dialog)
        self.finish()
        super().done(result)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.finish()
        super().closeEvent(event)

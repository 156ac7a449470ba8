"""Camera view: the last full-resolution photo (zoom, pan) with the network overlay,
and the live view.

The overlay draws each bond coloured by the chosen per-bond quantity (forward
elongation, adjoint elongation or gradient) on a diverging colour map with a
colour bar, and each joint numbered as in the prompts.  Fixed nodes are dark
triangles (clamped to the frame), input nodes (where the forward load hangs)
red with an arrow along the pull, output nodes (those in the loss) blue rings,
as in the paper's figures.

Only the GUI thread calls these widgets; photos are decoded in a worker thread
(:class:`PhotoLoader`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

from labmnn.gui.channel import Channel

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

QUANTITIES = {
    "forward": "forward elongation (mm)",
    "adjoint": "adjoint elongation (mm)",
    "gradient": "gradient dL/dk (m\u00b2 per N/m)",
}
FIXED_COLOUR = "#202020"
INPUT_COLOUR = "#d62728"
OUTPUT_COLOUR = "#1f5fd6"


def load_photo(path: str | Path, max_side: int = 3200) -> tuple[np.ndarray | None, float]:
    """Decode a photo for display: (RGB array or None, factor display px per full px).

    Large photos are decoded at 1/2, 1/4 or 1/8 size (JPEG DCT scaling, fast).
    """
    path = str(path)
    header = cv2.imread(path, cv2.IMREAD_REDUCED_COLOR_8)
    if header is None:
        return None, 1.0
    full_side = max(header.shape[:2]) * 8
    for factor, flag in ((1, cv2.IMREAD_COLOR), (2, cv2.IMREAD_REDUCED_COLOR_2),
                         (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8)):
        if full_side / factor <= max_side or factor == 8:
            img = header if factor == 8 else cv2.imread(path, flag)
            if img is None:
                return None, 1.0
            return np.ascontiguousarray(img[:, :, ::-1]), 1.0 / factor
    return None, 1.0  # pragma: no cover


class PhotoLoader:
    """Decodes photos in a worker thread; :attr:`loaded` carries (path, rgb, factor)."""

    def __init__(self):
        self.loaded = Channel()

    def load(self, path: str | Path) -> None:
        def work():
            rgb, factor = load_photo(path)
            self.loaded.emit(str(path), rgb, factor)

        threading.Thread(target=work, name="labmnn-photo", daemon=True).start()


class BondLines(pg.GraphicsObject):
    """All bonds as outlined, coloured line segments (one item, painted in one pass)."""

    def __init__(self):
        super().__init__()
        self._segments = np.zeros((0, 4))
        self._colours: list[QtGui.QColor] = []
        self._width = 4.0
        self._rect = QtCore.QRectF()

    def set_data(self, segments: np.ndarray, colours: list[QtGui.QColor], width: float) -> None:
        self.prepareGeometryChange()
        self._segments = np.asarray(segments, dtype=float).reshape(-1, 4)
        self._colours = list(colours)
        self._width = float(width)
        if len(self._segments):
            xs = self._segments[:, [0, 2]]
            ys = self._segments[:, [1, 3]]
            pad = self._width
            self._rect = QtCore.QRectF(xs.min() - pad, ys.min() - pad, np.ptp(xs) + 2 * pad, np.ptp(ys) + 2 * pad)
        else:
            self._rect = QtCore.QRectF()
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, painter, *args) -> None:
        painter.setRenderHint(QtGui.QPainter.Antialiasing)
        lines = [QtCore.QLineF(*seg) for seg in self._segments]
        outline = QtGui.QPen(QtGui.QColor(0, 0, 0, 200), self._width + 2.5)
        outline.setCapStyle(Qt.RoundCap)
        painter.setPen(outline)
        painter.drawLines(lines)
        for line, colour in zip(lines, self._colours):
            pen = QtGui.QPen(colour, self._width)
            pen.setCapStyle(Qt.RoundCap)
            painter.setPen(pen)
            painter.drawLine(line)


def schematic_px(nodes_m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Place network nodes (m, y up) on an image of ``size`` (w, h) when no tracking is known."""
    mm = nodes_m * 1e3
    lo, hi = mm.min(axis=0), mm.max(axis=0)
    span = max(float(np.max(hi - lo)), 1e-9)
    w, h = size
    scale = 0.6 * min(w, h) / span
    d = mm - (lo + hi) / 2
    return np.column_stack([w / 2 + scale * d[:, 0], h / 2 - scale * d[:, 1]])


class CameraView(QtWidgets.QWidget):
    """The photo with the overlay (top) and the live view with its frame rate (bottom).

    Signals
    -------
    frame_shown()
        After each live frame is on screen (the camera owner then sends the next).
    """

    frame_shown = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.network = None
        self.fixed: np.ndarray = np.zeros(0, int)
        self.inputs: dict[int, tuple[float, float]] = {}
        self.outputs: list[int] = []
        self.values: dict[str, np.ndarray] = {}
        self.sources: dict[str, str] = {}
        self.quantity = "gradient"
        self.photo_path: str | None = None
        self.photo_size = (1200, 800)
        self.photo_factor = 1.0
        self.joints_px: dict[str, np.ndarray] = {}
        self._frame_times: deque[float] = deque(maxlen=60)
        self.frames_shown = 0
        self.loader = PhotoLoader()
        self.loader.loaded.connect(self._photo_loaded)
        self._build()

    # ----------------------------------------------------------------- layout
    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        split = QtWidgets.QSplitter(Qt.Vertical)
        layout.addWidget(split)

        top = QtWidgets.QWidget()
        tl = QtWidgets.QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        bar = QtWidgets.QHBoxLayout()
        self.photo_title = QtWidgets.QLabel("No photo yet: the network as designed")
        self.photo_title.setStyleSheet("font-weight: bold;")
        self.photo_title.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        bar.addWidget(self.photo_title, 1)
        bar.addWidget(QtWidgets.QLabel("Colour bonds by"))
        self.quantity_box = QtWidgets.QComboBox()
        for key, text in QUANTITIES.items():
            self.quantity_box.addItem(text, key)
        self.quantity_box.setCurrentIndex(list(QUANTITIES).index(self.quantity))
        self.quantity_box.currentIndexChanged.connect(
            lambda _i: self.set_quantity(self.quantity_box.currentData()))
        bar.addWidget(self.quantity_box)
        self.network_button = QtWidgets.QPushButton("Network")
        self.network_button.setToolTip("Zoom to the network (wheel zooms, drag pans)")
        self.network_button.clicked.connect(self.zoom_to_network)
        bar.addWidget(self.network_button)
        self.fit_button = QtWidgets.QPushButton("Whole photo")
        self.fit_button.setToolTip("Show the whole photo")
        self.fit_button.clicked.connect(lambda: self.photo_box.autoRange(items=[self.photo_item], padding=0.02))
        bar.addWidget(self.fit_button)
        tl.addLayout(bar)

        self.photo_widget = pg.GraphicsLayoutWidget()
        self.photo_widget.setBackground("#2b2b2b")
        self.photo_box = self.photo_widget.addViewBox(row=0, col=0, lockAspect=True, invertY=True)
        self.photo_item = pg.ImageItem()
        self.photo_box.addItem(self.photo_item)
        self.bonds_item = BondLines()
        self.photo_box.addItem(self.bonds_item)
        self.joints_item = pg.ScatterPlotItem(pxMode=True)
        self.photo_box.addItem(self.joints_item)
        self.labels: list[pg.TextItem] = []
        self.arrows: list[pg.ArrowItem] = []
        self.colormap = pg.colormap.get("CET-D1A")
        self.colour_bar = pg.ColorBarItem(values=(-1, 1), colorMap=self.colormap, interactive=False, width=18)
        self.photo_widget.addItem(self.colour_bar, row=0, col=1)
        tl.addWidget(self.photo_widget, 1)
        self.legend = QtWidgets.QLabel(
            f"<span style='color:{FIXED_COLOUR}'>&#9650;</span> fixed &nbsp; "
            f"<span style='color:{INPUT_COLOUR}'>&#9679;&#8594;</span> input (forward load) &nbsp; "
            f"<span style='color:{OUTPUT_COLOUR}'>&#9711;</span> output (in the loss)")
        tl.addWidget(self.legend)
        split.addWidget(top)

        bottom = QtWidgets.QWidget()
        bl = QtWidgets.QHBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        self.live_widget = pg.GraphicsLayoutWidget()
        self.live_widget.setBackground("#202020")
        self.live_box = self.live_widget.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.live_item = pg.ImageItem()
        self.live_box.addItem(self.live_item)
        bl.addWidget(self.live_widget, 3)
        side = QtWidgets.QVBoxLayout()
        title = QtWidgets.QLabel("Live view")
        title.setStyleSheet("font-weight: bold;")
        side.addWidget(title)
        self.fps_label = QtWidgets.QLabel("waiting for the camera")
        side.addWidget(self.fps_label)
        self.live_status = QtWidgets.QLabel("")
        self.live_status.setWordWrap(True)
        side.addWidget(self.live_status)
        side.addStretch(1)
        bl.addLayout(side, 1)
        split.addWidget(bottom)
        split.setSizes([620, 260])

    # ------------------------------------------------------------- network
    def set_network(self, network, inputs: dict[int, tuple[float, float]] | None = None,
                    outputs: list[int] | None = None) -> None:
        """Show ``network`` with its fixed, input (node -> pull direction) and output nodes."""
        self.network = network
        self.fixed = np.asarray(network.fixed_nodes, dtype=int)
        self.inputs = dict(inputs or {})
        self.outputs = list(outputs or [])
        self.values = {}
        for item in self.labels + self.arrows:
            self.photo_box.removeItem(item)
        self.labels = []
        for i in range(network.n_nodes):
            label = pg.TextItem(str(i), color="#ffffff", fill=pg.mkBrush(0, 0, 0, 170), anchor=(-0.25, 1.15))
            label.setFont(QtGui.QFont("DejaVu Sans", 10, QtGui.QFont.Bold))
            self.photo_box.addItem(label)
            self.labels.append(label)
        self.arrows = []
        for node, direction in self.inputs.items():
            angle = float(np.degrees(np.arctan2(direction[1], -direction[0])))  # screen y is down
            arrow = pg.ArrowItem(angle=angle, tipAngle=35, headLen=16, tailLen=22, tailWidth=5,
                                 pen=pg.mkPen(INPUT_COLOUR), brush=pg.mkBrush(INPUT_COLOUR))
            arrow.node = node
            arrow.direction = direction
            self.photo_box.addItem(arrow)
            self.arrows.append(arrow)
        if self.photo_path is None:
            self.photo_item.setImage(np.full((self.photo_size[1], self.photo_size[0], 3), 235, np.uint8))
            self.photo_box.autoRange(padding=0.02)
        self._draw_overlay()

    def set_bond_values(self, quantity: str, values, source: str = "measured") -> None:
        """Per-bond values (m,) for ``"forward"``, ``"adjoint"`` or ``"gradient"``; ``source`` labels the bar."""
        self.values[quantity] = np.asarray(values, dtype=float)
        self.sources[quantity] = source
        if quantity == self.quantity:
            self._draw_overlay()

    def set_quantity(self, quantity: str) -> None:
        self.quantity = quantity
        idx = list(QUANTITIES).index(quantity)
        if self.quantity_box.currentIndex() != idx:
            self.quantity_box.setCurrentIndex(idx)
        self._draw_overlay()

    # ---------------------------------------------------------------- photo
    def show_photo(self, path: str | Path, role: str = "") -> None:
        """Decode ``path`` in a worker and show it when ready."""
        self.photo_title.setText(f"Loading {Path(path).name} ...")
        self._pending_role = role
        self.loader.load(path)

    def set_joints(self, image_path: str | Path, joints_px) -> None:
        """Joint pixel positions (full-resolution px) tracked in ``image_path``."""
        first = not self.joints_px
        self.joints_px[Path(image_path).name] = np.asarray(joints_px, dtype=float)
        if self.photo_path is not None and Path(self.photo_path).name == Path(image_path).name:
            self._draw_overlay()
        if first:
            self._draw_overlay()
            self.zoom_to_network()

    def _photo_loaded(self, path: str, rgb, factor: float) -> None:
        if rgb is None:
            self.photo_title.setText(f"{Path(path).name}: not an image this window can show")
            return
        self.photo_path = path
        self.photo_factor = factor
        self.photo_size = (int(rgb.shape[1] / factor), int(rgb.shape[0] / factor))
        self.photo_item.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.photo_item.setRect(QtCore.QRectF(0, 0, self.photo_size[0], self.photo_size[1]))
        role = getattr(self, "_pending_role", "")
        self.photo_title.setText(f"Last photo: {Path(path).name}")
        width, height = self.photo_size[0], self.photo_size[1]
        self.photo_title.setToolTip(f"{path}\n{width}x{height} px{', ' + role if role else ''}")
        self._draw_overlay()
        if not self.zoom_to_network():
            self.photo_box.autoRange(items=[self.photo_item], padding=0.02)

    def zoom_to_network(self) -> bool:
        """Zoom the photo to the joints (with a margin); False if they are not known."""
        if self.network is None:
            return False
        px, known = self.current_joints_px()
        if self.photo_path is not None and not known:
            return False
        lo, hi = px.min(axis=0), px.max(axis=0)
        pad = 0.3 * float(np.max(hi - lo)) + 20
        self.photo_box.setRange(xRange=(lo[0] - pad, hi[0] + pad), yRange=(lo[1] - pad, hi[1] + pad), padding=0)
        return True

    def current_joints_px(self) -> tuple[np.ndarray, bool]:
        """(joint positions in full-res px for the shown photo, True if tracked in some photo).

        A photo not tracked yet borrows the latest tracked joints (they move by
        a few pixels under load); with no photo the network is drawn as designed.
        """
        if self.photo_path is not None:
            name = Path(self.photo_path).name
            if name in self.joints_px:
                return self.joints_px[name], True
            if self.joints_px:
                return next(reversed(self.joints_px.values())), True
        return schematic_px(self.network.nodes, self.photo_size), False

    def _draw_overlay(self) -> None:
        if self.network is None:
            return
        net = self.network
        px, known = self.current_joints_px()
        visible = known or self.photo_path is None
        for item in [self.bonds_item, self.joints_item] + self.labels + self.arrows:
            item.setVisible(visible)
        title = self.photo_title.text().split("  [")[0]
        self.photo_title.setText(title if visible else title + "  [joints not tracked yet]")
        vals = self.values.get(self.quantity)
        if vals is None or len(vals) != net.n_bonds or not np.any(np.isfinite(vals)):
            colours = [QtGui.QColor(230, 230, 230)] * net.n_bonds
            vmax = 1.0
            self.colour_bar.setLabel("right", QUANTITIES[self.quantity] + ": no data yet")
        else:
            vmax = float(np.nanmax(np.abs(vals))) or 1.0
            norm = np.clip((np.nan_to_num(vals) / vmax + 1) / 2, 0, 1)
            colours = self.colormap.map(norm, mode=pg.ColorMap.QCOLOR)
            self.colour_bar.setLabel("right", f"{QUANTITIES[self.quantity]}: {self.sources.get(self.quantity, '')}")
        self.colour_bar.setLevels((-vmax, vmax))
        seg = np.hstack([px[net.bonds[:, 0]], px[net.bonds[:, 1]]])
        bond_px = float(np.median(np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]))) or 1.0
        self.bonds_item.set_data(seg, colours, width=max(2.0, 0.07 * bond_px))
        brushes, symbols, pens, sizes = [], [], [], []
        out = set(self.outputs)
        fixed = set(int(i) for i in self.fixed)
        for i in range(net.n_nodes):
            if i in fixed:
                symbols.append("t1"), brushes.append(pg.mkBrush(FIXED_COLOUR)), pens.append(pg.mkPen("w", width=1.5))
                sizes.append(18)
            elif i in self.inputs:
                symbols.append("o"), brushes.append(pg.mkBrush(INPUT_COLOUR)), pens.append(pg.mkPen("w", width=1.5))
                sizes.append(16)
            elif i in out:
                symbols.append("o"), brushes.append(pg.mkBrush(255, 255, 255, 230))
                pens.append(pg.mkPen(OUTPUT_COLOUR, width=4)), sizes.append(18)
            else:
                symbols.append("o"), brushes.append(pg.mkBrush(40, 40, 40)), pens.append(pg.mkPen("w", width=1))
                sizes.append(11)
        self.joints_item.setData(pos=px, symbol=symbols, brush=brushes, pen=pens, size=sizes)
        for i, label in enumerate(self.labels):
            label.setPos(float(px[i, 0]), float(px[i, 1]))
        for arrow in self.arrows:
            d = np.asarray(arrow.direction, dtype=float)
            tip = px[arrow.node] + np.array([d[0], -d[1]]) * 0.6 * bond_px
            arrow.setPos(float(tip[0]), float(tip[1]))

    # ----------------------------------------------------------------- live
    def show_frame(self, frame) -> None:
        """One live-view frame (H, W, 3) BGR uint8; emits :attr:`frame_shown`."""
        frame = np.asarray(frame)
        first = self.live_item.image is None
        self.live_item.setImage(frame[:, :, ::-1] if frame.ndim == 3 else frame, autoLevels=False, levels=(0, 255))
        if first:
            self.live_box.autoRange(padding=0)
        now = time.perf_counter()
        self._frame_times.append(now)
        self.frames_shown += 1
        if len(self._frame_times) >= 2 and self.frames_shown % 5 == 0:
            self.fps_label.setText(f"{self.live_fps():.1f} frames/s, {frame.shape[1]}x{frame.shape[0]} px")
        if self.live_status.text():
            self.set_live_status("")
        self.frame_shown.emit()

    def live_fps(self) -> float:
        """Frames per second shown over the last (up to) 60 frames."""
        t = self._frame_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) >= 2 and t[-1] > t[0] else 0.0

    def set_live_status(self, text: str) -> None:
        """An error (or note) under the live view; an error also stops the frame-rate display."""
        self.live_status.setText(text)
        if text:
            self.live_status.setStyleSheet("color: #c00000;")
            self.fps_label.setText("no live view")
            self._frame_times.clear()
        else:
            self.live_status.setStyleSheet("")

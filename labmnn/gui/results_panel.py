"""Results panel: per-bond elongations and gradients, training curves, past sessions.

- forward and adjoint elongations per bond (mean over repeats), as paired bars;
- measured gradient per bond (mean, error bar = standard deviation over repeats)
  against the bar model's gradient;
- loss (and accuracy when recorded) per training step;
- a list of the sessions on disk; opening one shows its results again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets
from PySide6.QtCore import Qt, Signal

from labmnn.gui.session_data import BondResults

FORWARD_COLOUR = "#1f77b4"
ADJOINT_COLOUR = "#ff7f0e"
MEASURED_COLOUR = "#d62728"
SIMULATED_COLOUR = "#9a9a9a"


def _plot(title: str, left: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    p = w.getPlotItem()
    p.setTitle(title, color="#222", size="11pt")
    p.setLabel("left", left, color="#222")
    p.setLabel("bottom", "bond", color="#222")
    p.showGrid(x=False, y=True, alpha=0.3)
    for axis in ("left", "bottom"):
        p.getAxis(axis).setPen("#444")
        p.getAxis(axis).setTextPen("#222")
    p.addLegend(offset=(-10, 5), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 170), colCount=2)
    w.setMinimumHeight(150)
    return w


def _with_headroom(plot, values: np.ndarray, top: float = 0.3) -> None:
    """Show all bars with room above them for the legend."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = (float(min(v.min(), 0.0)), float(max(v.max(), 0.0))) if v.size else (0.0, 1.0)
    span = (hi - lo) or 1.0
    plot.setYRange(lo - 0.05 * span, hi + top * span, padding=0)
    plot.enableAutoRange(axis="x")


class ResultsPanel(QtWidgets.QWidget):
    """Plots of a gradient measurement or a training run.

    Signals
    -------
    open_session_requested(str)
        A session folder the operator picked (empty string: ask with a dialog).
    resume_session_requested(str)
        Continue that (interrupted) session from its last checkpoint.
    """

    open_session_requested = Signal(str)
    resume_session_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bonds: BondResults | None = None
        self.summary: dict = {}
        self.history: list[dict] = []
        self._build()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        self.summary_label = QtWidgets.QLabel("No results yet.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setStyleSheet("font-size: 14px;")
        layout.addWidget(self.summary_label)
        tabs = QtWidgets.QTabWidget()
        self.tabs = tabs
        layout.addWidget(tabs, 1)

        grad_page = QtWidgets.QWidget()
        gl = QtWidgets.QVBoxLayout(grad_page)
        gl.setContentsMargins(0, 0, 0, 0)
        self.gradient_plot = _plot("Gradient per bond: measured (mean \u00b1 s.d. over repeats) vs simulated",
                                   "dL/dk (m\u00b2 per N/m)")
        self.elongation_plot = _plot("Measured elongation per bond (mean over repeats)", "elongation (\u00b5m)")
        gl.addWidget(self.gradient_plot, 3)
        gl.addWidget(self.elongation_plot, 2)
        tabs.addTab(grad_page, "Gradient")

        self.train_plot = _plot("Loss per training step (gradients measured on the rig)", "loss")
        self.train_plot.getPlotItem().setLabel("bottom", "training step", color="#222")
        self.accuracy_axis = None
        tabs.addTab(self.train_plot, "Training curves")

        sess_page = QtWidgets.QWidget()
        sl = QtWidgets.QVBoxLayout(sess_page)
        row = QtWidgets.QHBoxLayout()
        self.sessions_root_label = QtWidgets.QLabel("")
        row.addWidget(self.sessions_root_label, 1)
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        row.addWidget(self.refresh_button)
        self.browse_button = QtWidgets.QPushButton("Open other...")
        self.browse_button.clicked.connect(lambda: self.open_session_requested.emit(""))
        row.addWidget(self.browse_button)
        sl.addLayout(row)
        self.sessions = QtWidgets.QListWidget()
        self.sessions.itemActivated.connect(lambda item: self.open_session_requested.emit(item.data(Qt.UserRole)))
        sl.addWidget(self.sessions, 1)
        buttons = QtWidgets.QHBoxLayout()
        self.open_button = QtWidgets.QPushButton("Open selected session")
        self.open_button.clicked.connect(self._open_selected)
        buttons.addWidget(self.open_button)
        self.resume_button = QtWidgets.QPushButton("Resume selected session")
        self.resume_button.setToolTip("Continue an interrupted or aborted session from its last checkpoint")
        self.resume_button.clicked.connect(self._resume_selected)
        buttons.addWidget(self.resume_button)
        sl.addLayout(buttons)
        tabs.addTab(sess_page, "Past sessions")
        self.refresh_button.clicked.connect(lambda: self.list_sessions(self._root) if self._root else None)
        self._root: Path | None = None

    # -------------------------------------------------------------- sessions
    def list_sessions(self, root: str | Path) -> None:
        """List session folders under ``root`` (newest first) with their status."""
        self._root = Path(root)
        self.sessions_root_label.setText(f"Sessions in {self._root}")
        self.sessions.clear()
        if not self._root.is_dir():
            return
        from labmnn.protocol.recorder import Session

        for folder in sorted((p for p in self._root.iterdir() if (p / "log.jsonl").is_file()), reverse=True):
            status = Session(folder).status()
            item = QtWidgets.QListWidgetItem(f"{folder.name}   [{status}]")
            item.setData(Qt.UserRole, str(folder))
            self.sessions.addItem(item)

    def _resume_selected(self) -> None:
        item = self.sessions.currentItem()
        if item is not None:
            self.resume_session_requested.emit(item.data(Qt.UserRole))

    def _open_selected(self) -> None:
        item = self.sessions.currentItem()
        if item is not None:
            self.open_session_requested.emit(item.data(Qt.UserRole))

    # ---------------------------------------------------------------- plots
    def show_bonds(self, bonds: BondResults, summary: dict | None = None, title: str = "") -> None:
        """Plot per-bond results; ``summary`` (the engine's) sets the headline numbers."""
        self.bonds = bonds
        self.summary = dict(summary or {})
        m = bonds.gradient_measured.shape[1] if bonds.repeats else 0
        x = np.arange(m)
        gp = self.gradient_plot.getPlotItem()
        gp.clear()
        ep = self.elongation_plot.getPlotItem()
        ep.clear()
        if bonds.repeats == 0:
            self.summary_label.setText("No completed repeat yet.")
            return
        mean, std = bonds.gradient_mean_std()
        if "gradient_measured" in self.summary:
            mean = np.asarray(self.summary["gradient_measured"], dtype=float)
            std = np.asarray(self.summary.get("gradient_measured_std", std), dtype=float)
        sim = np.asarray(self.summary.get("gradient_simulated", bonds.gradient_simulated.mean(axis=0)), dtype=float)
        gp.addItem(pg.BarGraphItem(x=x, height=sim, width=0.6, brush=SIMULATED_COLOUR, pen=None, name="simulated"))
        gp.addItem(pg.ErrorBarItem(x=x, y=mean, height=2 * std, beam=0.25, pen=pg.mkPen(MEASURED_COLOUR, width=2)))
        gp.plot(x, mean, pen=None, symbol="o", symbolSize=8, symbolBrush=MEASURED_COLOUR, symbolPen="w",
                name=f"measured, {bonds.repeats} repeat{'s' if bonds.repeats != 1 else ''} (bars: s.d.)")
        gp.getAxis("bottom").setTicks([[(int(i), str(i)) for i in x[:: max(1, m // 30)]]])
        _with_headroom(gp, np.concatenate([sim, mean + std, mean - std]))
        ef = np.nanmean(bonds.forward_elongation_mm, axis=0) * 1e3  # micrometres
        ea = np.nanmean(bonds.adjoint_elongation_mm * bonds.adjoint_scale[:, None], axis=0) * 1e3  # as hung
        ep.addItem(pg.BarGraphItem(x=x - 0.2, height=np.nan_to_num(ef), width=0.38, brush=FORWARD_COLOUR, pen=None,
                                   name="forward"))
        ep.addItem(pg.BarGraphItem(x=x + 0.2, height=np.nan_to_num(ea), width=0.38, brush=ADJOINT_COLOUR, pen=None,
                                   name="adjoint (as hung)"))
        ep.getAxis("bottom").setTicks([[(int(i), str(i)) for i in x[:: max(1, m // 30)]]])
        _with_headroom(ep, np.concatenate([ef, ea]))
        rel = self.summary.get("relative_error")
        cos = self.summary.get("cosine")
        if rel is None:
            rel = float(np.linalg.norm(mean - sim) / (np.linalg.norm(sim) or 1.0))
            cos = float(mean @ sim / ((np.linalg.norm(mean) * np.linalg.norm(sim)) or 1.0))
        title = ", ".join(t for t in (title, bonds.title) if t)
        head = f"<b>{title}</b><br>" if title else ""
        self.summary_label.setText(
            f"{head}{bonds.repeats} repeat{'s' if bonds.repeats != 1 else ''}: measured vs simulated gradient "
            f"relative error <b>{rel:.2%}</b>, cosine <b>{cos:.4f}</b>"
            + (f", loss {self.summary['loss']:.4g}" if isinstance(self.summary.get("loss"), float) else ""))

    def shown_gradient(self) -> tuple[np.ndarray, np.ndarray]:
        """(measured mean, s.d.) exactly as plotted (for tests and exports)."""
        item = next(i for i in self.gradient_plot.getPlotItem().items if isinstance(i, pg.ErrorBarItem))
        return np.asarray(item.opts["y"], dtype=float), np.asarray(item.opts["height"], dtype=float) / 2

    def shown_history(self) -> np.ndarray:
        """The loss values as plotted (for tests)."""
        curve = self.train_plot.getPlotItem().listDataItems()[0]
        return np.asarray(curve.getData()[1], dtype=float)

    def show_history(self, history: list[dict]) -> None:
        """Loss (and accuracy if present) per training step."""
        self.history = list(history)
        p = self.train_plot.getPlotItem()
        p.clear()
        if not history:
            return
        steps = np.array([h["step"] for h in history], dtype=float)
        loss = np.array([h.get("loss", np.nan) for h in history], dtype=float)
        p.plot(steps, loss, pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolBrush="#1f77b4", name="loss")
        p.getAxis("bottom").setTicks([[(float(s), str(int(s))) for s in steps]])
        acc = [h.get("accuracy") for h in history]
        if any(a is not None for a in acc):
            acc_arr = np.array([np.nan if a is None else a for a in acc], dtype=float)
            p.plot(steps, acc_arr, pen=pg.mkPen("#2ca02c", width=2), symbol="s", symbolBrush="#2ca02c",
                   name="accuracy")
        p.autoRange()

"""Protocol panel: the step list, the current instruction in large type, the big
buttons, the live balance reading and the warnings.

The panel only displays and emits; the main window wires its signals to the
engine runner and the GUI operator.
"""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

from labmnn.model.network import Network
from labmnn.protocol.engine import CHECKS_LABEL
from labmnn.protocol.operator import Instruction
from labmnn.protocol.planner import direction_name

KIND_TAGS = {"hang": "HANG", "remove": "REMOVE", "weigh": "WEIGH", "capture": "PHOTO", "info": "CHECK"}
KIND_COLOURS = {"hang": "#b23c17", "remove": "#2a6f2a", "weigh": "#7a4d00", "capture": "#1f4fa8",
                "info": "#444444"}
BIG_BUTTON = "QPushButton { font-size: 17px; font-weight: bold; min-height: 52px; padding: 4px 10px; }"
DONE_MARK = "\u2713 "
ARROWS = {"down": "\u2193", "up": "\u2191", "left": "\u2190", "right": "\u2192"}


def instruction_detail(ins: Instruction) -> str:
    """One line naming node, grams and pull direction (empty for plain steps)."""
    parts = []
    if ins.node is not None:
        parts.append(f"node {ins.node}")
    if ins.grams is not None:
        parts.append(f"{ins.grams:.2f} g")
    if ins.direction is not None:
        name = direction_name(ins.direction)
        parts.append(f"pulling {name} {ARROWS.get(name, '')}".rstrip())
    return "  \u00b7  ".join(parts)


def expected_steps(spec, net: Network) -> list[str]:
    """The step labels the engine will announce, as far as they are known before the run."""
    labels = [CHECKS_LABEL]
    if spec.kind == "load_series":
        for r in range(spec.repeats):
            labels.append(f"repeat {r + 1}/{spec.repeats}: reference")
            labels += [f"repeat {r + 1}/{spec.repeats}: {g:g} g on node {node}"
                       for node in spec.series.all_nodes for g in spec.series.grams if g > 0]
        return labels
    steps = spec.train.steps if spec.kind == "train" else 1
    for t in range(steps):
        for r in range(spec.repeats):
            tag = (f"step {t + 1}/{steps}, repeat {r + 1}/{spec.repeats}" if spec.kind == "train"
                   else f"repeat {r + 1}/{spec.repeats}")
            two = getattr(spec, "linearize", None) == "two_level"
            labels += [f"{tag}: reference", f"{tag}: forward loading 1/1"]
            labels += [f"{tag}: forward-half loading 1/1"] if two else []
            labels += [f"{tag}: adjoint plan", f"{tag}: adjoint loading 1/1"]
            labels += [f"{tag}: adjoint-half loading 1/1"] if two else []
            labels += [f"{tag}: gradient"]
        if spec.kind == "train":
            labels.append(f"step {t + 1}: Adam update")
    return labels


class ProtocolPanel(QtWidgets.QWidget):
    """Step list, instruction, buttons, balance reading and warnings.

    Signals
    -------
    open_requested(), start_requested()
    answered(str)
        ``"done"`` (Captured or Next), ``"repeat"``, ``"abort"``.
    pause_toggled(bool)
        True to pause, False to resume.
    """

    open_requested = Signal()
    start_requested = Signal()
    answered = Signal(str)
    pause_toggled = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.current: Instruction | None = None
        self.step_labels: list[str] = []
        self._build()
        self.set_running(False)

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        top = QtWidgets.QHBoxLayout()
        self.open_button = QtWidgets.QPushButton("Open protocol...")
        self.open_button.clicked.connect(self.open_requested.emit)
        top.addWidget(self.open_button)
        self.protocol_label = QtWidgets.QLabel("no protocol")
        self.protocol_label.setWordWrap(True)
        top.addWidget(self.protocol_label, 1)
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.setStyleSheet(BIG_BUTTON)
        self.start_button.clicked.connect(self.start_requested.emit)
        top.addWidget(self.start_button)
        layout.addLayout(top)

        mid = QtWidgets.QHBoxLayout()
        steps_box = QtWidgets.QVBoxLayout()
        steps_box.addWidget(QtWidgets.QLabel("Steps"))
        self.steps = QtWidgets.QListWidget()
        self.steps.setMinimumWidth(200)
        self.steps.setWordWrap(True)
        self.steps.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.steps.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
        steps_box.addWidget(self.steps, 1)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v / %m steps")
        steps_box.addWidget(self.progress)
        mid.addLayout(steps_box, 2)

        right = QtWidgets.QVBoxLayout()
        self.step_title = QtWidgets.QLabel("")
        self.step_title.setStyleSheet("color: #555; font-size: 13px;")
        right.addWidget(self.step_title)
        self.kind_label = QtWidgets.QLabel("")
        self.kind_label.setAlignment(Qt.AlignLeft)
        right.addWidget(self.kind_label)
        self.instruction_label = QtWidgets.QLabel("Open a protocol and press Start.")
        self.instruction_label.setWordWrap(True)
        self.instruction_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.instruction_label.setStyleSheet("font-size: 24px; font-weight: bold;")
        self.instruction_label.setMinimumHeight(110)
        self.instruction_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        right.addWidget(self.instruction_label)
        self.detail_label = QtWidgets.QLabel("")
        self.detail_label.setStyleSheet("font-size: 20px; color: #b23c17; font-weight: bold;")
        right.addWidget(self.detail_label)

        balance = QtWidgets.QHBoxLayout()
        balance.addWidget(QtWidgets.QLabel("Balance"))
        self.balance_label = QtWidgets.QLabel("--")
        self.balance_label.setStyleSheet("font-family: 'DejaVu Sans Mono'; font-size: 26px; font-weight: bold;")
        balance.addWidget(self.balance_label, 1)
        right.addSpacing(12)
        right.addLayout(balance)
        right.addStretch(1)
        mid.addLayout(right, 3)
        layout.addLayout(mid, 1)

        buttons = QtWidgets.QGridLayout()
        self.captured_button = QtWidgets.QPushButton("Captured")
        self.captured_button.setToolTip("The network is clear: take the photo (Space)")
        self.next_button = QtWidgets.QPushButton("Next")
        self.next_button.setToolTip("Done: go on to the next instruction (Space)")
        self.repeat_button = QtWidgets.QPushButton("Repeat step")
        self.repeat_button.setToolTip("Redo the current step from an empty rig (nothing recorded is lost)")
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.abort_button = QtWidgets.QPushButton("Abort")
        self.abort_button.setToolTip("Stop the run; the session stays on disk and can be resumed")
        for b in (self.captured_button, self.next_button, self.repeat_button, self.pause_button, self.abort_button):
            b.setStyleSheet(BIG_BUTTON)
        self.captured_button.setStyleSheet(BIG_BUTTON + "QPushButton:enabled { background: #1f4fa8; color: white; }")
        self.next_button.setStyleSheet(BIG_BUTTON + "QPushButton:enabled { background: #2a6f2a; color: white; }")
        self.abort_button.setStyleSheet(BIG_BUTTON + "QPushButton:enabled { color: #a00000; }")
        buttons.addWidget(self.captured_button, 0, 0)
        buttons.addWidget(self.next_button, 0, 1)
        buttons.addWidget(self.repeat_button, 1, 0)
        buttons.addWidget(self.pause_button, 1, 1)
        buttons.addWidget(self.abort_button, 1, 2)
        buttons.setColumnStretch(0, 1)
        buttons.setColumnStretch(1, 1)
        buttons.setColumnStretch(2, 1)
        layout.addLayout(buttons)
        self.captured_button.clicked.connect(lambda: self._answer("done"))
        self.next_button.clicked.connect(lambda: self._answer("done"))
        self.repeat_button.clicked.connect(lambda: self._answer("repeat"))
        self.abort_button.clicked.connect(self._abort)
        self.pause_button.toggled.connect(self._pause)
        shortcut = QtGui.QShortcut(QtGui.QKeySequence(Qt.Key_Space), self)
        shortcut.activated.connect(self._space)

        layout.addWidget(QtWidgets.QLabel("Warnings"))
        self.warnings = QtWidgets.QListWidget()
        self.warnings.setMaximumHeight(110)
        self.warnings.setWordWrap(True)
        layout.addWidget(self.warnings)

    # ------------------------------------------------------------- state
    def set_protocol(self, name: str, description: str, steps: list[str]) -> None:
        self.protocol_label.setText(f"<b>{name}</b><br>{description}")
        self.steps.clear()
        self.step_labels = []
        for label in steps:
            self._add_step(label)
        self.progress.setRange(0, max(1, len(steps)))
        self.progress.setValue(0)

    def _add_step(self, label: str, row: int | None = None) -> QtWidgets.QListWidgetItem:
        item = QtWidgets.QListWidgetItem(label)
        if row is None:
            self.steps.addItem(item)
            self.step_labels.append(label)
        else:
            self.steps.insertItem(row, item)
            self.step_labels.insert(row, label)
        return item

    def set_running(self, running: bool) -> None:
        self.running = running
        self.start_button.setEnabled(not running)
        self.open_button.setEnabled(not running)
        for b in (self.repeat_button, self.pause_button, self.abort_button):
            b.setEnabled(running)
        if not running:
            self.pause_button.setChecked(False)
            self._set_instruction(None)

    def set_current_step(self, label: str) -> None:
        """Highlight ``label`` (added after the current one if unknown); earlier steps get a tick."""
        try:
            row = self.step_labels.index(label)
        except ValueError:
            cur = self._current_row()
            row = cur + 1 if cur >= 0 else self.steps.count()
            self._add_step(label, row)
        bold = QtGui.QFont()
        bold.setBold(True)
        for i in range(self.steps.count()):
            item = self.steps.item(i)
            name = self.step_labels[i]
            if i < row:
                item.setText(DONE_MARK + name)
                item.setForeground(QtGui.QColor("#777777"))
                item.setBackground(QtGui.QColor(0, 0, 0, 0))
                item.setFont(QtGui.QFont())
            elif i == row:
                item.setText("\u25b6 " + name)
                item.setBackground(QtGui.QColor("#fff2a8"))
                item.setForeground(QtGui.QColor("#000000"))
                item.setFont(bold)
            else:
                item.setText(name)
                item.setBackground(QtGui.QColor(0, 0, 0, 0))
                item.setForeground(QtGui.QColor("#000000"))
                item.setFont(QtGui.QFont())
        self.steps.scrollToItem(self.steps.item(row), QtWidgets.QAbstractItemView.PositionAtCenter)
        self.step_title.setText(label)

    def _current_row(self) -> int:
        for i in range(self.steps.count()):
            if self.steps.item(i).text().startswith("\u25b6"):
                return i
        return -1

    def current_step(self) -> str | None:
        row = self._current_row()
        return None if row < 0 else self.step_labels[row]

    def mark_all_done(self) -> None:
        for i in range(self.steps.count()):
            item = self.steps.item(i)
            item.setText(DONE_MARK + self.step_labels[i])
            item.setBackground(QtGui.QColor(0, 0, 0, 0))
            item.setForeground(QtGui.QColor("#2a6f2a"))
            item.setFont(QtGui.QFont())

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(done, total))

    def show_instruction(self, ins: Instruction) -> None:
        self._set_instruction(ins)

    def _set_instruction(self, ins: Instruction | None) -> None:
        self.current = ins
        if ins is None:
            self.kind_label.setText("")
            self.detail_label.setText("")
            self.captured_button.setEnabled(False)
            self.next_button.setEnabled(False)
            return
        colour = KIND_COLOURS.get(ins.kind, "#444")
        self.kind_label.setText(f"<span style='background:{colour}; color:white; font-size:16px; "
                                "font-weight:bold; padding:3px;'>"
                                f"&nbsp;{KIND_TAGS.get(ins.kind, ins.kind)}&nbsp;</span>")
        self.instruction_label.setText(ins.text)
        self.instruction_label.setStyleSheet(
            f"font-size: {24 if len(ins.text) < 160 else 14}px; font-weight: bold;")
        self.detail_label.setText(instruction_detail(ins))
        self.step_title.setText(ins.step)
        self.captured_button.setEnabled(ins.kind == "capture")
        self.next_button.setEnabled(ins.kind != "capture")
        if ins.kind == "capture":
            self.captured_button.setFocus()
        else:
            self.next_button.setFocus()

    def set_message(self, text: str) -> None:
        """Large text when no instruction is waiting (working..., finished, aborted)."""
        self.instruction_label.setStyleSheet("font-size: 20px; font-weight: bold;")
        self.instruction_label.setText(text)

    def _answer(self, answer: str) -> None:
        if self.current is None and answer != "abort":
            return
        self._set_instruction(None)
        self.set_message("Working...")
        self.answered.emit(answer)

    def _space(self) -> None:
        for b in (self.captured_button, self.next_button):
            if b.isEnabled():
                b.click()
                return

    def _abort(self) -> None:
        self._set_instruction(None)
        self.set_message("Aborting...")
        self.answered.emit("abort")

    def _pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)

    def set_balance(self, mass_g: float | None, stable: bool = False, error: str = "") -> None:
        if error:
            self.balance_label.setText("error")
            self.balance_label.setToolTip(error)
            self.balance_label.setStyleSheet("font-family: 'DejaVu Sans Mono'; font-size: 26px; "
                                             "font-weight: bold; color: #b00000;")
            return
        self.balance_label.setToolTip("")
        self.balance_label.setStyleSheet("font-family: 'DejaVu Sans Mono'; font-size: 26px; font-weight: bold; "
                                         f"color: {'#1a1a1a' if stable else '#666666'};")
        self.balance_label.setText("--" if mass_g is None else f"{mass_g:9.3f} g {'' if stable else '~'}")

    def add_warning(self, text: str) -> None:
        if self.warnings.count() and self.warnings.item(self.warnings.count() - 1).text().endswith(text):
            return
        item = QtWidgets.QListWidgetItem(f"\u26a0 {text}")
        item.setBackground(QtGui.QColor("#ffe3b0"))
        self.warnings.addItem(item)
        self.warnings.scrollToBottom()

    def warning_texts(self) -> list[str]:
        return [self.warnings.item(i).text() for i in range(self.warnings.count())]

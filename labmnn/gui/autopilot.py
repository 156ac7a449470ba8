"""Drives the window by clicking its real buttons (screenshots, demos, benchmarks).

The autopilot plays the operator: whenever an instruction is shown it clicks
the enabled confirm button (Captured or Next) after ``delay_ms``.  It can grab
the window while a chosen kind of instruction waits, and when the run ends.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore

from labmnn.protocol.operator import Instruction


def grab(widget, path: str | Path) -> Path:
    """Save a PNG of ``widget`` (the whole window) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


class Autopilot(QtCore.QObject):
    """Clicks through a run in ``window``.

    Parameters
    ----------
    window : MainWindow
    delay_ms : int
        Pause before each click (lets the photo and the plots update).
    snapshot : (kind, n, path) or None
        Grab the window when the n-th (1-based) instruction of ``kind`` is shown.
    """

    def __init__(self, window, delay_ms: int = 30, snapshot: tuple[str, int, str | Path] | None = None):
        super().__init__()
        self.window = window
        self.delay_ms = int(delay_ms)
        self.snapshot = snapshot
        self.counts: dict[str, int] = {}
        self.clicks = 0
        self.snapshot_written: Path | None = None

    def attach(self) -> None:
        """Follow the window's current operator (call after ``window.start()``)."""
        self.window.operator.asked.connect(self._asked)

    def _asked(self, ins: Instruction) -> None:
        self.counts[ins.kind] = self.counts.get(ins.kind, 0) + 1
        delay = self.delay_ms
        if self.snapshot and ins.kind == self.snapshot[0] and self.counts[ins.kind] == self.snapshot[1]:
            delay = max(delay, 600)  # let the photo decode and the overlay draw first
            QtCore.QTimer.singleShot(delay - 100, self._grab)
        QtCore.QTimer.singleShot(delay, self._click)

    def _grab(self) -> None:
        self.snapshot_written = grab(self.window, self.snapshot[2])

    def _click(self) -> None:
        panel = self.window.protocol_panel
        for button in (panel.captured_button, panel.next_button):
            if button.isEnabled():
                self.clicks += 1
                button.click()
                return

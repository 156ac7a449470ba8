"""Thread-safe signals delivered on the GUI thread by a timer-drained mailbox.

Worker threads never emit Qt signals (PySide6 >= 6.8 can crash on cross-thread
emissions to plain Python slots, PYSIDE-3124): they :meth:`Channel.emit`,
which puts the call in a queue; a :class:`QTimer` in the GUI thread drains the
queue every few milliseconds and runs the connected slots there.  The API
mirrors a Qt signal (``connect``, ``emit``).

The mailbox also keeps Python's cyclic garbage collector in the GUI thread
while a window is open (:func:`hold_gc` / :func:`release_gc`): a collection
triggered by a worker thread would destroy unreachable Qt objects (plot items
replaced by a redraw) from that thread while the GUI thread paints, which
deadlocks or crashes Qt.  Automatic collection is switched off and the
mailbox's timer collects instead.

Example
-------
>>> frames = Channel()                     # doctest: +SKIP
>>> frames.connect(view.show_frame)        # doctest: +SKIP
>>> frames.emit(frame)   # from any thread; show_frame runs in the GUI thread
"""

from __future__ import annotations

import gc
import queue
import traceback
from collections.abc import Callable

from PySide6 import QtCore

DRAIN_MS = 5
GC_MS = 500


class _Mailbox(QtCore.QObject):
    def __init__(self):
        super().__init__()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(DRAIN_MS)
        self.timer.timeout.connect(self.drain)
        self.timer.start()
        self.gc_timer = QtCore.QTimer(self)
        self.gc_timer.setInterval(GC_MS)
        self.gc_timer.timeout.connect(self.collect)
        self.gc_timer.start()
        self.gc_holders = 0
        self.gc_threshold = gc.get_threshold()

    def collect(self) -> None:
        """Collect garbage generation by generation, as the automatic collector would."""
        if self.gc_holders == 0:
            return
        counts = gc.get_count()
        for generation in range(3):
            if counts[generation] <= self.gc_threshold[generation]:
                return
            gc.collect(generation)

    def drain(self) -> None:
        for _ in range(10000):
            try:
                fn, args = self.queue.get_nowait()
            except queue.Empty:
                return
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - one broken slot must not stop the others
                traceback.print_exc()


_mailbox: _Mailbox | None = None


def mailbox() -> _Mailbox:
    """The GUI thread's mailbox (created on first use; call first from the GUI thread)."""
    global _mailbox
    if _mailbox is None:
        app = QtCore.QCoreApplication.instance()
        if app is None:
            raise RuntimeError("create the QApplication before any Channel")
        _mailbox = _Mailbox()
        _mailbox.moveToThread(app.thread())
        app.aboutToQuit.connect(_forget)
    return _mailbox


def _forget() -> None:
    global _mailbox
    if _mailbox is not None:
        _mailbox.timer.stop()
        _mailbox.gc_timer.stop()
        if _mailbox.gc_holders:
            gc.enable()
    _mailbox = None


def hold_gc() -> None:
    """A window with worker threads opens: collect garbage only in the GUI thread (GUI thread)."""
    box = mailbox()
    if box.gc_holders == 0:
        gc.disable()
    box.gc_holders += 1


def release_gc() -> None:
    """That window's threads have stopped: back to automatic collection when none is left."""
    box = mailbox()
    if box.gc_holders == 0:
        return
    box.gc_holders -= 1
    if box.gc_holders == 0:
        gc.enable()


class Channel:
    """A signal that can be emitted from any thread; slots run in the GUI thread, in order."""

    def __init__(self):
        self._slots: list[Callable] = []
        self._box = mailbox()

    def connect(self, slot: Callable) -> None:
        self._slots.append(slot)

    def disconnect(self, slot: Callable | None = None) -> None:
        self._slots = [] if slot is None else [s for s in self._slots if s != slot]

    def emit(self, *args) -> None:
        if self._slots:
            self._box.queue.put((self._deliver, args))

    def _deliver(self, *args) -> None:
        for slot in list(self._slots):
            slot(*args)

"""Threads behind the window: device owners, the engine runner and the GUI operator.

Nothing here touches a widget.  Results reach the GUI thread through Qt
signals (queued across threads); the GUI reaches the workers through
thread-safe calls (queues and :class:`threading.Event`).

- :class:`DeviceOwner`: the one thread that talks to one device.  Other
  threads (the engine, the GUI) queue calls to it; between calls it polls
  (live-view frames, balance readings).  :meth:`DeviceOwner.proxy` gives an
  object with the device's methods that the engine can use as if it were the
  device.
- :class:`GuiOperator`: the engine's ``Operator``; ``confirm`` emits the
  instruction and waits until the operator clicks.
- :class:`EngineRunner`: runs :meth:`Engine.run` in a thread, forwards its
  events, and restarts the engine on the same session to repeat a step.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labmnn.errors import LabmnnError
from labmnn.gui.channel import Channel
from labmnn.protocol.events import GuiEvent, JointsEvent, RestartEvent, RunOutcome
from labmnn.protocol.operator import AbortRequested, Instruction


@dataclass
class _Job:
    method: str
    args: tuple
    kwargs: dict
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    callback: Callable[[Any, BaseException | None], None] | None = None
    close_first: bool = False


class DeviceOwner:
    """The single thread that owns one device.

    Parameters
    ----------
    name : str
        ``"camera"`` or ``"balance"`` (used in messages).
    device : object
        A :class:`~labmnn.devices.Camera` or :class:`~labmnn.devices.Balance`.
    poll : str, optional
        Method called between queued calls while connected (``"preview"``,
        ``"read_immediate"``); its results are emitted by :attr:`polled`.
    period : float
        Seconds between polls (0 polls as fast as the device answers).

    Signals
    -------
    polled(object)
        A poll result (a frame, a reading).  At most one is in flight: the next
        is emitted only once :meth:`consumed` was called, so a slow GUI never
        builds a backlog.
    status(str, str)
        ``("connected" | "disconnected" | "error", message)``.

    Example
    -------
    >>> owner = DeviceOwner("camera", cam, poll="preview", period=1 / 15)   # doctest: +SKIP
    >>> owner.start(); cam_for_engine = owner.proxy()                       # doctest: +SKIP
    """

    def __init__(self, name: str, device, poll: str | None = None, period: float = 0.1):
        self.polled = Channel()
        self.status = Channel()
        self.name = name
        self.device = device
        self.poll_method = poll
        self.period = float(period)
        self.connected = False
        self.polling = True
        self.polls = 0
        self.job_seconds = 0.0  # time spent on queued calls (captures...), when no frame can be polled
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._in_flight = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"labmnn-{name}", daemon=True)

    # ------------------------------------------------------------ any thread
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the device (after every call already queued) and end the thread."""
        if not self._thread.is_alive():
            return
        self.call_async("close")
        self._jobs.put(None)  # the loop ends when it reaches this, so the close above runs
        self._stop.set()  # no more polling meanwhile
        self._thread.join(timeout)

    def call(self, method: str, *args, timeout: float | None = None, **kwargs):
        """Run ``device.method(*args)`` in the owner thread and return its result (blocks)."""
        if threading.current_thread() is self._thread:
            return self._run(_Job(method, args, kwargs))
        job = _Job(method, args, kwargs)
        self._jobs.put(job)
        if not job.done.wait(timeout):
            raise LabmnnError(f"{self.name}: no answer within {timeout} s")
        if job.error is not None:
            raise job.error
        return job.result

    def call_async(self, method: str, *args, callback=None, **kwargs) -> None:
        """Queue ``device.method(*args)``; ``callback(result, error)`` runs in the owner thread."""
        self._jobs.put(_Job(method, args, kwargs, callback=callback))

    def consumed(self) -> None:
        """The GUI has shown the last polled result; the next one may be emitted."""
        self._in_flight.clear()

    def reconnect(self, callback=None) -> None:
        """Connect (closing first only if connected), queued to the owner thread."""
        self._jobs.put(_Job("connect", (), {}, callback=callback, close_first=True))

    def proxy(self) -> DeviceProxy:
        return DeviceProxy(self)

    # --------------------------------------------------------- owner thread
    def _run(self, job: _Job):
        fn = getattr(self.device, job.method)
        try:
            if job.close_first and self.connected:
                self.device.close()
                self.connected = False
            job.result = fn(*job.args, **job.kwargs)
            if job.method == "connect":
                self.connected = True
                self.status.emit("connected", "")
            elif job.method == "close":
                self.connected = False
                self.status.emit("disconnected", "")
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            job.error = exc
            if isinstance(exc, LabmnnError):
                if job.method in ("connect", "capture", "preview", "read_stable", "read_immediate"):
                    self.connected = job.method != "connect" and self.connected
                self.status.emit("error", exc.one_line())
        job.done.set()
        if job.callback is not None:
            try:
                job.callback(job.result, job.error)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        return job.result if job.error is None else _reraise(job.error)

    def _loop(self) -> None:
        next_poll = time.perf_counter()
        while True:
            polling = self._can_poll() and not self._stop.is_set()
            wait = max(0.0, next_poll - time.perf_counter()) if polling else 0.5
            try:
                job = self._jobs.get(timeout=wait)
            except queue.Empty:
                job = _NO_JOB
            if job is None:
                return
            if job is not _NO_JOB:
                t0 = time.perf_counter()
                try:
                    self._run(job)
                except BaseException:  # noqa: BLE001 - already handed over in the job
                    pass
                self.job_seconds += time.perf_counter() - t0
                continue
            if self._stop.is_set() or not self._can_poll():
                continue
            next_poll = time.perf_counter() + self.period
            try:
                value = getattr(self.device, self.poll_method)()
            except LabmnnError as exc:
                self.connected = False
                self.status.emit("error", exc.one_line())
                continue
            except Exception as exc:  # noqa: BLE001 - a poll must never kill the owner thread
                self.status.emit("error", f"{type(exc).__name__}: {exc}")
                self.connected = False
                continue
            self.polls += 1
            if not self._in_flight.is_set():
                self._in_flight.set()
                self.polled.emit(value)

    def _can_poll(self) -> bool:
        return self.poll_method is not None and self.connected and self.polling


_NO_JOB = object()  # the queue timed out: time to poll


def _reraise(exc: BaseException):
    raise exc


class DeviceProxy:
    """Stands for the device in another thread: every method call is queued to its owner.

    ``connect`` on an already connected device is a no-op, so the engine's
    checks do not drop the live view.
    """

    def __init__(self, owner: DeviceOwner):
        self._owner = owner

    def connect(self) -> None:
        if not self._owner.connected:
            self._owner.call("connect")

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        owner = self._owner
        if not callable(getattr(owner.device, name, None)):
            raise AttributeError(name)
        return lambda *a, **k: owner.call(name, *a, **k)


# ------------------------------------------------------------------ operator
class RepeatStep(AbortRequested):
    """The operator asked to redo the current step (the engine stops; the runner resumes)."""


class GuiOperator:
    """The engine's Operator: shows each instruction and waits for the operator's click.

    ``confirm`` runs in the engine's thread: it emits :attr:`asked` and blocks
    on an event that :meth:`answer` (GUI thread) sets.  On the simulated rig an
    ``actor`` (an :class:`~labmnn.protocol.operator.AutoOperator`) then does the
    physical part in the engine's thread.

    Parameters
    ----------
    actor : Operator, optional
        Acts after each confirmation (simulated hands); ``None`` at a real rig.
    """

    def __init__(self, actor=None):
        self.asked = Channel()
        self.actor = actor
        self._event = threading.Event()
        self._answer: str | None = None
        self.pending: Instruction | None = None

    def confirm(self, instruction: Instruction) -> None:
        self._answer = None
        self._event.clear()
        self.pending = instruction
        self.asked.emit(instruction)
        self._event.wait()
        self.pending = None
        answer = self._answer
        if answer == "abort":
            raise AbortRequested("aborted by the operator")
        if answer == "repeat":
            raise RepeatStep(f"operator asked to repeat: {instruction.step}")
        if self.actor is not None:
            self.actor.confirm(instruction)

    def answer(self, answer: str = "done") -> None:
        """``"done"``, ``"abort"`` or ``"repeat"`` (any thread)."""
        self._answer = answer
        self._event.set()


# -------------------------------------------------------------------- engine
class EngineRunner:
    """Runs a protocol engine in its own thread and relays what it reports.

    Parameters
    ----------
    make_engine : callable
        ``make_engine(session_folder_or_None, listener) -> Engine``; called again
        with the session folder to resume after a repeat-step request.
    folder : Path, optional
        Continue this session instead of starting a new one.

    Signals
    -------
    event(GuiEvent)
        Each engine event, plus a :class:`~labmnn.protocol.events.RestartEvent`
        before a repeated step.
    finished(RunOutcome)
        The engine's outcome, or status ``fail`` with the error in one line.
    """

    def __init__(self, make_engine: Callable[[Path | None, Callable[[GuiEvent], None]], Any],
                 folder: Path | None = None):
        self.folder = folder  # a session to continue (None: a new one)
        self.event = Channel()
        self.finished = Channel()
        self.make_engine = make_engine
        self.engine = None
        self._repeat = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="labmnn-engine", daemon=True)
        self._thread.start()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def request_repeat(self) -> None:
        self._repeat = True

    def _main(self) -> None:
        folder = self.folder
        while True:
            try:
                self.engine = self.make_engine(folder, self.event.emit)
                outcome: RunOutcome = self.engine.run()
            except LabmnnError as exc:
                outcome = RunOutcome("fail", exc.one_line())
            except Exception as exc:  # noqa: BLE001 - reported in the window, never a silent death
                traceback.print_exc()
                outcome = RunOutcome("fail", f"{type(exc).__name__}: {exc}")
            session = getattr(self.engine, "session", None) if self.engine is not None else None
            if session is not None:
                session.close()
                outcome.session = outcome.session or str(session.folder)
            if outcome.status == "abort" and self._repeat and session is not None:
                self._repeat = False
                folder = session.folder
                self.event.emit(RestartEvent(type="restart", reason=outcome.reason))
                continue
            self.finished.emit(outcome)
            return


class TrackerTap:
    """Wraps a bench's tracker factory so the window sees where each joint was found.

    ``make_tracker`` is called in the engine's thread; every ``track`` result
    with ``joints_px`` is reported through ``emit`` as
    a :class:`~labmnn.protocol.events.JointsEvent`.
    """

    def __init__(self, make_tracker, emit: Callable[[GuiEvent], None]):
        self.make_tracker = make_tracker
        self.emit = emit

    def __call__(self, reference, network, settings, *args, **kwargs):
        tracker = self.make_tracker(reference, network, settings, *args, **kwargs)
        ref = getattr(tracker, "reference", None) or getattr(getattr(tracker, "tracker", None), "reference", None)
        ref_px = getattr(ref, "joints_px", None) if ref is not None else None
        if ref_px is not None:
            self.emit(JointsEvent(type="joints", image=str(reference), joints_px=ref_px))
        return _TappedTracker(tracker, self.emit)


class _TappedTracker:
    def __init__(self, tracker, emit):
        self._tracker = tracker
        self._emit = emit

    def track(self, image_path, **prediction):
        """Track through the wrapped tracker (passing on a prediction it takes) and show the joints."""
        result = self._tracker.track(image_path, **prediction)
        px = getattr(result, "joints_px", None)
        if px is not None:
            self._emit(JointsEvent(type="joints", image=str(image_path), joints_px=px,
                                   confidence=getattr(result, "confidence", None)))
        return result

    def __getattr__(self, name):
        return getattr(self._tracker, name)

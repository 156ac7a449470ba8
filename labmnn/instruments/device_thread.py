"""One thread owns a device: callers queue commands to it and wait, bounded.

USB cameras (and most instruments) accept one client at a time and are not
thread-safe, so every call on a device goes through its :class:`DeviceThread`.

Example
-------
>>> worker = DeviceThread("demo")
>>> worker.call(sum, [1, 2, 3], timeout_s=1.0)
6
>>> worker.stop()
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from labmnn.errors import DeviceError


class DeviceThread:
    """A daemon thread running queued calls one after another.

    Parameters
    ----------
    name : str
        Shown in error messages and as the thread's name.
    """

    def __init__(self, name: str):
        self.name = name
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called; the object cannot be used again."""
        return self._stopped

    @property
    def ident(self) -> int | None:
        """The owner thread's id (None before the first call)."""
        return self._thread.ident if self._thread else None

    def call(self, fn: Callable, *args: Any, timeout_s: float) -> Any:
        """Run ``fn(*args)`` on the owner thread and return its result.

        Raises
        ------
        DeviceError
            If the thread is stopped, or ``fn`` has not returned within
            ``timeout_s`` (it keeps running; later calls queue behind it).
        Exception
            Whatever ``fn`` raised.
        """
        if self._stopped:
            raise DeviceError(f"{self.name} is closed; connect again")
        if threading.current_thread() is self._thread:
            return fn(*args)  # already on the owner thread
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        future: Future = Future()
        self._jobs.put((fn, args, future))
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            future.cancel()
            raise DeviceError(f"{self.name} did not answer within {timeout_s:g} s; check the "
                              "cable and that the device is switched on, then reconnect") from None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Finish queued calls, then end the thread (waits at most ``timeout_s``)."""
        self._stopped = True
        if self._thread is not None:
            self._jobs.put(None)
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

"""A simulated MT-SICS balance served on a real pseudo-terminal.

:class:`SimBalanceServer` opens ``os.openpty``, puts the terminal in raw mode,
and answers MT-SICS commands from a thread, so the *real* driver
(:class:`labmnn.instruments.balance.MTSICSBalance`) talks to it through a real
serial device path (``/dev/pts/N``) with pyserial.

What lies on the pan comes from ``mass_fn()`` (grams), e.g. the simulated
rig's ``rig.pan_mass_g``.  After the mass changes the display swings and
settles like a real weighing cell: ``SI`` answers ``S D`` (dynamic) until
``settle_s`` has passed, ``S`` waits for stability (or answers ``S I`` after
``stable_wait_s``).  Faults are switched on with :meth:`SimBalanceServer.inject`.

Example
-------
>>> server = SimBalanceServer(lambda: 12.3)
>>> port = server.start()                       # e.g. '/dev/pts/7'
>>> from labmnn.instruments.balance import MTSICSBalance
>>> with MTSICSBalance(port) as bal:
...     print(bal.read_stable())
Reading(mass_g=12.3, stable=True)
>>> server.stop()
"""

from __future__ import annotations

import math
import os
import select
import threading
import time
import tty
from collections.abc import Callable

import numpy as np

from labmnn.instruments.mtsics import format_weight

FAULTS = ("silence", "garbage", "ES", "ET", "EL", "busy", "overload", "underload", "close",
          "extra", "late", "trickle")
DELIVERY_FAULTS = ("extra", "late", "trickle")  # the right reply, delivered wrongly
STRAY_LINE = b"S S      99.99 g\r\n"
WEIGHT_COMMANDS = ("S", "SI")
GARBAGE = b"\x87\xf3S\x9e\x00\x1b\xfe?\xc1\r\n"
MAX_COMMAND_BYTES = 64


class SimBalanceServer:
    """MT-SICS level 0/1 balance on a pseudo-terminal.

    Parameters
    ----------
    mass_fn : callable
        ``mass_fn() -> grams`` on the pan now.
    readability_g : float
        Display resolution *d* (0.01 g: a 220 g / 0.01 g precision balance).
    capacity_g : float
        Above this gross load the balance answers ``S +``.
    settle_s : float
        Time from a mass change until the reading is stable.
    stable_wait_s : float
        How long ``S``, ``Z`` and ``T`` wait for stability before ``I`` (busy).
    noise_g : float, optional
        Standard deviation of the cell noise (default a tenth of ``readability_g``).
    seed : int
        Seed of the noise.
    serial_number : str
        What ``I4`` returns.

    Attributes
    ----------
    commands : list of str
        Every command received, in order (for tests).
    """

    def __init__(self, mass_fn: Callable[[], float], *, readability_g: float = 0.01,
                 capacity_g: float = 220.0, settle_s: float = 0.3, stable_wait_s: float = 3.0,
                 noise_g: float | None = None, seed: int = 0,
                 serial_number: str = "SIM0000001"):
        self.mass_fn = mass_fn
        self.readability_g = float(readability_g)
        self.capacity_g = float(capacity_g)
        self.settle_s = float(settle_s)
        self.stable_wait_s = float(stable_wait_s)
        self.noise_g = self.readability_g / 10 if noise_g is None else float(noise_g)
        self.serial_number = serial_number
        self.commands: list[str] = []
        self.late_s = 1.0
        self.trickle_s = 0.01
        self.port: str | None = None
        self._rng = np.random.default_rng(seed)
        self._decimals = max(0, -int(math.floor(math.log10(self.readability_g) + 1e-9)))
        self._zero_g = 0.0
        self._tare_g = 0.0
        self._last_mass = None
        self._changed_at = 0.0
        self._swing_g = 0.0
        self._faults: list[list] = []  # [name, remaining count or None]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._master = self._slave = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------
    def start(self) -> str:
        """Open the pseudo-terminal and serve; returns the device path to open."""
        if self._thread is not None:
            return self.port
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: bytes pass as on a serial line
        self.port = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="sim-balance", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving and remove the port (safe to call twice)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None
        self._close_fds()

    def close_port(self) -> None:
        """Make the port vanish now, as an unplugged USB adapter does."""
        self._stop.set()
        self._close_fds()

    def __enter__(self) -> SimBalanceServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------
    def inject(self, fault: str, count: int | None = 1) -> None:
        """Misbehave on the next ``count`` commands (``None``: until :meth:`clear_faults`).

        Parameters
        ----------
        fault : str
            ``"silence"`` (no reply: the driver times out), ``"garbage"`` (random
            bytes), ``"ES"``, ``"ET"``, ``"EL"`` (error replies), ``"busy"``
            (``<cmd> I``), ``"overload"`` / ``"underload"`` (``S +`` / ``S -`` to
            weight commands), ``"close"`` (the port vanishes when a command arrives),
            ``"extra"`` (a stray weight line ``S S 99.99 g`` before the right reply),
            ``"late"`` (the right reply, :attr:`late_s` seconds late), ``"trickle"``
            (the right reply one byte at a time, :attr:`trickle_s` apart).
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append([fault, count])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- the weighing cell -----------------------------------------------------------
    def _observe(self, now: float) -> float:
        mass = float(self.mass_fn())
        if self._last_mass is None:
            self._last_mass, self._changed_at = mass, now - self.settle_s
        elif abs(mass - self._last_mass) > self.readability_g / 10:
            self._swing_g = self._last_mass - mass + self._swing_g * self._decay(now)
            self._last_mass, self._changed_at = mass, now
        return mass

    def _decay(self, now: float) -> float:
        t = now - self._changed_at
        if t >= self.settle_s:
            return 0.0
        return math.exp(-4.0 * t / self.settle_s) * math.cos(2 * math.pi * 3.0 * t / self.settle_s)

    def _is_stable(self, now: float) -> bool:
        return now - self._changed_at >= self.settle_s

    def _net(self, mass: float, now: float) -> float:
        shown = mass + self._swing_g * self._decay(now) + self._rng.normal(0.0, self.noise_g)
        return round(shown - self._zero_g - self._tare_g, self._decimals) + 0.0  # no "-0.00"

    def _wait_stable(self) -> tuple[float, float] | None:
        """Block (this thread only) until stable; ``(mass, now)`` or None on time-out."""
        start = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            mass = self._observe(now)
            if self._is_stable(now):
                return mass, now
            if now - start >= self.stable_wait_s:
                return None
            time.sleep(0.005)
        return None

    def _range_status(self, mass: float) -> str:
        gross = mass - self._zero_g
        if gross > self.capacity_g:
            return "+"
        if gross < -0.05 * self.capacity_g:
            return "-"
        return ""

    # -- commands ---------------------------------------------------------------------
    def _reply_to(self, command: str) -> bytes | None:
        fault = self._take_fault(command)
        if fault == "silence":
            return None
        if fault == "garbage":
            return GARBAGE
        if fault in ("ES", "ET", "EL"):
            return fault.encode() + b"\r\n"
        head = "S" if command in WEIGHT_COMMANDS else command
        if fault == "busy":
            return f"{head} I\r\n".encode()
        if fault in ("overload", "underload"):
            return f"S {'+' if fault == 'overload' else '-'}\r\n".encode()
        return (self._answer(command) + "\r\n").encode("ascii")

    def _answer(self, command: str) -> str:
        d = self._decimals
        if command == "SI":
            now = time.monotonic()
            mass = self._observe(now)
            status = self._range_status(mass)
            if status:
                return f"S {status}"
            return format_weight("S", "S" if self._is_stable(now) else "D", self._net(mass, now), d)
        if command in ("S", "Z", "T"):
            got = self._wait_stable()
            if got is None:
                return f"{command} I"
            mass, now = got
            status = self._range_status(mass)
            if command == "S":
                return f"S {status}" if status else format_weight("S", "S", self._net(mass, now), d)
            if command == "Z":
                if abs(mass - self._zero_g - self._tare_g) > 0.02 * self.capacity_g:
                    return f"Z {'+' if mass > self._zero_g else '-'}"
                self._zero_g, self._tare_g = mass, 0.0
                return "Z A"
            if status:
                return f"T {status}"
            self._tare_g = round(mass - self._zero_g, d)
            return format_weight("T", "S", self._tare_g, d)
        if command == "TA":
            return format_weight("TA", "A", self._tare_g, d)
        if command == "I4":
            return f'I4 A "{self.serial_number}"'
        return "ES"

    def _take_fault(self, command: str) -> str | None:
        with self._lock:
            for entry in self._faults:
                name, left = entry
                if name in ("overload", "underload") and command not in WEIGHT_COMMANDS:
                    continue
                if left is not None:
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._faults.remove(entry)
                return name
        return None

    # -- the serving thread --------------------------------------------------------------
    def _serve(self) -> None:
        buffer = b""
        master = self._master
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(master, 256)
            except (OSError, ValueError):
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self._handle(line.rstrip(b"\r"))
            if len(buffer) > MAX_COMMAND_BYTES:  # no terminator: a transmission error
                buffer = b""
                self._write(b"ET\r\n")

    def _handle(self, raw: bytes) -> None:
        command = raw.decode("ascii", "replace").strip()
        self.commands.append(command)
        if self._peek_fault() == "close":
            self.close_port()
            return
        delivery = self._take_fault(command) if self._peek_fault() in DELIVERY_FAULTS else None
        try:
            reply = self._reply_to(command)
        except Exception:  # a failing mass_fn: the cell cannot weigh, say so as a balance does
            reply = b"EL\r\n"
        if reply is None:
            return
        if delivery == "extra":
            self._write(STRAY_LINE + reply)
        elif delivery == "late":
            timer = threading.Timer(self.late_s, self._write, (reply,))
            timer.daemon = True
            timer.start()
        elif delivery == "trickle":
            for k in range(len(reply)):
                self._write(reply[k:k + 1])
                time.sleep(self.trickle_s)
        else:
            self._write(reply)

    def _peek_fault(self) -> str | None:
        with self._lock:
            return self._faults[0][0] if self._faults else None

    def _write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except (OSError, TypeError):
            pass

    def _close_fds(self) -> None:
        for name in ("_master", "_slave"):
            fd = getattr(self, name)
            setattr(self, name, None)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

"""MT-SICS serial balance driver (Mettler Toledo level 0/1, and the many
balances that speak it).

One command at a time: the driver drains stale input (after a timeout it waits
for a late reply to pass), writes the command with CR LF, and reads one reply
line, bounded in time.  The reply must echo the command's id, carry a unit, and
be the only line: a second line right behind it (a stray or late reply) makes
the reading ambiguous, so the driver drains and asks again (a few times).  Every failure
(no reply, garbled bytes, an error reply, a port that vanishes) becomes a
:class:`~labmnn.errors.DeviceError` whose message says what to check; nothing
waits forever.

Example
-------
>>> bal = MTSICSBalance("/dev/ttyUSB0")            # doctest: +SKIP
>>> bal.connect(); bal.read_stable()                # doctest: +SKIP
Reading(mass_g=12.34, stable=True)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from labmnn.devices import Reading
from labmnn.errors import DeviceError
from labmnn.instruments.mtsics import TERMINATOR, Reply, parse_reply

MAX_LINE_BYTES = 128
BUSY_PAUSE_S = 0.05
MAX_ASKS = 3  # a command is sent at most this often when its reply is ambiguous
MAX_DRAIN_BYTES = 4096  # a device that never stops sending is a fault, not stale input
DRAIN_QUIET_S = (0.5, 2.0)  # after a timeout: quiet this long (the timeout, within these) before a command
STABLE_COMMANDS = ("S", "Z", "T")  # the balance replies once the weight is stable


def open_serial_port(port: str, baud: int, timeout: float):
    """Open ``port`` 8N1 with pyserial (the default ``serial_factory``)."""
    import serial

    return serial.Serial(port=port, baudrate=baud, bytesize=8, parity="N", stopbits=1,
                         timeout=timeout, write_timeout=timeout)


class MTSICSBalance:
    """A balance on a serial port speaking MT-SICS.

    Parameters
    ----------
    port : str
        Serial device, e.g. ``/dev/ttyUSB0`` or ``COM3``.
    baud : int
        Baud rate set on the balance (8 data bits, no parity, 1 stop bit).
    timeout : float
        Seconds to wait for the reply to an immediate command (``SI``, ``TA``, ``I4``).
    settle_timeout : float
        Seconds a command that waits for a stable weight (``S``, ``Z``, ``T``)
        may take in total, retries on "busy" included.
    serial_factory : callable, optional
        ``serial_factory(port, baud, timeout)`` returning a pyserial-like object;
        tests pass a scripted fake.

    Examples
    --------
    >>> with MTSICSBalance("/dev/ttyUSB0", timeout=1.0) as bal:   # doctest: +SKIP
    ...     print(bal.read_stable().mass_g)
    """

    def __init__(self, port: str, baud: int = 9600, timeout: float = 2.0, *,
                 settle_timeout: float = 10.0,
                 serial_factory: Callable | None = None):
        if timeout <= 0 or settle_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.port = str(port)
        self.baud = int(baud)
        self.timeout = float(timeout)
        self.settle_timeout = float(settle_timeout)
        self._factory = serial_factory or open_serial_port
        self._serial = None
        self._exchange = threading.Lock()  # one command/reply at a time, whoever calls
        self._dirty = False  # a reply may still be on its way (after a timeout or a stray line)

    # -- connection ------------------------------------------------------------------
    def connect(self) -> None:
        """Open the port; raises DeviceError naming the port if it cannot."""
        if self._serial is not None:
            return
        try:
            self._serial = self._factory(self.port, self.baud, self.timeout)
        except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
            raise DeviceError(f"cannot open balance port {self.port}: {_reason(exc)}; check the "
                              "device name (python -m serial.tools.list_ports) and that no other "
                              "program uses it") from None

    def close(self) -> None:
        """Close the port (safe to call twice)."""
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except OSError:
                pass

    def __enter__(self) -> MTSICSBalance:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- Balance protocol --------------------------------------------------------------
    def read_stable(self) -> Reading:
        """Send ``S``: the balance answers once the weight is stable.

        Returns
        -------
        Reading
            ``stable=True``.

        Raises
        ------
        DeviceError
            Overload, underload, no stable weight within ``settle_timeout``,
            no reply, garbage, or a vanished port.
        """
        reply = self._ask_until_done("S", "S", self.settle_timeout, done="S")
        return Reading(mass_g=_weight(reply), stable=True)

    def read_immediate(self) -> Reading:
        """Send ``SI``: the current weight, stable (``S S``) or not (``S D``)."""
        reply = self._ask_until_done("SI", "S", self.timeout, done="SD")
        return Reading(mass_g=_weight(reply), stable=reply.status == "S")

    def zero(self) -> None:
        """Send ``Z``: zero the balance once stable (the pan must be empty)."""
        self._ask_until_done("Z", "Z", self.settle_timeout, done="A")

    def tare(self) -> float:
        """Send ``T``: tare once stable.  Returns the tare weight in grams."""
        return _weight(self._ask_until_done("T", "T", self.settle_timeout, done="S"))

    def tare_value(self) -> float:
        """Send ``TA``: the tare weight now stored, in grams."""
        return _weight(self._ask_until_done("TA", "TA", self.timeout, done="A"))

    def serial_number(self) -> str:
        """Send ``I4``: the balance's serial number."""
        return self._ask_until_done("I4", "I4", self.timeout, done="A").text

    # -- one exchange -----------------------------------------------------------------
    def _ask_until_done(self, command: str, answer: str, budget_s: float, done: str) -> Reply:
        """Send ``command`` until its reply status is in ``done``; retry "busy" (``I``)
        replies until ``budget_s`` is spent."""
        deadline = time.monotonic() + budget_s
        while True:
            reply = self._ask(command, answer, max(deadline - time.monotonic(), 1e-3))
            if reply.status and reply.status in done:
                return reply
            if reply.status in "+-" and reply.status:
                raise DeviceError(_range_message(command, reply.status))
            if reply.status == "D":  # only SI may answer "dynamic": something else is sending
                raise DeviceError(f"balance sent a dynamic weight in reply to {command!r}: it seems "
                                  "to be in continuous (auto-print) mode; set its interface to "
                                  "MT-SICS / host mode")
            if reply.status != "I":
                raise DeviceError(f"balance answered {command!r} with unexpected status "
                                  f"{reply.status!r}")
            if time.monotonic() + BUSY_PAUSE_S >= deadline:
                raise DeviceError(
                    f"balance stayed busy for {budget_s:g} s on {command!r} (no stable weight): "
                    "shield the pan from draughts and vibration, check nothing touches it, "
                    "or allow more time (--timeout)")
            time.sleep(BUSY_PAUSE_S)

    def _ask(self, command: str, answer: str, wait_s: float) -> Reply:
        with self._exchange:
            for _ in range(MAX_ASKS):
                reply, extra = self._ask_locked(command, answer, wait_s)
                if not extra:
                    return reply
                self._dirty = True
            raise DeviceError(f"balance sent more than one line in reply to {command!r} "
                              f"{MAX_ASKS} times (last extra bytes {extra[:40]!r}): is it in "
                              "continuous (auto-print) mode, or does another program use the port?")

    def _drain(self, ser) -> None:
        """Throw away input waiting on the port; after a timeout or a stray line, also wait
        until it has stayed quiet for the reply timeout (bounded by :data:`DRAIN_QUIET_S`),
        so that a late reply passes before the next command."""
        ser.reset_input_buffer()
        if not self._dirty:
            return
        ser.timeout = min(max(DRAIN_QUIET_S[0], self.timeout), DRAIN_QUIET_S[1])
        drained = 0
        while drained < MAX_DRAIN_BYTES:
            chunk = ser.read(MAX_LINE_BYTES)
            if not chunk:
                break
            drained += len(chunk)
        else:
            raise DeviceError(f"balance on {self.port} keeps sending without being asked: set its "
                              "interface to MT-SICS / host mode (no continuous output)")
        self._dirty = False

    def _ask_locked(self, command: str, answer: str, wait_s: float) -> tuple[Reply, bytes]:
        """One exchange: the reply, and any bytes that followed it at once (non-empty:
        the reply may not belong to this command)."""
        if self._serial is None:
            self.connect()
        ser = self._serial
        assert ser is not None  # connect() opened it or raised
        try:
            self._drain(ser)  # a late reply to an earlier command must not be read now
            ser.write(command.encode("ascii") + TERMINATOR)
            ser.timeout = wait_s
            raw = ser.read_until(TERMINATOR, MAX_LINE_BYTES)
            extra = b""
            if raw.endswith(TERMINATOR) and getattr(ser, "in_waiting", 0):
                ser.timeout = 0
                extra = ser.read(MAX_LINE_BYTES)
        except (OSError, ValueError) as exc:  # SerialException, EIO, closed fd
            self.close()
            raise DeviceError(f"balance port {self.port} stopped working ({_reason(exc)}): it was "
                              "unplugged or closed; reconnect the cable and try again") from None
        if not raw or not raw.endswith(TERMINATOR):
            self._dirty = True  # the reply may still come: drain it before the next command
        if not raw:
            why = ("; it answers only once the weight is stable: shield the pan from draughts "
                   "and vibration, or allow more time (--timeout)") if command in STABLE_COMMANDS else ""
            raise DeviceError(f"no reply from the balance on {self.port} within {wait_s:.3g} s "
                              f"to {command!r}: check it is on, the cable, and the baud rate "
                              f"(now {self.baud}){why}")
        if not raw.endswith(TERMINATOR):
            raise DeviceError(f"balance sent an unreadable reply {raw[:40]!r} (no CR LF): check "
                              f"the baud rate (now {self.baud}) and that the port is the balance")
        reply = parse_reply(raw)
        if reply.command != answer:
            raise DeviceError(f"balance answered {command!r} with {raw.strip()!r}: the reply does "
                              "not belong to the command (another program on the port?)")
        return reply, extra


GRAMS_PER_UNIT = {"g": 1.0, "mg": 1e-3, "kg": 1e3}


def _weight(reply: Reply) -> float:
    """The reply's weight in grams (mg and kg converted)."""
    if reply.value is None or reply.unit not in GRAMS_PER_UNIT:
        raise DeviceError(f"balance reply has no weight in g, mg or kg (unit {reply.unit!r}): set "
                          "the balance's unit to grams")
    return reply.value * GRAMS_PER_UNIT[reply.unit]


def _range_message(command: str, status: str) -> str:
    if command == "Z":
        return "balance cannot zero: the load is outside the zero range; empty the pan"
    if command == "T":
        return "balance cannot tare: the load is outside the tare range"
    what = "overload: take weight off the pan" if status == "+" else \
        "underload: is the pan in place? zero the balance with an empty pan"
    return f"balance reports {what}"


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

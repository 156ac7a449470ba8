"""A scripted stand-in for a pyserial port, in the spirit of PyMeasure's
``expected_protocol``: the test lists the exact exchange, the fake fails on any
write it did not expect, and :meth:`ExpectedSerial.assert_done` fails if part of
the script was never used."""

from __future__ import annotations


class ExpectedSerial:
    """Parameters
    ----------
    exchange : list of (bytes, bytes or None or Exception)
        ``(what the driver must write, what the port then returns)``; ``None``
        means silence (the read times out), an exception instance is raised by
        the read (a vanished port).
    """

    def __init__(self, exchange):
        self.exchange = list(exchange)
        self.pending = b""
        self.raise_on_read = None
        self.timeout = None
        self.closed = False

    def write(self, data: bytes) -> int:
        assert not self.closed, "write on a closed port"
        assert self.exchange, f"unexpected write {data!r}: the script is used up"
        expected, reply = self.exchange.pop(0)
        assert data == expected, f"driver wrote {data!r}, the script expected {expected!r}"
        if isinstance(reply, BaseException):
            self.raise_on_read = reply
        elif reply is not None:
            self.pending += reply
        return len(data)

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        if self.raise_on_read is not None:
            exc, self.raise_on_read = self.raise_on_read, None
            raise exc
        end = self.pending.find(expected)
        cut = len(self.pending) if end < 0 else end + len(expected)
        if size is not None:
            cut = min(cut, size)
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.pending)

    def read(self, size: int = 1) -> bytes:
        if self.raise_on_read is not None:
            exc, self.raise_on_read = self.raise_on_read, None
            raise exc
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def reset_input_buffer(self) -> None:
        self.pending = b""

    def close(self) -> None:
        self.closed = True

    def assert_done(self) -> None:
        assert not self.exchange, f"script not used up: {self.exchange!r}"
        assert not self.pending, f"replies never read: {self.pending!r}"


def expected_balance(exchange, **kw):
    """An :class:`MTSICSBalance` wired to an :class:`ExpectedSerial`; returns both."""
    from labmnn.instruments.balance import MTSICSBalance

    port = ExpectedSerial(exchange)
    bal = MTSICSBalance("FAKE", serial_factory=lambda *_: port, **kw)
    return bal, port

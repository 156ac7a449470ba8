"""MT-SICS (Mettler Toledo Standard Interface Command Set) replies, parsed.

Pure functions, no I/O: the driver (:mod:`labmnn.instruments.balance`) sends a
command and hands each reply line here.  Only level 0/1 replies are handled:

======================  ===============================================
``S S     12.34 g``     stable weight
``S D     12.30 g``     dynamic (not yet settled) weight
``S I``                 command understood but not executable now (busy)
``S +`` / ``S -``       overload / underload
``Z A``, ``T S 1.2 g``  zero done, tare done (with the tare weight)
``TA A 1.20 g``         current tare value
``I4 A "0123456789"``   serial number
``ES``/``ET``/``EL``    syntax / transmission / logical error
======================  ===============================================

Example
-------
>>> parse_reply("S S      12.34 g")
Reply(command='S', status='S', value=12.34, unit='g', text='')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labmnn.errors import DeviceError

TERMINATOR = b"\r\n"

ERROR_REPLIES = {
    "ES": "syntax error: the balance did not recognise the command",
    "ET": "transmission error: the balance received garbled bytes (check baud rate, "
          "parity 8N1 and the cable)",
    "EL": "logical error: the balance cannot execute the command now",
}

_REPLY = re.compile(
    r"^(?P<cmd>[A-Z][A-Z0-9]{0,3})"          # command echo: S, SI->S, Z, T, TA, I4
    r"(?:\s+(?P<status>[SDAI+\-]))?"          # status letter
    r"(?:\s+(?P<value>[+\-]?\s*\d+(?:\.\d*)?)\s*(?P<unit>[A-Za-z%]+)?)?"
    r"(?:\s+\"(?P<text>[^\"]*)\")?\s*$"
)


@dataclass(frozen=True)
class Reply:
    """One parsed reply line.

    Attributes
    ----------
    command : str
        The command the reply answers (``"S"`` for both ``S`` and ``SI``).
    status : str
        ``"S"`` stable, ``"D"`` dynamic, ``"A"`` done, ``"I"`` busy,
        ``"+"`` overload, ``"-"`` underload, ``""`` none.
    value : float or None
        The number in the reply (grams for weights).
    unit : str
        Its unit (``"g"``), or ``""``.
    text : str
        A quoted string (``I4``'s serial number), or ``""``.
    """

    command: str
    status: str
    value: float | None
    unit: str
    text: str


def parse_reply(line: str | bytes) -> Reply:
    """Parse one reply line (terminator optional).

    Parameters
    ----------
    line : str or bytes
        The line as received.

    Returns
    -------
    Reply

    Raises
    ------
    DeviceError
        On an error reply (``ES``, ``ET``, ``EL``) or on bytes that are no
        MT-SICS reply at all (usually a wrong baud rate or the wrong port).
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("ascii")
        except UnicodeDecodeError:
            raise DeviceError(f"balance sent unreadable bytes {line[:40]!r}: check the baud rate "
                              "(9600 8N1 unless changed on the balance) and that the port is "
                              "the balance") from None
    text = line.strip("\r\n").strip()
    if text in ERROR_REPLIES:
        raise DeviceError(f"balance replied {text}: {ERROR_REPLIES[text]}")
    m = _REPLY.match(text)
    if not m or not text.isprintable():
        raise DeviceError(f"balance sent an unreadable reply {text[:40]!r}: check the baud rate "
                          "(9600 8N1 unless changed on the balance) and that the port is the balance")
    value = m.group("value")
    return Reply(command=m.group("cmd"), status=m.group("status") or "",
                 value=float(value.replace(" ", "")) if value else None,
                 unit=m.group("unit") or "", text=m.group("text") or "")


def format_weight(command: str, status: str, grams: float, decimals: int = 2) -> str:
    """One weight reply as a balance prints it (without terminator).

    Examples
    --------
    >>> format_weight("S", "S", 12.3)
    'S S      12.30 g'
    """
    return f"{command} {status} {grams:>10.{decimals}f} g"

"""Open the rig's real devices behind the :mod:`labmnn.devices` protocols.

Every command that talks to a device calls these two functions.  The
simulated twins (``--sim``) are built by the command line
(:mod:`labmnn.cli.sim.devices`), which falls back on these for the real rig.

Example
-------
>>> open_balance()                                              # doctest: +SKIP
Traceback (most recent call last):
labmnn.errors.InputError: --port: give the balance's serial port, ...
"""

from __future__ import annotations

from labmnn.devices import Balance, Camera
from labmnn.errors import InputError
from labmnn.instruments.balance import MTSICSBalance


def open_camera(**kw) -> Camera:
    """The connected tethered camera.

    Parameters
    ----------
    **kw
        Passed on to ``GPhoto2Camera(model=, port=, ...)``.

    Returns
    -------
    Camera
        Already connected; call ``close()`` when done.
    """
    from labmnn.instruments.gphoto2_camera import GPhoto2Camera

    camera = GPhoto2Camera(**kw)
    camera.connect()
    return camera


def open_balance(port: str | None = None, baud: int = 9600, *, timeout: float = 2.0,
                 settle_timeout: float = 10.0) -> Balance:
    """The connected MT-SICS balance on serial ``port``.

    Parameters
    ----------
    port : str
        Serial device, e.g. ``/dev/ttyUSB0`` (required).
    baud : int
        Baud rate.
    timeout, settle_timeout : float
        See :class:`~labmnn.instruments.balance.MTSICSBalance`.

    Returns
    -------
    Balance
    """
    if not port:
        raise InputError("--port", "", "give the balance's serial port, e.g. /dev/ttyUSB0 or "
                         "COM3 (or --sim for the simulated balance)")
    return connected(MTSICSBalance(port, baud=baud, timeout=timeout, settle_timeout=settle_timeout))


def connected(balance: Balance) -> Balance:
    """``balance`` after ``connect()``; closed again (then the error raised) if connecting fails."""
    try:
        balance.connect()
    except BaseException:
        balance.close()
        raise
    return balance

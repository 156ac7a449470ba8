"""Open a device, real or simulated: ``--sim`` is one flag away in every command.

The simulated twins come from :mod:`hardware_sim`, imported lazily; the real
devices from :mod:`labmnn.instruments.factory`.

Example
-------
>>> bal = open_balance(sim=True, mass_fn=lambda: 10.0)
>>> bal.read_stable().mass_g
10.0
>>> bal.close()
"""

from __future__ import annotations

from collections.abc import Callable

from labmnn.devices import Balance, Camera
from labmnn.errors import DeviceError
from labmnn.instruments import factory
from labmnn.instruments.balance import MTSICSBalance

DEFAULT_SIM_NETWORK = "paper-triangle-n4"


def open_camera(sim: bool = False, rig=None, **kw) -> Camera:
    """A connected camera.

    Parameters
    ----------
    sim : bool
        ``True``: ``hardware_sim.camera.SimCamera`` photographing ``rig``.
    rig : hardware_sim.rig.SimRig, optional
        The simulated rig; by default one with the paper's network, unloaded.
        Ignored for a real camera.
    **kw
        Passed on: ``GPhoto2Camera(model=, port=, ...)`` or ``SimCamera(width=, ...)``.
        ``network=`` (name or file) chooses the default rig's network.

    Returns
    -------
    Camera
        Already connected; call ``close()`` when done.
    """
    if not sim:
        kw.pop("network", None)
        return factory.open_camera(**kw)
    camera = _sim_camera(rig, kw)
    camera.connect()
    return camera


def _sim_camera(rig, kw) -> Camera:
    try:
        from hardware_sim.camera import SimCamera
    except ImportError as exc:
        raise DeviceError(f"the simulated camera is not available in this build ({exc}); "
                          "use a real camera or install the hardware_sim package") from None
    network = kw.pop("network", DEFAULT_SIM_NETWORK)
    if rig is None:
        from hardware_sim.rig import SimRig
        from labmnn.model.network import Network

        rig = SimRig(Network.open(network))
    return SimCamera(rig, **kw)


class PtyServedBalance(MTSICSBalance):
    """The real MT-SICS driver talking to a :class:`hardware_sim.balance_pty.SimBalanceServer`
    it owns; closing the balance stops the server."""

    def __init__(self, server, **kw):
        self.server = server
        super().__init__(server.start(), **kw)

    def close(self) -> None:
        super().close()
        self.server.stop()


def open_balance(port: str | None = None, sim: bool = False, baud: int = 9600,
                 mass_fn: Callable[[], float] | None = None, *, timeout: float = 2.0,
                 settle_timeout: float = 10.0) -> Balance:
    """A connected balance.

    Parameters
    ----------
    port : str, optional
        Serial device of a real balance (required unless ``sim``).
    sim : bool
        Serve a simulated MT-SICS balance on a pseudo-terminal and connect the
        real driver to it.
    baud : int
        Baud rate.
    mass_fn : callable, optional
        ``mass_fn() -> grams`` on the simulated pan (e.g. ``lambda: rig.pan_mass_g``);
        default an empty pan.
    timeout, settle_timeout : float
        See :class:`~labmnn.instruments.balance.MTSICSBalance`.

    Returns
    -------
    Balance
    """
    if not sim:
        return factory.open_balance(port, baud, timeout=timeout, settle_timeout=settle_timeout)
    from hardware_sim.balance_pty import SimBalanceServer

    return factory.connected(PtyServedBalance(SimBalanceServer(mass_fn or (lambda: 0.0)), baud=baud,
                                              timeout=timeout, settle_timeout=settle_timeout))

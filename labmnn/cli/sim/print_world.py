"""The simulated print world for training on a print (``--on sim``), built from :mod:`hardware_sim`.

:func:`make_print_world` is a plain top-level function of plain data, so
worker processes (or Dask workers) of ``labmnn compare-methods`` can build
their own print world.
"""

from __future__ import annotations


def make_print_world(network_dict: dict, mismatch: float | None, seed: int):
    """A :class:`hardware_sim.print_world.PrintWorld` of the design ``network_dict``.

    ``mismatch`` sets the per-bond stiffness error (``None``: the default).
    """
    from hardware_sim.print_world import PrintWorld, PrintWorldParams
    from labmnn.model.network import Network

    params = PrintWorldParams() if mismatch is None else PrintWorldParams(stiffness_error=float(mismatch))
    return PrintWorld(Network.from_dict(network_dict, "design"), params, seed=seed)


def world_parameters(mismatch: float | None) -> dict:
    """The print world's parameters as plain data (for the records)."""
    from hardware_sim.print_world import PrintWorldParams

    p = PrintWorldParams() if mismatch is None else PrintWorldParams(stiffness_error=float(mismatch))
    return p.to_dict()

"""A simulated print: per-bond stiffness errors of the "printed" part.

Example
-------
>>> printed_stiffness_factor(3, 0.0).tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import numpy as np

from labmnn.errors import InputError


def design_stiffness(net):
    """Stiffness a print of ``net``'s design would have without printing errors (N/m).

    An identified network (``extra["identification"]``) is a model of one print,
    not a design: a new simulated print of it starts from the bar formula with
    the nominal modulus (the identified modulus divided by its factor), so the
    simulated printer's errors are not counted twice.
    """
    ident = (net.extra or {}).get("identification")
    if net.stiffness_override is None or not isinstance(ident, dict):
        return net.stiffness
    modulus = net.youngs_modulus / float(ident.get("modulus_factor", 1.0))
    return modulus * net.width * net.thickness / net.lengths


def printed_stiffness_factor(n_bonds: int, rel_error: float, print_seed: int = 0):
    """Per-bond factor (true / design stiffness) of a simulated print.

    Parameters
    ----------
    n_bonds : int
    rel_error : float
        Largest relative error, in [0, 0.9]; 0 gives a perfect print.
    print_seed : int

    Returns
    -------
    ndarray (n_bonds,)
    """
    if not 0.0 <= rel_error <= 0.9:
        raise InputError("--stiffness-error", "", f"must be in [0, 0.9], found {rel_error!r}")
    if rel_error == 0:
        return np.ones(n_bonds)
    return 1.0 + rel_error * np.random.default_rng([int(print_seed), 2026]).uniform(-1.0, 1.0, n_bonds)

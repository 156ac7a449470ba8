"""labmnn: train mechanical neural networks by in-situ backpropagation.

The numerical names (``Network``, ``SolveResult``, ``GRAVITY``, ``losses``) are
loaded on first use, so ``import labmnn`` (and the command line's ``--help``)
does not pay for numpy and scipy.

>>> import labmnn
>>> net = labmnn.Network.example("paper-triangle-n4")
>>> net.n_nodes, net.n_bonds
(14, 28)
"""

from __future__ import annotations

import importlib

from labmnn.errors import InputError, LabmnnError, ZeroModeError

__version__ = "0.1.0"
__all__ = ["Network", "SolveResult", "losses", "GRAVITY", "LabmnnError", "InputError", "ZeroModeError"]

_LAZY = {"Network": "model.network", "SolveResult": "model.network", "GRAVITY": "model.network"}


def __getattr__(name: str):
    if name == "losses":
        return importlib.import_module(".model.losses", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

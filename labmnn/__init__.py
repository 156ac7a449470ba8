"""labmnn: train mechanical neural networks by in-situ backpropagation.

>>> import labmnn
>>> net = labmnn.Network.example("paper-triangle-n4")
>>> net.n_nodes, net.n_bonds
(14, 28)
"""

from . import losses
from .errors import InputError, LabmnnError, ZeroModeError
from .network import GRAVITY, Network, SolveResult

__version__ = "0.1.0"
__all__ = ["Network", "SolveResult", "losses", "GRAVITY", "LabmnnError", "InputError", "ZeroModeError"]

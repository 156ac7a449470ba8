"""The simulated twin of the rig: camera, balance and the loaded network.

Tests and ``labmnn demo`` use it in place of the real instruments; the app
never knows the difference.

- :class:`SimRig` (``rig.py``): the network mounted by its fixed nodes, loads, truth.
- :class:`SimCameraModel` (``camera_model.py``): pose + lens (OpenCV's model).
- :class:`SimCamera` (``camera.py``): a :class:`labmnn.devices.Camera` that renders photos.
- :class:`SimWeightSet` (``weights.py``), :class:`SimOperator` (``operator.py``).
- ``render.py``: the pure renderers ``render_network`` and ``render_board``.
"""

from .camera import SimCamera
from .camera_model import SimCameraModel
from .look import Look
from .operator import SimOperator
from .rig import SimRig
from .scene import BoardPose, NetworkScene, SimBoard
from .weights import SimWeightSet, WeightPiece

__all__ = ["SimCamera", "SimCameraModel", "Look", "SimOperator", "SimRig", "BoardPose", "NetworkScene",
           "SimBoard", "SimWeightSet", "WeightPiece"]

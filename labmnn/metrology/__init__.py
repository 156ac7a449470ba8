"""Image metrology: camera calibration, sub-pixel joint tracking, overlays.

- :mod:`.calibration`: checkerboard calibration and the sample-plane mapping.
- :mod:`.images`: reading JPEG/PNG/RAW photographs as grey arrays.
- :mod:`.discs`: precise centre and radius of dark disc markers in one image.
- :mod:`.correlation`: sub-pixel correlation (masked ZNSSD Gauss-Newton).
- :mod:`.tracking`: :class:`JointTracker`, photographs to displacements and elongations.
- :mod:`.autojoints`: finding the joint markers without an operator's clicks.
- :mod:`.overlay`: a PNG of what was tracked.
"""

from labmnn.metrology.calibration import BoardSpec, Calibration, calibrate

try:
    from labmnn.metrology.tracking import JointTracker, TrackResult
except ImportError:  # pragma: no cover
    pass

__all__ = ["BoardSpec", "Calibration", "calibrate", "JointTracker", "TrackResult"]

"""The ``labmnn-tracking/1`` object that ``labmnn track`` writes as JSON (pure: no files).

Example
-------
>>> entry = image_entry("a.jpg", result, decode_s=0.12)           # doctest: +SKIP
>>> doc = tracking_result(tracker, "net.json", "cal.json", "ref.jpg", [entry])   # doctest: +SKIP
>>> doc["format"]                                                  # doctest: +SKIP
'labmnn-tracking/1'
"""

from __future__ import annotations

from pathlib import Path

FORMAT = "labmnn-tracking/1"


def image_entry(path: str | Path, result, decode_s: float) -> dict:
    """The record of one tracked photo: its path, the :class:`~labmnn.metrology.tracking.TrackResult`
    fields and the decode and tracking times (s, rounded to 0.1 ms)."""
    return {"path": str(path), **result.to_dict(), "decode_s": round(decode_s, 4), "track_s": round(result.seconds, 4)}


def tracking_result(tracker, network: str | Path, calibration: str | Path, reference: str | Path,
                    images: list[dict]) -> dict:
    """The whole result: inputs, the reference as the ``tracker`` located it
    (:meth:`~labmnn.metrology.tracking.JointTracker.describe`), the bonds and one
    :func:`image_entry` per photo."""
    described = tracker.describe()
    return {"format": FORMAT, "network": str(network), "calibration": str(calibration),
            "reference": {"path": str(reference), **described},
            "plane_to_network": described["plane_to_network"],
            "bonds": tracker.network.bonds.tolist(), "images": images}

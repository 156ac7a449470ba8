"""A tiny stand-in for ``hardware_sim.camera.SimCamera`` / ``hardware_sim.rig.SimRig``
(used until the rig-sim branch is merged): installs stub modules so the
factory's lazy import path is the one exercised."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np

from labmnn.devices import CameraSettings, Capture


class StubRig:
    def __init__(self, network):
        self.network = network


class StubSimCamera:
    def __init__(self, rig, width=600, height=400, preview_size=(64, 43), faults=None, jpeg_quality=95):
        self.rig, self.size, self.preview_size = rig, (width, height), preview_size
        self.settings = CameraSettings(iso="100", aperture="8", shutter_speed="1/60",
                                       image_format="JPEG", capture_target="ram")
        self.connected = False
        self.n = 0

    def connect(self):
        self.connected = True

    def close(self):
        self.connected = False

    def get_settings(self):
        return self.settings

    def set_settings(self, **values):
        for k, v in values.items():
            setattr(self.settings, k, v)
        return self.settings

    def capture(self, folder):
        self.n += 1
        path = Path(folder) / f"sim_{self.n:04d}.jpg"
        cv2.imwrite(str(path), np.full((self.size[1], self.size[0], 3), 200, np.uint8))
        return Capture(path=path, time=time.time(), settings=self.settings,
                       truth={"joints_px": np.zeros((self.rig.network.n_nodes, 2))})

    def preview(self):
        w, h = self.preview_size
        return np.full((h, w, 3), 90, np.uint8)


def install(monkeypatch):
    cam = types.ModuleType("hardware_sim.camera")
    cam.SimCamera = StubSimCamera
    rig = types.ModuleType("hardware_sim.rig")
    rig.SimRig = StubRig
    monkeypatch.setitem(sys.modules, "hardware_sim.camera", cam)
    monkeypatch.setitem(sys.modules, "hardware_sim.rig", rig)

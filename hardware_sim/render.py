"""Pure rendering functions: a scene and a camera in, a photograph and its truth out.

>>> from hardware_sim.render import render_board
>>> from hardware_sim.scene import SimBoard, BoardPose
>>> from hardware_sim.camera_model import SimCameraModel
>>> cam = SimCameraModel.framing(target_mm=(80, 50), width=600, height=400, px_per_mm=1.5)
>>> out = render_board(cam, SimBoard(), BoardPose([0, 0, 0], [0, 0, 0]), seed=1)
>>> out.image.shape, out.truth["board_corners_px"].shape
((400, 600, 3), (54, 2))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import focus, sensor
from .camera_model import SimCameraModel
from .look import DEFAULT_LOOK, Look
from .raster import Box, bounding_box, coverage
from .scene import BoardPose, Layer, NetworkScene, SimBoard, board_layers


@dataclass
class Rendered:
    """A rendered frame: ``image`` (H, W, 3) uint8 BGR and its ``truth`` dict."""

    image: np.ndarray
    truth: dict


def _union(a: Box, b: Box) -> Box:
    if a.empty:
        return b
    if b.empty:
        return a
    x0, y0 = min(a.x0, b.x0), min(a.y0, b.y0)
    x1, y1 = max(a.x0 + a.w, b.x0 + b.w), max(a.y0 + a.h, b.y0 + b.h)
    return Box(x0, y0, x1 - x0, y1 - y0)


def _pad(box: Box, pad: int, width: int, height: int) -> Box:
    if box.empty:
        return box
    x0, y0 = max(box.x0 - pad, 0), max(box.y0 - pad, 0)
    x1, y1 = min(box.x0 + box.w + pad, width), min(box.y0 + box.h + pad, height)
    return Box(x0, y0, x1 - x0, y1 - y0)


def _silhouette(model: SimCameraModel, layer: Layer) -> list[np.ndarray]:
    """Image polygons of a layer: its faces, plus the side walls of its extrusion
    that show beyond them."""
    front = model.project(layer.polygons)
    if layer.extrude_mm <= 0:
        return [front]
    back = model.project(layer.polygons + np.array([0.0, 0.0, layer.extrude_mm]))
    f1, b1 = np.roll(front, -1, axis=1), np.roll(back, -1, axis=1)
    walls = np.stack([front, f1, b1, back], axis=2)  # (P, V, 4, 2)

    def area(p):
        x, y = p[..., 0], p[..., 1]
        return (x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(axis=-1)

    # a wall f_i f_i+1 b_i+1 b_i that shows lies outside its face's edge, so it
    # winds against the face; the hidden ones fold back over the face
    face = np.sign(area(front))[:, None]
    visible = np.sign(area(walls)) == -face
    return [front, walls[visible]]


def render_layers(model: SimCameraModel, layers: list[Layer], look: Look = DEFAULT_LOOK,
                  seed: int = 0, output: str = "bgr") -> np.ndarray:
    """Paint ``layers`` (back to front) through ``model`` and develop the frame.

    Returns
    -------
    ndarray (model.height, model.width, 3) uint8, BGR; or with ``output="raw"``
    the sensor's linear 12-bit data with its noise, (height, width) uint16.
    """
    W, H = model.width, model.height
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7])
    raw = sensor.backdrop(W, H, look, rng)
    content = Box(0, 0, 0, 0)
    for layer in layers:
        if layer.polygons.size == 0:
            continue
        cam = model.to_camera(layer.polygons)
        if np.any(cam[..., 2] <= 1.0) or np.any(cam[..., 2] + layer.extrude_mm <= 1.0):
            raise ValueError(f"layer {layer.name!r} reaches behind the camera")
        parts = _silhouette(model, layer)
        box = bounding_box(np.concatenate([p.reshape(-1, 2) for p in parts]), W, H)
        if box.empty:
            continue
        alpha = coverage(parts[0], box)
        for more in parts[1:]:
            if len(more):
                alpha += coverage(more, box)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        sensor.composite(raw, alpha, box, layer.reflectance, look)
        content = _union(content, box)
    reach = 3 * look.blur_sigma_px + look.defocus_px + max(abs(look.motion_px[0]), abs(look.motion_px[1]))
    if look.focus_mm is not None:
        sigma = focus.sigma_map(model, layers, look)
        wide = _pad(content, int(np.ceil(3 * float(sigma.max()))) + 4, W, H)
        focus.defocus(raw, sigma, wide)
    sensor.blur(raw, _pad(content, int(np.ceil(reach)) + 4, W, H), look)
    if output == "raw":
        return sensor.raw_noise(raw, look, seed)
    if output != "bgr":
        raise ValueError(f"output must be 'bgr' or 'raw', not {output!r}")
    return sensor.develop(raw, look, seed)


def render_network(model: SimCameraModel, scene: NetworkScene, look: Look = DEFAULT_LOOK,
                   seed: int = 0, parts: tuple[str, ...] | None = None, output: str = "bgr") -> Rendered:
    """Photograph the mounted network.

    Parameters
    ----------
    model : SimCameraModel
    scene : NetworkScene
        The loaded network in the plane frame.
    look : Look
    seed : int
        Same seed, same image (noise and backdrop texture).
    parts : tuple of layer names, optional
        Draw only these layers (``frame``, ``posts``, ``bars``, ``joints``,
        ``strings``, ``weights``); all by default.
    output : {"bgr", "raw"}
        A developed 8-bit colour photo, or the 12-bit linear sensor data.

    Returns
    -------
    Rendered
        ``truth["joints_px"]`` (n, 2): the joint centres (front face, Z = 0)
        projected through the lens, distortion included;
        ``truth["joints_plane_mm"]`` (n, 2); ``truth["camera"]``;
        ``truth["crossed_joints"]``: joints a string passes over.
    """
    ppm = model.local_px_per_mm(np.mean(scene.joints_mm, axis=0))
    layers = scene.layers(look, ppm)
    if parts is not None:
        layers = [lay for lay in layers if lay.name in parts]
    image = render_layers(model, layers, look, seed, output)
    truth = {"joints_px": model.project_plane(scene.joints_mm),
             "joints_plane_mm": np.asarray(scene.joints_mm, dtype=float).copy(),
             "camera": model.to_dict(), "px_per_mm": ppm, "kind": "network",
             "crossed_joints": scene.crossed_joints()}
    return Rendered(image, truth)


def render_board(model: SimCameraModel, board: SimBoard, pose: BoardPose, look: Look = DEFAULT_LOOK,
                 seed: int = 0, background: list[Layer] | None = None, output: str = "bgr") -> Rendered:
    """Photograph a checkerboard at ``pose`` (board -> plane frame).

    Returns
    -------
    Rendered
        ``truth["board_corners_px"]`` (rows*cols, 2) row by row,
        ``truth["board_corners_mm"]`` (board frame), ``truth["board_rvec"]`` /
        ``truth["board_tvec_mm"]`` (board -> camera, as calibrateCamera reports
        them) and ``truth["camera"]``.
    """
    corners_world = pose.to_world(board.corners_mm())
    ppm = model.local_px_per_mm(corners_world[len(corners_world) // 2, :2])
    layers = list(background or []) + board_layers(board, pose, look, ppm)
    image = render_layers(model, layers, look, seed, output)
    rvec, tvec = pose.in_camera(model)
    truth = {"board_corners_px": model.project(corners_world), "board_corners_mm": board.corners_mm(),
             "board": board.to_dict(), "board_pose": pose.to_dict(), "board_rvec": rvec,
             "board_tvec_mm": tvec, "camera": model.to_dict(), "kind": "board"}
    return Rendered(image, truth)

"""What stands in front of the camera, as layers of polygons in world millimetres.

``NetworkScene`` describes the mounted network as the camera sees it (joint
centres already displaced, in the plane frame: X right, Y down, mm), with the
frame it is glued to and the strings and weights hanging from it.  ``SimBoard``
and ``BoardPose`` describe a checkerboard.  Both turn into a list of
:class:`Layer` (painted back to front) for :mod:`hardware_sim.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import shapes
from .camera_model import SimCameraModel, rotation_matrix
from .look import Look


@dataclass
class Layer:
    """Polygons of one material, in world mm (P, V, 3), painted in one go."""

    name: str
    polygons: np.ndarray
    reflectance: float
    extrude_mm: float = 0.0  # a prism this deep behind the polygons (+Z): its side walls show


def _in_plane(polys: np.ndarray) -> np.ndarray:
    P = np.asarray(polys, dtype=float)
    return np.concatenate([P, np.zeros(P.shape[:-1] + (1,))], axis=-1)


@dataclass
class NetworkScene:
    """The mounted, loaded network in the plane frame (mm, X right, Y down, Z = 0).

    Attributes
    ----------
    joints_mm : ndarray (n, 2)
        Joint centres as loaded.
    bonds : ndarray (m, 2)
    widths_mm : ndarray (m,)
    joint_radius_mm : ndarray (n,)
    fixed_nodes : ndarray of int
        Joints glued to the frame.
    string_nodes, string_dirs, string_grams : arrays (s,), (s, 2), (s,)
        One string per loaded node and direction (plane frame unit vector),
        with the mass hanging from it; a non-vertical string runs to a pulley
        out of the picture.
    neck_length_mm, taper_length_mm : float
        Necked ends of the bars (half width) and their widening.
    string_width_mm, string_length_mm : float
        Thread thickness and length from joint to weight.
    draw_frame : bool
        Draw the truss the fixed joints are glued to.
    thickness_mm : float
        Draw the network as a prism this thick (its side walls show off the
        optical axis, as a real print's do); 0 draws the front face only.
    """

    joints_mm: np.ndarray
    bonds: np.ndarray
    widths_mm: np.ndarray
    joint_radius_mm: np.ndarray
    fixed_nodes: np.ndarray
    string_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    string_dirs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    string_grams: np.ndarray = field(default_factory=lambda: np.zeros(0))
    neck_length_mm: float = 1.5
    taper_length_mm: float = 1.0
    string_width_mm: float = 0.35
    string_length_mm: float = 45.0
    draw_frame: bool = True
    thickness_mm: float = 0.0

    # ------------------------------------------------------------- layers
    def frame_layers(self, look: Look) -> list[Layer]:
        """The truss: a beam beyond the fixed joints (above them when they are the
        network's top, as in the paper; below, left or right otherwise) and a post
        from it to each fixed joint."""
        if not self.draw_frame or len(self.fixed_nodes) == 0:
            return []
        fixed = self.joints_mm[self.fixed_nodes]
        r = float(np.max(self.joint_radius_mm))
        side = fixed.mean(axis=0) - self.joints_mm.mean(axis=0)
        axis = int(np.argmax(np.abs(side))) if np.any(side) else 1
        sign = -1.0 if side[axis] <= 0 else 1.0  # the beam lies on this side along ``axis``
        if side[axis] == 0 and axis == 1:
            sign = -1.0  # nothing to choose: above
        along = 1 - axis
        edge = (fixed[:, axis].min() if sign < 0 else fixed[:, axis].max()) + sign * (r + 8.0)
        lo, hi = fixed[:, along].min() - 40.0, fixed[:, along].max() + 40.0
        far = edge + sign * 15.0
        near_post = np.full(len(fixed), edge + sign * 1.0)

        def boxes(a0, b0, a1, b1):  # a along ``along``, b along ``axis``
            return shapes.rectangles(a0, b0, a1, b1) if axis == 1 else shapes.rectangles(b0, a0, b1, a1)

        beam = boxes(lo, min(edge, far), hi, max(edge, far))
        posts = boxes(fixed[:, along] - 0.6 * r, np.minimum(near_post, fixed[:, axis]),
                      fixed[:, along] + 0.6 * r, np.maximum(near_post, fixed[:, axis]))
        return [Layer("frame", _in_plane(shapes.densify(beam, 2.0)), look.frame),
                Layer("posts", _in_plane(shapes.densify(posts, 2.0)), look.frame * 0.9)]

    def network_layers(self, look: Look, px_per_mm: float) -> list[Layer]:
        """Bars (necked ends) then joint discs."""
        i, j = self.bonds[:, 0], self.bonds[:, 1]
        bars = shapes.necked_bars(self.joints_mm[i], self.joints_mm[j], self.widths_mm,
                                  self.joint_radius_mm[i], self.joint_radius_mm[j],
                                  self.neck_length_mm, self.taper_length_mm)
        seg = max(0.5, 8.0 / px_per_mm)
        nv = shapes.disc_vertex_count(float(np.max(self.joint_radius_mm)) * px_per_mm)
        discs = shapes.discs(self.joints_mm, self.joint_radius_mm, nv)
        t = float(self.thickness_mm)
        return [Layer("bars", _in_plane(shapes.densify(bars, seg)), look.network, t),
                Layer("joints", _in_plane(discs), look.network, t)]

    def string_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (s, 2) of every string, plane mm."""
        start = self.joints_mm[self.string_nodes]
        d = np.asarray(self.string_dirs, dtype=float).reshape(-1, 2)
        vertical = (np.abs(d[:, 0]) < 1e-9) & (d[:, 1] > 0)
        length = np.where(vertical, self.string_length_mm, 400.0)
        return start, start + d * length[:, None]

    def crossed_joints(self) -> np.ndarray:
        """Joints a string passes over (other than the joint it hangs from): the
        tracker sees them partly hidden.  Sorted node indices."""
        if len(self.string_nodes) == 0:
            return np.zeros(0, dtype=int)
        a, b = self.string_segments()
        p = self.joints_mm[None, :, :]  # (1, n, 2)
        ab = (b - a)[:, None, :]
        t = np.clip(((p - a[:, None, :]) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
        gap = np.linalg.norm(a[:, None, :] + t[..., None] * ab - p, axis=-1)  # (s, n)
        hit = gap < self.joint_radius_mm[None, :] + self.string_width_mm / 2
        hit[np.arange(len(self.string_nodes)), self.string_nodes] = False
        return np.flatnonzero(hit.any(axis=0))

    def load_layers(self, look: Look) -> list[Layer]:
        """Strings in front of the network and the weights at their ends."""
        if len(self.string_nodes) == 0:
            return []
        start, end = self.string_segments()
        d = np.asarray(self.string_dirs, dtype=float)
        vertical = np.abs(d[:, 0]) < 1e-9
        strings = shapes.densify(shapes.strips(start, end, self.string_width_mm), 2.0)
        layers = [Layer("strings", _in_plane(strings), look.string)]
        hang = vertical & (d[:, 1] > 0)
        if np.any(hang):
            g = np.asarray(self.string_grams, dtype=float)[hang]
            top = end[hang]
            dia = np.clip(6.0 + 2.2 * np.cbrt(g), 6.0, 24.0)
            height = np.maximum(g / 7.9 * 1000.0 / (np.pi * dia ** 2 / 4), 3.0)  # steel, mm
            hook = shapes.rectangles(top[:, 0] - 1.0, top[:, 1] - 0.5, top[:, 0] + 1.0, top[:, 1] + 4.0)
            body = shapes.rectangles(top[:, 0] - dia / 2, top[:, 1] + 4.0, top[:, 0] + dia / 2,
                                     top[:, 1] + 4.0 + height)
            layers.append(Layer("weights", _in_plane(shapes.densify(np.concatenate([hook, body]), 2.0)),
                                look.weight))
        return layers

    def layers(self, look: Look, px_per_mm: float) -> list[Layer]:
        return self.frame_layers(look) + self.network_layers(look, px_per_mm) + self.load_layers(look)


@dataclass
class SimBoard:
    """A printed checkerboard with ``cols`` x ``rows`` inner corners.

    Board frame: origin at the first inner corner, X along a row of corners,
    Y along a column, Z = 0 on the printed face; the truth lists corners row
    by row (``index = row * cols + col``) at ``(col, row) * square_mm``.
    """

    cols: int = 9
    rows: int = 6
    square_mm: float = 20.0
    margin_mm: float = 15.0

    def corners_mm(self) -> np.ndarray:
        r, c = np.mgrid[0:self.rows, 0:self.cols]
        return np.stack([c.ravel(), r.ravel()], axis=-1).astype(float) * self.square_mm

    def outline_mm(self) -> np.ndarray:
        """The four corners of the board's plate, board frame (4, 2)."""
        s, m = self.square_mm, self.margin_mm
        x0, y0 = -s - m, -s - m
        x1, y1 = self.cols * s + m, self.rows * s + m
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)

    def black_squares_mm(self) -> np.ndarray:
        """Black squares (k, 4, 2) in the board frame; the square left-above
        the first inner corner is black."""
        s = self.square_mm
        j, i = np.mgrid[0:self.rows + 1, 0:self.cols + 1]
        black = (i + j) % 2 == 0
        x0 = (i[black] - 1) * s
        y0 = (j[black] - 1) * s
        return shapes.rectangles(x0, y0, x0 + s, y0 + s)

    def to_dict(self) -> dict:
        return {"cols": self.cols, "rows": self.rows, "square_mm": self.square_mm, "margin_mm": self.margin_mm}


@dataclass
class BoardPose:
    """Board frame -> world (plane frame) transform: ``p_world = R(rvec) p_board + tvec``."""

    rvec: np.ndarray
    tvec: np.ndarray

    def __post_init__(self):
        self.rvec = np.asarray(self.rvec, dtype=float).reshape(3)
        self.tvec = np.asarray(self.tvec, dtype=float).reshape(3)

    def to_world(self, pts_board: np.ndarray) -> np.ndarray:
        P = np.asarray(pts_board, dtype=float)
        if P.shape[-1] == 2:
            P = np.concatenate([P, np.zeros(P.shape[:-1] + (1,))], axis=-1)
        return P @ rotation_matrix(self.rvec).T + self.tvec

    def in_camera(self, model: SimCameraModel) -> tuple[np.ndarray, np.ndarray]:
        """Board -> camera (rvec, tvec), as ``cv2.calibrateCamera`` would return them."""
        from .camera_model import rotation_vector

        R = model.rotation @ rotation_matrix(self.rvec)
        t = model.rotation @ self.tvec + model.tvec
        return rotation_vector(R), t

    def to_dict(self) -> dict:
        return {"rvec": self.rvec.tolist(), "tvec_mm": self.tvec.tolist()}


def board_layers(board: SimBoard, pose: BoardPose, look: Look, px_per_mm: float) -> list[Layer]:
    """White plate, then the black squares, posed in the world."""
    seg = max(1.0, 10.0 / px_per_mm)
    plate = shapes.densify(board.outline_mm()[None], seg)
    squares = shapes.densify(board.black_squares_mm(), seg)
    return [Layer("board", pose.to_world(plate), look.board_white),
            Layer("squares", pose.to_world(squares), look.board_black)]

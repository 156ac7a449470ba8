"""Pinhole camera with OpenCV's lens distortion, posed in front of the sample plane.

World frame = the *plane frame* of the rig, millimetres: X right, Y down, Z away
from the camera; the sample plane (front face of the printed network) is Z = 0.
A world point P maps to camera coordinates ``R @ P + t`` and then to pixels by
OpenCV's model with coefficients ``(k1, k2, p1, p2, k3)``:

    x' = X/Z, y' = Y/Z, r2 = x'^2 + y'^2
    x'' = x' (1 + k1 r2 + k2 r2^2 + k3 r2^3) + 2 p1 x' y' + p2 (r2 + 2 x'^2)
    y'' = y' (1 + k1 r2 + k2 r2^2 + k3 r2^3) + p1 (r2 + 2 y'^2) + 2 p2 x' y'
    u = fx x'' + cx,  v = fy y'' + cy

so ``cv2.calibrateCamera`` recovers exactly these numbers.  Pixel centres are
at integer coordinates (OpenCV's convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


def rotation_matrix(rvec) -> np.ndarray:
    """Rotation matrix of a Rodrigues vector (axis * angle, radians)."""
    r = np.asarray(rvec, dtype=float).reshape(3)
    theta = float(np.linalg.norm(r))
    if theta < 1e-15:
        return np.eye(3)
    k = r / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * (K @ K)


def rotation_vector(R) -> np.ndarray:
    """Rodrigues vector of a rotation matrix (inverse of :func:`rotation_matrix`)."""
    R = np.asarray(R, dtype=float)
    cos = np.clip((np.trace(R) - 1) / 2, -1.0, 1.0)
    theta = np.arccos(cos)
    if theta < 1e-12:
        return np.zeros(3)
    if np.pi - theta < 1e-6:  # near 180 degrees: axis from the symmetric part
        w, V = np.linalg.eigh((R + np.eye(3)) / 2)
        return V[:, np.argmax(w)] * theta
    axis = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]]) / (2 * np.sin(theta))
    return axis * theta


def euler_rotation(tilt_x_deg: float, tilt_y_deg: float, roll_deg: float) -> np.ndarray:
    """R = Rz(roll) @ Ry(tilt_y) @ Rx(tilt_x), angles in degrees."""
    ax, ay, az = np.radians([tilt_x_deg, tilt_y_deg, roll_deg])
    Rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    Ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    Rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def distort_normalized(xy: np.ndarray, dist) -> np.ndarray:
    """Apply OpenCV's radial + tangential distortion to normalised coordinates (..., 2)."""
    k1, k2, p1, p2, k3 = np.asarray(dist, dtype=float).reshape(5)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


@dataclass
class SimCameraModel:
    """A posed camera: intrinsics, distortion and extrinsics (world = plane frame, mm).

    Attributes
    ----------
    width, height : int
        Sensor size in pixels the intrinsics refer to.
    fx, fy, cx, cy : float
        Intrinsics in pixels.
    dist : ndarray (5,)
        ``(k1, k2, p1, p2, k3)`` in OpenCV's order.
    rvec, tvec : ndarray (3,)
        World -> camera rotation (Rodrigues) and translation (mm).

    Example
    -------
    >>> cam = SimCameraModel.framing(target_mm=(0, 0), px_per_mm=15, distance_mm=300)
    >>> np.round(cam.project_plane([[0.0, 0.0]]), 3)[0].tolist() == [cam.cx, cam.cy]
    True
    """

    width: int = 6000
    height: int = 4000
    fx: float = 4500.0
    fy: float = 4500.0
    cx: float = 3000.0
    cy: float = 2000.0
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    rvec: np.ndarray = field(default_factory=lambda: np.zeros(3))
    tvec: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 300.0]))

    def __post_init__(self):
        self.dist = np.asarray(self.dist, dtype=float).reshape(5).copy()
        self.rvec = np.asarray(self.rvec, dtype=float).reshape(3).copy()
        self.tvec = np.asarray(self.tvec, dtype=float).reshape(3).copy()

    # ------------------------------------------------------------ builders
    @classmethod
    def framing(cls, target_mm=(0.0, 0.0), px_per_mm: float = 15.0, distance_mm: float = 300.0,
                width: int = 6000, height: int = 4000, tilt_deg=(2.0, -3.0), roll_deg: float = 0.7,
                dist=(-0.06, 0.03, 4e-4, -3e-4, 0.0), principal_offset_px=(23.0, -17.0),
                aspect: float = 1.0) -> SimCameraModel:
        """A camera aimed at ``target_mm`` (plane frame) from ``distance_mm``.

        ``px_per_mm`` is the scale at the target for a camera square to the plane
        (fx = px_per_mm * distance); ``tilt_deg`` = (about x, about y) and
        ``roll_deg`` rotate the camera about the target, so the target stays in
        view at the principal point.
        """
        fx = float(px_per_mm) * float(distance_mm)
        R = euler_rotation(tilt_deg[0], tilt_deg[1], roll_deg)
        target = np.array([target_mm[0], target_mm[1], 0.0])
        t = -R @ target + np.array([0.0, 0.0, float(distance_mm)])
        return cls(width=int(width), height=int(height), fx=fx, fy=fx * aspect,
                   cx=(width - 1) / 2 + principal_offset_px[0], cy=(height - 1) / 2 + principal_offset_px[1],
                   dist=np.asarray(dist, dtype=float), rvec=rotation_vector(R), tvec=t)

    def scaled(self, width: int, height: int) -> SimCameraModel:
        """The same camera read out at another resolution (intrinsics scaled,
        pixel-centre convention kept: u' = (u + 0.5) * s - 0.5)."""
        sx, sy = width / self.width, height / self.height
        return replace(self, width=int(width), height=int(height), fx=self.fx * sx, fy=self.fy * sy,
                       cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5)

    # ------------------------------------------------------------- getters
    @property
    def camera_matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    @property
    def rotation(self) -> np.ndarray:
        return rotation_matrix(self.rvec)

    def to_dict(self) -> dict:
        """JSON-ready description (camera matrix, distortion, pose)."""
        return {"width": self.width, "height": self.height, "camera_matrix": self.camera_matrix.tolist(),
                "dist_coeffs": self.dist.tolist(), "rvec": self.rvec.tolist(), "tvec_mm": self.tvec.tolist()}

    # ---------------------------------------------------------- projection
    def to_camera(self, points_world) -> np.ndarray:
        """World (…, 3) mm -> camera coordinates (…, 3) mm."""
        P = np.asarray(points_world, dtype=float)
        return P @ self.rotation.T + self.tvec

    def project_camera(self, points_cam) -> np.ndarray:
        """Camera coordinates (…, 3) -> distorted pixels (…, 2)."""
        P = np.asarray(points_cam, dtype=float)
        xy = P[..., :2] / P[..., 2:3]
        d = distort_normalized(xy, self.dist)
        return np.stack([self.fx * d[..., 0] + self.cx, self.fy * d[..., 1] + self.cy], axis=-1)

    def project(self, points_world) -> np.ndarray:
        """World points (…, 3) mm -> pixels (…, 2), distortion included."""
        return self.project_camera(self.to_camera(points_world))

    def project_plane(self, points_plane) -> np.ndarray:
        """Points of the sample plane (…, 2) mm (Z = 0) -> pixels (…, 2)."""
        P = np.asarray(points_plane, dtype=float)
        return self.project(np.concatenate([P, np.zeros(P.shape[:-1] + (1,))], axis=-1))

    def local_px_per_mm(self, point_plane=(0.0, 0.0)) -> float:
        """Mean image scale (px per mm) of the plane near ``point_plane``."""
        p = np.asarray(point_plane, dtype=float)
        q = self.project_plane(np.array([p, p + [1, 0], p + [0, 1]]))
        a, b = q[1] - q[0], q[2] - q[0]
        return float(np.sqrt(abs(a[0] * b[1] - a[1] * b[0])))

"""The virtual rig: a network hung from its fixed nodes, loads, a camera and a board.

Frames.  The *network frame* is the design's (metres, y up).  The *plane frame*
is the sample plane seen by the camera (millimetres, X right, Y down, Z away
from the camera), with its origin at the first inner corner of the checkerboard
laid in the sample plane (:meth:`SimRig.plane_board_pose`), so a homography
fitted on that board maps pixels to plane millimetres.  A network point x (m)
sits at ``X = offset_x + 1000 x``, ``Y = offset_y - 1000 y``.

Mechanics.  Loads are masses on strings; the network's response is the linear
bar model (or, with ``mechanics="nonlinear"``, the bars' exact large-rotation
equilibrium) solved with the rig's *true* stiffness (the design's, optionally
perturbed per bond by ``stiffness_rel_error`` to mimic printing); loaded joint
positions are the rest positions plus those displacements, and the truth's
geometric elongations are exact lengths of the displaced bars minus rest
lengths (the linear ones, C u, are given too).

Example
-------
>>> import labmnn
>>> rig = SimRig(labmnn.Network.example("paper-triangle-n4"))
>>> rig.hang(12, 10.0)
>>> round(float(rig.displacements_m()[13, 1]) * 1e3, 3)
-0.805
"""

from __future__ import annotations

import numpy as np

from labmnn.errors import InputError
from labmnn.model.network import GRAVITY

from .camera_model import SimCameraModel, rotation_matrix, rotation_vector
from .mechanics import solve_nonlinear
from .scene import BoardPose, NetworkScene, SimBoard
from .weights import SimWeightSet


class SimRig:
    """A simulated rig around one network.

    Parameters
    ----------
    network : labmnn.Network
        The design as printed.
    camera : SimCameraModel, optional
        Camera pose and lens; by default a 6000x4000 camera 300 mm away,
        15 px/mm on the network, slightly tilted, with mild barrel distortion.
    seed : int
        Seeds the printing errors and the weight set.
    weights : SimWeightSet, optional
        The weights at this rig (default: a standard set seeded by ``seed``).
    stiffness_rel_error : float
        Relative standard deviation of each bond's true stiffness.
    joint_diameter_mm : float, optional
        Printed joint discs (default twice the median bar width).
    px_per_mm : float, optional
        Scale of the default camera on the network: 15 px/mm, or less when the
        checkerboard (sized to cover the network) would not fill at most three
        quarters of a 6000x4000 frame.
    mechanics : {"linear", "nonlinear"}
        ``"linear"``: the linear bar model (``network.solve``, what the app
        predicts); ``"nonlinear"``: the bars' exact large-rotation equilibrium
        (:mod:`hardware_sim.mechanics`), as a real print behaves.
    show_thickness : bool
        Render the network as the prism it is (network.thickness deep): off the
        optical axis its side walls show, and blob centroids sit up to
        ``thickness / (2 * distance)`` of the way towards the principal point
        (a real rig's bias).  Off by default: truth = front face, exactly.
    """

    def __init__(self, network, camera: SimCameraModel | None = None, seed: int = 0,
                 weights: SimWeightSet | None = None, *, stiffness_rel_error: float = 0.0,
                 joint_diameter_mm: float | None = None, px_per_mm: float | None = None,
                 show_thickness: bool = False, mechanics: str = "linear"):
        if mechanics not in ("linear", "nonlinear"):
            raise InputError("rig", "mechanics", f"{mechanics!r} is not 'linear' or 'nonlinear'")
        self.mechanics = mechanics
        self.network = network
        self.seed = int(seed)
        rng = np.random.default_rng([self.seed, 11])
        self.true_stiffness = network.stiffness * (1 + stiffness_rel_error * rng.standard_normal(network.n_bonds))
        self.weights = weights if weights is not None else SimWeightSet(seed=self.seed)
        self.joint_diameter_mm = float(joint_diameter_mm or 2e3 * float(np.median(network.width)))
        lo, hi = network.nodes.min(axis=0) * 1e3, network.nodes.max(axis=0) * 1e3
        span = hi - lo
        self.board = SimBoard(square_mm=max(20.0, 5 * np.ceil(1.3 * max(span[0] / 8, span[1] / 5) / 5)))
        b_centre = np.array([(self.board.cols - 1) / 2, (self.board.rows - 1) / 2]) * self.board.square_mm
        centre = (lo + hi) / 2
        # network centre at the centre of the in-plane board
        self.offset_mm = np.array([b_centre[0] - centre[0], b_centre[1] + centre[1]])
        if camera is None:
            if px_per_mm is None:
                plate = self.board.outline_mm()
                w_mm, h_mm = plate.max(axis=0) - plate.min(axis=0)
                px_per_mm = min(15.0, 0.75 * 6000 / w_mm, 0.75 * 4000 / h_mm)
            camera = SimCameraModel.framing(target_mm=b_centre, px_per_mm=px_per_mm, distance_mm=300.0)
        self.camera = camera
        self.px_per_mm = float(px_per_mm) if px_per_mm else camera.local_px_per_mm(b_centre)
        self.show_thickness = bool(show_thickness)
        self.pan_mass_g = 0.0
        self._loads: dict[tuple[int, float, float], float] = {}
        self._board_pose: BoardPose | None = None
        self._cache = None

    # -------------------------------------------------------------- frames
    def network_to_plane_mm(self, points_m) -> np.ndarray:
        """Network frame (m, y up) -> plane frame (mm, Y down)."""
        p = np.asarray(points_m, dtype=float) * 1e3
        return np.stack([p[..., 0] + self.offset_mm[0], self.offset_mm[1] - p[..., 1]], axis=-1)

    def plane_mm_to_network(self, points_mm) -> np.ndarray:
        """Plane frame (mm) -> network frame (m)."""
        p = np.asarray(points_mm, dtype=float)
        return np.stack([p[..., 0] - self.offset_mm[0], self.offset_mm[1] - p[..., 1]], axis=-1) * 1e-3

    # --------------------------------------------------------------- loads
    def hang(self, node: int, grams: float, direction=(0.0, -1.0)) -> None:
        """Hang ``grams`` (the true mass, g) on ``node``, pulling along ``direction``
        (network frame; (0, -1) is gravity, others run over a pulley)."""
        n = self.network.n_nodes
        if isinstance(node, bool) or not isinstance(node, (int, np.integer)) or not 0 <= int(node) < n:
            raise InputError("rig", "node", f"{node!r} is not a node of the network (0..{n - 1})")
        g = float(grams)
        if not np.isfinite(g) or g <= 0:
            raise InputError("rig", "grams", f"{grams!r} is not a positive mass")
        d = np.asarray(direction, dtype=float).reshape(2)
        norm = float(np.hypot(*d))
        if not np.isfinite(norm) or norm == 0:
            raise InputError("rig", "direction", f"{tuple(direction)!r} is not a direction")
        key = (int(node), round(float(d[0] / norm), 12), round(float(d[1] / norm), 12))
        self._loads[key] = self._loads.get(key, 0.0) + g
        self._cache = None

    def clear(self) -> None:
        """Take every weight off the network."""
        self._loads.clear()
        self._cache = None

    @property
    def loads(self) -> dict[int, np.ndarray]:
        """Net force per loaded node, newtons (network frame)."""
        out: dict[int, np.ndarray] = {}
        for (node, dx, dy), g in self._loads.items():
            out[node] = out.get(node, np.zeros(2)) + g * 1e-3 * GRAVITY * np.array([dx, dy])
        return out

    @property
    def hung_grams(self) -> dict[int, float]:
        """Total mass hanging from each loaded node, grams."""
        out: dict[int, float] = {}
        for (node, _, _), g in self._loads.items():
            out[node] = out.get(node, 0.0) + g
        return out

    def forces_n(self) -> np.ndarray:
        """Nodal forces (n, 2), newtons."""
        F = np.zeros((self.network.n_nodes, 2))
        for node, f in self.loads.items():
            F[node] += f
        return F

    # ----------------------------------------------------------- mechanics
    def _solve(self) -> np.ndarray:
        if self._cache is None:
            F = self.forces_n()
            if self.mechanics == "nonlinear" and np.any(F):
                self._cache = solve_nonlinear(self.network, F, self.true_stiffness)
            else:
                self._cache = self.network.solve(F, stiffness=self.true_stiffness).displacements
        return self._cache

    def displacements_m(self) -> np.ndarray:
        """Displacements of the joints under the current loads (n, 2), metres."""
        return self._solve().copy()

    def node_positions_m(self) -> np.ndarray:
        """Loaded joint positions (n, 2) in the network frame, metres."""
        return self.network.nodes + self._solve()

    def elongations_m(self, geometric: bool = True) -> np.ndarray:
        """Bond elongations: exact lengths of the displaced bars minus rest
        lengths (``geometric``), or the linear model's C u."""
        if not geometric:
            return self.network.compatibility_matrix @ self._solve().reshape(-1)
        p = self.node_positions_m()
        d = p[self.network.bonds[:, 1]] - p[self.network.bonds[:, 0]]
        return np.hypot(d[:, 0], d[:, 1]) - self.network.lengths

    def truth(self) -> dict:
        """Ground truth of the current state (SI, network frame, plus plane mm)."""
        pos = self.node_positions_m()
        return {"positions_m": pos, "displacements_m": self.displacements_m(),
                "elongations_m": self.elongations_m(True), "elongations_linear_m": self.elongations_m(False),
                "forces_n": self.forces_n(), "joints_plane_mm": self.network_to_plane_mm(pos),
                "hung_grams": {int(k): v for k, v in self.hung_grams.items()},
                "plane_offset_mm": self.offset_mm.copy()}

    # --------------------------------------------------------------- scene
    def scene(self) -> NetworkScene:
        """What the camera sees now."""
        net = self.network
        keys = list(self._loads)
        nodes = np.array([k[0] for k in keys], dtype=int)
        dirs = np.array([[k[1], -k[2]] for k in keys], dtype=float).reshape(-1, 2)  # to plane (Y down)
        grams = np.array([self._loads[k] for k in keys], dtype=float)
        return NetworkScene(joints_mm=self.network_to_plane_mm(self.node_positions_m()), bonds=net.bonds,
                            widths_mm=net.width * 1e3,
                            joint_radius_mm=np.full(net.n_nodes, self.joint_diameter_mm / 2),
                            fixed_nodes=net.fixed_nodes, string_nodes=nodes, string_dirs=dirs,
                            string_grams=grams,
                            thickness_mm=net.thickness * 1e3 if self.show_thickness else 0.0)

    # --------------------------------------------------------------- board
    @property
    def board_pose(self) -> BoardPose | None:
        return self._board_pose

    def place_board(self, pose: BoardPose) -> None:
        """Hold the checkerboard at ``pose`` in front of the camera (photos show it
        instead of the network)."""
        self._board_pose = pose

    def remove_board(self) -> None:
        self._board_pose = None

    def plane_board_pose(self) -> BoardPose:
        """The board lying in the sample plane; its frame is the plane frame."""
        return BoardPose(np.zeros(3), np.zeros(3))

    def board_poses(self, n: int, seed: int = 0, margin: float = 0.03) -> list[BoardPose]:
        """``n`` varied board poses fully inside the picture, for calibration.

        Tilts of 10-45 degrees about random axes, turns of up to 25 degrees in
        the board plane, distances from 0.8 to 1.1 times the plane's (farther
        for a board that would fill more than 60 % of the frame).
        """
        rng = np.random.default_rng([int(seed), 23])
        cam, board = self.camera, self.board
        W, H = cam.width, cam.height
        plate = board.outline_mm()
        centre_b = np.array([(board.cols - 1) / 2, (board.rows - 1) / 2, 0.0]) * board.square_mm
        Rc = cam.rotation
        depth = float((Rc @ np.zeros(3) + cam.tvec)[2])
        # a board that would fill more than 60 % of the frame at the plane is held farther away
        size_px = (plate.max(axis=0) - plate.min(axis=0)) * cam.fx / depth
        depth *= max(1.0, size_px[0] / (0.6 * W), size_px[1] / (0.6 * H))
        poses: list[BoardPose] = []
        for _ in range(200 * n):
            if len(poses) == n:
                break
            axis_angle = rng.uniform(0, 2 * np.pi)
            tilt = np.radians(rng.uniform(10, 45))
            turn = np.radians(rng.uniform(-25, 25))
            R_tilt = rotation_matrix(tilt * np.array([np.cos(axis_angle), np.sin(axis_angle), 0.0]))
            R_cam = R_tilt @ rotation_matrix([0, 0, turn])  # board -> camera orientation
            z = depth * rng.uniform(0.8, 1.1)
            u = rng.uniform(0.3, 0.7) * W
            v = rng.uniform(0.3, 0.7) * H
            ray = np.array([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0])
            centre_cam = ray * z
            t_cam = centre_cam - R_cam @ centre_b
            R_w = Rc.T @ R_cam  # board -> world
            t_w = Rc.T @ (t_cam - cam.tvec)
            pose = BoardPose(rotation_vector(R_w), t_w)
            px = cam.project(pose.to_world(plate))
            inside = ((px[:, 0] > margin * W) & (px[:, 0] < (1 - margin) * W)
                      & (px[:, 1] > margin * H) & (px[:, 1] < (1 - margin) * H))
            if inside.all():
                poses.append(pose)
        if len(poses) < n:
            raise InputError("rig", "board_poses", f"could not fit {n} board poses in the picture")
        return poses

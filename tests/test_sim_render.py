"""Geometric exactness of the simulated photographs."""

import cv2
import numpy as np
import pytest

import labmnn
from hardware_sim import Look, SimCameraModel, SimRig
from hardware_sim.camera_model import rotation_matrix, rotation_vector
from hardware_sim.raster import Box, coverage
from hardware_sim.render import render_board, render_network
from hardware_sim.shapes import discs

NET = labmnn.Network.example("paper-triangle-n4")


def square_camera(**kw):
    opts = dict(target_mm=(80, 50), width=1800, height=1200, px_per_mm=15, distance_mm=300,
                tilt_deg=(0, 0), roll_deg=0, dist=(0, 0, 0, 0, 0))
    opts.update(kw)
    return SimCameraModel.framing(**opts)


def dark_centroids(image, centres, radius):
    """Intensity centroid of the darkness in a square window around each centre."""
    grey = image[..., 1].astype(float)
    out = []
    for x, y in centres:
        x0, y0 = int(round(x)) - radius, int(round(y)) - radius
        win = grey[y0:y0 + 2 * radius + 1, x0:x0 + 2 * radius + 1]
        ring = np.r_[win[0], win[-1], win[:, 0], win[:, -1]]
        w = np.clip(np.median(ring) - win, 0, None)
        ys, xs = np.mgrid[y0:y0 + 2 * radius + 1, x0:x0 + 2 * radius + 1]
        out.append([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
    return np.array(out)


def test_projection_matches_opencv_projectPoints():
    rng = np.random.default_rng(0)
    for _ in range(5):
        cam = SimCameraModel(fx=rng.uniform(2000, 6000), fy=rng.uniform(2000, 6000), cx=rng.uniform(2800, 3200),
                             cy=rng.uniform(1800, 2200), dist=rng.normal(0, [0.1, 0.05, 1e-3, 1e-3, 0.02]),
                             rvec=rng.normal(0, 0.2, 3), tvec=[10.0, -5.0, 300.0])
        pts = np.c_[rng.uniform(-100, 100, (200, 2)), rng.uniform(-20, 20, 200)]
        ref, _ = cv2.projectPoints(pts, cam.rvec, cam.tvec, cam.camera_matrix, cam.dist)
        assert np.abs(cam.project(pts) - ref.reshape(-1, 2)).max() < 1e-6


def test_rotation_vector_round_trip():
    rng = np.random.default_rng(1)
    for r in rng.normal(0, 1.0, (20, 3)):
        assert np.allclose(rotation_vector(rotation_matrix(r)), r, atol=1e-9) or np.linalg.norm(r) > np.pi
        R, _ = cv2.Rodrigues(r)
        assert np.allclose(rotation_matrix(r), R, atol=1e-12)


def test_scaled_camera_keeps_pixel_centre_convention():
    cam = SimRig(NET).camera
    small = cam.scaled(600, 400)
    pts = np.array([[10.0, 20.0], [80.0, 50.0], [150.0, 90.0]])
    assert np.allclose(small.project_plane(pts), (cam.project_plane(pts) + 0.5) / 10 - 0.5, atol=1e-9)


@pytest.mark.slow
def test_coverage_is_the_exact_area_in_each_pixel():
    # a slanted thin strip against a brute-force 64 x 64 supersampling
    from matplotlib.path import Path

    strip = np.array([[5.3, 10.2], [90.7, 12.9], [90.7, 14.9], [5.3, 12.2]])
    cov = coverage(strip[None], Box(0, 0, 100, 30)).astype(float)
    assert cov.sum() == pytest.approx(85.4 * 2.0, abs=1e-4)
    yy, xx = (np.mgrid[0:30 * 64, 0:100 * 64] + 0.5) / 64 - 0.5
    inside = Path(strip).contains_points(np.c_[xx.ravel(), yy.ravel()]).reshape(yy.shape)
    assert np.abs(inside.reshape(30, 64, 100, 64).mean(axis=(1, 3)) - cov).max() < 0.005
    # a window cutting through a polygon gets the same pixels as the whole image
    sq = np.array([[[3.3, 2.7], [17.9, 4.1], [15.2, 19.6], [1.1, 16.4]]])
    whole = coverage(sq, Box(0, 0, 20, 20))
    assert np.allclose(coverage(sq, Box(6, 5, 8, 9)), whole[5:14, 6:14], atol=1e-6)


def test_coverage_centroid_and_shared_edges():
    rng = np.random.default_rng(2)
    for _ in range(10):
        c = np.array([40.0, 40.0]) + rng.random(2)
        r = 10 + 10 * rng.random()
        cov = coverage(discs(c, r, 512), Box(0, 0, 80, 80)).astype(float)
        ys, xs = np.mgrid[0:80, 0:80]
        assert abs(cov.sum() - np.pi * r * r) < 1e-4  # discs() keeps the circle's area
        assert abs((cov * xs).sum() / cov.sum() - c[0]) < 2e-3
        assert abs((cov * ys).sum() / cov.sum() - c[1]) < 2e-3
        # shared edges add up: two halves of a square make a whole
    left = np.array([[[10.3, 10.2], [20.55, 10.2], [20.55, 30.7], [10.3, 30.7]]])
    right = np.array([[[20.55, 10.2], [30.9, 10.2], [30.9, 30.7], [20.55, 30.7]]])
    both = coverage(left, Box(0, 0, 40, 40)) + coverage(right, Box(0, 0, 40, 40))
    whole = coverage(np.array([[[10.3, 10.2], [30.9, 10.2], [30.9, 30.7], [10.3, 30.7]]]), Box(0, 0, 40, 40))
    assert np.abs(both - whole).max() < 1e-5


def test_disc_centroid_sits_at_truth_undistorted_unblurred():
    rig = SimRig(NET, camera=square_camera())
    rig.hang(12, 10.0)
    rig.hang(10, 5.0)
    out = render_network(rig.camera, rig.scene(), Look().clean(), seed=3, parts=("joints",))
    radius = int(np.ceil(rig.joint_diameter_mm / 2 * 15)) + 4
    err = dark_centroids(out.image, out.truth["joints_px"], radius) - out.truth["joints_px"]
    assert np.abs(err).max() < 0.01


def test_disc_centroid_near_truth_in_a_realistic_photo():
    rig = SimRig(NET, camera=SimCameraModel.framing(target_mm=(80, 50), width=1800, height=1200, px_per_mm=15))
    rig.hang(12, 10.0)
    out = render_network(rig.camera, rig.scene(), Look(), seed=4, parts=("joints",))
    radius = int(np.ceil(rig.joint_diameter_mm / 2 * 15)) + 4
    err = dark_centroids(out.image, out.truth["joints_px"], radius) - out.truth["joints_px"]
    assert np.abs(err).max() < 0.08  # noise, blur, tilt and distortion


def test_bar_widths_and_necks_to_scale():
    # a horizontal bar in a square-on, undistorted, sharp photo: integrate the darkness across it
    rig = SimRig(NET, camera=square_camera())
    out = render_network(rig.camera, rig.scene(), Look().clean(), seed=0, parts=("bars",))
    grey = out.image[..., 1].astype(float)
    bg = np.median(grey)
    black = Look().clean()
    ink = bg * (1 - black.network / black.backdrop)  # darkness of full coverage
    a, b = out.truth["joints_px"][[1, 2]]  # bond 1-2: horizontal, 16 mm
    def width_at(t):
        x = int(round(a[0] + t * (b[0] - a[0])))
        y = a[1] + t * (b[1] - a[1])
        col = np.clip(bg - grey[int(y) - 40:int(y) + 41, x], 0, None)
        return col.sum() / ink / 15.0  # mm
    assert width_at(0.5) == pytest.approx(2.0, abs=0.02)
    assert width_at((2.0 + 0.75) / 16) == pytest.approx(1.0, abs=0.02)  # in the neck


def test_joint_truth_matches_bar_model():
    rig = SimRig(NET)
    rig.hang(12, 10.0)
    rig.hang(5, 3.0, direction=(1.0, 0.0))
    F = np.zeros((NET.n_nodes, 2))
    F[12, 1] = -0.010 * labmnn.GRAVITY
    F[5, 0] = 0.003 * labmnn.GRAVITY
    res = NET.solve(F)
    pos = NET.nodes + res.displacements
    out = render_network(rig.camera.scaled(600, 400), rig.scene(), seed=0)
    t = rig.truth()
    assert np.allclose(t["positions_m"], pos, atol=1e-12)
    assert np.allclose(t["elongations_linear_m"], res.elongations, atol=1e-12)
    d = pos[NET.bonds[:, 1]] - pos[NET.bonds[:, 0]]
    assert np.allclose(t["elongations_m"], np.hypot(d[:, 0], d[:, 1]) - NET.lengths, atol=1e-15)
    # geometric = linear + second-order stretch from the bar's rotation
    du = res.displacements[NET.bonds[:, 1]] - res.displacements[NET.bonds[:, 0]]
    perp = du[:, 0] * -NET.directions[:, 1] + du[:, 1] * NET.directions[:, 0]
    assert np.allclose(t["elongations_m"], res.elongations + perp ** 2 / (2 * NET.lengths), atol=3e-6)
    assert np.abs(t["elongations_m"] - res.elongations).max() > 1e-6  # and they differ
    plane = rig.network_to_plane_mm(pos)
    assert np.allclose(out.truth["joints_plane_mm"], plane)
    assert np.allclose(rig.plane_mm_to_network(plane), pos)
    assert np.allclose(out.truth["joints_px"], rig.camera.scaled(600, 400).project_plane(plane))
    # mirror (y up -> Y down) and scale 1000: distances are preserved
    assert np.isclose(np.linalg.norm(plane[0] - plane[13]), 1e3 * np.linalg.norm(pos[0] - pos[13]))


def test_same_seed_same_photo_other_seed_other_noise():
    rig = SimRig(NET)
    cam = rig.camera.scaled(900, 600)
    a = render_network(cam, rig.scene(), seed=5).image
    b = render_network(cam, rig.scene(), seed=5).image
    c = render_network(cam, rig.scene(), seed=6).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a.astype(int) - c.astype(int)).mean() < 3  # same scene, other noise


def _corners(grey, board, truth, win=11):
    found, corners = cv2.findChessboardCorners(grey, (board.cols, board.rows))
    assert found
    corners = cv2.cornerSubPix(grey, corners, (win, win), (-1, -1),
                               (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 100, 1e-4)).reshape(-1, 2)
    if np.linalg.norm(corners[0] - truth[0]) > np.linalg.norm(corners[0] - truth[-1]):
        corners = corners[::-1]  # the detector may start from the opposite corner
    return corners


def test_board_squares_exact_when_lines_are_straight():
    # square-on, no distortion, an irrational scale: edges land anywhere in their pixels;
    # each black square's darkness has the square's area and centre
    rig = SimRig(NET)
    cam = square_camera(width=1500, height=1000, px_per_mm=5.4321)
    look = Look().clean()
    out = render_board(cam, rig.board, rig.plane_board_pose(), look, seed=1)
    grey = out.image[..., 1].astype(float)
    squares = rig.board.black_squares_mm()
    centres = cam.project_plane(squares.mean(axis=1))
    side = rig.board.square_mm * 5.4321
    assert np.abs(centres - np.round(centres)).max() > 0.2
    white = grey[int(centres[0, 1] + side), int(centres[0, 0])]  # inside the white neighbour
    ink = white - grey[int(centres[0, 1]), int(centres[0, 0])]  # full coverage, as quantised
    # a pixel row (column) through a square's middle meets only that black square within +-side
    h = int(side)
    for cx, cy in centres[1:-1]:
        x, y = int(round(cx)), int(round(cy))
        row = np.clip(white - grey[y, x - h:x + h + 1], 0, None)
        col = np.clip(white - grey[y - h:y + h + 1, x], 0, None)
        assert row.sum() / ink == pytest.approx(side, abs=0.03)
        assert col.sum() / ink == pytest.approx(side, abs=0.03)
        assert (row * np.arange(x - h, x + h + 1)).sum() / row.sum() == pytest.approx(cx, abs=0.01)
        assert (col * np.arange(y - h, y + h + 1)).sum() / col.sum() == pytest.approx(cy, abs=0.01)


def test_board_corners_found_where_truth_says():
    rig = SimRig(NET)
    cam = rig.camera.scaled(1500, 1000)
    for pose in [rig.plane_board_pose()] + rig.board_poses(2, seed=3):
        out = render_board(cam, rig.board, pose, seed=1)
        truth = out.truth["board_corners_px"]
        c = _corners(cv2.cvtColor(out.image, cv2.COLOR_BGR2GRAY), rig.board, truth)
        assert np.abs(c - truth).max() < 0.15  # the detector's own error on curved lines


def test_plane_board_lies_in_the_plane_frame():
    rig = SimRig(NET)
    pose = rig.plane_board_pose()
    corners = pose.to_world(rig.board.corners_mm())
    assert np.allclose(corners[:, 2], 0)
    assert np.allclose(corners[:, :2], rig.board.corners_mm())
    # the network lies on the board
    plane = rig.network_to_plane_mm(NET.nodes)
    assert plane.min() > 0 and (plane.max(axis=0) < rig.board.corners_mm().max(axis=0)).all()


def test_calibration_recovers_the_lens():
    rig = SimRig(NET)
    cam = rig.camera.scaled(1200, 800)
    obj, img = [], []
    for pose in rig.board_poses(10, seed=7):
        out = render_board(cam, rig.board, pose, seed=2)
        c = _corners(cv2.cvtColor(out.image, cv2.COLOR_BGR2GRAY), rig.board, out.truth["board_corners_px"])
        obj.append(np.c_[rig.board.corners_mm(), np.zeros(rig.board.rows * rig.board.cols)].astype(np.float32))
        img.append(c.astype(np.float32))
    rms, K, dist, _, _ = cv2.calibrateCamera(obj, img, (1200, 800), None, None)
    assert rms < 0.2
    assert K[0, 0] == pytest.approx(cam.fx, rel=0.01)
    assert K[0, 2] == pytest.approx(cam.cx, abs=5)
    assert dist.ravel()[0] == pytest.approx(cam.dist[0], abs=0.02)


def test_thickness_shows_walls_that_pull_blobs_towards_the_principal_point():
    cam = square_camera(width=3000, height=2000)
    flat = SimRig(NET, camera=cam)
    thick = SimRig(NET, camera=cam, show_thickness=True)
    look = Look().clean()
    a = render_network(cam, flat.scene(), look, parts=("joints",))
    b = render_network(cam, thick.scene(), look, parts=("joints",))
    truth = a.truth["joints_px"]
    assert np.array_equal(truth, b.truth["joints_px"])
    shift = dark_centroids(b.image, truth, 40) - dark_centroids(a.image, truth, 40)
    towards = truth - [cam.cx, cam.cy]
    expected = -towards * (NET.thickness * 1e3 / 300) / 2  # about half the back face's offset
    assert np.allclose(shift, expected, atol=0.15)
    assert (b.image[..., 1] < 100).sum() > (a.image[..., 1] < 100).sum()


def test_strings_cross_joints_below_them_and_truth_says_which():
    rig = SimRig(NET)
    rig.hang(1, 5.0)  # node 1 (x = -16 mm) hangs straight above node 9 (x = -16 mm)
    scene = rig.scene()
    assert scene.crossed_joints().tolist() == [9]
    rig.hang(3, 3.0, direction=(1.0, 0.0))  # over a pulley to the right, along the top row
    scene = rig.scene()
    crossed = scene.crossed_joints()
    assert crossed.tolist() == [0, 1, 2, 9]
    out = render_network(rig.camera.scaled(3000, 2000), scene, Look().clean(), seed=0)
    assert np.array_equal(out.truth["crossed_joints"], crossed)
    x, y = np.round(out.truth["joints_px"][9]).astype(int)
    assert out.image[y, x, 1] > 150  # the light thread shows over the black joint


def test_large_lattice_frames_and_calibrates():
    from labmnn.model.lattice import triangle_patch

    net = triangle_patch(top=12, rows=9)
    rig = SimRig(net)
    px = rig.camera.project_plane(rig.network_to_plane_mm(net.nodes))
    assert (px > 0).all() and (px < [6000, 4000]).all()
    assert len(rig.board_poses(8, seed=0)) == 8
    out = render_network(rig.camera.scaled(600, 400), rig.scene(), seed=0)
    assert out.truth["joints_px"].shape == (net.n_nodes, 2)


def test_frame_is_drawn_on_the_side_of_the_fixed_joints():
    for fixed, side in (([0, 4], "above"), ([12, 13], "below")):
        d = NET.to_dict()
        d["fixed_nodes"] = fixed
        rig = SimRig(labmnn.Network.from_dict(d))
        scene = rig.scene()
        beam = scene.frame_layers(Look())[0].polygons[..., 1]
        ys = scene.joints_mm[:, 1]
        assert (beam.max() < ys.min()) if side == "above" else (beam.min() > ys.max())

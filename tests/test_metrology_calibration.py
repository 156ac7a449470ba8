import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from labmnn.cli import main
from labmnn.errors import InputError
from labmnn.metrology.calibration import BoardSpec, Calibration, calibrate, find_corners

DATA = Path(__file__).parent / "data" / "real-calibration"
PHOTOS = sorted(DATA.glob("*.jpg"))


def render_board(board, K, rvec, tvec, size, supersample=3):
    """A pinhole view of a checkerboard (with a white border), supersampled then reduced."""
    w, h = size
    s = supersample
    Ks = K.copy()
    Ks[:2] *= s
    Ks[:2, 2] += (s - 1) / 2
    R, _ = cv2.Rodrigues(rvec)
    Hb = Ks @ np.column_stack([R[:, 0], R[:, 1], tvec.ravel()])      # board mm -> pixels
    ys, xs = np.mgrid[0:h * s, 0:w * s].astype(np.float64)
    uv = np.linalg.solve(Hb, np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]))
    bx, by = (uv[:2] / uv[2]).reshape(2, h * s, w * s) / board.square_mm
    inside = (bx > -2) & (bx < board.cols + 1) & (by > -2) & (by < board.rows + 1)
    checker = ((np.floor(bx) + np.floor(by)) % 2 == 0) & (bx > -1) & (bx < board.cols) & (by > -1) & (by < board.rows)
    img = np.where(inside, np.where(checker, 30.0, 225.0), 120.0).astype(np.float32)
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def test_board_spec_parse_and_errors():
    b = BoardSpec.parse("9x6", 25)
    assert (b.cols, b.rows, b.square_mm) == (9, 6, 25.0)
    assert b.object_points()[10, :2].tolist() == [25.0, 25.0]
    with pytest.raises(InputError, match="9-6"):
        BoardSpec.parse("9-6", 25)
    with pytest.raises(InputError, match="square"):
        BoardSpec(9, 6, 0)


@pytest.mark.slow
def test_real_photos_calibrate_like_opencv_reference():
    cal = calibrate(PHOTOS, BoardSpec(9, 6, 25.0))
    # board not found in calibration1.jpg (as OpenCV's own run on the full set)
    assert list(cal.rejected) == ["calibration1.jpg"]
    assert len(cal.per_image_rms_px) == 4
    assert 0.5 < cal.rms_px < 1.2            # OpenCV reaches 0.85 px on all twenty photos
    assert abs(cal.camera_matrix[0, 0] - 1160) < 0.02 * 1160
    assert cal.dist_coeffs[0] < -0.15        # strong barrel distortion
    # undistorting the detected corners makes the board's rows straight lines
    corners = find_corners(DATA / "calibration2.jpg", BoardSpec(9, 6, 25.0))
    und = cal.undistort_points(corners).reshape(6, 9, 2)
    raw = corners.reshape(6, 9, 2)

    def straightness(rows):
        out = []
        for r in rows:
            c = r - r.mean(0)
            out.append(np.linalg.svd(c, compute_uv=False)[1])
        return np.max(out)
    assert straightness(und) < 0.45 * straightness(raw)   # 4 photos: a rough model


def test_undistort_points_inverts_projection():
    K = np.array([[1200.0, 0, 640], [0, 1190, 360], [0, 0, 1]])
    D = np.array([-0.3, 0.1, 1e-3, -5e-4, -0.02])
    cal = Calibration(K, D, (1280, 720), 0.0)
    ideal = np.random.default_rng(0).uniform([50, 50], [1230, 670], (40, 2))
    rays = np.column_stack([(ideal - K[:2, 2]) / [K[0, 0], K[1, 1]], np.ones(40)])
    distorted, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), K, D)
    assert np.abs(cal.undistort_points(distorted.reshape(-1, 2)) - ideal).max() < 1e-6


@pytest.mark.slow
def test_synthetic_boards_and_plane_homography(tmp_path, monkeypatch):
    board = BoardSpec(9, 6, 10.0)
    K = np.array([[900.0, 0, 399.5], [0, 900.0, 299.5], [0, 0, 1]])
    size = (800, 600)
    poses = [((0.3, -0.2, 0.05), (-40, -25, 250)), ((-0.35, 0.25, -0.1), (-45, -30, 260)),
             ((0.1, 0.4, 0.2), (-35, -25, 240)), ((-0.2, -0.4, 0.0), (-40, -20, 270)),
             ((0.45, 0.1, -0.3), (-50, -30, 280))]
    paths = []
    for k, (r, t) in enumerate(poses):
        img = render_board(board, K, np.array(r, float), np.array(t, float), size)
        paths.append(tmp_path / f"b{k}.png")
        cv2.imwrite(str(paths[-1]), np.clip(img, 0, 255).astype(np.uint8))
    plane = tmp_path / "plane.png"
    cv2.imwrite(str(plane), render_board(board, K, np.zeros(3), np.array([-40.0, -25, 250]), size).astype(np.uint8))
    cal = calibrate(paths, board, plane_image=plane)
    assert cal.rms_px < 0.1
    assert abs(cal.camera_matrix[0, 0] / 900 - 1) < 0.005
    # plane mapping: board corners of the plane photo map onto their mm positions
    mm = cal.to_plane_mm(find_corners(plane, board))
    assert np.abs(mm - board.object_points()[:, :2]).max() < 0.05
    assert cal.plane_rms_mm < 0.05
    # save / load round trip keeps what the mapping needs
    cal.save(tmp_path / "cal.json")
    back = Calibration.load(tmp_path / "cal.json")
    assert np.allclose(back.to_plane_mm([[400.0, 300.0]]), cal.to_plane_mm([[400.0, 300.0]]))
    d = json.loads((tmp_path / "cal.json").read_text())
    for key in ("camera_matrix", "dist_coeffs", "image_size", "rms_px", "per_image_rms_px", "plane_homography"):
        assert key in d
    # a photo whose corners are off (a bent board, motion) is flagged as an outlier
    import labmnn.metrology.calibration as calmod
    real = calmod.find_corners
    calls = []

    def shaky(image, board):          # calibrate() reads the photos in order: the third is b2.png
        c = real(image, board)
        calls.append(1)
        if len(calls) == 3:
            c = c + np.random.default_rng(0).normal(0, 1.0, c.shape)
        return c
    monkeypatch.setattr(calmod, "find_corners", shaky)
    bad = calibrate(paths, board)
    assert bad.outliers == ["b2.png"]
    assert bad.per_image_rms_px["b2.png"] > 5 * bad.per_image_rms_px["b0.png"]


def test_calibration_file_errors(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"camera_matrix": [[1, 0], [0, 1]], "dist_coeffs": [0] * 5, "image_size": [10, 10]}))
    with pytest.raises(InputError, match="camera_matrix"):
        Calibration.load(p)
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        Calibration.load(p)
    cal = Calibration(np.eye(3), np.zeros(5), (10, 10), 0.0)
    with pytest.raises(InputError, match="--plane"):
        cal.to_plane_mm([[1.0, 2.0]])


@pytest.mark.slow
def test_cli_calibrate(tmp_path, capsys):
    out = tmp_path / "calibration.json"
    assert main(["calibrate", "--board", "9x6", "--square", "25", *map(str, PHOTOS), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "calibration1.jpg" in text and "not used" in text
    assert json.loads(out.read_text())["image_size"] == [1280, 720]
    assert main(["calibrate", "--board", "9by6", "--square", "25", str(PHOTOS[0])]) == 2
    assert "labmnn: error: --board" in capsys.readouterr().err

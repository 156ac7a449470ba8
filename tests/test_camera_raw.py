"""Camera RAW files: decoded by rawpy (LibRaw), EXIF by exifread, against the same scene as JPEG.

The DNGs are written by tests/dng_writer.py: a Bayer mosaic of a known grey
scene, which LibRaw demosaics back.  Calibration and joint tracking on the DNG
must agree with the same scene saved as JPEG.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from dng_writer import write_dng
from fake_gphoto2 import FakeBody, FakeGPhoto2
from test_metrology_calibration import render_board

import labmnn
from labmnn.errors import InputError
from labmnn.instruments.exif import read_exif
from labmnn.instruments.gphoto2_camera import GPhoto2Camera
from labmnn.metrology.calibration import BoardSpec, calibrate
from labmnn.metrology.images import read_grey
from labmnn.metrology.synthetic import network_scene
from labmnn.metrology.tracking import JointTracker

NET = labmnn.Network.example("paper-triangle-n4")


def needs(module: str):
    try:
        __import__(module)
        return pytest.mark.skipif(False, reason="")
    except ImportError:
        return pytest.mark.skipif(True, reason=f"{module} is not installed (pip install \"labmnn[raw]\")")


needs_rawpy = needs("rawpy")
needs_exifread = needs("exifread")


def save_jpeg(path, grey):
    assert cv2.imwrite(str(path), np.clip(np.rint(grey), 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])


def even(img):
    h, w = img.shape
    return img[:h - h % 2, :w - w % 2]


@needs_rawpy
def test_dng_decodes_linearly_to_the_scene(tmp_path):
    scene, _ = network_scene(NET, seed=1)
    scene = even(scene)
    write_dng(tmp_path / "scene.dng", scene)
    got = read_grey(tmp_path / "scene.dng")
    assert got.shape == scene.shape and got.dtype == np.float32
    inner = (slice(4, -4), slice(4, -4))   # demosaicing borders aside
    slope, offset = np.polyfit(scene[inner].ravel(), got[inner].ravel(), 1)
    assert abs(slope - 0.75) < 0.01 and abs(offset) < 1.0     # 255 was written as 3/4 of white
    # demosaicing blurs a sharp edge here and there; elsewhere the grey is the scene's
    resid = np.abs(got[inner] - (slope * scene[inner] + offset))
    assert np.sqrt(np.mean(resid ** 2)) < 1.0 and np.percentile(resid, 99) < 3.0


@needs_rawpy
@pytest.mark.slow
def test_calibration_on_dng_matches_jpeg(tmp_path):
    board = BoardSpec(9, 6, 10.0)
    K = np.array([[900.0, 0, 399.5], [0, 900.0, 299.5], [0, 0, 1]])
    poses = [((0.3, -0.2, 0.05), (-40, -25, 250)), ((-0.35, 0.25, -0.1), (-45, -30, 260)),
             ((0.1, 0.4, 0.2), (-35, -25, 240)), ((-0.2, -0.4, 0.0), (-40, -20, 270))]
    dngs, jpegs = [], []
    for k, (r, t) in enumerate(poses):
        img = render_board(board, K, np.array(r, float), np.array(t, float), (800, 600))
        dngs.append(tmp_path / f"b{k}.dng")
        jpegs.append(tmp_path / f"b{k}.jpg")
        write_dng(dngs[-1], img)
        save_jpeg(jpegs[-1], img)
    raw_cal = calibrate(dngs, board)
    jpg_cal = calibrate(jpegs, board)
    assert not raw_cal.rejected and not jpg_cal.rejected
    assert raw_cal.rms_px < 0.1 and jpg_cal.rms_px < 0.1
    assert abs(raw_cal.camera_matrix[0, 0] / 900 - 1) < 0.005
    assert np.abs(raw_cal.camera_matrix - jpg_cal.camera_matrix).max() < 0.003 * 900


@needs_rawpy
def test_tracking_on_dng_matches_jpeg(tmp_path):
    F = np.zeros((NET.n_nodes, 2))
    F[12, 1] = -10e-3 * labmnn.GRAVITY
    ref, px0 = network_scene(NET, seed=1)
    img, px1 = network_scene(NET, NET.solve(F).displacements, seed=2)
    ref, img = even(ref), even(img)
    rough = px0 + np.random.default_rng(3).uniform(-3, 3, px0.shape)
    moved = {}
    for kind in ("dng", "jpg"):
        paths = [tmp_path / f"ref.{kind}", tmp_path / f"load.{kind}"]
        for p, scene in zip(paths, (ref, img)):
            write_dng(p, scene) if kind == "dng" else save_jpeg(p, scene)
        tracker = JointTracker(None, NET, read_grey(paths[0]), joints_px=rough)
        res = tracker.track(read_grey(paths[1]))
        assert not res.lost.any() and res.confidence.min() > 0.7
        moved[kind] = res.joints_px - tracker.reference.joints_px
        err = moved[kind] - (px1 - px0)
        assert np.sqrt(np.mean(err ** 2)) < 0.02, kind
    assert np.abs(moved["dng"] - moved["jpg"]).max() < 0.03


@needs_exifread
def test_raw_exif_exposure_iso_lens_and_body(tmp_path):
    p = tmp_path / "DSC_0001.dng"
    write_dng(p, np.full((16, 24), 120.0), exposure_s=(1, 250), f_number=(56, 10), iso=400)
    exif = read_exif(p)
    assert exif["Make"] == "NIKON CORPORATION" and exif["Model"] == "NIKON D750"
    assert exif["ExposureTime"] == pytest.approx(1 / 250) and exif["FNumber"] == pytest.approx(5.6)
    assert exif["ISOSpeedRatings"] == 400 and exif["LensModel"].startswith("AF-S Micro NIKKOR")


@needs_exifread
def test_raw_capture_records_its_exif(tmp_path):
    body = FakeBody()
    write_dng(tmp_path / "body.dng", np.full((16, 24), 120.0), iso=800)
    body.raw_bytes = (tmp_path / "body.dng").read_bytes()
    body.raw_suffix = "DNG"
    cam = GPhoto2Camera(gp=FakeGPhoto2(body), sleep=lambda s: None)
    cam.connect()
    try:
        cam.set_settings(image_format="RAW")
        shot = cam.capture(tmp_path / "photos")
    finally:
        cam.close()
    assert shot.path.name == "IMG_0001.DNG" and cam.last_companions == []
    assert shot.exif["ISOSpeedRatings"] == 800 and shot.exif["ExposureTime"] == pytest.approx(1 / 125)
    assert shot.exif["LensModel"] and shot.exif["Model"] == "NIKON D750"


def test_raw_without_rawpy_says_how_to_install(tmp_path, monkeypatch):
    p = tmp_path / "photo.NEF"
    p.write_bytes(b"\0" * 100)
    monkeypatch.setitem(sys.modules, "rawpy", None)     # as if not installed
    with pytest.raises(InputError, match=r"photo.NEF: is a camera RAW file: .*pip install \"labmnn\[raw\]\""):
        read_grey(p)


def test_raw_exif_without_exifread_is_empty_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "exifread", None)
    p = tmp_path / "photo.nef"
    p.write_bytes(b"\0" * 100)
    assert read_exif(p) == {}


@needs_rawpy
def test_broken_raw_file_is_a_one_line_error(tmp_path):
    p = tmp_path / "broken.dng"
    p.write_bytes(b"II*\0" + b"\0" * 200)
    with pytest.raises(InputError, match="broken.dng: cannot decode RAW file"):
        read_grey(p)

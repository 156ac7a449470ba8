"""The simulated camera: files, truth, settings, faults."""

import time

import cv2
import numpy as np
import pytest

import labmnn
from hardware_sim import Look, SimCamera, SimRig
from labmnn.devices import Camera
from labmnn.errors import DeviceError, InputError

NET = labmnn.Network.example("paper-triangle-n4")


@pytest.fixture
def camera():
    rig = SimRig(NET, seed=2)
    cam = SimCamera(rig, width=900, height=600, preview_size=(300, 200))
    cam.connect()
    return cam


def test_is_a_camera_and_capture_writes_a_jpeg_with_truth(camera, tmp_path):
    assert isinstance(camera, Camera)
    camera.rig.hang(12, 10.0)
    shot = camera.capture(tmp_path)
    img = cv2.imread(str(shot.path))
    assert img.shape == (600, 900, 3)
    assert shot.exif["ISOSpeedRatings"] == 800
    t = shot.truth
    assert t["joints_px"].shape == (14, 2) and t["elongations_m"].shape == (28,)
    assert np.allclose(t["positions_m"], camera.rig.node_positions_m())
    # the joints are dark in the photo where the truth says they are
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    x, y = np.round(np.delete(t["joints_px"], 12, axis=0)).astype(int).T  # 12 wears a white string
    assert grey[y, x].max() < 90 < np.median(grey)
    from PIL import Image

    with Image.open(shot.path) as im:
        assert im.getexif()[0x0110] == "SimCamera"
        assert im.getexif().get_ifd(0x8769)[0x9003] == shot.exif["DateTimeOriginal"]


def test_captures_are_numbered_and_deterministic(tmp_path):
    def shots(seed):
        cam = SimCamera(SimRig(NET), width=600, height=400, seed=seed)
        cam.clock = lambda: 1.8e9  # the EXIF time has one-second steps: a run across a tick would differ
        cam.connect()
        return [cam.capture(tmp_path / str(seed)).path for _ in range(2)]

    a, b = shots(1), shots(1)
    assert [p.name for p in a] == ["SIM_0000.jpg", "SIM_0001.jpg"]
    assert a[0].read_bytes() == b[0].read_bytes()
    assert a[0].read_bytes() != a[1].read_bytes()  # new noise every frame
    assert shots(2)[0].read_bytes() != a[0].read_bytes()


def test_truth_sidecar_and_board_capture(tmp_path):
    rig = SimRig(NET)
    cam = SimCamera(rig, width=600, height=400, truth_sidecar=True)
    cam.connect()
    rig.place_board(rig.plane_board_pose())
    shot = cam.capture(tmp_path)
    assert shot.truth["kind"] == "board"
    assert shot.truth["board_corners_px"].shape == (54, 2)
    assert shot.path.with_suffix(".truth.json").exists()
    rig.remove_board()
    assert cam.capture(tmp_path).truth["kind"] == "network"


def test_preview_size(camera):
    frame = camera.preview()
    assert frame.shape == (200, 300, 3) and frame.dtype == np.uint8


def test_settings_read_back_and_invalid_values_ignored(camera):
    s = camera.set_settings(iso="400", aperture="8", shutter_speed="1/60")
    assert (s.iso, s.aperture, s.shutter_speed) == ("400", "8", "1/60")
    s = camera.set_settings(iso="123")
    assert s.iso == "400"
    with pytest.raises(InputError):
        camera.set_settings(whitebalance="auto")
    dark = camera.render(300, 200).image.mean()
    camera.set_settings(iso="1600")
    assert camera.render(300, 200).image.mean() > dark + 10


def test_busy_and_timeout_faults_raise_then_recover(camera, tmp_path):
    camera.inject("busy", 2)
    for _ in range(2):
        with pytest.raises(DeviceError, match=r"camera capture failed \[-110.*busy.*after 4 attempts"):
            camera.capture(tmp_path)
    camera.capture(tmp_path)
    camera.inject("timeout")
    with pytest.raises(DeviceError, match=r"\[-10.*did not answer in time"):
        camera.preview()
    assert camera.preview().shape == (200, 300, 3)


def test_timeout_fault_blocks_for_its_delay(tmp_path):
    cam = SimCamera(SimRig(NET), width=300, height=200, timeout_delay_s=0.2, faults={"timeout": 1})
    cam.connect()
    t = time.perf_counter()
    with pytest.raises(DeviceError):
        cam.capture(tmp_path)
    assert time.perf_counter() - t >= 0.2


def test_disconnect_drops_the_camera_until_connect(camera, tmp_path):
    camera.inject("disconnect", 2)
    with pytest.raises(DeviceError, match=r"\[-7.*unplugged"):
        camera.capture(tmp_path)
    with pytest.raises(DeviceError, match="not connected"):
        camera.capture(tmp_path)
    with pytest.raises(DeviceError, match=r"connect failed \[-105.*no camera found"):
        camera.connect()
    camera.connect()
    assert camera.capture(tmp_path).path.exists()


def test_bad_fault_kind_and_closed_camera(camera, tmp_path):
    with pytest.raises(InputError):
        camera.inject("fire")
    camera.close()
    camera.close()
    with pytest.raises(DeviceError, match="not connected"):
        camera.preview()


def test_raw_format_saves_linear_sensor_data(camera, tmp_path):
    camera.set_settings(image_format="RAW")
    shot = camera.capture(tmp_path)
    raw = cv2.imread(str(shot.path), cv2.IMREAD_UNCHANGED)
    assert shot.path.suffix == ".png" and raw.dtype == np.uint16 and raw.shape == (600, 900)
    assert 1500 < np.median(raw) <= 4095
    camera.set_settings(image_format="RAW+JPEG")
    shot = camera.capture(tmp_path)
    assert shot.path.suffix == ".jpg" and shot.path.with_suffix(".png").exists()


def test_pose_jitter_moves_the_picture_not_the_network(tmp_path):
    rig = SimRig(NET)
    cam = SimCamera(rig, width=900, height=600, pose_jitter_px=0.5, flicker=0.01)
    cam.connect()
    a, b = cam.capture(tmp_path).truth, cam.capture(tmp_path).truth
    shift = np.abs(a["joints_px"] - b["joints_px"]).max()
    assert 0.005 < shift < 0.5  # 0.5 px at 6000 wide is 0.075 px at 900
    assert np.array_equal(a["positions_m"], b["positions_m"])
    still = SimCamera(rig, width=900, height=600)
    still.connect()
    assert np.array_equal(still.capture(tmp_path).truth["joints_px"], still.capture(tmp_path).truth["joints_px"])


@pytest.mark.parametrize("kw", [dict(width=0), dict(height=10 ** 6), dict(preview_size=(5, 5)), dict(jpeg_quality=0)])
def test_bad_camera_arguments(kw):
    with pytest.raises(InputError):
        SimCamera(SimRig(NET), **kw)


def test_depth_of_field_blurs_a_tilted_board_more_when_the_aperture_opens(tmp_path):
    rig = SimRig(NET)
    pose = rig.board_poses(1, seed=11)[0]
    rig.place_board(pose)

    def energy(grey):  # blur lowers the squared gradient (relative to the contrast)
        return ((np.diff(grey, axis=1) ** 2).mean() + (np.diff(grey, axis=0) ** 2).mean()) / grey.var()

    def sharpness(**kw):
        quiet = Look(read_noise_dn=0.0, gain_dn_per_e=0.0, sharpen=0.0)
        cam = SimCamera(rig, width=1200, height=800, look=quiet, **kw)
        cam.connect()
        cam.set_settings(aperture=kw.pop("f", "5"))
        grey = cv2.cvtColor(cam.render(1200, 800).image, cv2.COLOR_BGR2GRAY).astype(float)
        return energy(grey), cam

    sharp, _ = sharpness()
    wide, cam = sharpness(depth_of_field=True)
    cam.set_settings(aperture="16")
    grey = cv2.cvtColor(cam.render(1200, 800).image, cv2.COLOR_BGR2GRAY).astype(float)
    narrow = energy(grey)
    assert wide < 0.8 * narrow and narrow < 1.05 * sharp
    rig.place_board(rig.plane_board_pose())  # in the focused plane: stays sharp
    flat = cv2.cvtColor(cam.render(1200, 800).image, cv2.COLOR_BGR2GRAY).astype(float)
    sharp_flat, _ = sharpness()
    assert energy(flat) > 0.95 * sharp_flat


@pytest.mark.parametrize("kind", ["disconnect", "busy", "timeout"])
def test_fault_messages_read_like_the_real_backend(kind):
    """The simulator keeps its own copy of the gphoto2 advice (it does not import the drivers):
    the copy must still word each fault as the real backend does."""
    from hardware_sim import camera_faults
    from labmnn.instruments.gphoto2_errors import advice

    code = camera_faults.FAULTS[kind].code
    assert camera_faults.advice(code, "capture") == advice(code, "capture", camera_faults.GP_TEXT[code])

"""GPhoto2Camera against a scripted fake of python-gphoto2 (no camera attached)."""

import threading
import time

import numpy as np
import pytest
from fake_gphoto2 import FakeBody, FakeGPhoto2

from labmnn.devices import Camera, CameraSettings
from labmnn.errors import DeviceError, InputError
from labmnn.instruments.camera_settings import check_applied
from labmnn.instruments.gphoto2_camera import GPhoto2Camera, list_cameras


@pytest.fixture
def body():
    return FakeBody()


@pytest.fixture
def sleeps():
    return []


def make(body, sleeps, **kw):
    gp = FakeGPhoto2(body)
    cam = GPhoto2Camera(gp=gp, backoff_s=0.5, sleep=sleeps.append, **kw)
    return cam, gp


@pytest.fixture
def cam(body, sleeps):
    camera, _ = make(body, sleeps)
    camera.connect()
    yield camera
    camera.close()


def test_is_a_camera(cam):
    assert isinstance(cam, Camera)


def test_capture_downloads_deletes_and_drains(cam, body, tmp_path):
    shot = cam.capture(tmp_path)
    assert shot.path == tmp_path / "IMG_0001.JPG" and shot.path.read_bytes()[:2] == b"\xff\xd8"
    assert body.files == {}  # nothing left in camera RAM
    names = [m for m, _ in body.calls]
    i = names.index("capture")
    assert names[i:i + 3] == ["capture", "file_get", "file_delete"]
    assert names[-2:] == ["wait_for_event", "get_config"] and not body.events  # drained
    assert shot.settings.image_format == "JPEG" and shot.settings.iso == "100"
    assert abs(shot.time - time.time()) < 5
    assert shot.exif["Model"] == "Canon EOS 5D Mark IV" and shot.exif["ISOSpeedRatings"] == 100


def test_raw_plus_jpeg_downloads_the_companion(cam, body, tmp_path):
    cam.set_settings(image_format="RAW+JPEG")
    shot = cam.capture(tmp_path)
    assert shot.path.name == "IMG_0001.CR2"
    assert cam.last_companions == [tmp_path / "IMG_0001.JPG"]
    assert shot.exif["Make"] == "Canon"  # read from the companion JPEG
    assert body.files == {}


def test_same_name_twice_does_not_overwrite(cam, body, tmp_path):
    first = cam.capture(tmp_path)
    body.counter = 0
    second = cam.capture(tmp_path)
    assert first.path != second.path and second.path.name == "IMG_0001-1.JPG"


def test_one_thread_owns_the_camera(cam, body, tmp_path):
    results = []
    threads = [threading.Thread(target=lambda: results.append(cam.capture(tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cam.preview()
    owners = {tid for _, tid in body.calls}
    assert len(results) == 3 and len(owners) == 1
    assert threading.get_ident() not in owners


def test_settings_set_and_read_back(cam, body):
    got = cam.set_settings(iso="400", aperture="f/8", shutter_speed="1/125s",
                           image_format="RAW", capture_target="ram")
    assert got == CameraSettings(iso="400", aperture="8", shutter_speed="1/125",
                                 image_format="RAW", capture_target="ram")
    assert body.value("imageformat") == "RAW" and body.value("capturetarget") == "Internal RAM"
    check_applied({"iso": "400", "aperture": "f/8"}, got)  # no complaint


def test_ignored_setting_is_reported(cam, body):
    body.ignores.add("iso")
    got = cam.set_settings(iso="1600")
    assert got.iso == "100"
    with pytest.raises(DeviceError, match=r"ignored iso='1600' \(camera kept '100'\)"):
        check_applied({"iso": "1600"}, got)


def test_value_not_offered_lists_choices(cam):
    with pytest.raises(InputError, match=r"--iso: '12345' is not offered.*'1600'"):
        cam.set_settings(iso="12345")


def test_unknown_setting_name(cam):
    with pytest.raises(InputError, match="unknown setting"):
        cam.set_settings(whitebalance="Daylight")


def test_read_only_setting(cam, body):
    body.config.get_child_by_name("aperture").readonly = True
    with pytest.raises(DeviceError, match="mode dial to M"):
        cam.set_settings(aperture="8")


def test_missing_widget_reads_none(body, sleeps):
    body.config.get_child_by_name("capturesettings").children.pop(0)  # no aperture (manual lens)
    camera, _ = make(body, sleeps)
    camera.connect()
    assert camera.get_settings().aperture is None
    assert camera.choices("aperture") == []
    with pytest.raises(DeviceError, match="no aperture setting"):
        camera.set_settings(aperture="8")
    camera.close()


def test_preview_is_bgr_and_live_view_is_left_before_capture(cam, body, tmp_path):
    frame = cam.preview()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert abs(int(frame[..., 2].mean()) - 240) < 8  # red channel last (BGR)
    assert body.value("viewfinder") == 1
    cam.capture(tmp_path)  # the fake refuses (-110) while in live view
    assert body.viewfinder_history == [0]


def test_unreadable_preview(cam, body):
    body.preview_bytes = b"not a jpeg"
    with pytest.raises(DeviceError, match="unreadable live-view frame"):
        cam.preview()


def test_preview_not_supported_explains_raw(cam, body):
    body.fail("capture_preview", -6)
    with pytest.raises(DeviceError, match=r"\[-6.*RAW only"):
        cam.preview()


# -- known failures: bounded retries with back-off, then advice -----------------------------

def test_busy_is_retried_with_backoff(cam, body, sleeps, tmp_path):
    body.fail("capture", -110, -110)
    shot = cam.capture(tmp_path)
    assert shot.path.exists()
    assert sleeps == [0.5, 1.0]


def test_busy_forever_gives_up_with_advice(cam, body, sleeps, tmp_path):
    body.fail("capture", *[-110] * 10)
    with pytest.raises(DeviceError, match=r"\[-110.*busy.*after 4 attempts"):
        cam.capture(tmp_path)
    assert sleeps == [0.5, 1.0, 2.0]
    assert [m for m, _ in body.calls].count("capture") == 4


def test_timeout_is_retried(cam, body, tmp_path):
    body.fail("file_get", -10)
    assert cam.capture(tmp_path).path.exists()


def test_timeout_forever_mentions_focus(cam, body, tmp_path):
    body.fail("capture", *[-10] * 4)
    with pytest.raises(DeviceError, match=r"\[-10.*manual focus"):
        cam.capture(tmp_path)


def test_usb_claimed_by_gvfs(body, sleeps):
    body.claimed_elsewhere = True
    camera, _ = make(body, sleeps)
    with pytest.raises(DeviceError, match=r"\[-53.*gvfs-gphoto2-volume-monitor.*gio mount -s gphoto2"):
        camera.connect()
    assert len(sleeps) == 3
    camera.close()


def test_usb_claim_released_during_retries(body, sleeps):
    body.claimed_elsewhere = True
    camera, gp = make(body, sleeps)
    body.fail("init", None, lambda: setattr(body, "claimed_elsewhere", False))
    camera.connect()
    assert camera.get_settings().iso == "100"
    camera.close()


def test_no_camera(sleeps):
    camera = GPhoto2Camera(gp=FakeGPhoto2(None), sleep=sleeps.append, retries=1)
    with pytest.raises(DeviceError, match=r"\[-105.*no camera found.*PTP"):
        camera.connect()
    camera.close()
    assert list_cameras(FakeGPhoto2(None)) == []


def test_replug_during_retries_recovers(body, sleeps, tmp_path):
    camera, gp = make(body, sleeps)
    camera.connect()
    # USB drops during the capture, the camera comes back before the next attempt
    body.fail("capture", body.unplug)  # the capture then raises -7 (I/O)

    def sleep(s):
        body.plugged = True

    camera._sleep = sleep
    assert camera.capture(tmp_path).path.exists()
    assert gp.cameras_made == 2  # the dead handle was replaced
    camera.close()


def test_unplugged_for_good(cam, body, sleeps, tmp_path):
    body.fail("capture", lambda: body.unplug())
    with pytest.raises(DeviceError, match=r"camera capture failed \[-(7|105).*(unplugged|switched on)"):
        cam.capture(tmp_path)
    assert len(sleeps) == 3
    with pytest.raises(DeviceError, match="not connected"):
        cam.get_settings()
    body.plugged = True  # plugged back in: connect() again, without a new object
    cam.connect()
    assert cam.capture(tmp_path).path.exists()


def test_model_and_port_selection(body, sleeps):
    camera, _ = make(body, sleeps, model="Canon EOS 5D Mark IV", port="usb:001,004")
    camera.connect()
    camera.close()
    wrong, _ = make(body, sleeps, model="Nikon D750")
    with pytest.raises(DeviceError, match="-105"):
        wrong.connect()
    wrong.close()


def test_hung_camera_times_out_and_close_returns(body, sleeps, tmp_path):
    camera, _ = make(body, sleeps, command_timeout_s=0.2)
    camera.connect()
    body.fail("capture", lambda: time.sleep(0.6))
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="did not answer within 0.2 s"):
        camera.capture(tmp_path)
    camera.close()
    assert time.monotonic() - t0 < 3.0
    with pytest.raises(DeviceError, match="closed"):
        camera.get_settings()
    camera.connect()  # a new owner thread after close()
    assert camera.get_settings().iso == "100"
    camera.close()


def test_list_cameras(body):
    assert list_cameras(FakeGPhoto2(body)) == [("Canon EOS 5D Mark IV", "usb:001,004")]


def test_summary_and_context_manager(body, sleeps):
    camera, _ = make(body, sleeps)
    with camera:
        assert "Canon" in camera.summary()
    assert [m for m, _ in body.calls][-1] == "exit"



def test_connect_again_after_close_captures(body, sleeps, tmp_path):
    # The engine's retry after a dropped camera closes and reconnects the same object.
    camera, _ = make(body, sleeps)
    camera.connect()
    camera.close()
    camera.connect()
    shot = camera.capture(tmp_path)
    assert shot.path.exists()
    camera.close()


# -- values outside a widget's choices: the real library takes them, then may crash ----------

def test_fake_takes_a_value_outside_the_choices_like_the_real_library(body):
    from fake_gphoto2 import LibraryCrash

    gp = FakeGPhoto2(body)
    raw = gp.Camera()
    raw.init()
    config = raw.get_config()
    config.get_child_by_name("aperture").set_value("1.2")  # no error, as in libgphoto2
    raw.set_config(config)
    assert body.out_of_choices == [("aperture", "1.2")]
    with pytest.raises(LibraryCrash):
        raw.get_config()


@pytest.mark.parametrize("name,value", [("aperture", "1.2"), ("shutter_speed", "1/8000"),
                                        ("iso", "12345"), ("image_format", "TIFF"),
                                        ("capture_target", "cloud")])
def test_labmnn_never_sends_a_value_the_widget_does_not_offer(cam, body, name, value):
    before = cam.get_settings()
    with pytest.raises(InputError, match="is not offered by this camera; choices: "):
        cam.set_settings(**{name: value})
    assert body.out_of_choices == [] and cam.get_settings() == before


def test_every_value_sent_is_one_the_widget_offers(cam, body, tmp_path):
    cam.set_settings(iso="400", aperture="f/8", shutter_speed="1/125s", image_format="RAW+JPEG",
                     capture_target="ram")
    cam.preview()
    cam.capture(tmp_path)  # leaves live view first (viewfinder set back to 0)
    assert body.value("aperture") == "8" and body.viewfinder_history == [0]
    assert body.out_of_choices == []

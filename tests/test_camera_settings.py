"""Setting names, choices and read-back comparison (pure functions)."""

import pytest

from labmnn.devices import CameraSettings
from labmnn.errors import DeviceError, InputError
from labmnn.instruments.camera_settings import (
    check_applied,
    classify_format,
    classify_target,
    ignored,
    pick_choice,
    tidy,
)

CANON = ["Large Fine JPEG", "Large Normal JPEG", "Small Normal JPEG", "RAW", "RAW + Large Fine JPEG"]
NIKON = ["JPEG Basic", "JPEG Normal", "JPEG Fine", "NEF (Raw)", "NEF+Basic", "NEF+Fine"]


@pytest.mark.parametrize("choices,asked,expected", [
    (CANON, "JPEG", "Large Fine JPEG"), (CANON, "raw", "RAW"), (CANON, "RAW+JPEG", "RAW + Large Fine JPEG"),
    (NIKON, "jpg", "JPEG Fine"), (NIKON, "RAW", "NEF (Raw)"), (NIKON, "raw+jpeg", "NEF+Fine"),
    (CANON, "small normal jpeg", "Small Normal JPEG"),  # the body's own name
])
def test_image_format_choice(choices, asked, expected):
    assert pick_choice("image_format", asked, choices) == expected


def test_capture_target_and_numbers():
    assert pick_choice("capture_target", "ram", ["Internal RAM", "Memory card"]) == "Internal RAM"
    assert pick_choice("capture_target", "card", ["Internal RAM", "Memory card"]) == "Memory card"
    assert pick_choice("aperture", "f/5.6", ["4", "5.6", "8"]) == "5.6"
    assert pick_choice("aperture", "8", ["f/4", "f/8"]) == "f/8"
    assert pick_choice("shutter_speed", "0.5", ["1/4", "1/2", "1"]) == "1/2"
    assert pick_choice("iso", "auto", ["Auto", "100"]) == "Auto"


def test_no_match_names_flag_and_choices():
    with pytest.raises(InputError, match=r"--shutter-speed: '1/90' is not offered.*'1/60', '1/125'"):
        pick_choice("shutter_speed", "1/90", ["1/60", "1/125"])


def test_classifiers():
    assert [classify_format(c) for c in ("L", "RAW + L", "mRAW", "Tiff")] == ["JPEG", "RAW+JPEG", "RAW", None]
    assert [classify_target(c) for c in ("Internal RAM", "Memory card", "??")] == ["ram", "card", None]


def test_ignored_and_check_applied():
    got = CameraSettings(iso="100", aperture="8", shutter_speed="1/125", image_format="JPEG")
    assert ignored({"aperture": "f/8", "shutter_speed": "1/125s", "image_format": "jpeg"}, got) == {}
    assert ignored({"image_format": "Large Fine JPEG"}, got) == {}  # the body's own name
    assert ignored({"image_format": "RAW + Large Fine JPEG"}, got) == {
        "image_format": ("RAW + Large Fine JPEG", "JPEG")}
    assert ignored({"iso": "400", "capture_target": "ram"}, got) == {
        "iso": ("400", "100"), "capture_target": ("ram", None)}
    with pytest.raises(DeviceError, match="ignored iso='400'"):
        check_applied({"iso": "400"}, got)


def test_tidy():
    assert tidy("aperture", " f/11 ") == "11"
    assert tidy("shutter_speed", "2s") == "2" and tidy("shutter_speed", "1/125") == "1/125"
    assert tidy("capture_target", "RAM") == "ram" and tidy("image_format", "Large Fine JPEG") == "Large Fine JPEG"

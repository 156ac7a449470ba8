"""What libgphoto2's error codes mean at the bench, and what to do about them.

Example
-------
>>> "gvfs" in advice(-53, "connect")
True
"""

from __future__ import annotations

IO_USB_CLAIM = -53
CAMERA_BUSY = -110
TIMEOUT = -10
MODEL_NOT_FOUND = -105
IO = -7
NOT_SUPPORTED = -6

# Codes worth another try after a pause (the camera may recover by itself).
RETRYABLE = frozenset({IO_USB_CLAIM, CAMERA_BUSY, TIMEOUT, MODEL_NOT_FOUND, IO})
# Codes after which the camera object is dead and must be opened again.
NEEDS_REOPEN = frozenset({IO, MODEL_NOT_FOUND})

_ADVICE = {
    IO_USB_CLAIM: (
        "could not claim the USB device: another program holds the camera, usually the "
        "desktop's gvfs-gphoto2 volume monitor (or a file manager, Shotwell, darktable, a "
        "second labmnn). Unmount the camera in the file manager, or stop the monitor: "
        "'pkill -f gvfs-gphoto2-volume-monitor; gio mount -s gphoto2' (for good: "
        "'systemctl --user mask gvfs-gphoto2-volume-monitor'), then try again"),
    CAMERA_BUSY: (
        "the camera stayed busy (I/O in progress): it may still be writing a photo, focusing, "
        "or showing a menu; leave the camera's own buttons alone, use manual focus, set the "
        "capture target to RAM, and try again"),
    TIMEOUT: (
        "the camera did not answer in time: autofocus may be hunting (switch the lens to "
        "manual focus), the exposure may be longer than the timeout, or the camera went to "
        "sleep (disable auto power-off, use a mains adapter)"),
    MODEL_NOT_FOUND: (
        "no camera found: check that it is switched on, the USB cable is plugged in (try "
        "another cable/port, avoid hubs), the camera's USB mode is PTP / 'PC connection' "
        "(not mass storage), and that 'gphoto2 --auto-detect' lists it"),
    IO: (
        "USB I/O error: the camera was unplugged, switched off or went to sleep during the "
        "operation; check cable and power (battery, auto power-off), reconnect and retry"),
    NOT_SUPPORTED: (
        "the camera does not support this operation; some bodies refuse live view while "
        "the image format is RAW only, or while the mode dial is not on M"),
}


def advice(code: int, what: str, detail: str = "") -> str:
    """One line for the user: what failed, why it usually does, what to do.

    Parameters
    ----------
    code : int
        libgphoto2 error code (``GPhoto2Error.code``).
    what : str
        The operation, e.g. ``"capture"``.
    detail : str
        libgphoto2's own text of the error.
    """
    text = _ADVICE.get(code)
    own = f" [{code}{': ' + detail if detail else ''}]"
    if text is None:
        return f"camera {what} failed{own}; switch the camera off and on, reconnect and retry"
    return f"camera {what} failed{own}: {text}"

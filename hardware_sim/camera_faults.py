"""Faults the simulated camera can be told to show, worded as the real backend words them.

The texts are a copy of ``labmnn.instruments.gphoto2_errors.advice``'s wording
(the simulator does not import the real drivers), so a simulated failure reads
exactly like a real one; ``tests/test_sim_camera.py`` checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

# libgphoto2 codes and their own short texts
IO = -7
TIMEOUT = -10
MODEL_NOT_FOUND = -105
CAMERA_BUSY = -110
GP_TEXT = {IO: "I/O problem", TIMEOUT: "Timeout reading from or writing to the port",
           MODEL_NOT_FOUND: "Unknown model", CAMERA_BUSY: "I/O in progress"}

_ADVICE = {
    CAMERA_BUSY: ("the camera stayed busy (I/O in progress): it may still be writing a photo, "
                  "focusing, or showing a menu; leave the camera's own buttons alone, use manual "
                  "focus, set the capture target to RAM, and try again"),
    TIMEOUT: ("the camera did not answer in time: autofocus may be hunting (switch the lens to "
              "manual focus), the exposure may be longer than the timeout, or the camera went "
              "to sleep (disable auto power-off, use a mains adapter)"),
    MODEL_NOT_FOUND: ("no camera found: check that it is switched on, the USB cable is plugged "
                      "in (try another cable/port, avoid hubs), the camera's USB mode is PTP / "
                      "'PC connection' (not mass storage), and that 'gphoto2 --auto-detect' lists it"),
    IO: ("USB I/O error: the camera was unplugged, switched off or went to sleep during the "
         "operation; check cable and power (battery, auto power-off), reconnect and retry"),
}

NOT_CONNECTED = "camera is not connected: call connect() first"
KINDS = ("disconnect", "busy", "timeout")


def advice(code: int, what: str) -> str:
    """The one-line message of a failed camera operation."""
    return f"camera {what} failed [{code}: {GP_TEXT[code]}]: {_ADVICE[code]}"


@dataclass(frozen=True)
class Fault:
    """What a fault does: the gphoto2 code of the final attempt, and whether the
    camera is gone afterwards (must be connected again)."""

    code: int
    drops_connection: bool


FAULTS = {"disconnect": Fault(IO, True), "busy": Fault(CAMERA_BUSY, False),
          "timeout": Fault(TIMEOUT, False)}


def message(kind: str, what: str, attempts: int) -> str:
    """Message of fault ``kind`` on operation ``what`` after ``attempts`` tries."""
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    return advice(FAULTS[kind].code, what) + tries

"""``labmnn gui``: the operator's window at the rig (needs ``pip install labmnn[gui]``).

``--sim`` runs it on the simulated rig.  ``--screenshot FILE`` runs the
protocol on the simulated rig to its results by clicking the window's own
buttons, writes a PNG of the window and exits (``--screenshot-protocol FILE``
also grabs the window while the first weight is to be hung).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from labmnn.errors import InputError, LabmnnError
from labmnn.resources import find_protocol, protocols_dir

DEFAULT_PROTOCOL = protocols_dir() / "gradient.toml"


def register(sub) -> None:
    p = sub.add_parser("gui", help="the operator's window (camera, protocol, results, devices)",
                       description="Open the operator's window: live view and the last photo with the "
                                   "tracked joints, step-by-step instructions with big buttons, the live "
                                   "balance reading, results, devices and the calibration wizard. With "
                                   "--sim everything runs on the simulated rig.")
    p.add_argument("--sim", action="store_true", help="use the simulated rig (hardware_sim)")
    p.add_argument("--light-sim", action="store_true",
                   help="use the light simulated rig (drawn photos, joints reported exactly; fast)")
    p.add_argument("--protocol", help="protocol file or shipped protocol name (default with --sim: gradient)")
    p.add_argument("--sessions", default="sessions", help="folder of sessions (default: sessions)")
    p.add_argument("--balance-port", default=None, help="serial port of the balance (real rig)")
    p.add_argument("--calibration", default=None, help="calibration file (real rig)")
    p.add_argument("--repeats", type=int, default=None, help="override the protocol's repeats (quicker look)")
    p.add_argument("--size", default="1440x900", help="window size WxH (default 1440x900)")
    p.add_argument("--screenshot", metavar="FILE", help="run the protocol (simulated) to its results, "
                   "save a PNG of the window and exit")
    p.add_argument("--screenshot-protocol", metavar="FILE",
                   help="with --screenshot: also save the window while the adjoint weight is to be hung")
    p.add_argument("--timeout", type=float, default=300.0, help="with --screenshot: give up after this many s")
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError("--size", "", f"expected WxH like 1440x900, found {text!r}") from None
    if w < 640 or h < 480:
        raise InputError("--size", "", f"{text} is too small (at least 640x480)")
    return w, h


def run(args) -> int:
    try:
        import pyqtgraph  # noqa: F401
        import PySide6  # noqa: F401
    except ImportError:
        print("labmnn: error: the GUI needs PySide6 and pyqtgraph: pip install labmnn[gui]", file=sys.stderr)
        return 2
    size = _size(args.size)
    if args.repeats is not None and args.repeats < 1:
        raise InputError("--repeats", "", f"must be at least 1, found {args.repeats}")
    if args.protocol:
        args.protocol = str(find_protocol(args.protocol))
    if args.screenshot:
        args.sim = True
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtWidgets

    from labmnn.cli.sim.bench import full_sim_context, sim_context
    from labmnn.gui.context import real_context
    from labmnn.gui.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["labmnn"])
    protocol = args.protocol or (str(DEFAULT_PROTOCOL) if args.sim else None)
    sessions = Path(args.sessions)
    if args.light_sim:
        args.sim = True
        protocol = args.protocol or str(DEFAULT_PROTOCOL)
        ctx = sim_context(sessions)
    elif args.sim:
        ctx = full_sim_context(sessions, protocol)
    else:
        ctx = real_context(sessions, args.balance_port, args.calibration)
    window = MainWindow(ctx, protocol=protocol, repeats=args.repeats)
    window.resize(*size)
    window.show()
    if not args.screenshot:
        code = app.exec()
        window.shutdown()
        return int(code)
    return _screenshot_run(app, window, args, size)


def _screenshot_run(app, window, args, size) -> int:
    from PySide6 import QtCore

    from labmnn.gui.autopilot import Autopilot, grab

    if window.spec is None:
        window.shutdown()
        raise LabmnnError(f"the protocol could not be opened: {window.protocol_panel.warning_texts()[-1:]}")
    # the second weight to hang (the first adjoint loading): its photo shows tracked joints
    snap = ("hang", 2, args.screenshot_protocol) if args.screenshot_protocol else None
    pilot = Autopilot(window, delay_ms=40, snapshot=snap)
    t0 = time.perf_counter()
    window.start()
    pilot.attach()
    deadline = t0 + args.timeout
    while window.outcome is None and time.perf_counter() < deadline:
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
    if window.outcome is None:
        window.shutdown()
        raise LabmnnError(f"the simulated run did not finish within {args.timeout:g} s")
    window.tabs.setCurrentWidget(window.results)
    settle = time.perf_counter() + 10.0  # results are read in a worker; let them arrive, then draw
    while time.perf_counter() < settle and "gradient_measured" not in window.results.summary \
            and window.outcome.get("status") == "success":
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
    end = time.perf_counter() + 0.4
    while time.perf_counter() < end:
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
    out = grab(window, args.screenshot)
    outcome = window.outcome
    fps = window.camera_view.live_fps()
    window.shutdown()
    summary = outcome.get("summary") or {}
    rel = summary.get("relative_error")
    print(f"run {outcome.get('status')} in {time.perf_counter() - t0:.1f} s ({pilot.clicks} clicks); "
          f"gradient relative error {rel:.2%}" if isinstance(rel, float) else f"run {outcome.get('status')}")
    print(f"live view: {fps:.1f} frames/s shown ({window.camera_view.frames_shown} frames)")
    if pilot.snapshot_written:
        print(f"wrote {pilot.snapshot_written}")
    print(f"wrote {out} ({size[0]}x{size[1]})")
    return 0 if outcome.get("status") == "success" else 1

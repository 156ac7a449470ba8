"""The main window: camera view on the left; protocol, results and devices on the right.

It owns the worker threads (one per device, one for the engine) and is the
only place that wires them to the widgets.  Every callback from a worker
arrives as a queued Qt signal, so widgets are touched only by the GUI thread.

Example
-------
>>> ctx = sim_context("sessions")                                          # doctest: +SKIP
>>> win = MainWindow(ctx, protocol="protocols/gradient.toml"); win.show()                   # doctest: +SKIP
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path

import numpy as np
from PySide6 import QtWidgets
from PySide6.QtCore import Qt

from labmnn.errors import InputError, LabmnnError
from labmnn.gui.camera_view import CameraView
from labmnn.gui.channel import Channel, hold_gc, release_gc
from labmnn.gui.context import RigContext
from labmnn.gui.devices_panel import DevicesPanel
from labmnn.gui.protocol_panel import ProtocolPanel, expected_steps
from labmnn.gui.results_panel import ResultsPanel
from labmnn.gui.session_data import bond_results, model_bond_values, open_session
from labmnn.gui.workers import DeviceOwner, EngineRunner, GuiOperator, TrackerTap
from labmnn.model.network import Network
from labmnn.protocol import load_protocol
from labmnn.protocol.bench import Bench
from labmnn.protocol.engine import Engine
from labmnn.protocol.events import GuiEvent, RunOutcome, TrackingEvent
from labmnn.protocol.operator import AutoOperator, Instruction
from labmnn.protocol.recorder import Session
from labmnn.protocol.runner import resume_run

LOW_CONFIDENCE = 0.6
NONLINEAR_LIMIT = 0.05  # the engine's nonlinearity figures (geometric vs linear, full vs half load)


class _Relay:
    """Carries (name, payload) from worker threads to the GUI thread."""

    def __init__(self):
        self.message = Channel()


class MainWindow(QtWidgets.QMainWindow):
    """The operator's window (see the module docstring)."""

    def __init__(self, context: RigContext, protocol: str | Path | None = None, repeats: int | None = None):
        super().__init__()
        self.ctx = context
        self.repeats = repeats  # overrides every opened protocol's repeats (quick looks)
        self.spec = None
        self.net: Network | None = None
        self.runner: EngineRunner | None = None
        self.operator: GuiOperator | None = None
        self.session_folder: Path | None = None
        self.outcome: RunOutcome | None = None
        self.last_bonds = None
        self.history: list[dict] = []
        hold_gc()  # collect garbage in the GUI thread only while the workers run
        self._closed = False
        self.relay = _Relay()
        self.relay.message.connect(self._on_relay)
        self.setWindowTitle("labmnn: in-situ backpropagation at the rig" + ("  [SIMULATED RIG]" if context.sim else ""))
        self._build()
        self._start_devices(context.bench.camera, context.bench.balance)
        self._show_calibration()
        self.results.list_sessions(context.sessions_root)
        if protocol is not None:
            self.open_protocol(protocol)

    # ----------------------------------------------------------------- layout
    def _build(self) -> None:
        split = QtWidgets.QSplitter(Qt.Horizontal)
        self.camera_view = CameraView()
        split.addWidget(self.camera_view)
        self.tabs = QtWidgets.QTabWidget()
        self.protocol_panel = ProtocolPanel()
        self.results = ResultsPanel()
        self.devices = DevicesPanel()
        self.tabs.addTab(self.protocol_panel, "Protocol")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.devices, "Devices")
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 4)
        split.setSizes([760, 640])
        self.setCentralWidget(split)
        self.sim_badge = QtWidgets.QLabel(" SIMULATED RIG " if self.ctx.sim else " rig ")
        self.sim_badge.setStyleSheet("background:#7a4d00; color:white; font-weight:bold;" if self.ctx.sim else "")
        self.statusBar().addPermanentWidget(self.sim_badge)

        p = self.protocol_panel
        p.open_requested.connect(self._ask_protocol)
        p.start_requested.connect(self.start)
        p.answered.connect(self._answer)
        p.pause_toggled.connect(self._pause)
        r = self.results
        r.open_session_requested.connect(self._open_session_requested)
        r.resume_session_requested.connect(self.resume_session)
        d = self.devices
        d.camera_reconnect.connect(self.reconnect_camera)
        d.camera_apply.connect(self._apply_camera)
        d.balance_reconnect.connect(self.reconnect_balance)
        d.calibration_load.connect(self._load_calibration)
        d.calibration_wizard.connect(self.open_calibration_wizard)
        d.set_balance_state("disconnected", port=self.ctx.balance_port)

    # ---------------------------------------------------------------- devices
    def _start_devices(self, camera, balance) -> None:
        self.camera_owner = DeviceOwner("camera", camera, poll="preview", period=1 / 25)
        self.camera_owner.polled.connect(self.camera_view.show_frame)
        self.camera_view.frame_shown.connect(self.camera_owner.consumed)
        self.camera_owner.status.connect(self._camera_status)
        self.camera_owner.start()
        self._start_balance(balance)
        self.reconnect_camera()

    def _start_balance(self, balance) -> None:
        self.balance_owner = DeviceOwner("balance", balance, poll="read_immediate", period=0.2)
        self.balance_owner.polled.connect(self._balance_reading)
        self.balance_owner.status.connect(self._balance_status)
        self.balance_owner.start()
        self.balance_owner.call_async("connect")

    def reconnect_camera(self) -> None:
        self.devices.set_camera_state("disconnected", name="reconnecting...")

        def done(_result, error):
            if error is None:
                self.camera_owner.call_async("get_settings",
                                             callback=lambda s, e: self.relay.message.emit("camera_settings", s))

        self.camera_owner.reconnect(callback=done)

    def reconnect_balance(self, port: str = "") -> None:
        if port and self.ctx.reopen_balance is not None and port != self.ctx.balance_port:
            if self.runner is not None and self.runner.running():
                self.protocol_panel.add_warning("the balance port cannot change during a run")
                return
            try:
                new = self.ctx.reopen_balance(port)
            except LabmnnError as exc:
                self._balance_status("error", exc.one_line())
                return
            self.balance_owner.stop()
            self.ctx.balance_port = port
            self._start_balance(new)
            return
        self.balance_owner.reconnect()

    def _apply_camera(self, values: dict) -> None:
        self.camera_owner.call_async("set_settings", callback=lambda s, e: self.relay.message.emit(
            "camera_settings", s if e is None else e), **values)

    def _camera_status(self, state: str, message: str) -> None:
        cam = self.ctx.bench.camera
        name = f"{type(cam).__name__}" + (" (simulated)" if self.ctx.sim else "")
        self.devices.set_camera_state(state, message, name=name)
        if state == "error":
            self.camera_view.set_live_status(f"camera: {message}")
            self.protocol_panel.add_warning(f"camera: {message}")

    def _balance_reading(self, reading) -> None:
        self.protocol_panel.set_balance(reading.mass_g, reading.stable)
        self.devices.set_balance_reading(reading.mass_g, reading.stable)
        self.balance_owner.consumed()

    def _balance_status(self, state: str, message: str) -> None:
        self.devices.set_balance_state(state, message, port=self.ctx.balance_port)
        if state == "error":
            self.protocol_panel.set_balance(None, error=message)
            self.protocol_panel.add_warning(f"balance: {message}")

    def _show_calibration(self) -> None:
        note = ""
        if self.ctx.calibration is None and self.ctx.sim and not self.ctx.board_rig:
            note = "not needed: the light simulated rig reports joints directly"
        colour, text = self.devices.set_calibration(self.ctx.calibration, self.ctx.calibration_rms, note)
        if not note and colour != "#2a8a2a":
            self.protocol_panel.add_warning(f"calibration {text}")

    def _load_calibration(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Calibration file", "", "Calibration (*.json)")
        if path:
            self.set_calibration(path)

    def set_calibration(self, path: str | Path) -> None:
        from labmnn.metrology.calibration import Calibration

        try:
            cal = Calibration.load(path)
        except LabmnnError as exc:
            self.protocol_panel.add_warning(exc.one_line())
            return
        self.ctx.calibration = Path(path)
        self.ctx.calibration_rms = float(cal.rms_px)
        self.ctx.bench.calibration = Path(path)
        self._show_calibration()

    def open_calibration_wizard(self) -> None:
        from labmnn.gui.calibration_wizard import CalibrationWizard

        wizard = CalibrationWizard(self.camera_owner, self.ctx, parent=self)
        wizard.saved.connect(self.set_calibration)
        self.wizard = wizard
        wizard.show()

    # --------------------------------------------------------------- protocol
    def _ask_protocol(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Protocol file", "", "Protocol (*.toml)")
        if path:
            self.open_protocol(path)

    def open_protocol(self, path: str | Path, network: str | Path | None = None) -> bool:
        """Load a protocol file and show its steps and network (errors go to the warnings).

        ``network`` replaces the protocol's network file (a session's own copy).
        """
        try:
            spec = load_protocol(path)
            if network is not None:
                spec.network = str(network)
            if self.repeats is not None:
                spec.repeats = int(self.repeats)
            net = Network.open(spec.network)
            spec.check_nodes(net.n_nodes)
        except LabmnnError as exc:
            self.protocol_panel.add_warning(exc.one_line())
            return False
        self.spec, self.net = spec, net
        self.protocol_panel.set_protocol(spec.name, spec.description, expected_steps(spec, net))
        inputs = {int(ld.node): tuple(ld.force_n / (np.linalg.norm(ld.force_n) or 1.0)) for ld in spec.forward}
        outputs = []
        values = {}
        if spec.loss is not None:
            try:
                outputs = [int(n) for n in getattr(spec.build_loss(net.n_nodes), "nodes", [])]
                values = model_bond_values(net, spec)
            except LabmnnError as exc:
                self.protocol_panel.add_warning(exc.one_line())
        self.camera_view.set_network(net, inputs, outputs)
        for key, v in values.items():
            self.camera_view.set_bond_values(key, v, source="model (not measured yet)")
        self.camera_view.photo_title.setText(f"{net.name}: model values")
        if self.ctx.sim and self.ctx.bench.install_network is not None:
            self.ctx.bench.install_network(net)
        self.protocol_panel.set_message("Press Start when the rig is ready.")
        return True

    def resume_session(self, folder: str | Path) -> bool:
        """Continue an interrupted session from its last checkpoint (its own protocol and network)."""
        if self.runner is not None and self.runner.running():
            self.protocol_panel.add_warning("a run is in progress; abort it before resuming another session")
            return False
        folder = Path(folder)
        try:
            session = Session.open(folder)
            if session.status() == "success":
                raise InputError(str(folder), "", "is already complete (status success); nothing to resume")
            if not self.open_protocol(folder / "protocol.toml", network=folder / "network.json"):
                return False
        except LabmnnError as exc:
            self.protocol_panel.add_warning(exc.one_line())
            return False
        self.start(resume=folder)
        return True

    def start(self, resume: Path | None = None) -> None:
        """Start the loaded protocol in the engine thread (or continue the session ``resume``)."""
        if self.spec is None or (self.runner is not None and self.runner.running()):
            return
        spec, ctx = self.spec, self.ctx
        actor = AutoOperator(ctx.bench.sim_operator) if ctx.sim and ctx.bench.sim_operator is not None else None
        self.operator = GuiOperator(actor)
        self.operator.asked.connect(self._on_instruction)
        self.outcome = None
        self.history = []
        camera, balance = self.camera_owner.proxy(), self.balance_owner.proxy()

        def make_engine(folder, listener):
            bench = Bench(camera=camera, balance=balance, make_tracker=TrackerTap(ctx.bench.make_tracker, listener),
                          calibration=ctx.bench.calibration, image_size=ctx.bench.image_size,
                          install_network=ctx.bench.install_network, sim_operator=ctx.bench.sim_operator,
                          extra=dict(ctx.bench.extra))
            if folder is not None and resume is not None and Path(folder) == Path(resume):
                self.session_folder = Path(folder)  # a past session: its own protocol, network, calibration
                return resume_run(folder, sim=ctx.sim, auto=False, operator=self.operator, listener=listener,
                                  bench=bench)
            session = (Session.open(folder) if folder is not None  # one writer: locked until its stop
                       else Session.create(ctx.sessions_root, spec.name)).lock()
            self.session_folder = session.folder
            return Engine(spec, session, bench, self.operator, listener=listener, network=Network.open(spec.network))

        self.runner = EngineRunner(make_engine, folder=resume)
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.protocol_panel.set_running(True)
        self.protocol_panel.set_message("Checking the devices...")
        self.tabs.setCurrentWidget(self.protocol_panel)
        self.runner.start()

    def _on_instruction(self, ins: Instruction) -> None:
        self.protocol_panel.show_instruction(ins)
        self.protocol_panel.repeat_button.setEnabled(ins.step not in ("checks", "device"))

    def _answer(self, answer: str) -> None:
        if self.operator is None or self.runner is None:
            return
        if answer == "abort":
            if self.runner.engine is not None:
                self.runner.engine.request_abort()
            self.operator.answer("abort")
            return
        if answer == "repeat":
            self.runner.request_repeat()
        self.protocol_panel.repeat_button.setEnabled(False)
        self.operator.answer(answer)

    def _pause(self, paused: bool) -> None:
        engine = self.runner.engine if self.runner is not None else None
        if engine is None:
            return
        if paused:
            engine.request_pause()
            self.statusBar().showMessage("Pause requested: the run stops after the current instruction", 5000)
        else:
            engine.resume()

    # ----------------------------------------------------------------- events
    def _on_event(self, ev: GuiEvent) -> None:
        """Show one engine or worker event (kinds and fields: :mod:`labmnn.protocol.events`)."""
        kind = ev.get("type")
        panel = self.protocol_panel
        if kind == "step":
            panel.set_current_step(ev.get("label", ev.get("key", "")))
        elif kind == "progress":
            panel.set_progress(int(ev.get("done", 0)), int(ev.get("total", 0)))
        elif kind == "image":
            self.camera_view.show_photo(ev["path"], ev.get("role", ""))
        elif kind == "joints":
            self.camera_view.set_joints(ev["image"], ev["joints_px"])
        elif kind == "tracking":
            self._tracking_warnings(ev)
        elif kind == "gradient":
            self._refresh_results()
        elif kind == "warning":
            panel.add_warning(ev.get("text", ""))
        elif kind == "state":
            state = ev.get("state")
            if state == "paused":
                panel.set_message("Paused. " + (ev.get("reason") or "Press Resume to go on."))
                self.statusBar().showMessage("paused")
            elif state == "running":
                self.statusBar().showMessage("running")
        elif kind == "plan":
            self.statusBar().showMessage(" ".join(ev.get("lines", [])[:1]), 8000)
        elif kind == "train":
            self.history.append({"step": ev.get("step"), "loss": ev.get("loss"), "accuracy": ev.get("accuracy")})
            self.results.show_history(self.history)
        elif kind == "restart":
            panel.set_message("Repeating the step from an empty rig...")
            self.statusBar().showMessage("step repeated: " + ev.get("reason", ""), 8000)

    def _tracking_warnings(self, ev: TrackingEvent) -> None:
        conf = ev.get("confidence_min")
        if conf is not None and conf < LOW_CONFIDENCE:
            self.protocol_panel.add_warning(f"low tracking confidence ({conf:.2f}) in {Path(ev.get('image', '')).name}")

    def _refresh_results(self, summary: dict | None = None) -> None:
        folder, net = self.session_folder, self.net
        if folder is None or net is None:
            return

        def work():
            try:
                steps = Session(folder).completed_steps()
                bonds = bond_results(net, steps)
                nonlinear = [max(float(d.get(f"{kind}_{role}", 0.0) or 0.0)
                                 for kind in ("nonlinearity", "load_nonlinearity") for role in ("forward", "adjoint"))
                             for k, d in steps.items() if k.endswith("gradient") and isinstance(d, dict)]
                self.relay.message.emit("bonds", (bonds, summary, max(nonlinear, default=0.0)))
            except Exception as exc:  # noqa: BLE001 - shown, never fatal
                traceback.print_exc()
                self.relay.message.emit("warning", f"results could not be read: {exc}")

        threading.Thread(target=work, name="labmnn-results", daemon=True).start()

    def _on_relay(self, name: str, payload) -> None:
        if name == "camera_settings":
            if isinstance(payload, LabmnnError):
                self.protocol_panel.add_warning(f"camera settings: {payload.one_line()}")
            elif payload is not None:
                self.devices.set_camera_settings(payload.as_dict())
        elif name == "bonds":
            bonds, summary, nonlinear = payload
            self.last_bonds = bonds
            if bonds.repeats:
                self.results.show_bonds(bonds, summary, title=self.spec.name if self.spec else "")
                mean, _ = bonds.gradient_mean_std()
                src = f"measured, mean of {bonds.repeats} repeat{'s' if bonds.repeats != 1 else ''}"
                self.camera_view.set_bond_values("forward", np.nanmean(bonds.forward_elongation_mm, axis=0), src)
                self.camera_view.set_bond_values(
                    "adjoint", np.nanmean(bonds.adjoint_elongation_mm * bonds.adjoint_scale[:, None], axis=0),
                    "as hung, " + src)
                self.camera_view.set_bond_values("gradient", mean if summary is None
                                                 else np.asarray(summary.get("gradient_measured", mean)), src)
            if nonlinear > NONLINEAR_LIMIT:
                self.protocol_panel.add_warning(
                    f"load beyond the linear range: the response departs from linear by {nonlinear:.1%}")
        elif name == "session":
            self._show_session(payload)
        elif name == "warning":
            self.protocol_panel.add_warning(str(payload))

    def _on_finished(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        panel = self.protocol_panel
        panel.set_running(False)
        status = outcome.status
        summary = outcome.summary or {}
        folder = outcome.session
        if status == "success":
            panel.mark_all_done()
            rel = summary.get("relative_error")
            panel.set_message("Finished." + (f" Measured vs simulated gradient: {rel:.2%} relative error."
                                              if isinstance(rel, float) else "") + f"\nSession: {folder}")
            self._refresh_results(summary)
            if summary.get("history"):
                self.results.show_history([{"step": h["step"], "loss": h["loss"], "accuracy": h.get("accuracy")}
                                           for h in summary["history"]])
            self.results.tabs.setCurrentIndex(1 if summary.get("history") else 0)
        elif status == "abort":
            panel.set_message(f"Aborted: {outcome.reason}.\nThe session is kept: {folder} "
                              f"(continue with `labmnn resume {folder}`).")
        else:
            panel.set_message(f"Stopped: {outcome.reason}")
            panel.instruction_label.setStyleSheet("font-size: 18px; font-weight: bold; color: #b00000;")
            panel.add_warning(str(outcome.reason))
        self.results.list_sessions(self.ctx.sessions_root)

    # --------------------------------------------------------------- sessions
    def _open_session_requested(self, folder: str) -> None:
        if not folder:
            folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Session folder", str(self.ctx.sessions_root))
            if not folder:
                return
        self.open_session(folder)

    def open_session(self, folder: str | Path) -> None:
        """Show a past session's results (read in a worker thread)."""
        def work():
            try:
                view = open_session(folder)
                self.relay.message.emit("session", view)
            except LabmnnError as exc:
                self.relay.message.emit("warning", exc.one_line())

        threading.Thread(target=work, name="labmnn-open-session", daemon=True).start()

    def _show_session(self, view) -> None:
        title = f"{view.folder.name} ({view.status})"
        self.results.show_bonds(view.bonds, view.summary or None, title=title)
        if view.history:
            self.results.show_history(view.history)
        self.results.tabs.setCurrentIndex(1 if view.history else 0)
        self.tabs.setCurrentWidget(self.results)

    # ------------------------------------------------------------------ close
    def shutdown(self) -> None:
        """Abort a running engine and stop the device threads (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        if self.runner is not None and self.runner.running():
            if self.runner.engine is not None:
                self.runner.engine.request_abort()
            if self.operator is not None:
                self.operator.answer("abort")
            self.runner.join(10)
        self.camera_owner.stop()
        self.balance_owner.stop()
        self.ctx.bench.close()  # also stops a simulated balance server
        release_gc()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

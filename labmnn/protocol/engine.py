"""The protocol engine: small checkpointed steps, the operator in the loop, nothing lost.

A run is a fixed script of steps (checks; per repeat a reference photo, the
forward loadings, the adjoint plan, the adjoint loadings, the gradient; a
summary).  Each step's result is appended to the session log before the next
one starts; :meth:`Engine.run` on a session that already holds steps skips
them and reuses their recorded data, so ``labmnn resume`` continues at the
first step not completed (a loading cut off half-way is redone from an empty
rig).

The engine does no terminal I/O: it asks an :class:`Operator` and reports to a
``listener`` callable small dicts (``{"type": "step" | "image" | "tracking" |
"gradient" | "plan" | "warning" | "state" | "progress", ...}``) from its own
thread.  ``request_pause``, ``resume`` and ``request_abort`` may be called from
any thread.

Example
-------
>>> engine = Engine(spec, Session.create("sessions", spec.name), bench, AutoOperator(sim_op))  # doctest: +SKIP
>>> outcome = engine.run()                                                                     # doctest: +SKIP
>>> outcome["status"], outcome["summary"]["relative_error"]                                    # doctest: +SKIP
('success', 0.012)
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from labmnn.errors import DeviceError, InputError, LabmnnError
from labmnn.model.network import Network
from labmnn.protocol import kinds
from labmnn.protocol.bench import Bench, track_arrays
from labmnn.protocol.operator import AbortRequested, Instruction, Operator
from labmnn.protocol.planner import LoadingPlan, PlanError, direction_name, plan_loading
from labmnn.protocol.recorder import Session
from labmnn.protocol.spec import ProtocolSpec

CAMERA_ATTEMPTS = 20
BALANCE_ATTEMPTS = 5
WEIGH_ATTEMPTS = 3


class Engine:
    """Runs one protocol on one bench into one session.

    Parameters
    ----------
    spec : ProtocolSpec
    session : Session
        A new session, or one to resume.
    bench : Bench
    operator : Operator
    listener : callable, optional
        Receives event dicts from the engine's thread.
    network : Network, optional
        Default: the protocol's network.
    results_name : str
        Base name of the results files.
    offline : bool
        Reanalysis: no device, no log record; every loading must be in ``steps``.
    steps : dict, optional
        Checkpointed step data to use instead of the session's (reanalysis).
    """

    def __init__(self, spec: ProtocolSpec, session: Session, bench: Bench, operator: Operator,
                 listener: Callable[[dict], None] | None = None, network: Network | None = None,
                 results_name: str = "results", offline: bool = False, steps: dict | None = None):
        self.spec = spec
        spec.apply_overrides(session.start_record().get("overrides"))  # as the session was started
        self.results_name = results_name
        self.offline = offline
        self.session = session
        self.bench = bench
        self.operator = operator
        self.listener = listener or (lambda event: None)
        self.net = network if network is not None else Network.open(spec.network)
        self.loss = spec.build_loss(self.net.n_nodes) if spec.loss is not None else None
        self.state = "idle"
        self.start_meta: dict = {}  # extra fields of the start record
        self._pause = threading.Event()
        self._resume = threading.Event()
        self._abort = threading.Event()
        self._done = session.completed_steps() if steps is None else dict(steps)
        self._trackers: dict[str, object] = {}
        self._rig_dirty = True  # unknown at start and after a resume: ask to clear first
        self._checked_size = False
        self._n_steps = 0
        self._total_steps = self._estimate_steps()
        self._t0 = time.monotonic()

    # ------------------------------------------------------------- control
    def request_pause(self) -> None:
        """Pause at the next step boundary (any thread)."""
        self._resume.clear()
        self._pause.set()

    def resume(self) -> None:
        """Continue after a pause (any thread)."""
        self._pause.clear()
        self._resume.set()

    def request_abort(self) -> None:
        """Stop at the next step boundary; the session stays resumable (any thread)."""
        self._abort.set()
        self._resume.set()

    def emit(self, type_: str, **data) -> None:
        """Send one event dict to the listener (its errors are swallowed)."""
        try:
            self.listener({"type": type_, **data})
        except Exception:  # noqa: BLE001 - a broken listener must not break the run
            pass

    def _set_state(self, state: str, reason: str = "") -> None:
        self.state = state
        self.emit("state", state=state, reason=reason)

    def _checkpoint(self) -> None:
        if self._abort.is_set():
            raise AbortRequested("abort requested")
        if self._pause.is_set():
            self.session.event("pause")
            self._set_state("paused")
            self._resume.wait()
            if self._abort.is_set():
                raise AbortRequested("abort requested while paused")
            self.session.event("resume_after_pause")
            self._set_state("running")

    def ask(self, ins: Instruction) -> None:
        """Log an instruction and block until the operator confirms it (pause/abort checked first)."""
        self._checkpoint()
        self.session.event("instruction", step=ins.step, instruction=ins.kind, text=ins.text,
                           node=ins.node, grams=ins.grams,
                           direction=None if ins.direction is None else list(ins.direction))
        self.operator.confirm(ins)
        if ins.kind == "remove":
            self._rig_dirty = False
        elif ins.kind == "hang":
            self._rig_dirty = True

    def warn(self, text: str) -> None:
        """Log and report a warning."""
        self.session.event("warning", text=text)
        self.emit("warning", text=text)

    def step(self, key: str, label: str, fn: Callable[[], dict]) -> dict:
        """Run a checkpointed step once: reuse its recorded data if the log already holds it,
        else run ``fn`` and append its result (fsynced) before going on."""
        if key in self._done:
            return self._done[key]
        self._checkpoint()
        self.emit("step", key=key, label=label, index=len(self._done), total=self._total_steps)
        data = fn()
        self.session.step(key, data)
        self._done[key] = self.session.records[-1]["data"]
        self._n_steps += 1
        done = self._n_steps + self._skipped()
        rate = (time.monotonic() - self._t0) / self._n_steps
        self.emit("progress", done=done, total=self._total_steps, key=key,
                   eta_s=max(0.0, rate * (self._total_steps - done)))
        return self._done[key]

    def _skipped(self) -> int:
        return len(self._done) - self._n_steps

    def _estimate_steps(self) -> int:
        spec = self.spec
        if spec.kind == "load_series":
            return spec.repeats * (1 + sum(1 for g in spec.series.grams if g > 0))
        levels = 2 if spec.linearize == "two_level" else 1
        per = 1 + levels * len(spec.forward) + 1 + levels + 1  # reference, forward, plan, adjoint, gradient
        if spec.kind == "train":  # each step: repeats, an update; each later step: an install
            return spec.train.steps * (spec.repeats * per + 1) + spec.train.steps - 1
        return spec.repeats * per

    # ----------------------------------------------------------------- run
    def run(self) -> dict:
        """Run (or continue) the protocol.

        Returns
        -------
        dict
            ``{"status": "success" | "abort", "reason": str, "summary": dict, "session": str}``.

        Raises
        ------
        LabmnnError
            After recording a ``fail`` stop record (device or input problem).
        """
        s = self.session
        if self.offline:
            return self._run_offline()
        if not any(r.get("kind") == "start" for r in s.records):
            s.start(protocol=self.spec.name, protocol_kind=self.spec.kind, protocol_file=str(self.spec.path),
                    network=self.net.name, bench=self.bench.extra, overrides=self.spec.overrides(),
                    **self.start_meta)
        else:
            s.event("resumed", pid=os.getpid(), steps_done=len(self._done))
            for orphan in s.adopt_orphans():
                self.warn(f"image {orphan['path']} reached disk but not the log before the interruption; "
                           "it is kept and now logged")
        self._set_state("running")
        try:
            self._checks()
            summary = kinds.RUNNERS[self.spec.kind](self)
            from labmnn.protocol.results import write_results

            files = write_results(s.folder, self.net, self.spec, s.completed_steps(), summary, self.results_name)
            summary["files"] = files
            s.stop("success")
            self._set_state("done")
            return {"status": "success", "reason": "", "summary": summary, "session": str(s.folder)}
        except (AbortRequested, KeyboardInterrupt) as exc:
            reason = str(exc) or ("interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else "aborted")
            s.stop("abort", reason)
            self._set_state("aborted", reason)
            return {"status": "abort", "reason": reason, "summary": {}, "session": str(s.folder)}
        except LabmnnError as exc:
            s.stop("fail", exc.one_line())
            self._set_state("failed", exc.one_line())
            raise
        except BaseException as exc:
            s.stop("fail", f"{type(exc).__name__}: {exc}")
            self._set_state("failed", str(exc))
            raise

    def _run_offline(self) -> dict:
        """Re-assemble from recorded (re-tracked) loadings; no device, no log record."""
        from labmnn.protocol.results import write_results

        summary = kinds.RUNNERS[self.spec.kind](self)
        steps = {k: v for k, v in self._done.items()}
        summary["files"] = write_results(self.session.folder, self.net, self.spec, steps, summary,
                                         self.results_name, {"reanalysis": True})
        return {"status": "success", "reason": "", "summary": summary, "session": str(self.session.folder)}

    # -------------------------------------------------------------- checks
    def _checks(self) -> None:
        spec, s, bench, net = self.spec, self.session, self.bench, self.net
        self.emit("step", key="checks", label="checking camera, balance, calibration, network",
                   index=0, total=self._total_steps)
        self._connect_camera()
        if spec.camera:
            got = bench.camera.set_settings(**spec.camera).as_dict()
            for k, want in spec.camera.items():
                if got.get(k) is not None and str(got[k]) != str(want):
                    self.warn(f"camera {k}: asked {want}, the camera reports {got[k]} (value ignored by the body?)")
        try:
            bench.balance.connect()
            bench.balance.read_immediate()
        except DeviceError as exc:
            raise DeviceError(f"balance: {exc.one_line()}") from None
        net.check_rigid()
        if spec.calibration is not None and not spec.calibration.exists():
            raise InputError(str(spec.path), "calibration.file", f"{spec.calibration} does not exist")
        s.copy_input("protocol.toml", spec.text.encode("utf-8") if spec.text else spec.path)
        s.copy_input("network.json", (json.dumps(net.to_dict(), indent=1) + "\n").encode())
        cal = bench.calibration or spec.calibration
        if cal is not None and Path(cal).exists():
            s.copy_input("calibration" + Path(cal).suffix, cal)
        else:
            self.warn("no calibration: the scale comes from the design's geometry and lens distortion is "
                       "not corrected (run `labmnn calibrate` and name the file in [calibration])")
        lines, worst = self._preflight()
        s.event("checks", camera=bench.camera.get_settings().as_dict(), plan=lines, predicted_error=worst)
        if not self._done:
            self.ask(Instruction("checks", "info", "\n".join(lines + ["Confirm to start."])))

    def _connect_camera(self) -> None:
        for attempt in range(CAMERA_ATTEMPTS):
            try:
                self.bench.camera.connect()
                return
            except DeviceError as exc:
                self._device_pause("camera", exc, "Connect the camera (USB cable, power, no other program "
                                   "holding it), then confirm.")
        raise DeviceError(f"camera: still not answering after {CAMERA_ATTEMPTS} attempts")

    def _preflight(self) -> tuple[list[str], float]:
        """Plan every loading from the model before anything is hung (raises PlanError)."""
        spec = self.spec
        lines: list[str] = []
        worst = 0.0
        if spec.kind == "load_series":
            for g in spec.series.grams:
                if g > 0:
                    plan = self.series_plan(g)
                    worst = max(worst, plan.predicted_error)
            lines.append(f"load series on node {spec.series.node}: "
                         + ", ".join(f"{g:g} g" for g in spec.series.grams)
                         + f" pulling {direction_name(spec.series.direction)}")
            return lines, worst
        plan_f = self.forward_plan()
        lines += plan_f.describe()
        two = spec.linearize == "two_level"
        if two:
            lines += self.forward_plan(0.5).describe()
        fwd_model = self.net.solve(plan_f.effective_forces())
        _, dLdu = self.loss(fwd_model.displacements)
        try:
            plan_a = self.adjoint_plan(-dLdu, fwd_model.elongations)
            if two:
                self.adjoint_plan(-dLdu, fwd_model.elongations, scale=plan_a.scale / 2)
        except PlanError as exc:
            raise PlanError(f"before anything is hung: {exc}") from None
        lines += ["predicted from the model:"] + plan_a.describe()
        unapplied = self._unapplied(plan_a)
        if unapplied and plan_a.predicted_error > spec.adjoint.max_predicted_error:
            raise PlanError(f"before anything is hung: the adjoint force needs {unapplied} that no pull direction "
                            f"there can apply (predicted gradient error {plan_a.predicted_error:.0%}); fit a pulley "
                            "and list it in [rig] directions")
        if plan_a.predicted_error > spec.adjoint.max_predicted_error:
            raise PlanError(f"before anything is hung: the adjoint load rounds to the weight set with a predicted "
                            f"gradient error of {plan_a.predicted_error:.1%} (limit "
                            f"{spec.adjoint.max_predicted_error:.1%}); add pulleys or smaller pieces")
        self.emit("plan", role="adjoint (predicted)", lines=plan_a.describe(),
                   predicted_error=plan_a.predicted_error)
        return lines, plan_a.predicted_error

    def _unapplied(self, plan: LoadingPlan) -> str:
        """Forces no pull direction can apply, as text ("" if none); below-piece remainders excluded."""
        rows = []
        for node in np.flatnonzero(np.abs(plan.dropped_n).sum(axis=1) > 0):
            D = self.spec.rig.directions_at(node)
            f = plan.dropped_n[node] / plan.scale
            off = f - D.T @ np.linalg.lstsq(D.T, f, rcond=None)[0]
            if np.linalg.norm(off) > 1e-9:
                rows.append(f"{np.linalg.norm(off) / 9.8e-3:.2g} g along ({off[0]:+.2f}, {off[1]:+.2f}) "
                            f"on node {node}")
        return "; ".join(rows)

    # ------------------------------------------------------------- planning
    def forward_plan(self, level: float = 1.0) -> LoadingPlan:
        """The forward loads as loadings (at ``level`` times their size; 1 normally)."""
        spec = self.spec
        return plan_loading(spec.forward_forces(self.net.n_nodes), spec.weights, spec.rig, scale=level,
                            role="forward" if level == 1.0 else f"forward at {level:g} x")

    def series_plan(self, grams: float) -> LoadingPlan:
        """One load of the series as loadings (scale 1)."""
        spec = self.spec
        F = np.zeros((self.net.n_nodes, 2))
        F[spec.series.node] = np.asarray(spec.series.direction) * grams * 1e-3 * 9.8
        return plan_loading(F, spec.weights, spec.rig, scale=1.0, role="series")

    def adjoint_plan(self, F_adj: np.ndarray, e_forward: np.ndarray, scale: float | None = None) -> LoadingPlan:
        """Plan the adjoint force; its predicted error is on the gradient given the forward elongations."""
        eq = self.net.equilibrium()
        g_ideal = eq.solve(F_adj).elongations * e_forward
        norm = float(np.linalg.norm(g_ideal)) or 1.0

        def gradient_error(F_eff):
            return float(np.linalg.norm(eq.solve(F_eff).elongations * e_forward - g_ideal) / norm)

        a = self.spec.adjoint
        return plan_loading(F_adj, self.spec.weights, self.spec.rig, scale=a.scale if scale is None else scale,
                            max_g=a.max_g, min_g=a.min_g, role="adjoint", error_fn=gradient_error)

    # -------------------------------------------------------------- devices
    def _device_pause(self, device: str, exc: Exception, advice: str) -> None:
        text = f"{device}: {exc if not isinstance(exc, LabmnnError) else exc.one_line()}"
        self.warn(text)
        self._set_state("paused", text)
        self.session.event("device_fault", device=device, error=text)
        self.ask(Instruction("device", "info", f"{text}. {advice}"))
        self._set_state("running")

    def _capture(self, key: str, role: str) -> dict:
        cam = self.bench.camera
        for attempt in range(CAMERA_ATTEMPTS):
            try:
                cap = cam.capture(self.session.incoming)
                break
            except DeviceError as exc:
                self._device_pause("camera", exc, "Check the camera (USB cable, power, battery), "
                                   "then confirm to reconnect and retake the photo.")
                try:
                    cam.close()
                    cam.connect()
                except DeviceError as exc2:
                    self.warn(f"camera: reconnect failed: {exc2.one_line()}")
        else:
            raise DeviceError(f"camera: no photo after {CAMERA_ATTEMPTS} attempts; fix the camera, then "
                              f"`labmnn resume {self.session.folder}`")
        info = self.session.file_image(cap.path, role, key)
        truth = {k: np.asarray(v).tolist() for k, v in (cap.truth or {}).items()}
        self.session.event("capture", key=key, path=info["path"], settings=cap.settings.as_dict(),
                           exif={k: str(v) for k, v in (cap.exif or {}).items()}, truth=truth)
        self.emit("image", path=str(self.session.folder / info["path"]), role=role, key=key)
        self._check_image_size(self.session.folder / info["path"])
        return info

    def _check_image_size(self, path: Path) -> None:
        if self._checked_size or self.bench.image_size is None:
            return
        self._checked_size = True
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if img is None:
            return
        w, h = self.bench.image_size
        if abs(img.shape[1] * 8 - w) > 16 or abs(img.shape[0] * 8 - h) > 16:
            raise InputError(str(self.bench.calibration), "image_size",
                             f"calibration made at {w}x{h} px but the camera delivers about "
                             f"{img.shape[1] * 8}x{img.shape[0] * 8} px: recalibrate for this camera")

    def _read_balance(self, step: str) -> float:
        for attempt in range(BALANCE_ATTEMPTS):
            try:
                return float(self.bench.balance.read_stable().mass_g)
            except DeviceError as exc:
                self._device_pause("balance", exc, "Check the balance (cable, draught, nothing touching "
                                   "the pan), then confirm to read it again.")
        raise DeviceError(f"balance: no stable reading after {BALANCE_ATTEMPTS} attempts; fix the balance, "
                          f"then `labmnn resume {self.session.folder}`")

    def _weigh(self, step: str, stack) -> float:
        pieces = " + ".join(f"{c} x {s:g} g" for s, c in sorted(stack.pieces.items(), reverse=True))
        text = f"Put the stack for node {stack.node} on the balance: {stack.nominal_g:g} g ({pieces})."
        for attempt in range(WEIGH_ATTEMPTS):
            self.ask(Instruction(step, "weigh", text, node=stack.node, grams=stack.nominal_g,
                                  direction=stack.direction))
            mass = self._read_balance(step)
            self.session.event("weighed", step=step, node=stack.node, nominal_g=stack.nominal_g, mass_g=mass)
            if abs(mass - stack.nominal_g) <= max(0.5, 0.05 * stack.nominal_g):
                return mass
            self.warn(f"the balance reads {mass:.3f} g for the {stack.nominal_g:g} g stack of node "
                       f"{stack.node}: check the pieces")
            text = f"Re-check the pieces ({pieces}) and put them on the balance again."
        raise DeviceError(f"the {stack.nominal_g:g} g stack for node {stack.node} weighed {mass:.3f} g "
                          f"{WEIGH_ATTEMPTS} times: check the weight set")

    def _tracker(self, ref: dict):
        path = ref["image"]
        if path not in self._trackers:
            self._trackers.clear()
            self._trackers[path] = self.bench.make_tracker(self.session.folder / path, self.net,
                                                           dict(self.spec.tracking), ref.get("joints_px"))
        return self._trackers[path]

    # ------------------------------------------------------------- steps
    def reference_step(self, key: str, label: str) -> dict:
        """Checkpointed: clear the rig, take the reference photo, locate the joints."""
        def do():
            self.ask(Instruction(label, "remove", "Take every weight off the network."))
            self.ask(Instruction(label, "capture", "Reference photo: nothing hangs on the network."))
            info = self._capture(key, "reference")
            ref = {"image": info["path"], "sha256": info["sha256"]}
            joints = getattr(getattr(self._tracker(ref), "reference", None), "joints_px", None)
            if joints is not None:  # where the joints were found: reanalysis starts from here
                ref["joints_px"] = np.asarray(joints, dtype=float).tolist()
            return ref

        return self.step(key, label, do)

    def loading_step(self, key: str, label: str, ld, ref: dict) -> dict:
        """Checkpointed: weigh and hang each stack, photograph, track (retaking on lost joints), clear."""
        def do():
            if self._rig_dirty:
                self.ask(Instruction(label, "remove", "Take every weight off the network."))
            masses = []
            for stack in ld.stacks:
                m = self._weigh(label, stack)
                self.ask(Instruction(
                    label, "hang", f"Hang the {stack.nominal_g:g} g stack (weighed {m:.3f} g) on node "
                    f"{stack.node}, pulling {direction_name(stack.direction)}.", node=stack.node,
                    grams=stack.nominal_g, direction=stack.direction))
                masses.append(m)
            rejected = []
            for attempt in range(self.spec.max_retakes + 1):
                self.ask(Instruction(label, "capture", "Photo: keep clear of the network."))
                info = self._capture(key, f"{key.replace('/', '_')}")
                res = self._tracker(ref).track(self.session.folder / info["path"])
                arr = track_arrays(res, self.net.n_nodes, self.net.n_bonds)
                lost = [i for i, x in enumerate(arr["lost"]) if x]
                self.emit("tracking", key=key, image=info["path"], lost=lost,
                           confidence_min=float(np.min(arr["confidence"])),
                           max_displacement_mm=float(np.abs(arr["displacements_mm"]).max()))
                if not lost:
                    break
                rejected.append(info["path"])
                self.session.event("rejected", key=key, image=info["path"], lost_nodes=lost)
                if attempt < self.spec.max_retakes:
                    self.warn(f"joint(s) {', '.join(map(str, lost))} lost in tracking; the photo is retaken "
                               "and this one is not used as data")
                    self.ask(Instruction(label, "info", f"Joint(s) {', '.join(map(str, lost))} could not be "
                                          "tracked: check that nothing hides them and the weights hang still, "
                                          "then confirm to retake the photo."))
            else:
                raise DeviceError(f"joint(s) {', '.join(map(str, lost))} lost in tracking in "
                                  f"{self.spec.max_retakes + 1} photos of {label}; check lighting and "
                                  f"occlusion, then `labmnn resume {self.session.folder}`")
            self.ask(Instruction(label, "remove", "Take the weights off the network."))
            return {"masses_g": masses, "image": info["path"], "sha256": info["sha256"],
                    "reference": ref["image"], "rejected": rejected, "loading": ld.to_dict(), **arr}

        return self.step(key, label, do)

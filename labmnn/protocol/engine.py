"""The protocol engine: small checkpointed steps, the operator in the loop, nothing lost.

A run is a fixed script of steps (checks; per repeat a reference photo, the
forward loadings, the adjoint plan, the adjoint loadings, the gradient; a
summary).  Each step's result is appended to the session log before the next
one starts; :meth:`Engine.run` on a session that already holds steps skips
them and reuses their recorded data, so ``labmnn resume`` continues at the
first step not completed (a loading cut off half-way is redone from an empty
rig).

The engine keeps the run's lifecycle (states, pause and abort, checkpoints);
the loading plans come from :mod:`labmnn.protocol.planner`, device I/O with its
retries from :class:`~labmnn.protocol.bench_io.BenchIO`, and the scripts per
protocol kind from :mod:`labmnn.protocol.kinds`.  It does no terminal I/O: it
asks an :class:`Operator` and reports typed events
(:data:`~labmnn.protocol.events.EngineEvent`, plain dicts with a ``type``) to a
``listener`` callable from its own thread.  ``request_pause``, ``resume`` and
``request_abort`` may be called from any thread.

Example
-------
>>> engine = Engine(spec, Session.create("sessions", spec.name), bench, AutoOperator(sim_op))  # doctest: +SKIP
>>> outcome = engine.run()                                                                     # doctest: +SKIP
>>> outcome.status, outcome.summary["relative_error"]                                          # doctest: +SKIP
('success', 0.012)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np

from labmnn.errors import DeviceError, InputError, LabmnnError
from labmnn.model.network import Network
from labmnn.protocol import kinds
from labmnn.protocol.bench import Bench, track_arrays
from labmnn.protocol.bench_io import BenchIO
from labmnn.protocol.events import (
    EngineEvent,
    GradientEvent,
    PlanEvent,
    ProgressEvent,
    RunOutcome,
    State,
    StateEvent,
    StepEvent,
    StepRecord,
    TrackingEvent,
    WarningEvent,
)
from labmnn.protocol.operator import AbortRequested, Instruction, Operator
from labmnn.protocol.planner import direction_name, preflight
from labmnn.protocol.recorder import Session
from labmnn.protocol.spec import ProtocolSpec

CHECKS_LABEL = "checking camera, balance, calibration, network"


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
        Receives :data:`~labmnn.protocol.events.EngineEvent` dicts from the engine's thread.
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
                 listener: Callable[[EngineEvent], None] | None = None, network: Network | None = None,
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
        self.state: State = "idle"
        self.start_meta: dict = {}  # extra fields of the start record
        self.io = BenchIO(bench, session, ask=self.ask, warn=self.warn, set_state=self.set_state, emit=self.emit)
        self._pause = threading.Event()
        self._resume = threading.Event()
        self._abort = threading.Event()
        self._done = session.completed_steps() if steps is None else dict(steps)
        self._trackers: dict[str, object] = {}
        self._rig_dirty = True  # unknown at start and after a resume: ask to clear first
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

    def emit(self, event: EngineEvent) -> None:
        """Send one event to the listener (its errors are swallowed)."""
        try:
            self.listener(event)
        except Exception:  # noqa: BLE001 - a broken listener must not break the run
            pass

    def set_state(self, state: State, reason: str = "") -> None:
        """Change the engine's state and report it."""
        self.state = state
        self.emit(StateEvent(type="state", state=state, reason=reason))

    def _checkpoint(self) -> None:
        if self._abort.is_set():
            raise AbortRequested("abort requested")
        if self._pause.is_set():
            self.session.event("pause")
            self.set_state("paused")
            self._resume.wait()
            if self._abort.is_set():
                raise AbortRequested("abort requested while paused")
            self.session.event("resume_after_pause")
            self.set_state("running")

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
        self.emit(WarningEvent(type="warning", text=text))

    # --------------------------------------------------------------- steps
    def step(self, key: str, label: str, fn: Callable[[], dict]) -> dict:
        """Run a checkpointed step once: reuse its recorded data if the log already holds it,
        else run ``fn`` and append its result (fsynced) before going on."""
        if key in self._done:
            return self._done[key]
        self._checkpoint()
        self.emit(StepEvent(type="step", key=key, label=label, index=len(self._done), total=self._total_steps))
        data = fn()
        self.session.step(key, data)
        self._done[key] = cast(StepRecord, self.session.records[-1])["data"]
        self._n_steps += 1
        done = self._n_steps + self._skipped()
        rate = (time.monotonic() - self._t0) / self._n_steps
        self.emit(ProgressEvent(type="progress", done=done, total=self._total_steps, key=key,
                                eta_s=max(0.0, rate * (self._total_steps - done))))
        return self._done[key]

    def _skipped(self) -> int:
        return len(self._done) - self._n_steps

    def _estimate_steps(self) -> int:
        spec = self.spec
        if spec.kind == "load_series":
            assert spec.series is not None, "load_protocol gives every load-series protocol its [series] section"
            return (spec.repeats * (1 + len(spec.series.all_nodes) * sum(1 for g in spec.series.grams if g > 0))
                    + (spec.series.condition_s > 0))
        levels = 2 if spec.linearize == "two_level" else 1
        per = 1 + levels * len(spec.forward) + 1 + levels + 1  # reference, forward, plan, adjoint, gradient
        if spec.mechanics == "nonlinear":  # reference, forward (held), plan, increments, gradient
            per = 1 + 1 + 1 + spec.adjoint.increments + 1
        if spec.kind == "train" and spec.train is not None and spec.train.task is not None:
            per = 2 + 4 * (2 if spec.train.gradient == "insitu" else 1)  # about four samples' loadings a step
        elif spec.kind == "train" and spec.train is not None and spec.train.gradient == "pat":
            per = 1 + (1 if spec.mechanics == "nonlinear" else len(spec.forward)) + 1  # reference, forward, gradient
        if spec.kind == "train":  # each step: repeats, an update; each later step: an install
            assert spec.train is not None, "load_protocol gives every train protocol its [train] section"
            conditions = (spec.train.steps + (spec.train.final == "best")) if spec.train.condition_s > 0 else 0
            final = 1 + spec.repeats * (2 + len(spec.forward)) + 1 if spec.train.final == "best" else 0
            return spec.train.steps * (spec.repeats * per + 1) + spec.train.steps - 1 + conditions + final
        return spec.repeats * per

    # ----------------------------------------------------------------- run
    def run(self) -> RunOutcome:
        """Run (or continue) the protocol.

        Returns
        -------
        RunOutcome
            Status ``success`` or ``abort``, the reason, the summary and the session folder.

        Raises
        ------
        LabmnnError
            After recording a ``fail`` stop record (device or input problem).
        """
        if self.offline:
            return self._run_offline()
        s = self.session
        self._open_log()
        self.set_state("running")
        try:
            self._checks()
            summary = self._measure()
            s.stop("success")
            self.set_state("done")
            return RunOutcome("success", "", summary, str(s.folder))
        except (AbortRequested, KeyboardInterrupt) as exc:
            reason = str(exc) or ("interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else "aborted")
            s.stop("abort", reason)
            self.set_state("aborted", reason)
            return RunOutcome("abort", reason, {}, str(s.folder))
        except LabmnnError as exc:
            s.stop("fail", exc.one_line())
            self.set_state("failed", exc.one_line())
            raise
        except BaseException as exc:
            s.stop("fail", f"{type(exc).__name__}: {exc}")
            self.set_state("failed", str(exc))
            raise

    def _open_log(self) -> None:
        """Write the start record of a new session, or note the resumption of an old one."""
        s = self.session
        if not any(r.get("kind") == "start" for r in s.records):
            s.start(protocol=self.spec.name, protocol_kind=self.spec.kind, protocol_file=str(self.spec.path),
                    network=self.net.name, bench=self.bench.extra, overrides=self.spec.overrides(),
                    **self.start_meta)
            return
        s.event("resumed", pid=os.getpid(), steps_done=len(self._done))
        for orphan in s.adopt_orphans():
            self.warn(f"image {orphan['path']} reached disk but not the log before the interruption; "
                      "it is kept and now logged")

    def _measure(self) -> dict:
        """The protocol kind's script, then the results files (named in ``summary["files"]``)."""
        from labmnn.protocol.results import write_results

        summary = kinds.RUNNERS[self.spec.kind](self)
        s = self.session
        summary["files"] = write_results(s.folder, self.net, self.spec, s.completed_steps(), summary,
                                         self.results_name)
        return summary

    def _run_offline(self) -> RunOutcome:
        """Re-assemble from recorded (re-tracked) loadings; no device, no log record."""
        from labmnn.protocol.results import write_results

        summary = kinds.RUNNERS[self.spec.kind](self)
        steps = {k: v for k, v in self._done.items()}
        summary["files"] = write_results(self.session.folder, self.net, self.spec, steps, summary,
                                         self.results_name, {"reanalysis": True})
        return RunOutcome("success", "", summary, str(self.session.folder))

    # -------------------------------------------------------------- checks
    def _checks(self) -> None:
        """Devices, network, calibration and every loading's plan, before anything is hung."""
        spec, s, bench = self.spec, self.session, self.bench
        self.emit(StepEvent(type="step", key="checks", label=CHECKS_LABEL, index=0, total=self._total_steps))
        self.io.connect_camera()
        if spec.camera:
            self.io.apply_camera_settings(spec.camera)
        self.io.connect_balance()
        self.net.check_rigid()
        if spec.calibration is not None and not spec.calibration.exists():
            raise InputError(str(spec.path), "calibration.file", f"{spec.calibration} does not exist")
        self._copy_inputs()
        pre = preflight(spec, self.net, self.loss)
        if pre.adjoint is not None:
            self.emit(PlanEvent(type="plan", role="adjoint (predicted)", lines=pre.adjoint.describe(),
                                predicted_error=pre.adjoint.predicted_error))
        s.event("checks", camera=bench.camera.get_settings().as_dict(), plan=pre.lines,
                predicted_error=pre.predicted_error)
        if not self._done:
            self.ask(Instruction("checks", "info", "\n".join(pre.lines + ["Confirm to start."])))

    def _copy_inputs(self) -> None:
        """The protocol, network and calibration as used, into the session folder."""
        spec, s = self.spec, self.session
        s.copy_input("protocol.toml", spec.text.encode("utf-8") if spec.text else spec.path)
        s.copy_input("network.json", (json.dumps(self.net.to_dict(), indent=1) + "\n").encode())
        cal = self.bench.calibration or spec.calibration
        if cal is not None and Path(cal).exists():
            s.copy_input("calibration" + Path(cal).suffix, cal)
        else:
            self.warn("no calibration: the scale comes from the design's geometry and lens distortion is "
                      "not corrected (run `labmnn calibrate` and name the file in [calibration])")

    # ---------------------------------------------------------- measuring
    def _tracker(self, ref: dict):
        path = ref["image"]
        if path not in self._trackers:
            self._trackers.clear()
            self._trackers[path] = self.bench.make_tracker(self.session.folder / path, self.net,
                                                           dict(self.spec.tracking), ref.get("joints_px"))
        return self._trackers[path]

    def reference_step(self, key: str, label: str) -> dict:
        """Checkpointed: clear the rig, take the reference photo, locate the joints."""
        def do():
            self.ask(Instruction(label, "remove", "Take every weight off the network."))
            self.ask(Instruction(label, "capture", "Reference photo: nothing hangs on the network."))
            info = self.io.capture(key, "reference")
            ref = {"image": info["path"], "sha256": info["sha256"]}
            joints = getattr(getattr(self._tracker(ref), "reference", None), "joints_px", None)
            if joints is not None:  # where the joints were found: reanalysis starts from here
                ref["joints_px"] = np.asarray(joints, dtype=float).tolist()
            return ref

        return self.step(key, label, do)

    def gradient_step(self, key: str, label: str, assemble: Callable[[], dict]) -> dict:
        """Checkpointed: ``assemble()`` the gradient record, then tell the watchers (a ``gradient`` event).

        The record must hold ``gradient``, ``gradient_simulated``, ``relative_error`` and ``cosine``.
        """
        data = self.step(key, label, assemble)
        self.emit(GradientEvent(type="gradient", key=key, measured=data["gradient"],
                                simulated=data["gradient_simulated"], relative_error=data["relative_error"],
                                cosine=data["cosine"]))
        return data

    def loading_step(self, key: str, label: str, ld, ref: dict) -> dict:
        """Checkpointed: weigh and hang each stack, photograph, track (retaking on lost joints), clear."""
        def do():
            if self._rig_dirty:
                self.ask(Instruction(label, "remove", "Take every weight off the network."))
            masses = [self._hang(label, stack) for stack in ld.stacks]
            info, arr, rejected = self._tracked_photo(key, label, ref, forces_n=ld.forces(self.net.n_nodes))
            self.ask(Instruction(label, "remove", "Take the weights off the network."))
            return {"masses_g": masses, "image": info["path"], "sha256": info["sha256"],
                    "reference": ref["image"], "rejected": rejected, "loading": ld.to_dict(), **arr}

        return self.step(key, label, do)

    def increment_step(self, key: str, label: str, ld, ref: dict) -> dict:
        """Checkpointed (``mechanics = "nonlinear"``): hang the held (forward) stacks and photograph
        them, then leave them on and ADD the increment's stacks and photograph again, clear.

        The pair of photos is taken back to back, so the increment's displacements are their
        difference at the same forward state (a resumed step redoes both).
        """
        def do():
            if self._rig_dirty:
                self.ask(Instruction(label, "remove", "Take every weight off the network."))
            held = [self._hang(label, stack, "Forward load: hang") for stack in ld.held]
            n = self.net.n_nodes
            base_info, base, base_rej = self._tracked_photo(key, label, ref, "base", prompt="forward load only",
                                                            forces_n=ld.held_forces(n))
            note = ", ".join(f"{st.nominal_g:g} g on node {st.node}" for st in ld.held)
            masses = [self._hang(label, stack, f"Leave the forward weights on ({note}), add") for stack in ld.stacks]
            info, arr, rejected = self._tracked_photo(key, label, ref, prompt="forward load plus the increment",
                                                      forces_n=ld.held_forces(n) + ld.forces(n))
            self.ask(Instruction(label, "remove", "Take all the weights off the network (forward and added)."))
            return {"masses_g": masses, "held_masses_g": held, "image": info["path"], "sha256": info["sha256"],
                    "base_image": base_info["path"], "base_sha256": base_info["sha256"],
                    "reference": ref["image"], "rejected": base_rej + rejected, "loading": ld.to_dict(), **arr,
                    "base_displacements_mm": base["displacements_mm"],
                    "base_elongations_geo_mm": base["elongations_geo_mm"], "base_lost": base["lost"]}

        return self.step(key, label, do)

    def _hang(self, label: str, stack, verb: str = "Hang") -> float:
        """Weigh one stack, then have it hung; its weighed mass, g."""
        m = self.io.weigh(label, stack)
        self.ask(Instruction(
            label, "hang", f"{verb} the {stack.nominal_g:g} g stack (weighed {m:.3f} g) on node "
            f"{stack.node}, pulling {direction_name(stack.direction)}.", node=stack.node,
            grams=stack.nominal_g, direction=stack.direction))
        return m

    def _prediction_mm(self, forces_n) -> np.ndarray | None:
        """The exact model's displacements (n, 2) mm under the load asked for, to centre the
        tracker's search on (None when there is no load or the model has no equilibrium there)."""
        if forces_n is None or not np.any(forces_n):
            return None
        try:
            return self.net.solve(np.asarray(forces_n, dtype=float), mechanics="nonlinear").displacements * 1e3
        except LabmnnError:
            return None

    def _track(self, ref: dict, path: Path, forces_n):
        """Track one photo, with the model's prediction when the tracker takes one."""
        tracker = self._tracker(ref)
        pred = self._prediction_mm(forces_n) if getattr(tracker, "takes_prediction", False) else None
        if pred is None:
            return tracker.track(path)
        return tracker.track(path, displacements_network_mm=pred)

    def _tracked_photo(self, key: str, label: str, ref: dict, part: str = "",
                       prompt: str = "", forces_n=None) -> tuple[dict, dict, list[str]]:
        """Photograph the loaded network until every joint is tracked (at most ``max_retakes`` retakes).

        ``forces_n`` (n, 2) N, the load asked for, centres the search on the exact
        model's prediction (:meth:`labmnn.metrology.tracking.JointTracker.predict_px`).
        Returns the image record's fields, the tracked arrays and the rejected photos.
        """
        rejected: list[str] = []
        role = key.replace("/", "_") + (f"_{part}" if part else "")
        for attempt in range(self.spec.max_retakes + 1):
            self.ask(Instruction(label, "capture", f"Photo{f' ({prompt})' if prompt else ''}: "
                                 "keep clear of the network."))
            info = self.io.capture(key, role)
            res = self._track(ref, self.session.folder / info["path"], forces_n)
            arr = track_arrays(res, self.net.n_nodes, self.net.n_bonds)
            lost = [i for i, x in enumerate(arr["lost"]) if x]
            self.emit(TrackingEvent(type="tracking", key=key, image=info["path"], lost=lost,
                                    confidence_min=float(np.min(arr["confidence"])),
                                    max_displacement_mm=float(np.abs(arr["displacements_mm"]).max())))
            if not lost:
                return info, arr, rejected
            rejected.append(info["path"])
            self.session.event("rejected", key=key, image=info["path"], lost_nodes=lost)
            if attempt < self.spec.max_retakes:
                self.warn(f"joint(s) {', '.join(map(str, lost))} lost in tracking; the photo is retaken "
                          "and this one is not used as data")
                self.ask(Instruction(label, "info", f"Joint(s) {', '.join(map(str, lost))} could not be "
                                     "tracked: check that nothing hides them and the weights hang still, "
                                     "then confirm to retake the photo."))
        raise DeviceError(f"joint(s) {', '.join(map(str, lost))} lost in tracking in "
                          f"{self.spec.max_retakes + 1} photos of {label}; check lighting and "
                          f"occlusion, then `labmnn resume {self.session.folder}`")

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
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DeviceError, InputError, LabmnnError
from ..network import Network
from . import analysis
from .bench import Bench, track_arrays
from .operator import AbortRequested, Instruction, Operator
from .planner import LoadingPlan, PlanError, direction_name, plan_loading
from .recorder import Session, write_durable
from .spec import ProtocolSpec

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
    """

    def __init__(self, spec: ProtocolSpec, session: Session, bench: Bench, operator: Operator,
                 listener: Callable[[dict], None] | None = None, network: Network | None = None,
                 results_name: str = "results", offline: bool = False):
        self.spec = spec
        self.results_name = results_name
        self.offline = offline
        self.session = session
        self.bench = bench
        self.operator = operator
        self.listener = listener or (lambda event: None)
        self.net = network if network is not None else Network.open(spec.network)
        self.loss = spec.build_loss(self.net.n_nodes) if spec.loss is not None else None
        self.state = "idle"
        self._pause = threading.Event()
        self._resume = threading.Event()
        self._abort = threading.Event()
        self._done = session.completed_steps()
        self._trackers: dict[str, object] = {}
        self._rig_dirty = True  # unknown at start and after a resume: ask to clear first
        self._checked_size = False
        self._n_steps = 0
        self._total_steps = self._estimate_steps()

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

    def _emit(self, type_: str, **data) -> None:
        try:
            self.listener({"type": type_, **data})
        except Exception:  # noqa: BLE001 - a broken listener must not break the run
            pass

    def _set_state(self, state: str, reason: str = "") -> None:
        self.state = state
        self._emit("state", state=state, reason=reason)

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

    def _ask(self, ins: Instruction) -> None:
        self._checkpoint()
        self.session.event("instruction", step=ins.step, instruction=ins.kind, text=ins.text,
                           node=ins.node, grams=ins.grams,
                           direction=None if ins.direction is None else list(ins.direction))
        self.operator.confirm(ins)
        if ins.kind == "remove":
            self._rig_dirty = False
        elif ins.kind == "hang":
            self._rig_dirty = True

    def _warn(self, text: str) -> None:
        self.session.event("warning", text=text)
        self._emit("warning", text=text)

    def _memo(self, key: str, label: str, fn: Callable[[], dict]) -> dict:
        """Run a step once: reuse its recorded data if the log already holds it."""
        if key in self._done:
            return self._done[key]
        self._checkpoint()
        self._emit("step", key=key, label=label, index=self._n_steps, total=self._total_steps)
        data = fn()
        self.session.step(key, data)
        self._done[key] = self.session.records[-1]["data"]
        self._n_steps += 1
        self._emit("progress", done=self._n_steps + self._skipped(), total=self._total_steps, key=key)
        return self._done[key]

    def _skipped(self) -> int:
        return len(self._done) - self._n_steps

    def _estimate_steps(self) -> int:
        spec = self.spec
        if spec.kind == "load_series":
            return spec.repeats * (1 + sum(1 for g in spec.series.grams if g > 0))
        per = 1 + len(spec.forward) + 1 + 1 + 1  # reference, forward, plan, adjoint, gradient
        steps = spec.train.steps if spec.kind == "train" else 1
        return steps * (spec.repeats * per + (1 if spec.kind == "train" else 0))

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
                    network=self.net.name, bench=self.bench.extra)
        else:
            s.event("resumed", pid=os.getpid(), steps_done=len(self._done))
            for orphan in s.adopt_orphans():
                self._warn(f"image {orphan['path']} reached disk but not the log before the interruption; "
                           "it is kept and now logged")
        self._set_state("running")
        try:
            self._checks()
            runner = {"gradient": self._run_gradient, "load_series": self._run_series,
                      "train": self._run_train}[self.spec.kind]
            summary = runner()
            from .results import write_results

            files = write_results(s.folder, self.net, self.spec, s.completed_steps(), summary, self.results_name)
            summary["files"] = files
            s.stop("success")
            self._set_state("done")
            return {"status": "success", "reason": "", "summary": summary, "session": str(s.folder)}
        except AbortRequested as exc:
            s.stop("abort", str(exc) or "aborted")
            self._set_state("aborted", str(exc))
            return {"status": "abort", "reason": str(exc), "summary": {}, "session": str(s.folder)}
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
        from .results import write_results

        runner = {"gradient": self._run_gradient, "load_series": self._run_series,
                  "train": self._run_train}[self.spec.kind]
        summary = runner()
        steps = {k: v for k, v in self._done.items()}
        summary["files"] = write_results(self.session.folder, self.net, self.spec, steps, summary,
                                         self.results_name, {"reanalysis": True})
        return {"status": "success", "reason": "", "summary": summary, "session": str(self.session.folder)}

    # -------------------------------------------------------------- checks
    def _checks(self) -> None:
        spec, s, bench, net = self.spec, self.session, self.bench, self.net
        self._emit("step", key="checks", label="checking camera, balance, calibration, network",
                   index=0, total=self._total_steps)
        self._connect_camera()
        if spec.camera:
            got = bench.camera.set_settings(**spec.camera).as_dict()
            for k, want in spec.camera.items():
                if got.get(k) is not None and str(got[k]) != str(want):
                    self._warn(f"camera {k}: asked {want}, the camera reports {got[k]} (value ignored by the body?)")
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
        lines, worst = self._preflight()
        s.event("checks", camera=bench.camera.get_settings().as_dict(), plan=lines, predicted_error=worst)
        if not self._done:
            self._ask(Instruction("checks", "info", "\n".join(lines + ["Confirm to start."])))

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
                    plan = self._series_plan(g)
                    worst = max(worst, plan.predicted_error)
            lines.append(f"load series on node {spec.series.node}: "
                         + ", ".join(f"{g:g} g" for g in spec.series.grams)
                         + f" pulling {direction_name(spec.series.direction)}")
            return lines, worst
        plan_f = self._forward_plan()
        lines += plan_f.describe()
        fwd_model = self.net.solve(plan_f.effective_forces())
        _, dLdu = self.loss(fwd_model.displacements)
        try:
            plan_a = self._adjoint_plan(-dLdu, fwd_model.elongations)
        except PlanError as exc:
            raise PlanError(f"before anything is hung: {exc}") from None
        lines += ["predicted from the model:"] + plan_a.describe()
        if plan_a.predicted_error > spec.adjoint.max_predicted_error:
            raise PlanError(f"before anything is hung: the adjoint load rounds to the weight set with a predicted "
                            f"gradient error of {plan_a.predicted_error:.1%} (limit "
                            f"{spec.adjoint.max_predicted_error:.1%}); add pulleys or smaller pieces")
        self._emit("plan", role="adjoint (predicted)", lines=plan_a.describe(),
                   predicted_error=plan_a.predicted_error)
        return lines, plan_a.predicted_error

    # ------------------------------------------------------------- planning
    def _forward_plan(self) -> LoadingPlan:
        spec = self.spec
        return plan_loading(spec.forward_forces(self.net.n_nodes), spec.weights, spec.rig, scale=1.0,
                            role="forward")

    def _series_plan(self, grams: float) -> LoadingPlan:
        spec = self.spec
        F = np.zeros((self.net.n_nodes, 2))
        F[spec.series.node] = np.asarray(spec.series.direction) * grams * 1e-3 * 9.8
        return plan_loading(F, spec.weights, spec.rig, scale=1.0, role="series")

    def _adjoint_plan(self, F_adj: np.ndarray, e_forward: np.ndarray) -> LoadingPlan:
        eq = self.net.equilibrium()
        g_ideal = eq.solve(F_adj).elongations * e_forward
        norm = float(np.linalg.norm(g_ideal)) or 1.0

        def gradient_error(F_eff):
            return float(np.linalg.norm(eq.solve(F_eff).elongations * e_forward - g_ideal) / norm)

        a = self.spec.adjoint
        return plan_loading(F_adj, self.spec.weights, self.spec.rig, scale=a.scale, max_g=a.max_g,
                            min_g=a.min_g, role="adjoint", error_fn=gradient_error)

    # -------------------------------------------------------------- devices
    def _device_pause(self, device: str, exc: Exception, advice: str) -> None:
        text = f"{device}: {exc if not isinstance(exc, LabmnnError) else exc.one_line()}"
        self._warn(text)
        self._set_state("paused", text)
        self.session.event("device_fault", device=device, error=text)
        self._ask(Instruction("device", "info", f"{text}. {advice}"))
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
                    self._warn(f"camera: reconnect failed: {exc2.one_line()}")
        else:
            raise DeviceError(f"camera: no photo after {CAMERA_ATTEMPTS} attempts; fix the camera, then "
                              f"`labmnn resume {self.session.folder}`")
        info = self.session.file_image(cap.path, role, key)
        truth = {k: np.asarray(v).tolist() for k, v in (cap.truth or {}).items()}
        self.session.event("capture", key=key, path=info["path"], settings=cap.settings.as_dict(),
                           exif={k: str(v) for k, v in (cap.exif or {}).items()}, truth=truth)
        self._emit("image", path=str(self.session.folder / info["path"]), role=role, key=key)
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
            self._ask(Instruction(step, "weigh", text, node=stack.node, grams=stack.nominal_g,
                                  direction=stack.direction))
            mass = self._read_balance(step)
            self.session.event("weighed", step=step, node=stack.node, nominal_g=stack.nominal_g, mass_g=mass)
            if abs(mass - stack.nominal_g) <= max(0.5, 0.05 * stack.nominal_g):
                return mass
            self._warn(f"the balance reads {mass:.3f} g for the {stack.nominal_g:g} g stack of node "
                       f"{stack.node}: check the pieces")
            text = f"Re-check the pieces ({pieces}) and put them on the balance again."
        raise DeviceError(f"the {stack.nominal_g:g} g stack for node {stack.node} weighed {mass:.3f} g "
                          f"{WEIGH_ATTEMPTS} times: check the weight set")

    def _tracker(self, ref: dict):
        path = ref["image"]
        if path not in self._trackers:
            self._trackers.clear()
            self._trackers[path] = self.bench.make_tracker(self.session.folder / path, self.net,
                                                           dict(self.spec.tracking))
        return self._trackers[path]

    # ------------------------------------------------------------- steps
    def _reference(self, key: str, label: str) -> dict:
        def do():
            self._ask(Instruction(label, "remove", "Take every weight off the network."))
            self._ask(Instruction(label, "capture", "Reference photo: nothing hangs on the network."))
            info = self._capture(key, "reference")
            return {"image": info["path"], "sha256": info["sha256"]}

        return self._memo(key, label, do)

    def _loading(self, key: str, label: str, ld, ref: dict) -> dict:
        def do():
            if self._rig_dirty:
                self._ask(Instruction(label, "remove", "Take every weight off the network."))
            masses = []
            for stack in ld.stacks:
                m = self._weigh(label, stack)
                self._ask(Instruction(
                    label, "hang", f"Hang the {stack.nominal_g:g} g stack (weighed {m:.3f} g) on node "
                    f"{stack.node}, pulling {direction_name(stack.direction)}.", node=stack.node,
                    grams=stack.nominal_g, direction=stack.direction))
                masses.append(m)
            rejected = []
            for attempt in range(self.spec.max_retakes + 1):
                self._ask(Instruction(label, "capture", "Photo: keep clear of the network."))
                info = self._capture(key, f"{key.replace('/', '_')}")
                res = self._tracker(ref).track(self.session.folder / info["path"])
                arr = track_arrays(res, self.net.n_nodes, self.net.n_bonds)
                lost = [i for i, x in enumerate(arr["lost"]) if x]
                self._emit("tracking", key=key, image=info["path"], lost=lost,
                           confidence_min=float(np.min(arr["confidence"])),
                           max_displacement_mm=float(np.abs(arr["displacements_mm"]).max()))
                if not lost:
                    break
                rejected.append(info["path"])
                self.session.event("rejected", key=key, image=info["path"], lost_nodes=lost)
                if attempt < self.spec.max_retakes:
                    self._warn(f"joint(s) {', '.join(map(str, lost))} lost in tracking; the photo is retaken "
                               "and this one is not used as data")
                    self._ask(Instruction(label, "info", f"Joint(s) {', '.join(map(str, lost))} could not be "
                                          "tracked: check that nothing hides them and the weights hang still, "
                                          "then confirm to retake the photo."))
            else:
                raise DeviceError(f"joint(s) {', '.join(map(str, lost))} lost in tracking in "
                                  f"{self.spec.max_retakes + 1} photos of {label}; check lighting and "
                                  f"occlusion, then `labmnn resume {self.session.folder}`")
            self._ask(Instruction(label, "remove", "Take the weights off the network."))
            return {"masses_g": masses, "image": info["path"], "sha256": info["sha256"],
                    "reference": ref["image"], "rejected": rejected, "loading": ld.to_dict(), **arr}

        return self._memo(key, label, do)

    def _measure_gradient(self, prefix: str, tag: str) -> dict:
        """One repeat: reference, forward, adjoint plan, adjoint, gradient."""
        net, loss = self.net, self.loss
        ref = self._reference(f"{prefix}reference", f"{tag}: reference")
        plan_f = self._forward_plan()
        fwd_steps = [self._loading(f"{prefix}forward/{ld.index}", f"{tag}: forward loading {ld.index + 1}"
                                   f"/{len(plan_f.loadings)}", ld, ref) for ld in plan_f.loadings]
        fwd = analysis.combine_loadings(net, plan_f, fwd_steps)
        value, dLdu = loss(fwd["displacements"])

        def make_plan():
            plan = self._adjoint_plan(-dLdu, fwd["elongations"])
            self._emit("plan", role="adjoint", lines=plan.describe(), predicted_error=plan.predicted_error)
            if plan.predicted_error > self.spec.adjoint.max_predicted_error:
                self._warn(f"adjoint plan: predicted gradient error {plan.predicted_error:.1%} from rounding")
            return {"plan": plan.to_dict(), "loss": float(value), "adjoint_force_n": (-dLdu).tolist()}

        plan_rec = self._memo(f"{prefix}adjoint-plan", f"{tag}: adjoint plan", make_plan)
        plan_a = LoadingPlan.from_dict(plan_rec["plan"])
        adj_steps = [self._loading(f"{prefix}adjoint/{ld.index}", f"{tag}: adjoint loading {ld.index + 1}"
                                   f"/{len(plan_a.loadings)}", ld, ref) for ld in plan_a.loadings]

        def assemble():
            adj = analysis.combine_loadings(net, plan_a, adj_steps)
            g = adj["elongations"] * fwd["elongations"]
            g_sim = net.gradient(fwd["forces"], loss)
            return {
                "loss": float(value), "gradient": g, "gradient_simulated": g_sim,
                "gradient_geometric": adj["elongations_geo"] * fwd["elongations_geo"],
                "relative_error": analysis.relative_error(g, g_sim), "cosine": analysis.cosine(g, g_sim),
                "nonlinearity_forward": analysis.nonlinearity(fwd["elongations"], fwd["elongations_geo"]),
                "nonlinearity_adjoint": analysis.nonlinearity(adj["elongations"], adj["elongations_geo"]),
                "scale": plan_a.scale, "predicted_error": plan_a.predicted_error,
                "forward_forces_n": fwd["forces"], "adjoint_forces_n": adj["forces"],
            }

        data = self._memo(f"{prefix}gradient", f"{tag}: gradient", assemble)
        self._emit("gradient", key=f"{prefix}gradient", measured=data["gradient"],
                   simulated=data["gradient_simulated"], relative_error=data["relative_error"],
                   cosine=data["cosine"])
        return data

    def _run_gradient(self) -> dict:
        R = self.spec.repeats
        reps = [self._measure_gradient(f"r{r}/", f"repeat {r + 1}/{R}") for r in range(R)]
        return self._summarise(reps)

    def _summarise(self, reps: list[dict]) -> dict:
        g = np.array([r["gradient"] for r in reps])
        sim = np.array([r["gradient_simulated"] for r in reps])
        out = analysis.gradient_summary(g, sim.mean(axis=0))
        out.update({
            "loss": float(np.mean([r["loss"] for r in reps])),
            "nonlinearity_forward": float(np.mean([r["nonlinearity_forward"] for r in reps])),
            "nonlinearity_adjoint": float(np.mean([r["nonlinearity_adjoint"] for r in reps])),
            "gradient_geometric": np.mean([r["gradient_geometric"] for r in reps], axis=0),
            "predicted_rounding_error": float(np.max([r["predicted_error"] for r in reps])),
            "adjoint_scale": float(np.mean([r["scale"] for r in reps])),
            "repeats": len(reps),
        })
        out["relative_error_geometric"] = analysis.relative_error(out["gradient_geometric"],
                                                                  out["gradient_simulated"])
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}

    def _run_series(self) -> dict:
        spec = self.spec
        R = spec.repeats
        cases = []
        for r in range(R):
            tag = f"repeat {r + 1}/{R}"
            ref = self._reference(f"r{r}/reference", f"{tag}: reference")
            for k, grams in enumerate(spec.series.grams):
                if grams <= 0:
                    continue
                plan = self._series_plan(grams)
                steps = [self._loading(f"r{r}/series/{k}/{ld.index}", f"{tag}: {grams:g} g on node "
                                       f"{spec.series.node}", ld, ref) for ld in plan.loadings]
                resp = analysis.combine_loadings(self.net, plan, steps)
                model = self.net.solve(resp["forces"])
                valid = ~np.any([s["lost"] for s in steps], axis=0)
                cases.append({"label": f"r{r}-{grams:g}g-node{spec.series.node}", "forces_n": resp["forces"],
                              "displacements_mm": resp["displacements"] * 1e3, "valid": valid,
                              "model_displacements_mm": model.displacements * 1e3, "grams": grams,
                              "repeat": r})
        meas = np.array([c["displacements_mm"] for c in cases])
        model = np.array([c["model_displacements_mm"] for c in cases])
        err = meas - model
        ss_res = float(np.sum(err ** 2))
        ss_tot = float(np.sum((model - model.mean(axis=0)) ** 2)) or 1.0
        return {"cases": [{k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()}
                          for c in cases],
                "r_squared": 1.0 - ss_res / ss_tot, "largest_error_mm": float(np.abs(err).max()),
                "rms_error_mm": float(np.sqrt(np.mean(err ** 2)))}

    def _run_train(self) -> dict:
        spec, net = self.spec, self.net
        tr = spec.train
        lo, hi = (net.width_bounds * 1e3) if net.width_bounds is not None else (0.2 * net.width.min() * 1e3, np.inf)
        history = []
        m = v = np.zeros(net.n_bonds)
        for t in range(tr.steps):
            if t > 0:
                self._memo(f"t{t}/install", f"step {t + 1}: install design", lambda: self._install(t))
            if self.bench.install_network is not None:
                self.bench.install_network(net)
            reps = [self._measure_gradient(f"t{t}/r{r}/", f"step {t + 1}/{tr.steps}, repeat {r + 1}/{spec.repeats}")
                    for r in range(spec.repeats)]
            summ = self._summarise(reps)

            def update():
                g_k = np.asarray(summ["gradient_measured"])
                g_w = g_k * net.stiffness / net.width * 1e-3  # dL/dw per mm of width
                m1 = 0.9 * np.asarray(m) + 0.1 * g_w
                v1 = 0.999 * np.asarray(v) + 0.001 * g_w ** 2
                mh, vh = m1 / (1 - 0.9 ** (t + 1)), v1 / (1 - 0.999 ** (t + 1))
                w = np.clip(net.width * 1e3 - tr.learning_rate * mh / (np.sqrt(vh) + 1e-30), lo, hi)
                return {"widths_mm": w, "adam_m": m1, "adam_v": v1, "loss": summ["loss"],
                        "relative_error": summ["relative_error"], "cosine": summ["cosine"],
                        "gradient_measured": g_k}

            rec = self._memo(f"t{t}/update", f"step {t + 1}: Adam update", update)
            m, v = np.asarray(rec["adam_m"]), np.asarray(rec["adam_v"])
            net.set_widths(np.asarray(rec["widths_mm"]) * 1e-3)
            design = self.session.folder / f"design_step{t + 1}.json"
            if not design.exists():
                write_durable(design, (json.dumps(net.to_dict(), indent=1) + "\n").encode())
            history.append({"step": t + 1, "loss": rec["loss"], "relative_error": rec["relative_error"],
                            "cosine": rec["cosine"]})
            self._emit("train", step=t + 1, loss=rec["loss"])
        out = self.session.folder / Path(tr.output).name
        if self.offline:
            out = out.with_name(f"{self.results_name}-{out.name}")
        write_durable(out, (json.dumps(net.to_dict(), indent=1) + "\n").encode())
        return {"history": history, "design": out.name, "widths_mm": (net.width * 1e3).tolist(),
                "loss_first": history[0]["loss"], "loss_last": history[-1]["loss"]}

    def _install(self, t: int) -> dict:
        name = f"design_step{t}.json"
        self._ask(Instruction(f"step {t + 1}", "info", f"Mount the network made from {name} "
                              "(the updated design) in the frame, then confirm."))
        return {"design": name, "widths_mm": (self.net.width * 1e3).tolist()}


"""Re-run tracking and gradient assembly on a session's recorded photographs.

After a new calibration or with other tracker settings: every loading photo is
tracked again against its recorded reference photo, and the gradient (or load
series) is assembled again from the recorded masses and plans.  The results go
to a new set of files beside the old ones (``reanalysis-<UTC time>.json/.h5``,
CSVs, load series); the log, the raw photos and the earlier results are never
modified.

Example
-------
>>> out = reanalyze("sessions/20261122-101500-gradient-fig1", tracking={"search_px": 80})  # doctest: +SKIP
>>> out.summary["relative_error"]                                                        # doctest: +SKIP
0.011
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from labmnn.errors import InputError, LabmnnError
from labmnn.model.network import Network
from labmnn.protocol.bench import Bench, Tracker, metrology_tracker_factory, track_arrays
from labmnn.protocol.engine import Engine
from labmnn.protocol.events import EngineEvent, RunOutcome
from labmnn.protocol.integrity import check_results_name, require_photos
from labmnn.protocol.planner import Loading
from labmnn.protocol.recorder import ReadOnlySession, Session
from labmnn.protocol.results import _loading_steps, applied_forces
from labmnn.protocol.runner import use_session_joints
from labmnn.protocol.spec import load_protocol


def _track(tracker, path: Path, net, forces_n):
    """Track a photo, centring the search on the exact model's prediction for the load that hung
    when the tracker takes one (as the engine did)."""
    if not getattr(tracker, "takes_prediction", False):
        return tracker.track(path)
    try:
        u = net.solve(forces_n, mechanics="nonlinear").displacements * 1e3
    except LabmnnError:
        return tracker.track(path)
    return tracker.track(path, displacements_network_mm=u)


class _NoDevice:
    """Stands in for every device during a reanalysis: any use is a bug."""

    def __getattr__(self, name):
        raise RuntimeError(f"reanalysis must not use a device ({name})")


def reanalyze(session: str | Path, make_tracker: Callable | None = None, tracking: dict | None = None,
              calibration: str | Path | None = None, name: str | None = None,
              listener: Callable[[EngineEvent], None] | None = None) -> RunOutcome:
    """Track the recorded photos again and reassemble the results into new files.

    Parameters
    ----------
    session : path
        The session folder (must hold its log, photos, protocol and network).
    make_tracker : callable, optional
        ``make_tracker(reference_path, network, settings)``; default the metrology
        tracker with ``calibration`` (or the session's calibration copy).
    tracking : dict, optional
        Tracker settings that override the protocol's ``[tracking]``.
    calibration : path, optional
        A new calibration file.
    name : str, optional
        Base name of the new results files (default ``reanalysis-<UTC time>``).

    Returns
    -------
    RunOutcome
        The engine's outcome (``summary`` with the new figures, ``summary["files"]``).
    """
    owner = Session.open(session).lock()  # no resume may write while the new results are written
    try:
        return _reanalyze(owner, make_tracker, tracking, calibration, name, listener)
    finally:
        owner.close()


def _reanalyze(owner: Session, make_tracker, tracking, calibration, name, listener) -> RunOutcome:
    session = owner.folder
    status = owner.status()
    if status != "success":
        raise InputError(str(session), "", f"is not complete (status {status}): finish it with "
                         f"`labmnn resume {session}` before reanalysing")
    if name is not None:
        check_results_name(owner.folder, name)
    require_photos(owner.folder, owner.records, "reanalyse")
    sess = ReadOnlySession(session)
    folder = sess.folder
    spec = load_protocol(folder / "protocol.toml")
    spec.network = str(folder / "network.json")
    use_session_joints(folder, spec)
    spec.tracking = {**spec.tracking, **(tracking or {})}
    if calibration is None:
        cals = sorted(folder.glob("calibration.*"))
        calibration = cals[0] if cals else None
    if make_tracker is None:
        make_tracker = metrology_tracker_factory(Path(calibration) if calibration else None)
    net = Network.open(spec.network)
    name = name or f"reanalysis-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    if (folder / f"{name}.json").exists() or name == "results":
        raise InputError(str(folder), "", f"results named {name!r} exist already; choose another name")
    steps = sess.completed_steps()
    trackers: dict[str, Tracker] = {}
    kept = dict(steps)
    for key, d in _loading_steps(steps):
        ref = d["reference"]
        if ref not in trackers:
            trackers.clear()
            joints = next((r.get("joints_px") for r in steps.values() if r.get("image") == ref), None)
            trackers[ref] = make_tracker(folder / ref, net, dict(spec.tracking), joints)
        tracker = trackers[ref]
        res = _track(tracker, folder / d["image"], net, applied_forces(net, d))
        kept[key] = {**d, **track_arrays(res, net.n_nodes, net.n_bonds)}
        if "base_image" in d:  # an adjoint increment's forward-only photo (mechanics = "nonlinear")
            held = Loading.from_dict(d["loading"]).held_forces(net.n_nodes, d.get("held_masses_g"))
            base = track_arrays(_track(tracker, folder / d["base_image"], net, held), net.n_nodes, net.n_bonds)
            kept[key].update(base_displacements_mm=base["displacements_mm"],
                             base_elongations_geo_mm=base["elongations_geo_mm"], base_lost=base["lost"])
    # derived steps are recomputed from the re-tracked loadings
    derived = [k for k in kept if k.endswith("/gradient")]
    for k in derived:
        del kept[k]
    sess.records = [r for r in sess.records if r.get("kind") != "step"]
    bench = Bench(camera=_NoDevice(), balance=_NoDevice(), make_tracker=make_tracker)
    engine = Engine(spec, sess, bench, operator=_NoDevice(), listener=listener, network=net,
                    results_name=name, offline=True, steps=kept)
    return engine.run()

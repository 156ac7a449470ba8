"""Start or resume a protocol run: wire the protocol, session, bench and operator.

The command line (``labmnn run`` / ``resume`` / ``demo``) and the GUI both come
through here, each with its own operator and listener.  The real rig's devices
are opened here (:func:`~labmnn.protocol.bench.open_bench`); a simulated rig is
built by the caller, who passes a ready ``bench`` or a ``sim_bench`` factory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from labmnn.errors import DeviceError, InputError
from labmnn.model.network import Network
from labmnn.protocol.bench import Bench, open_bench
from labmnn.protocol.engine import Engine
from labmnn.protocol.integrity import require_photos
from labmnn.protocol.operator import AutoOperator, Operator
from labmnn.protocol.recorder import Session
from labmnn.protocol.spec import ProtocolSpec, load_protocol

SimBenchFactory = Callable[..., Bench]
JOINTS_COPY = "joints"  # SESSION/joints.<ext>: the protocol's tracking.joints file as used
TASK_COPY = "task.json"  # SESSION/task.json: the [train] task of a data-set training, as used


def start_run(protocol: str | Path, out: str | Path = "sessions", sim: bool = False, auto: bool = False,
              operator: Operator | None = None, listener: Callable[[dict], None] | None = None,
              seed: int = 0, bench: Bench | None = None, repeats: int | None = None,
              mechanics: str | None = None, linearize: str | None = None, stiffness_error: float = 0.0,
              print_seed: int = 0, sim_bench: SimBenchFactory | None = None) -> Engine:
    """Prepare a new run (nothing is touched on the rig until ``engine.run()``).

    Parameters
    ----------
    protocol : path
    out : path
        Folder that receives the session folder.
    sim, auto : bool
        Simulated rig; let the simulated operator act (needs ``sim``).
    operator : Operator, optional
        Default: :class:`AutoOperator` with ``auto``; on the simulated rig without ``auto``
        a terminal prompt whose confirmed actions the simulated operator carries out; else
        :class:`TerminalOperator`.
    listener : callable, optional
    seed : int
    bench : Bench, optional
        Devices to use instead of opening them.
    repeats : int, optional
        Override the protocol's repeats.
    mechanics : {"linear", "nonlinear"}, optional
        Simulated rig: bar model, or the bars' exact large-rotation equilibrium; default: the
        protocol's own (a protocol measuring the exact gradient runs on a rig with exact bars).
    linearize : {"none", "two_level"}, optional
        Override the protocol's ``linearize``.
    stiffness_error, print_seed : float, int
        Simulated rig: per-bond stiffness errors of the "printed" part.
    sim_bench : callable, optional
        Builds the simulated bench when ``sim`` and no ``bench`` is given:
        ``sim_bench(spec, net, seed=, mechanics=, stiffness_error=, print_seed=) -> Bench``
        (the command line passes ``labmnn.cli.sim.bench.open_sim_bench``).

    Returns
    -------
    Engine
    """
    if auto and not sim and bench is None:
        raise InputError("--auto", "", "the automatic operator exists only on the simulated rig: add --sim")
    spec = load_protocol(protocol)
    if repeats is not None:
        if repeats < 1:
            raise InputError("--repeats", "", f"must be at least 1, found {repeats}")
        spec.repeats = int(repeats)
    if linearize is not None:
        if linearize not in ("none", "two_level"):
            raise InputError("--linearize", "", f"must be none or two_level, found {linearize!r}")
        spec.linearize = linearize
    net = Network.open(spec.network)
    spec.check_network(net)
    if mechanics is None:
        mechanics = spec.mechanics
    if stiffness_error and not sim and bench is None:
        raise InputError("--stiffness-error", "", "only the simulated rig has a simulated print: add --sim")
    if bench is None:  # devices first: a camera or balance that cannot be opened leaves no empty session
        bench = _open(spec, net, sim, sim_bench, seed=seed, mechanics=mechanics,
                      stiffness_error=float(stiffness_error), print_seed=int(print_seed))
    try:
        session = Session.create(out, spec.name).lock()
        _record_inputs(session, spec, net)
    except BaseException:
        bench.close()
        raise
    return _engine(spec, net, session, sim, auto, operator, listener, seed, bench, sim_bench, mechanics)


def resume_run(session: str | Path, sim: bool | None = None, auto: bool | None = None,
               operator: Operator | None = None, listener: Callable[[dict], None] | None = None,
               bench: Bench | None = None, sim_bench: SimBenchFactory | None = None) -> Engine:
    """Prepare to continue a session from its last checkpoint (same protocol, network, calibration).

    ``sim``/``auto`` default to what the session was started with; ``bench`` and
    ``sim_bench`` as in :func:`start_run` (the simulated rig is rebuilt with the
    session's seed, mechanics and print).
    """
    sess = Session.open(session).lock()
    try:
        return _resume(sess, sim, auto, operator, listener, bench, sim_bench)
    except BaseException:
        sess.close()
        raise


def _resume(sess: Session, sim, auto, operator, listener, bench, sim_bench) -> Engine:
    session = sess.folder
    if sess.status() == "success":
        raise InputError(str(session), "", "is already complete (status success); nothing to resume")
    if not sess.start_record():
        raise InputError(str(session), "", "was never started (its log has no start record): nothing to resume; "
                         "start a new run with `labmnn run`")
    require_photos(sess.folder, sess.records, "resume")
    start = sess.start_record()
    if not start:
        raise InputError(str(sess.folder / "log.jsonl"), "", "holds no start record (the run stopped before "
                         "its first record was written): nothing to resume; start again with `labmnn run`")
    bench_info = start.get("bench", {}) or {}
    sim = bool(bench_info.get("sim", False)) if sim is None else sim
    auto = bool(bench_info.get("auto", False)) if auto is None else auto
    spec = load_protocol(sess.folder / "protocol.toml")
    spec.network = str(sess.folder / "network.json")
    cals = sorted(sess.folder.glob("calibration.*"))
    spec.calibration = cals[0] if cals else None
    use_session_joints(sess.folder, spec)
    if spec.train is not None and spec.train.task is not None and (sess.folder / TASK_COPY).exists():
        spec.train = dataclasses.replace(spec.train, task=str(sess.folder / TASK_COPY))
    net = Network.open(spec.network)
    return _engine(spec, net, sess, sim, auto, operator, listener, int(bench_info.get("seed", 0)), bench,
                   sim_bench, bench_info.get("mechanics", "linear"), float(bench_info.get("stiffness_error", 0.0)),
                   int(bench_info.get("print_seed", 0)))


def _record_inputs(session: Session, spec: ProtocolSpec, net: Network) -> None:
    """Copy what a resume needs into the new session before its first record.

    The protocol and network (as the engine's checks copy them: the same bytes),
    and the ``tracking.joints`` file.  A write that fails here (a full disk)
    removes the still empty folder and names the file it could not write.
    """
    import json

    try:
        session.copy_input("protocol.toml", spec.text.encode("utf-8") if spec.text else spec.path)
        session.copy_input("network.json", (json.dumps(net.to_dict(), indent=1) + "\n").encode())
        joints = spec.tracking.get("joints")
        if joints:
            session.copy_input(JOINTS_COPY + Path(joints).suffix.lower(), joints)
        if spec.train is not None and spec.train.task is not None:
            session.copy_input(TASK_COPY, spec.train.task)
    except OSError:
        session.discard_if_empty()
        raise


def use_session_joints(folder: Path, spec: ProtocolSpec) -> None:
    """Point ``tracking.joints`` at the session's own copy (when the session holds one)."""
    if spec.tracking.get("joints"):
        copies = sorted(Path(folder).glob(JOINTS_COPY + ".*"))
        if copies:
            spec.tracking = {**spec.tracking, "joints": str(copies[0])}


def _engine(spec: ProtocolSpec, net, session, sim, auto, operator, listener, seed, bench, sim_bench,
            mechanics: str = "linear", stiffness_error: float = 0.0, print_seed: int = 0) -> Engine:
    if auto and not sim and bench is None:
        raise InputError("--auto", "", "the automatic operator exists only on the simulated rig: add --sim")
    if bench is None:
        bench = _open(spec, net, sim, sim_bench, seed=seed, mechanics=mechanics,
                      stiffness_error=stiffness_error, print_seed=print_seed)
    bench.extra.setdefault("sim", sim)
    bench.extra["auto"] = auto
    if operator is None:
        from labmnn.protocol.operator import PromptedSimOperator, TerminalOperator

        if auto:
            operator = AutoOperator(bench.sim_operator)
        elif bench.sim_operator is not None:  # rehearsal: confirm each prompt, the simulated hands act
            operator = PromptedSimOperator(TerminalOperator(), bench.sim_operator)
        else:
            operator = TerminalOperator()
    return Engine(spec, session, bench, operator, listener=listener, network=net)


def _open(spec: ProtocolSpec, net, sim: bool, sim_bench: SimBenchFactory | None, **sim_options) -> Bench:
    """The real rig's devices, or the simulated bench ``sim_bench`` builds."""
    if not sim:
        return open_bench(spec, net)
    if sim_bench is None:
        raise DeviceError("the simulated rig is built by the command line: run with 'labmnn ... --sim', "
                          "or pass a bench (or a sim_bench factory) to the runner")
    return sim_bench(spec, net, **sim_options)

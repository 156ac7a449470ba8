"""What the results panel shows, read from a session's checkpointed steps (no Qt).

The engine records every loading (weighed masses, tracked displacements) and
every repeat's gradient.  :func:`bond_results` rebuilds, per repeat, the
measured forward and adjoint bond elongations (the loadings summed by their
plans, as the engine does) next to the measured and simulated gradients;
:func:`open_session` reads a finished or interrupted session folder.

Example
-------
>>> view = open_session("sessions/20261122-120000-gradient-fig1")     # doctest: +SKIP
>>> view.bonds.gradient_measured.mean(axis=0)                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labmnn.errors import InputError
from labmnn.model.network import Network
from labmnn.protocol import analysis
from labmnn.protocol.events import LoadingData
from labmnn.protocol.planner import Loading, LoadingPlan
from labmnn.protocol.recorder import Session

_GRADIENT_KEY = re.compile(r"^(.*)gradient$")


@dataclass
class BondResults:
    """Per-bond results of a gradient measurement, one row per repeat.

    Attributes
    ----------
    keys : list of str
        The repeats' step prefixes (``"r0/"``, ``"t1/r2/"``, ...).
    forward_elongation_mm, adjoint_elongation_mm : ndarray (R, m)
        Measured linear elongations under the forward and the (unscaled) adjoint load.
    adjoint_scale : ndarray (R,)
        The factor the adjoint load was scaled by to be hung (elongations as
        measured on the rig are ``adjoint_elongation_mm * adjoint_scale``).
    gradient_measured, gradient_simulated : ndarray (R, m)
        dL/dk per repeat, measured (e_adj * e) and from the bar model.
    """

    keys: list[str] = field(default_factory=list)
    forward_elongation_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    adjoint_elongation_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    gradient_measured: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    gradient_simulated: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    adjoint_scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    title: str = ""

    @property
    def repeats(self) -> int:
        return len(self.keys)

    def gradient_mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sample standard deviation over repeats (std 0 with one repeat)."""
        g = self.gradient_measured
        std = g.std(axis=0, ddof=1) if len(g) > 1 else np.zeros(g.shape[1:])
        return g.mean(axis=0), std


def _plan_from_steps(net: Network, role: str, steps: list[LoadingData], scale: float = 1.0) -> LoadingPlan:
    loadings = [Loading.from_dict(s["loading"]) for s in steps]
    zeros = np.zeros((net.n_nodes, 2))
    return LoadingPlan(role, zeros, scale, loadings, zeros)


def _indexed(steps: dict, prefix: str) -> list[LoadingData]:
    found = []
    for key, data in steps.items():
        if key.startswith(prefix) and key[len(prefix):].isdigit():
            found.append((int(key[len(prefix):]), data))
    return [d for _, d in sorted(found, key=lambda t: t[0])]


def repeat_elongations(net: Network, steps: dict, prefix: str) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Measured (forward, adjoint) linear elongations of one repeat (metres; the adjoint
    one unscaled) and the adjoint scale; None if the repeat is incomplete.

    Loadings are summed by their plans as the engine does; with two load levels
    (``forward-half`` / ``adjoint-half`` steps) the linear part is extrapolated,
    ``2 r(F/2) - r(F)`` per unit of target, as the engine does.
    """
    plan_rec = steps.get(f"{prefix}adjoint-plan")
    if plan_rec is None:
        return None
    plan_a = LoadingPlan.from_dict(plan_rec["plan"])
    plans = {"forward": None, "adjoint": plan_a,
             "forward-half": None, "adjoint-half": (LoadingPlan.from_dict(plan_rec["plan_half"])
                                                   if "plan_half" in plan_rec else None)}
    scales = {"forward": 1.0, "forward-half": 0.5}
    e = {}
    for role, plan in plans.items():
        recs = _indexed(steps, f"{prefix}{role}/")
        if not recs:
            continue
        if plan is None:
            plan = _plan_from_steps(net, role, recs, scales.get(role, 1.0))
        e[role] = analysis.combine_loadings(net, plan, recs)["elongations"]
    if "forward" not in e or "adjoint" not in e:
        return None
    e_f, e_a = e["forward"], e["adjoint"]
    if "forward-half" in e and "adjoint-half" in e:
        e_f = 2.0 * e["forward-half"] - e_f
        e_a = 2.0 * e["adjoint-half"] - e_a
    return e_f, e_a, float(plan_a.scale)


def bond_results(net: Network, steps: dict) -> BondResults:
    """Collect the completed repeats of a session's steps (see :class:`BondResults`).

    In a training session each step measures a different design: only the
    latest training step's repeats are collected (``title`` names it).
    """
    found = []
    for key, data in steps.items():
        match = _GRADIENT_KEY.match(key)
        if match and "gradient" in data:
            step = re.match(r"^t(\d+)/", match.group(1))
            found.append((int(step.group(1)) if step else -1, match.group(1), data))
    latest = max((t for t, _, _ in found), default=-1)
    keys, ef, ea, sc, gm, gs = [], [], [], [], [], []
    for t, prefix, data in found:
        if t != latest:
            continue
        triple = repeat_elongations(net, steps, prefix)
        if triple is None:
            triple = (np.full(net.n_bonds, np.nan), np.full(net.n_bonds, np.nan), np.nan)
        keys.append(prefix)
        ef.append(triple[0] * 1e3)
        ea.append(triple[1] * 1e3)
        sc.append(triple[2])
        gm.append(np.asarray(data["gradient"], dtype=float))
        gs.append(np.asarray(data["gradient_simulated"], dtype=float))
    m = net.n_bonds
    as2d = lambda rows: np.array(rows, dtype=float).reshape(-1, m)  # noqa: E731
    return BondResults(keys, as2d(ef), as2d(ea), as2d(gm), as2d(gs), np.array(sc, dtype=float),
                       f"training step {latest + 1}" if latest >= 0 else "")


def training_history(steps: dict) -> list[dict]:
    """Loss (and accuracy when recorded) per training step, from ``t<k>/update`` records."""
    rows = []
    for key, data in steps.items():
        match = re.match(r"^t(\d+)/update$", key)
        if match:
            rows.append({"step": int(match.group(1)) + 1, "loss": data.get("loss"),
                         "accuracy": data.get("accuracy")})
    return sorted(rows, key=lambda r: r["step"])


def model_bond_values(net: Network, spec) -> dict[str, np.ndarray]:
    """Model forward/adjoint elongations (mm) and gradient of a gradient protocol (overlay before data)."""
    if spec.loss is None:
        return {}
    loss = spec.build_loss(net.n_nodes)
    res = net.gradient(spec.forward_forces(net.n_nodes), loss, return_details=True)
    return {"forward": res.forward.elongations * 1e3,
            "adjoint": net.solve(res.adjoint_forces).elongations * 1e3,  # unscaled: -dL/du itself
            "gradient": np.asarray(res.gradient)}


@dataclass
class SessionView:
    """A session folder as the results panel shows it."""

    folder: Path
    network: Network
    status: str
    kind: str
    steps: dict
    bonds: BondResults
    summary: dict
    history: list[dict]
    images: list[Path]


def open_session(folder: str | Path) -> SessionView:
    """Read a session folder (finished or not).

    Raises
    ------
    InputError
        If the folder is not a session or has no ``network.json``.
    """
    folder = Path(folder)
    session = Session.open(folder)
    net_path = folder / "network.json"
    if not net_path.is_file():
        raise InputError(str(folder), "network.json", "is missing: the session stopped before its checks")
    net = Network.load(net_path)
    steps = session.completed_steps()
    summary = {}
    res = folder / "results.json"
    if res.is_file():
        try:
            summary = json.loads(res.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(str(res), "", f"is not valid JSON ({exc.msg})") from None
    start = session.start_record()
    images = [folder / r["path"] for r in session.images()]
    return SessionView(folder, net, session.status(), str(start.get("protocol_kind", "")), steps,
                       bond_results(net, steps), summary, training_history(steps), images)

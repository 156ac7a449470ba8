"""The loading planner: turn a wanted force field into weights the operator can hang.

Weights only pull (down by gravity, or along a pulley where the rig has one)
and come in a few discrete sizes.  For a wanted force F (n, 2), newtons:

1. scale it into the rig's range (``scale = "auto"`` puts the largest stack
   between ``min_g`` and ``max_g`` at the scale that rounds best; a fixed
   scale must fit or a :class:`PlanError` says why before anything is hung);
2. split each node's force onto the pull directions available there
   (least squares); a negative coefficient is applied *along* the direction
   in a separate loading whose elongations are negated (linearity);
3. pack the stacks into as few loadings as the weight set, the per-node and
   the total limits allow (stacks in separate loadings are summed);
4. round every stack to the combination of pieces nearest its target.

Each loading is later corrected by one factor ``c = (A . I) / (A . A)``
between its applied (weighed) force A and the part I of the scaled target it
stands for, which makes a single-node loading exact; what rounding leaves in
multi-node loadings is the plan's *predicted error* (on the gradient, when an
``error_fn`` is given).

Example
-------
>>> ws = WeightSet((1, 2, 5, 10, 20), (4, 4, 4, 4, 2))
>>> rig = RigLimits(20, 40)
>>> F = np.zeros((14, 2)); F[13, 1] = -0.0484
>>> plan = plan_loading(F, ws, rig, scale="auto", max_g=10)
>>> [(s.node, s.nominal_g) for s in plan.loadings[0].stacks]
[(13, 10.0)]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from labmnn.errors import LabmnnError
from labmnn.model.network import GRAVITY

if TYPE_CHECKING:
    from labmnn.model.network import Network
    from labmnn.protocol.spec import ProtocolSpec

DOWN = (0.0, -1.0)
_TINY_G = 1e-9


class PlanError(LabmnnError):
    """The wanted load cannot be applied with this weight set and rig."""


@dataclass(frozen=True)
class WeightSet:
    """The pieces on the bench: ``sizes_g[i]`` grams, ``counts[i]`` of each."""

    sizes_g: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def total_g(self) -> float:
        return float(np.dot(self.sizes_g, self.counts))

    def describe(self) -> str:
        return ", ".join(f"{c} x {s:g} g" for s, c in zip(self.sizes_g, self.counts))

    def best_combination(self, grams: float, available: tuple[int, ...] | None = None):
        """The piece counts whose sum is nearest ``grams`` (ties: fewer pieces).

        Returns
        -------
        counts : tuple of int
        mass : float
        """
        masses, combos = _combinations(self.sizes_g, available or self.counts)
        err = np.abs(masses - grams)
        best = np.flatnonzero(err <= err.min() + 1e-9)
        pieces = combos[best].sum(axis=1)
        k = best[np.argmin(pieces)]
        return tuple(int(x) for x in combos[k]), float(masses[k])

    def achievable(self) -> np.ndarray:
        """Every mass the set can make (grams, sorted, including 0)."""
        return _combinations(self.sizes_g, self.counts)[0]


@functools.lru_cache(maxsize=256)
def _combinations(sizes: tuple[float, ...], counts: tuple[int, ...]):
    """Distinct masses reachable with the pieces, each with its fewest-pieces counts."""
    best: dict[float, tuple[int, ...]] = {0.0: (0,) * len(sizes)}
    for i, (s, c) in enumerate(zip(sizes, counts)):
        new = dict(best)
        for mass, combo in best.items():
            for k in range(1, c + 1):
                m = round(mass + k * s, 6)
                cand = combo[:i] + (k,) + combo[i + 1:]
                if m not in new or sum(cand) < sum(new[m]):
                    new[m] = cand
        best = new
    masses = np.array(sorted(best))
    combos = np.array([best[m] for m in masses], dtype=np.int64)
    return masses, combos


@dataclass(frozen=True)
class RigLimits:
    """What the rig can take: grams per node and in total, pull directions per node."""

    max_per_node_g: float = 20.0
    max_total_g: float = 40.0
    default_directions: tuple[tuple[float, float], ...] = (DOWN,)
    directions: dict[int, tuple[tuple[float, float], ...]] = field(default_factory=dict)

    def directions_at(self, node: int) -> np.ndarray:
        """Unit pull directions available at ``node``, (k, 2)."""
        return np.asarray(self.directions.get(int(node), self.default_directions), dtype=float)


def direction_name(d) -> str:
    """``down``/``up``/``left``/``right`` or the vector."""
    names = {(0.0, -1.0): "down", (0.0, 1.0): "up", (-1.0, 0.0): "left", (1.0, 0.0): "right"}
    key = (round(float(d[0]), 9) + 0.0, round(float(d[1]), 9) + 0.0)
    return names.get(key, f"along ({d[0]:.3f}, {d[1]:.3f})")


@dataclass
class Stack:
    """One stack of pieces hung on one node along one direction."""

    node: int
    direction: tuple[float, float]
    target_g: float
    nominal_g: float
    pieces: dict[float, int]

    def describe(self) -> str:
        parts = " + ".join(f"{c} x {s:g} g" for s, c in sorted(self.pieces.items(), reverse=True) if c)
        return f"{self.nominal_g:g} g ({parts}) on node {self.node}, pulling {direction_name(self.direction)}"

    def to_dict(self) -> dict:
        return {"node": self.node, "direction": list(self.direction), "target_g": self.target_g,
                "nominal_g": self.nominal_g, "pieces": [[s, c] for s, c in self.pieces.items()]}

    @classmethod
    def from_dict(cls, d: dict) -> Stack:
        return cls(int(d["node"]), tuple(d["direction"]), float(d["target_g"]), float(d["nominal_g"]),
                   {float(s): int(c) for s, c in d["pieces"]})


@dataclass
class Loading:
    """Stacks hung together and photographed once.

    ``sign`` is -1 when the stacks pull opposite to the wanted force: the
    measured elongations (and displacements) then enter negated.

    ``held`` are stacks already hanging that stay on while ``stacks`` are added
    (``mechanics = "nonlinear"``: the forward load under an adjoint increment);
    the loading stands for the increment ``stacks`` alone, measured against a
    photo taken with only ``held`` on.
    """

    index: int
    sign: int
    stacks: list[Stack]
    held: list[Stack] = field(default_factory=list)

    def forces(self, n_nodes: int, grams=None) -> np.ndarray:
        """Force (n, 2) N the stacks apply (nominal masses, or ``grams`` per stack)."""
        g = [s.nominal_g for s in self.stacks] if grams is None else list(grams)
        F = np.zeros((n_nodes, 2))
        for s, m in zip(self.stacks, g):
            F[s.node] += np.asarray(s.direction) * m * 1e-3 * GRAVITY
        return F

    def intended(self, n_nodes: int) -> np.ndarray:
        """The part of the scaled target this loading stands for (sign applied)."""
        F = np.zeros((n_nodes, 2))
        for s in self.stacks:
            F[s.node] += self.sign * np.asarray(s.direction) * s.target_g * 1e-3 * GRAVITY
        return F

    def correction(self, n_nodes: int, grams=None) -> float:
        """c = (sign A . I) / (A . A): the factor that best maps the applied load onto its target."""
        A = self.sign * self.forces(n_nodes, grams)
        aa = float(np.sum(A * A))
        return float(np.sum(A * self.intended(n_nodes)) / aa) if aa > 0 else 0.0

    def held_forces(self, n_nodes: int, grams=None) -> np.ndarray:
        """Force (n, 2) N of the ``held`` stacks (nominal masses, or ``grams`` per held stack)."""
        g = [s.nominal_g for s in self.held] if grams is None else list(grams)
        F = np.zeros((n_nodes, 2))
        for s, m in zip(self.held, g):
            F[s.node] += np.asarray(s.direction) * m * 1e-3 * GRAVITY
        return F

    def to_dict(self) -> dict:
        d = {"index": self.index, "sign": self.sign, "stacks": [s.to_dict() for s in self.stacks]}
        if self.held:
            d["held"] = [s.to_dict() for s in self.held]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Loading:
        return cls(int(d["index"]), int(d["sign"]), [Stack.from_dict(s) for s in d["stacks"]],
                   [Stack.from_dict(s) for s in d.get("held", [])])


@dataclass
class LoadingPlan:
    """How a wanted force is applied: a scale and a list of loadings.

    Attributes
    ----------
    role : str
        ``"forward"``, ``"adjoint"`` or ``"series"``.
    target_n : ndarray (n, 2)
        The wanted force before scaling, newtons.
    scale : float
        The loadings apply ``scale * target_n`` (undone when assembling).
    loadings : list of Loading
    dropped_n : ndarray (n, 2)
        Scaled force the rig cannot apply (no pull direction, or below the smallest piece).
    predicted_error : float
        Relative error the rounding leaves (on the gradient if an error function was given,
        else on the force).
    """

    role: str
    target_n: np.ndarray
    scale: float
    loadings: list[Loading]
    dropped_n: np.ndarray
    predicted_error: float = 0.0

    @property
    def n_nodes(self) -> int:
        return len(self.target_n)

    def effective_forces(self, grams=None) -> np.ndarray:
        """The force the loadings stand for after correction and unscaling, (n, 2) N.

        ``grams`` is a list (per loading) of per-stack masses; default the nominal ones.
        """
        n = self.n_nodes
        F = np.zeros((n, 2))
        for k, ld in enumerate(self.loadings):
            g = None if grams is None else grams[k]
            F += ld.correction(n, g) * ld.sign * ld.forces(n, g)
        return F / self.scale

    def combine(self, per_loading: list[np.ndarray], grams=None) -> np.ndarray:
        """Sum measured responses of the loadings into the response to ``target_n``.

        Each response (displacements or elongations) is multiplied by its loading's
        sign and correction, and the sum divided by the scale (linearity).
        """
        n = self.n_nodes
        total: float | np.ndarray = 0.0
        for k, (ld, r) in enumerate(zip(self.loadings, per_loading)):
            g = None if grams is None else grams[k]
            total = total + ld.correction(n, g) * ld.sign * np.asarray(r, dtype=float)
        return np.asarray(total) / self.scale

    def describe(self) -> list[str]:
        """Human-readable lines (no terminal I/O here)."""
        lines = [f"{self.role} loading plan: scale {self.scale:.4g}, {len(self.loadings)} loading(s), "
                 f"predicted error from rounding {self.predicted_error:.2%}"]
        for ld in self.loadings:
            note = " (elongations negated)" if ld.sign < 0 else ""
            lines.append(f"  loading {ld.index + 1}{note}:")
            if ld.held:
                lines += [f"    kept on: {s.describe()}" for s in ld.held]
                lines += [f"    added on top: {s.describe()}" for s in ld.stacks]
            else:
                lines += [f"    {s.describe()}" for s in ld.stacks]
        if np.any(self.dropped_n):
            nodes = sorted({int(i) for i in np.flatnonzero(np.abs(self.dropped_n).sum(axis=1) > 0)})
            lines.append(f"  not applied (no pull direction or below the smallest piece) at nodes {nodes}")
        return lines

    def to_dict(self) -> dict:
        return {"role": self.role, "target_n": self.target_n.tolist(), "scale": self.scale,
                "loadings": [ld.to_dict() for ld in self.loadings], "dropped_n": self.dropped_n.tolist(),
                "predicted_error": self.predicted_error}

    @classmethod
    def from_dict(cls, d: dict) -> LoadingPlan:
        return cls(d["role"], np.asarray(d["target_n"], dtype=float), float(d["scale"]),
                   [Loading.from_dict(x) for x in d["loadings"]], np.asarray(d["dropped_n"], dtype=float),
                   float(d["predicted_error"]))


# ------------------------------------------------------------------ planning
@dataclass
class _Component:
    node: int
    direction: tuple[float, float]
    grams: float  # magnitude at scale 1
    sign: int


def decompose(target_n: np.ndarray, rig: RigLimits) -> tuple[list[_Component], np.ndarray]:
    """Split each node's force onto its pull directions (least squares).

    Returns the components (grams at scale 1, sign -1 when applied reversed) and
    the force left over that no available direction can apply.
    """
    comps: list[_Component] = []
    left = np.zeros_like(target_n)
    for node in np.flatnonzero(np.abs(target_n).sum(axis=1) > 0):
        f = target_n[node]
        D = rig.directions_at(int(node))  # (k, 2)
        a = np.linalg.lstsq(D.T, f, rcond=None)[0]  # minimal-norm coefficients, newtons
        left[node] = f - D.T @ a
        for d, coef in zip(D, a):
            g = abs(coef) / GRAVITY * 1e3
            if g > _TINY_G:
                comps.append(_Component(int(node), (float(d[0]), float(d[1])), g, 1 if coef > 0 else -1))
    left[np.abs(left) < 1e-12] = 0.0
    return comps, left


def _pack(comps: list[_Component], scale: float, weights: WeightSet, rig: RigLimits,
          n_nodes: int, role: str, held: list[Stack] | None = None) -> tuple[list[Loading], np.ndarray]:
    """Round and pack scaled components into loadings (largest first).

    ``held`` stacks hang already and stay on in every loading: their pieces are not
    in the box, and they count towards the per-node and total limits.
    """
    held = list(held or [])
    hung: dict[int, float] = {}
    for st in held:
        hung[st.node] = hung.get(st.node, 0.0) + st.nominal_g
    hung_total = sum(hung.values())
    if held:
        used = [sum(st.pieces.get(s, 0) for st in held) for s in weights.sizes_g]
        weights = WeightSet(weights.sizes_g, tuple(max(0, c - u) for c, u in zip(weights.counts, used)))
        rig = RigLimits(rig.max_per_node_g, rig.max_total_g - hung_total, rig.default_directions, rig.directions)
    loadings: list[Loading] = []
    stock: list[list[int]] = []
    totals: list[float] = []
    dropped = np.zeros((n_nodes, 2))
    smallest = min(weights.sizes_g)
    for c in sorted(comps, key=lambda c: -c.grams):
        g = c.grams * scale
        where = f"{role} loading: node {c.node} needs {g:.3g} g pulling {direction_name(c.direction)}"
        on = hung.get(c.node, 0.0)
        if g + on > rig.max_per_node_g * (1 + 1e-9):
            extra = f" on top of the {on:g} g kept on it" if on else ""
            raise PlanError(f"{where}{extra}, above the rig's limit of {rig.max_per_node_g:g} g per node "
                            f"(weight set: {weights.describe()}); lower the load"
                            + (" or use [adjoint] scale = \"auto\"" if role == "adjoint" else ""))
        _, best_all = weights.best_combination(g)
        if g - best_all > smallest / 2 + 1e-9:
            raise PlanError(f"{where} but the whole weight set ({weights.describe()}, {weights.total_g:g} g) "
                            f"makes at most {best_all:g} g; lower the load or add pieces")
        if best_all <= _TINY_G:
            dropped[c.node] += c.sign * np.asarray(c.direction) * g * 1e-3 * GRAVITY
            continue
        placed = False
        for k, ld in enumerate(loadings):
            if ld.sign != c.sign or any(s.node == c.node and s.direction == c.direction for s in ld.stacks):
                continue
            combo, mass = weights.best_combination(g, tuple(stock[k]))
            if abs(mass - g) > abs(best_all - g) + 1e-9 or totals[k] + mass > rig.max_total_g * (1 + 1e-9):
                continue
            placed = True
            break
        if not placed:
            if best_all > rig.max_total_g * (1 + 1e-9):
                raise PlanError(f"{where}, above the rig's total limit of {rig.max_total_g:g} g")
            loadings.append(Loading(len(loadings), c.sign, [], [Stack(**vars(h)) for h in held]))
            stock.append(list(weights.counts))
            totals.append(0.0)
            k = len(loadings) - 1
            combo, mass = weights.best_combination(g)
        stock[k] = [a - b for a, b in zip(stock[k], combo)]
        totals[k] += mass
        pieces = {s: n for s, n in zip(weights.sizes_g, combo) if n}
        loadings[k].stacks.append(Stack(c.node, c.direction, g, mass, pieces))
    return loadings, dropped


def plan_loading(target_n: np.ndarray, weights: WeightSet, rig: RigLimits, scale: str | float = 1.0,
                 max_g: float | None = None, min_g: float = 0.0, role: str = "adjoint",
                 error_fn: Callable[[np.ndarray], float] | None = None,
                 held: list[Stack] | None = None) -> LoadingPlan:
    """Plan how to apply ``target_n`` with the weight set.

    Parameters
    ----------
    target_n : ndarray (n, 2)
        Wanted force, newtons.
    weights : WeightSet
    rig : RigLimits
    scale : "auto" or float
        ``"auto"`` picks the scale (largest stack between ``min_g`` and ``max_g``)
        with the smallest predicted error, the largest load among ties; a number
        is used as is (forward loads: 1).
    max_g, min_g : float
        Range of the largest stack for ``"auto"`` (default: the per-node limit).
    role : str
        Named in messages and records.
    error_fn : callable, optional
        ``error_fn(effective_forces) -> relative gradient error``; default the
        relative force error.
    held : list of Stack, optional
        Stacks that hang already and stay on (the forward load under a nonlinear
        adjoint increment): every loading adds its stacks to them, with the pieces
        that are left and within the limits that are left.

    Returns
    -------
    LoadingPlan

    Raises
    ------
    PlanError
        If a fixed-scale load exceeds the weight set or the rig's limits, or nothing can be applied.
    """
    target_n = np.asarray(target_n, dtype=float)
    comps, left = decompose(target_n, rig)
    if not comps:
        if np.any(left):
            unit = left / np.maximum(np.linalg.norm(left, axis=1, keepdims=True), 1e-300)
            where = "; ".join(f"{np.linalg.norm(left[i]) / GRAVITY * 1e3:.2g} g along "
                              f"({unit[i, 0]:+.2f}, {unit[i, 1]:+.2f}) on node {i}"
                              for i in np.flatnonzero(np.abs(left).sum(axis=1) > 0))
            raise PlanError(f"{role} loading: the force needs {where}, which no pull direction there can apply; "
                            "fit a pulley and list it in [rig] directions")
        raise PlanError(f"{role} loading: the wanted force is zero: nothing to hang")
    norm = float(np.linalg.norm(target_n))

    def error_of(plan: LoadingPlan) -> float:
        eff = plan.effective_forces()
        if error_fn is not None:
            return float(error_fn(eff))
        return float(np.linalg.norm(eff - target_n) / norm)

    def build(s: float) -> LoadingPlan:
        loadings, dropped = _pack(comps, s, weights, rig, len(target_n), role, held)
        plan = LoadingPlan(role, target_n, s, loadings, dropped + left * s)
        plan.predicted_error = error_of(plan)
        return plan

    if scale != "auto":
        plan = build(float(scale))
        if not plan.loadings:
            raise PlanError(f"{role} loading: every stack rounds to 0 g with pieces of "
                            f"{min(weights.sizes_g):g} g or more; use a larger scale")
        return plan
    top = max(c.grams for c in comps)
    hi = min(rig.max_per_node_g if max_g is None else max_g, rig.max_per_node_g)
    lo = min(min_g, hi)
    masses = weights.achievable()
    cands = sorted({hi, *masses[(masses >= max(lo, _TINY_G)) & (masses <= hi)].tolist()})
    best: LoadingPlan | None = None
    for m in cands:
        try:
            plan = build(m / top)
        except PlanError:
            continue
        if not plan.loadings:
            continue
        if best is None or plan.predicted_error < best.predicted_error - 1e-4 or (
                plan.predicted_error <= best.predicted_error + 1e-4 and plan.scale > best.scale):
            best = plan
    if best is None:
        raise PlanError(f"{role} loading: no scale puts the load within {lo:g}-{hi:g} g per stack with the "
                        f"weight set ({weights.describe()}) and the rig's limits "
                        f"({rig.max_per_node_g:g} g per node, {rig.max_total_g:g} g in total)")
    return best


# ------------------------------------------------------- a protocol's plans
def forward_plan(spec: ProtocolSpec, n_nodes: int, level: float = 1.0) -> LoadingPlan:
    """A protocol's forward loads as loadings, at ``level`` times their size (1 normally)."""
    return plan_loading(spec.forward_forces(n_nodes), spec.weights, spec.rig, scale=level,
                        role="forward" if level == 1.0 else f"forward at {level:g} x")


def series_plan(spec: ProtocolSpec, n_nodes: int, grams: float, node: int | None = None) -> LoadingPlan:
    """One load of a protocol's load series (``grams`` on ``node``, default its first node, along its
    direction) as loadings."""
    series = spec.series
    assert series is not None, "load_protocol gives every load-series protocol its [series] section"
    F = np.zeros((n_nodes, 2))
    F[series.node if node is None else node] = np.asarray(series.direction) * grams * 1e-3 * 9.8
    return plan_loading(F, spec.weights, spec.rig, scale=1.0, role="series")


def adjoint_plan(spec: ProtocolSpec, net: Network, F_adj: np.ndarray, e_forward: np.ndarray,
                 scale: float | None = None) -> LoadingPlan:
    """Plan the adjoint force ``F_adj`` (n, 2), N; the predicted error is the one it makes on
    the gradient given the forward elongations ``e_forward`` (m,), m."""
    eq = net.equilibrium()
    g_ideal = eq.solve(F_adj).elongations * e_forward
    norm = float(np.linalg.norm(g_ideal)) or 1.0

    def gradient_error(F_eff):
        return float(np.linalg.norm(eq.solve(F_eff).elongations * e_forward - g_ideal) / norm)

    a = spec.adjoint
    return plan_loading(F_adj, spec.weights, spec.rig, scale=a.scale if scale is None else scale,
                        max_g=a.max_g, min_g=a.min_g, role="adjoint", error_fn=gradient_error)


def held_forward(spec: ProtocolSpec, n_nodes: int) -> LoadingPlan:
    """``mechanics = "nonlinear"``: the forward load as one loading that can stay hung.

    The exact gradient is measured at the forward equilibrium, so the whole
    forward load must hang at once, pulling the way it is wanted.

    Raises
    ------
    PlanError
        If the forward load needs more than one loading or a reversed one.
    """
    plan = forward_plan(spec, n_nodes)
    if len(plan.loadings) != 1 or plan.loadings[0].sign < 0 or np.any(plan.dropped_n):
        raise PlanError("forward loading: mechanics = \"nonlinear\" needs the whole forward load hung at once "
                        "along its own directions, but it takes "
                        f"{len(plan.loadings)} loading(s) with this weight set and rig; lower the load or "
                        "raise [rig] max_total_g")
    return plan


def increment_plan(spec: ProtocolSpec, net: Network, F_adj: np.ndarray, forward: Loading,
                   forces_forward: np.ndarray, scale: float | None = None) -> LoadingPlan:
    """``mechanics = "nonlinear"``: the adjoint force as increments ADDED to the hung forward load.

    Every loading keeps ``forward``'s stacks on (``Loading.held``) and adds its
    own; the pieces and limits left by the forward stacks bound the increment.
    The size follows ``[adjoint]`` (``scale = "auto"``: the largest added stack
    between ``min_g`` and ``max_g``).  The predicted error is the rounding error
    on the exact gradient: the tangent stiffness at the forward equilibrium of
    ``forces_forward`` (n, 2) N maps the applied increment to elongations along
    the deformed bars.
    """
    from labmnn.model.nonlinear import NonlinearStatics

    statics = NonlinearStatics(net, net.stiffness)
    U, state = statics.solve(np.asarray(forces_forward, dtype=float)[None])
    l_minus_L = state.stretch[0]

    def exact(F):
        v = statics.adjoint(state, np.asarray(F, dtype=float)[None])
        return statics.elongations_along(state, v)[0] * l_minus_L

    g_ideal = exact(F_adj)
    norm = float(np.linalg.norm(g_ideal)) or 1.0

    def gradient_error(F_eff):
        return float(np.linalg.norm(exact(F_eff) - g_ideal) / norm)

    a = spec.adjoint
    return plan_loading(F_adj, spec.weights, spec.rig, scale=a.scale if scale is None else scale,
                        max_g=a.max_g, min_g=a.min_g, role="adjoint increment", error_fn=gradient_error,
                        held=forward.stacks)


def unapplied(plan: LoadingPlan, rig: RigLimits) -> str:
    """Forces no pull direction of ``rig`` can apply, as text ("" if none); remainders
    below the smallest piece are not counted."""
    rows = []
    for node in np.flatnonzero(np.abs(plan.dropped_n).sum(axis=1) > 0):
        D = rig.directions_at(int(node))
        f = plan.dropped_n[node] / plan.scale
        off = f - D.T @ np.linalg.lstsq(D.T, f, rcond=None)[0]
        if np.linalg.norm(off) > 1e-9:
            rows.append(f"{np.linalg.norm(off) / 9.8e-3:.2g} g along ({off[0]:+.2f}, {off[1]:+.2f}) "
                        f"on node {node}")
    return "; ".join(rows)


@dataclass
class Preflight:
    """Every loading of a protocol planned from the model before anything is hung.

    Attributes
    ----------
    lines : list of str
        The plans as text (shown to the operator at the checks).
    predicted_error : float
        The worst predicted rounding error (the adjoint plan's on the gradient).
    adjoint : LoadingPlan or None
        The predicted adjoint plan (None for a load series).
    """

    lines: list[str]
    predicted_error: float
    adjoint: LoadingPlan | None = None


def preflight(spec: ProtocolSpec, net: Network, loss) -> Preflight:
    """Plan a protocol's loadings from the model (``loss`` as built by the spec).

    Raises
    ------
    PlanError
        If a load cannot be hung, or the adjoint load rounds worse than allowed.
    """
    if spec.kind == "load_series":
        return _preflight_series(spec, net)
    if spec.kind == "train" and spec.train is not None and spec.train.task is not None:
        from labmnn.protocol.task_batches import TaskBatches

        lines, worst = TaskBatches(spec, net).preflight_lines(spec, net)
        return Preflight(lines, worst)
    if spec.kind == "train" and spec.train is not None and spec.train.gradient == "pat":
        return _preflight_forward(spec, net)
    if spec.mechanics == "nonlinear":
        return _preflight_nonlinear(spec, net, loss)
    plan_f = forward_plan(spec, net.n_nodes)
    lines = list(plan_f.describe())
    two = spec.linearize == "two_level"
    if two:
        lines += forward_plan(spec, net.n_nodes, 0.5).describe()
    fwd_model = net.solve(plan_f.effective_forces())
    _, dLdu = loss(fwd_model.displacements)
    try:
        plan_a = adjoint_plan(spec, net, -dLdu, fwd_model.elongations)
        if two:
            adjoint_plan(spec, net, -dLdu, fwd_model.elongations, scale=plan_a.scale / 2)
    except PlanError as exc:
        raise PlanError(f"before anything is hung: {exc}") from None
    lines += ["predicted from the model:"] + plan_a.describe()
    _check_adjoint(plan_a, spec)
    return Preflight(lines, plan_a.predicted_error, plan_a)


def _preflight_nonlinear(spec: ProtocolSpec, net: Network, loss) -> Preflight:
    """The forward load held, the adjoint increments on top, predicted with the exact model."""
    try:
        plan_f = held_forward(spec, net.n_nodes)
        F = plan_f.effective_forces()
        u = net.solve(F, mechanics="nonlinear").displacements
        _, dLdu = loss(u)
        plan_a = increment_plan(spec, net, -dLdu, plan_f.loadings[0], F)
        lines = list(plan_f.describe()) + ["predicted from the exact model (kept on: the forward load):"]
        lines += plan_a.describe()
        if spec.adjoint.increments == 2:
            half = increment_plan(spec, net, -dLdu, plan_f.loadings[0], F, scale=plan_a.scale / 2)
            lines += half.describe()
    except PlanError as exc:
        raise PlanError(f"before anything is hung: {exc}") from None
    _check_adjoint(plan_a, spec)
    return Preflight(lines, plan_a.predicted_error, plan_a)


def _preflight_forward(spec: ProtocolSpec, net: Network) -> Preflight:
    """``[train] gradient = "pat"``: only the forward load is hung (the adjoint comes from the model)."""
    try:
        plan_f = held_forward(spec, net.n_nodes) if spec.mechanics == "nonlinear" else forward_plan(spec, net.n_nodes)
    except PlanError as exc:
        raise PlanError(f"before anything is hung: {exc}") from None
    lines = list(plan_f.describe()) + ["the adjoint is computed from the model at the measured state: "
                                       "no adjoint loadings"]
    return Preflight(lines, plan_f.predicted_error)


def _preflight_series(spec: ProtocolSpec, net: Network) -> Preflight:
    series = spec.series
    assert series is not None, "load_protocol gives every load-series protocol its [series] section"
    worst = 0.0
    for node in series.all_nodes:
        for g in series.grams:
            if g > 0:
                worst = max(worst, series_plan(spec, net.n_nodes, g, node).predicted_error)
    where = (f"node {series.node}" if not series.nodes
             else "nodes " + ", ".join(str(n) for n in series.nodes) + " in turn")
    line = (f"load series on {where}: " + ", ".join(f"{g:g} g" for g in series.grams)
            + f" pulling {direction_name(series.direction)}")
    return Preflight([line], worst)


def _check_adjoint(plan_a: LoadingPlan, spec: ProtocolSpec) -> None:
    limit = spec.adjoint.max_predicted_error
    missing = unapplied(plan_a, spec.rig)
    if missing and plan_a.predicted_error > limit:
        raise PlanError(f"before anything is hung: the adjoint force needs {missing} that no pull direction "
                        f"there can apply (predicted gradient error {plan_a.predicted_error:.0%}); fit a pulley "
                        "and list it in [rig] directions")
    if plan_a.predicted_error > limit:
        raise PlanError(f"before anything is hung: the adjoint load rounds to the weight set with a predicted "
                        f"gradient error of {plan_a.predicted_error:.1%} (limit {limit:.1%}); add pulleys or "
                        "smaller pieces")

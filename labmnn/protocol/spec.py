"""Protocol files: what to measure on the rig, as TOML (``labmnn-protocol/1``).

A protocol names the network (and calibration), the forward loads, the loss,
the weight set on the bench, the rig's limits and pull directions, repeats and
camera settings.  :func:`load_protocol` checks everything and raises a one-line
:class:`~labmnn.errors.InputError` naming the file, the key and the value.
Relative file names are resolved against the protocol's folder; a network may
also be a shipped example name.  See ``docs/protocol.md`` for the format.

Example
-------
>>> spec = load_protocol("protocols/gradient.toml")     # doctest: +SKIP
>>> spec.forward_forces(14)[12]                          # doctest: +SKIP
array([ 0.   , -0.098])
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labmnn import checks
from labmnn.errors import InputError
from labmnn.model.network import GRAVITY
from labmnn.protocol.planner import RigLimits, WeightSet
from labmnn.text_files import read_text

FORMAT = "labmnn-protocol/1"
KINDS = ("gradient", "load_series", "train")
TRAIN_GRADIENTS = ("insitu", "pat")
NAMED_DIRECTIONS = {"down": (0.0, -1.0), "up": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}
SECTIONS = {
    "protocol": {"format", "name", "kind", "description", "repeats", "max_retakes", "linearize", "mechanics"},
    "network": {"file"},
    "calibration": {"file"},
    "camera": {"iso", "aperture", "shutter_speed", "image_format", "capture_target"},
    "balance": {"port", "baud", "timeout", "settle_timeout"},
    "weights": {"sizes_g", "counts"},
    "rig": {"max_per_node_g", "max_total_g", "directions"},
    "forward": None,  # array of tables, checked per entry
    "loss": None,  # checked by labmnn.model.losses.from_spec
    "adjoint": {"scale", "max_g", "min_g", "max_predicted_error", "increments"},
    "tracking": None,  # passed to the tracker as keyword settings
    "series": {"node", "nodes", "grams", "direction", "condition_s"},
    "train": {"steps", "learning_rate", "output", "gradient", "task", "seed", "condition_s", "final"},
}
FORWARD_KEYS = {"node", "grams", "direction", "force_n"}


@dataclass(frozen=True)
class ForwardLoad:
    """One forward load: a force (N) on a node."""

    node: int
    force_n: tuple[float, float]


@dataclass(frozen=True)
class AdjointSettings:
    """How the adjoint force is scaled into the rig's range.

    ``scale`` is ``"auto"`` (the largest stack lands between ``min_g`` and
    ``max_g``, at the scale whose rounding error is smallest) or a fixed factor.
    """

    scale: str | float = "auto"
    max_g: float = 10.0
    min_g: float = 2.0
    max_predicted_error: float = 0.05
    increments: int = 2  # mechanics = "nonlinear": increment sizes (2: at full and half size, extrapolated)


@dataclass(frozen=True)
class SeriesSettings:
    """A load series: grams hung one after the other on one node."""

    node: int
    grams: tuple[float, ...]
    direction: tuple[float, float] = (0.0, -1.0)
    nodes: tuple[int, ...] = ()  # ``nodes = [...]``: every mass on each node in turn (``node`` is the first)
    condition_s: float = 0.0  # the mounted print waits this long, unloaded, before the first loading (0: none)

    @property
    def all_nodes(self) -> tuple[int, ...]:
        """The loaded nodes in order (``nodes``, else the one ``node``)."""
        return self.nodes or (self.node,)


@dataclass(frozen=True)
class TrainSettings:
    """In-situ training: Adam steps on measured gradients (dL/dw)."""

    steps: int = 3
    learning_rate: float = 0.05  # mm of width per step (Adam's step size)
    output: str = "trained.json"
    gradient: str = "insitu"  # "insitu": adjoint loadings measured; "pat": adjoint from the model at the measured state
    task: str | None = None  # a task payload (JSON): its training samples, one forward loading each, per batch
    seed: int = 0  # the task's split and batch order
    # every newly mounted design waits this long, unloaded, before its first loading (creep; 0: none); the
    # default is labmnn.training.methods.CONDITION_S, the simulated methods' conditioning
    condition_s: float = 300.0
    # "last": the last design is the output; "best": the last design is mounted and measured too, and the
    # design with the lowest measured loss is kept (behaviour tasks; the simulated methods' rule)
    final: str = "last"


@dataclass
class ProtocolSpec:
    """A checked protocol file.  Lengths SI, masses grams, forces newtons."""

    path: Path
    text: str
    name: str
    kind: str
    description: str
    repeats: int
    max_retakes: int
    linearize: str  # "none" or "two_level" (loads also at half level; linear part extrapolated)
    network: str  # a resolved file path or a shipped example name
    calibration: Path | None
    camera: dict[str, str]
    balance: dict[str, Any]
    weights: WeightSet
    rig: RigLimits
    forward: tuple[ForwardLoad, ...]
    loss: dict | None
    adjoint: AdjointSettings
    tracking: dict[str, Any] = field(default_factory=dict)
    series: SeriesSettings | None = None
    train: TrainSettings | None = None
    mechanics: str = "linear"  # "nonlinear": adjoint increments on top of the hung forward load

    def overrides(self) -> dict:
        """Settings a run may change from the file (kept in the session's start record)."""
        return {"repeats": self.repeats, "linearize": self.linearize}

    def apply_overrides(self, over: dict | None) -> None:
        """Re-apply :meth:`overrides` recorded by a session (resume, reanalysis)."""
        over = over or {}
        if over.get("repeats"):
            self.repeats = int(over["repeats"])
        if over.get("linearize"):
            self.linearize = str(over["linearize"])

    def forward_forces(self, n_nodes: int) -> np.ndarray:
        """The forward loads as an (n_nodes, 2) force array, newtons."""
        F = np.zeros((n_nodes, 2))
        for load in self.forward:
            if load.node >= n_nodes:
                raise InputError(str(self.path), "forward.node",
                                 f"node {load.node} is out of range (the network has {n_nodes} nodes)")
            F[load.node] += load.force_n
        return F

    def _series_nodes(self) -> list[tuple[str, int]]:
        assert self.series is not None
        if self.series.nodes:
            return [(f"series.nodes[{i}]", n) for i, n in enumerate(self.series.nodes)]
        return [("series.node", self.series.node)]

    def check_nodes(self, n_nodes: int, fixed_nodes=()) -> None:
        """Check every node number against the network (raises :class:`InputError`).

        Parameters
        ----------
        n_nodes : int
            The network's node count.
        fixed_nodes : sequence of int, optional
            The network's fixed nodes: a forward load, a load series or a loss target
            there is refused (a load on the frame moves nothing, a fixed node never
            moves, so the measurement could only give ``inf`` or ``nan``).
        """
        src = str(self.path)
        self.forward_forces(n_nodes)
        nodes = [(f"rig.directions.{k}", k) for k in self.rig.directions]
        if self.series is not None:
            nodes += self._series_nodes()
        for key, node in nodes:
            if node >= n_nodes:
                raise InputError(src, key, f"node {node} is out of range (the network has {n_nodes} nodes)")
        fixed = {int(v) for v in fixed_nodes}
        if not fixed:
            return
        for i, load in enumerate(self.forward):
            if load.node in fixed:
                raise InputError(src, f"forward[{i}].node",
                                 f"node {load.node} is fixed to the frame: a load there moves nothing")
        for key, node in (self._series_nodes() if self.series is not None else []):
            if node in fixed:
                raise InputError(src, key, f"node {node} is fixed to the frame: a load there moves nothing")
        if self.loss is not None:
            loss = self.build_loss(n_nodes)
            outs = getattr(loss, "nodes", None)
            outs = getattr(loss, "outputs_nodes", None) if outs is None else outs
            key = "loss.targets" if hasattr(loss, "nodes") else "loss.outputs"
            for k, node in enumerate(np.asarray(outs if outs is not None else []).tolist()):
                if node in fixed:
                    raise InputError(src, f"{key}[{k}]",
                                     f"node {node} is fixed to the frame: it never moves, so it cannot be a target")

    def check_network(self, net) -> None:
        """Everything that can be checked before a session starts, against the network:
        :meth:`check_nodes`, :meth:`build_loss`, and the loadings planned from the model
        (a load the weight set or the rig cannot hang is refused here, naming the file,
        instead of in a session that then fails)."""
        from labmnn.protocol.planner import PlanError, preflight

        self.check_nodes(net.n_nodes, net.fixed_nodes)
        loss = self.build_loss(net.n_nodes) if self.loss is not None else None
        net.check_rigid()
        try:
            preflight(self, net, loss)
        except PlanError as exc:
            raise InputError(str(self.path), "", str(exc)) from None

    def build_loss(self, n_nodes: int):
        """The loss object of ``[loss]`` (checked against the node count)."""
        from labmnn.model import losses

        if self.loss is None:
            raise InputError(str(self.path), "loss", "is missing (a gradient or train protocol needs one)")
        return losses.from_spec(self.loss, f"{self.path} [loss]", n_nodes)


# ----------------------------------------------------------------- checkers
_fail, _num, _str, _table = checks.fail, checks.number, checks.string, checks.table


def _int(src, key, v, minimum=0) -> int:
    return checks.integer(src, key, v, minimum)


def _grams(src, key, v) -> float:
    """A load in grams: zero, or a mass the bench can hang (:data:`checks.MASS_G`)."""
    g = _num(src, key, v, nonneg=True)
    if g != 0:
        checks.bounded(src, key, g, *checks.MASS_G, "g")
    return g


def parse_direction(src: str, key: str, v: Any) -> tuple[float, float]:
    """A pull direction: ``"down"``, ``"up"``, ``"left"``, ``"right"`` or ``[dx, dy]`` (normalised)."""
    if isinstance(v, str):
        if v not in NAMED_DIRECTIONS:
            _fail(src, key, f"must be one of {', '.join(NAMED_DIRECTIONS)} or [dx, dy], found {v!r}")
        return NAMED_DIRECTIONS[v]
    if isinstance(v, list) and len(v) == 2:
        d = np.array([_num(src, key, x) for x in v])
        norm = float(np.hypot(*d))
        if norm == 0:
            _fail(src, key, f"must not be the zero vector, found {v!r}")
        return (float(d[0] / norm), float(d[1] / norm))
    _fail(src, key, f"must be one of {', '.join(NAMED_DIRECTIONS)} or [dx, dy], found {v!r}")


def _resolve(base: Path, name: str) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else base / p


def _check_keys(src, section, table, allowed) -> None:
    for k in table:
        if k not in allowed:
            _fail(src, f"{section}.{k}", f"is not a known key (known: {', '.join(sorted(allowed))})")


def _forward(src, raw) -> tuple[ForwardLoad, ...]:
    if not isinstance(raw, list):
        _fail(src, "forward", f"must be an array of tables [[forward]], found {raw!r}")
    loads = []
    for i, entry in enumerate(raw):
        key = f"forward[{i}]"
        if not isinstance(entry, dict):
            _fail(src, key, f"must be a table, found {entry!r}")
        _check_keys(src, key, entry, FORWARD_KEYS)
        if "node" not in entry:
            _fail(src, f"{key}.node", "is missing")
        node = _int(src, f"{key}.node", entry["node"])
        if ("grams" in entry) == ("force_n" in entry):
            _fail(src, key, "needs exactly one of grams (with direction) or force_n = [fx, fy]")
        f: tuple[float, ...]
        if "grams" in entry:
            g = _grams(src, f"{key}.grams", entry["grams"])
            d = parse_direction(src, f"{key}.direction", entry.get("direction", "down"))
            f = (d[0] * g * 1e-3 * GRAVITY, d[1] * g * 1e-3 * GRAVITY)
        else:
            v = entry["force_n"]
            if not isinstance(v, list) or len(v) != 2:
                _fail(src, f"{key}.force_n", f"must be [fx, fy] in newtons, found {v!r}")
            f = tuple(checks.bounded(src, f"{key}.force_n", x, -checks.FORCE_N, checks.FORCE_N, "N") for x in v)
        loads.append(ForwardLoad(node, (float(f[0]), float(f[1]))))
    return tuple(loads)


def _weights(src, t) -> WeightSet:
    sizes = t.get("sizes_g", [1, 2, 5, 10, 20])
    counts = t.get("counts", [4, 4, 4, 4, 2])
    if not isinstance(sizes, list) or not sizes:
        _fail(src, "weights.sizes_g", f"must be a non-empty list of grams, found {sizes!r}")
    if not isinstance(counts, list) or len(counts) != len(sizes):
        _fail(src, "weights.counts", f"must list one count per size ({len(sizes)}), found {counts!r}")
    checks.length(src, "weights.sizes_g", sizes, 50)
    s = [checks.bounded(src, f"weights.sizes_g[{i}]", v, *checks.MASS_G, "g") for i, v in enumerate(sizes)]
    c = [checks.count(src, f"weights.counts[{i}]", v, 0, checks.WEIGHT_COUNT) for i, v in enumerate(counts)]
    if len(set(s)) != len(s):
        _fail(src, "weights.sizes_g", f"lists a size twice: {sizes!r}")
    return WeightSet(tuple(s), tuple(c))


def _rig(src, t) -> RigLimits:
    _check_keys(src, "rig", t, SECTIONS["rig"])
    per_node = checks.bounded(src, "rig.max_per_node_g", t.get("max_per_node_g", 20), *checks.MASS_G, "g")
    total = checks.bounded(src, "rig.max_total_g", t.get("max_total_g", 40), *checks.MASS_G, "g")
    raw = t.get("directions", {})
    if not isinstance(raw, dict):
        _fail(src, "rig.directions", f"must be a table of node = [directions], found {raw!r}")
    default: tuple[tuple[float, float], ...] = (NAMED_DIRECTIONS["down"],)
    per: dict[int, tuple] = {}
    for k, v in raw.items():
        key = f"rig.directions.{k}"
        if not isinstance(v, list) or not v:
            _fail(src, key, f"must be a non-empty list of directions, found {v!r}")
        dirs = tuple(parse_direction(src, key, d) for d in v)
        if k == "default":
            default = dirs
        elif k.isdigit():
            per[int(k)] = dirs
        else:
            _fail(src, key, f"key must be a node number or \"default\", found {k!r}")
    return RigLimits(per_node, total, default, per)


def _adjoint(src, t) -> AdjointSettings:
    _check_keys(src, "adjoint", t, SECTIONS["adjoint"])
    scale = t.get("scale", "auto")
    if scale != "auto":
        scale = checks.bounded(src, "adjoint.scale", scale, 1e-6, 1e6)
    max_g = checks.bounded(src, "adjoint.max_g", t.get("max_g", 10.0), *checks.MASS_G, "g")
    min_g = checks.bounded(src, "adjoint.min_g", t.get("min_g", min(2.0, max_g)), *checks.MASS_G, "g")
    if min_g > max_g:
        _fail(src, "adjoint.min_g", f"{min_g:g} is above adjoint.max_g {max_g:g}")
    tol = _num(src, "adjoint.max_predicted_error", t.get("max_predicted_error", 0.05), positive=True)
    inc = t.get("increments", 2)
    if isinstance(inc, bool) or inc not in (1, 2):
        _fail(src, "adjoint.increments", f"must be 1 or 2, found {inc!r}")
    return AdjointSettings(scale, max_g, min_g, tol, int(inc))


def _tracker_keys() -> set[str] | None:
    """Settings the metrology tracker accepts (plus ``joints``, a joints.csv file)."""
    try:
        from labmnn.metrology.tracking import DEFAULTS
    except ImportError:  # pragma: no cover - metrology not installed: accept anything
        return None
    return set(DEFAULTS) | {"joints"}


def parse_protocol(data: dict, path: str | Path, text: str = "") -> ProtocolSpec:
    """Check a decoded protocol table and build a :class:`ProtocolSpec`."""
    path = Path(path)
    src = str(path)
    base = path.parent
    for k in data:
        if k not in SECTIONS:
            _fail(src, k, f"is not a known section (known: {', '.join(SECTIONS)})")
    head = _table(src, data, "protocol")
    _check_keys(src, "protocol", head, SECTIONS["protocol"])
    if head.get("format") != FORMAT:
        _fail(src, "protocol.format", f"must be {FORMAT!r}, found {head.get('format')!r}")
    name = _str(src, "protocol.name", head.get("name", path.stem))
    kind = head.get("kind", "gradient")
    if kind not in KINDS:
        _fail(src, "protocol.kind", f"must be one of {', '.join(KINDS)}, found {kind!r}")
    desc = head.get("description", "")
    if not isinstance(desc, str):
        _fail(src, "protocol.description", f"must be a string, found {desc!r}")
    repeats = checks.count(src, "protocol.repeats", head.get("repeats", 3), 1, checks.REPEATS)
    retakes = checks.count(src, "protocol.max_retakes", head.get("max_retakes", 3), 0, checks.RETAKES)
    linearize = head.get("linearize", "none")
    if linearize not in ("none", "two_level"):
        _fail(src, "protocol.linearize", f"must be \"none\" or \"two_level\", found {linearize!r}")
    mechanics = head.get("mechanics", "linear")
    if mechanics not in ("linear", "nonlinear"):
        _fail(src, "protocol.mechanics", f"must be \"linear\" or \"nonlinear\", found {mechanics!r}")
    if mechanics == "nonlinear" and linearize != "none":
        _fail(src, "protocol.linearize", f"must be \"none\" with mechanics = \"nonlinear\" (the forward load "
              f"is measured as hung; [adjoint] increments extrapolates the adjoint), found {linearize!r}")
    if mechanics == "nonlinear" and kind == "load_series":
        _fail(src, "protocol.mechanics", "\"nonlinear\" applies to gradient and train protocols, "
              "not to a load_series")

    net_t = _table(src, data, "network")
    _check_keys(src, "network", net_t, SECTIONS["network"])
    if "file" not in net_t:
        _fail(src, "network.file", "is missing")
    net_name = _str(src, "network.file", net_t["file"])
    net_path = _resolve(base, net_name)
    network = str(net_path) if (net_path.exists() or net_name.endswith(".json")) else net_name

    cal_t = _table(src, data, "calibration")
    _check_keys(src, "calibration", cal_t, SECTIONS["calibration"])
    calibration = _resolve(base, _str(src, "calibration.file", cal_t["file"])) if "file" in cal_t else None

    cam = _table(src, data, "camera")
    _check_keys(src, "camera", cam, SECTIONS["camera"])
    camera = {k: str(v) for k, v in cam.items()}
    bal = _table(src, data, "balance")
    _check_keys(src, "balance", bal, SECTIONS["balance"])
    balance = dict(bal)
    if "baud" in balance:
        balance["baud"] = checks.count(src, "balance.baud", balance["baud"], 1, 10_000_000)
    for k in ("timeout", "settle_timeout"):
        if k in balance:
            balance[k] = checks.bounded(src, f"balance.{k}", balance[k], 1e-3, 3600.0, "s")

    w = _table(src, data, "weights")
    _check_keys(src, "weights", w, SECTIONS["weights"])
    weights = _weights(src, w)
    rig = _rig(src, _table(src, data, "rig"))
    forward = _forward(src, data.get("forward", []))
    loss = data.get("loss")
    if loss is not None and not isinstance(loss, dict):
        _fail(src, "loss", f"must be a table, found {loss!r}")
    adjoint = _adjoint(src, _table(src, data, "adjoint"))
    tracking = _table(src, data, "tracking")
    known = _tracker_keys()
    for k in tracking:
        if known is not None and k not in known:
            _fail(src, f"tracking.{k}", f"is not a tracker setting (known: {', '.join(sorted(known))})")
    if known is not None:
        from labmnn.metrology.tracking import check_settings
        check_settings({k: v for k, v in tracking.items() if k != "joints"}, src, "tracking.")
    if "joints" in tracking:
        tracking = {**tracking, "joints": str(_resolve(base, _str(src, "tracking.joints", tracking["joints"])))}

    series = None
    if kind == "load_series":
        s = _table(src, data, "series")
        _check_keys(src, "series", s, SECTIONS["series"])
        if "node" in s and "nodes" in s:
            _fail(src, "series.nodes", "give either series.node or series.nodes, not both")
        for k in ("node" if "nodes" not in s else "nodes", "grams"):
            if k not in s:
                _fail(src, f"series.{k}", "is missing")
        grams = s["grams"]
        nodes: tuple[int, ...] = ()
        if "nodes" in s:
            raw = s["nodes"]
            if not isinstance(raw, list) or not raw:
                _fail(src, "series.nodes", f"must list at least one node, found {raw!r}")
            nodes = tuple(_int(src, f"series.nodes[{i}]", v) for i, v in enumerate(checks.length(
                src, "series.nodes", raw, 1000)))
            if len(set(nodes)) != len(nodes):
                _fail(src, "series.nodes", f"lists a node twice: {list(nodes)!r}")
        fewest = 1 if nodes else 2  # one node: a series of at least two masses; several: one mass each will do
        if not isinstance(grams, list) or len(grams) < fewest:
            _fail(src, "series.grams", f"must list at least {'one mass' if nodes else 'two masses'}, "
                  f"found {grams!r}")
        series = SeriesSettings(
            nodes[0] if nodes else _int(src, "series.node", s["node"]),
            tuple(_grams(src, f"series.grams[{i}]", g)
                  for i, g in enumerate(checks.length(src, "series.grams", grams, 1000))),
            parse_direction(src, "series.direction", s.get("direction", "down")),
            nodes,
            _condition(src, "series", s, 0.0),
        )
    train = None
    if kind == "train":
        t = _table(src, data, "train")
        _check_keys(src, "train", t, SECTIONS["train"])
        train = TrainSettings(
            checks.count(src, "train.steps", t.get("steps", 3), 1, checks.TRAIN_STEPS),
            checks.bounded(src, "train.learning_rate", t.get("learning_rate", 0.05), 1e-9, 1e3, "mm"),
            _str(src, "train.output", t.get("output", "trained.json")),
            _train_gradient(src, t.get("gradient", "insitu")),
            str(_resolve(base, _str(src, "train.task", t["task"]))) if "task" in t else None,
            checks.count(src, "train.seed", t.get("seed", 0), 0, 2**31 - 1),
            _condition(src, "train", t, None),
            _train_final(src, t.get("final", "last")),
        )
        if train.task is not None and mechanics != "linear":
            _fail(src, "protocol.mechanics", "must be \"linear\" with [train] task (every sample's forward "
                  f"load is summed from its loadings), found {mechanics!r}")
        if train.task is not None and train.final != "last":
            _fail(src, "train.final", "must be \"last\" with [train] task (a design is measured on one batch, "
                  f"not on the epoch the best-design rule compares), found {train.final!r}")
        if train.task is not None and (forward or loss is not None):
            _fail(src, "train.task", "takes the forward loads and the loss from the task: leave out [[forward]] "
                  "and [loss]")
    if kind == "gradient" or (kind == "train" and train is not None and train.task is None):
        if not forward:
            _fail(src, "forward", "is missing: a gradient protocol needs at least one [[forward]] load")
        if loss is None:
            _fail(src, "loss", "is missing: a gradient protocol needs a [loss] table")
    return ProtocolSpec(
        path=path, text=text, name=name, kind=kind, description=desc, repeats=repeats,
        max_retakes=retakes, linearize=linearize, network=network, calibration=calibration, camera=camera,
        balance=balance, weights=weights, rig=rig, forward=forward, loss=loss,
        adjoint=adjoint, tracking=dict(tracking), series=series, train=train, mechanics=mechanics,
    )


MAX_CONDITION_S = 86400.0  # a day: a longer wait is a typo (minutes for seconds)


def _condition(src, section: str, table: dict, default: float | None) -> float:
    """``[section] condition_s``: seconds >= 0 (``default`` None: the sim methods' ``CONDITION_S``)."""
    if default is None:
        from labmnn.training.methods import CONDITION_S

        default = CONDITION_S
    return checks.bounded(src, f"{section}.condition_s", table.get("condition_s", default), 0.0, MAX_CONDITION_S,
                          "s")


def _train_final(src, v) -> str:
    if v not in ("last", "best"):
        _fail(src, "train.final", f"must be \"last\" or \"best\" (the design with the lowest measured loss), "
              f"found {v!r}")
    return v


def _train_gradient(src, v) -> str:
    if v not in TRAIN_GRADIENTS:
        _fail(src, "train.gradient", f"must be \"insitu\" (adjoint loadings measured) or \"pat\" (adjoint from the "
              f"model at the measured state), found {v!r}")
    return v


def load_protocol(path: str | Path) -> ProtocolSpec:
    """Read and check a protocol TOML file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ProtocolSpec

    Raises
    ------
    InputError
        One line naming the file, the key and the offending value.
    """
    path = Path(path)
    text = read_text(path, "protocol file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), "", f"is not valid TOML ({exc})") from None
    except RecursionError:
        raise InputError(str(path), "", "is not a usable TOML file (nested too deeply)") from None
    return parse_protocol(data, path, text)

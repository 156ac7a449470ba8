"""Task files (``labmnn-task/1``, TOML): what to train, on what, and how.

A task names a network, says how data-set features become forces on input
nodes, which loss reads which output nodes, the data set and its split, the
optimiser and the width bounds.  See ``docs/training.md`` for every key; the
shipped tasks are in ``protocols/tasks/``.

Every malformed value raises a one-line :class:`~labmnn.errors.InputError`
naming the file, the key and the value.

Example
-------
>>> task = load_task("protocols/tasks/iris.toml")      # doctest: +SKIP
>>> task.optimizer.epochs, task.inputs.nodes.tolist()   # doctest: +SKIP
(100, [13, 11, 12, 9])
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labmnn import checks, resources
from labmnn.errors import InputError
from labmnn.model import losses
from labmnn.model.network import Network
from labmnn.resources import tasks_dir
from labmnn.text_files import read_text
from labmnn.training import datasets

FORMAT = "labmnn-task/1"
TASKS_DIR = tasks_dir()
SCALINGS = ("none", "max", "minmax")
WIDTH_METHODS = ("projection", "sigmoid", "sigmoid-paper")
AXES = checks.AXES
MECHANICS = ("linear", "nonlinear")  # labmnn.model.network.MECHANICS
KNOWN_KEYS = {  # table -> keys it may hold ("" is the top level); anything else is a typo
    "": {"format", "name", "description", "network", "mechanics", "inputs", "dataset", "loss", "split", "optimizer",
         "widths"},
    "inputs": {"nodes", "axis", "scaling", "force_n", "floor", "learn_gain", "learn_preload", "lr"},
    "dataset": {"kind", "path", "features", "n_samples", "force_range_n", "noise_sd_m", "seed", "targets"},
    "loss": {"kind", "outputs", "axis", "form", "scale", "label", "targets"},
    "split": {"train_fraction", "seed"},
    "optimizer": {"kind", "lr", "betas", "eps", "epochs", "batch_size"},
    "widths": {"bounds_mm", "method", "sigmoid_beta"},
}


@dataclass
class InputSpec:
    """How features become forces: F[nodes[j], axis] = force_n * scaled feature j.

    Scalings (statistics from the training samples only): ``none``; ``max``
    (feature / its maximum, the paper's); ``minmax`` (``floor + (1 - floor) *
    (x - min) / (max - min)``, so every feature spans [floor, 1]).

    With ``gain_bounds`` / ``preload_bounds`` the encoding becomes
    ``F = force_n * (gain_j * x'_j + preload_j)`` and gains and preloads are
    trained too (their gradient is the adjoint displacement at the input nodes,
    measurable on the rig like the elongations).
    """

    nodes: np.ndarray
    axis: int
    scaling: str = "none"
    force_n: float = 1.0
    floor: float = 0.0
    gain_bounds: tuple[float, float] | None = None
    preload_bounds: tuple[float, float] | None = None
    lr: float = 0.02

    @property
    def learned(self) -> bool:
        """Whether the input encoding (gains / preloads) is trained with the widths."""
        return self.gain_bounds is not None or self.preload_bounds is not None


@dataclass
class OptimizerSpec:
    """Adam settings (lr is a step in normalised width, see :mod:`labmnn.training.optim`)."""

    lr: float = 0.005
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    epochs: int = 100
    batch_size: int = 16


@dataclass
class WidthSpec:
    """Width bounds (metres) and how they are kept (``projection`` or a sigmoid)."""

    bounds: np.ndarray
    method: str = "projection"
    sigmoid_beta: float = 5.0


@dataclass
class SplitSpec:
    train_fraction: float = 0.7
    seed: int = 0


@dataclass
class Task:
    """A parsed task file.

    Attributes
    ----------
    name, description, source : str
    network : Network
        The untrained network the task starts from.
    inputs : InputSpec
    dataset : datasets.Dataset
    loss_spec : dict
        The ``[loss]`` table (``labmnn.model.losses.from_spec`` form).
    split : SplitSpec
    optimizer : OptimizerSpec
    widths : WidthSpec
    mechanics : {"linear", "nonlinear"}
        The bar model every solve and gradient of training uses (top-level key
        ``mechanics``, default ``"linear"``); accuracies are also scored under the
        exact (``"nonlinear"``) model whatever this is.
    raw : dict
        The decoded TOML, recorded with results.
    """

    name: str
    description: str
    source: str
    network: Network
    inputs: InputSpec
    dataset: datasets.Dataset
    loss_spec: dict
    split: SplitSpec
    optimizer: OptimizerSpec
    widths: WidthSpec
    mechanics: str = "linear"
    raw: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``"classification"``, ``"regression"`` or ``"behaviour"`` (one fixed sample)."""
        if self.dataset.n_samples == 1:
            return "behaviour"
        return "classification" if self.dataset.is_classification else "regression"

    def feature_scale(self, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Offset and divisor of the feature scaling, from the training samples only."""
        X = self.dataset.features[train_idx]
        d = X.shape[1]
        if self.inputs.scaling == "max":
            return np.zeros(d), np.abs(X).max(axis=0)
        if self.inputs.scaling == "minmax":
            # x' = floor + (1 - floor) (x - lo) / (hi - lo) = (x - offset) / divisor
            lo = X.min(axis=0)
            span = np.maximum(X.max(axis=0) - lo, 1e-300)
            f = self.inputs.floor
            divisor = span / (1.0 - f)
            return lo - f * divisor, divisor
        return np.zeros(d), np.ones(d)

    def scaled_features(self, idx: np.ndarray, scale: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Features of samples ``idx`` after scaling, (S, d)."""
        offset, divisor = scale
        return (self.dataset.features[idx] - offset) / divisor

    def forces(self, idx: np.ndarray, scale: tuple[np.ndarray, np.ndarray], encoding=None) -> np.ndarray:
        """Input forces (S, n_nodes, 2), newtons, of samples ``idx``.

        ``encoding`` = (gain (d,), preload (d,)) of a learned input encoding.
        """
        X = self.scaled_features(idx, scale)
        if encoding is not None:
            X = encoding[0] * X + encoding[1]
        F = np.zeros((len(idx), self.network.n_nodes, 2))
        F[:, self.inputs.nodes, self.inputs.axis] = self.inputs.force_n * X
        return F

    def loss(self, idx: np.ndarray):
        """The loss object for samples ``idx`` (labels / targets filled in)."""
        spec = self.loss_spec
        ds = self.dataset
        if spec["kind"] == "cross_entropy":
            return losses.CrossEntropyLoss(spec["outputs"], AXES[spec.get("axis", "y")], ds.labels[idx],
                                           form=spec.get("form", "softmax"), scale=float(spec.get("scale", 1e-3)))
        return losses.MSELoss(ds.target_nodes, ds.target_axes, ds.targets[idx])

    def output_nodes(self) -> np.ndarray:
        """Nodes the loss reads."""
        if self.loss_spec["kind"] == "cross_entropy":
            return np.asarray(self.loss_spec["outputs"], dtype=np.int64)
        return np.unique(self.dataset.target_nodes)

    def payload(self) -> dict:
        """The task as plain data (for workers on other machines): see :func:`task_from_payload`."""
        return {"raw": self.raw, "source": self.source, "network": self.network.to_dict()}


# ---------------------------------------------------------------- parsing
def _nodes(src, key, v, n):
    if not isinstance(v, list) or not v:
        raise InputError(src, key, f"must be a non-empty list of node numbers, found {v!r}")
    for k, x in enumerate(v):
        checks.node(src, f"{key}[{k}]", x, n)
    return np.asarray(v, dtype=np.int64)


def _pair(src, table, tname, key):
    if key not in table:
        return None
    v = table[key]
    if (not isinstance(v, list) or len(v) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            or not 0 <= v[0] <= v[1]):
        raise InputError(src, f"{tname}.{key}", f"must be [lo, hi] with 0 <= lo <= hi, found {v!r}")
    return float(v[0]), float(v[1])


def _check_known_keys(src: str, raw: dict) -> None:
    """Refuse keys the task format does not have (a misspelt key would silently be ignored)."""
    import difflib

    for table, known in KNOWN_KEYS.items():
        t = raw if not table else raw.get(table, {})
        if table and t is not None and not isinstance(t, dict):
            raise InputError(src, table, f"must be a table [{table}], found {t!r}")
        for key in t or {}:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
                raise InputError(src, f"{table}.{key}" if table else key, f"is not a task setting{hint}")


def _check_free_nodes(src: str, network: Network, inputs: InputSpec, dataset, loss_spec: dict) -> None:
    """Refuse input or output nodes that are fixed to the frame: they never move."""
    fixed = set(network.fixed_nodes.tolist())
    for k, node in enumerate(inputs.nodes.tolist()):
        if node in fixed:
            raise InputError(src, f"inputs.nodes[{k}]",
                             f"node {node} is fixed to the frame: a force there moves nothing")
    if loss_spec.get("kind") == "cross_entropy":
        outs = [(f"loss.outputs[{k}]", v) for k, v in enumerate(loss_spec["outputs"])]
    else:
        table = "loss" if isinstance(loss_spec.get("targets"), list) else "dataset"
        outs = [(f"{table}.targets[{k}].node", int(v)) for k, v in enumerate(dataset.target_nodes)]
    for key, node in outs:
        if node in fixed:
            raise InputError(src, key, f"node {node} is fixed to the frame: it never moves, so it cannot be an output")


def task_from_payload(payload: dict) -> Task:
    """Rebuild a task from :meth:`Task.payload` (the Iris CSV is the installed package's)."""
    net = Network.from_dict(payload["network"], payload["source"])
    return parse_task(payload["raw"], payload["source"], base_dir=Path(payload["source"]).parent, network=net)


def find_task(spec: str | Path) -> Path:
    """A task file path, or the name of a shipped task (``iris``, ``regression`` ...).

    An existing file wins; a folder of the same name does not hide a shipped task
    (see :func:`labmnn.resources.find_task`).
    """
    return resources.find_task(spec)


def load_task(spec: str | Path) -> Task:
    """Read and check a task file (a path, or a shipped task's name).

    Raises
    ------
    InputError
        On the first malformed key, naming file, key and value.
    """
    path = find_task(spec)
    src = str(path)
    try:
        raw = tomllib.loads(read_text(path, "task file"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(src, "", f"is not valid TOML ({exc})") from None
    except RecursionError:
        raise InputError(src, "", "is not a usable TOML file (nested too deeply)") from None
    return parse_task(raw, src, base_dir=path.parent)


def parse_task(raw: dict, src: str = "<task>", base_dir: Path | None = None, network: Network | None = None) -> Task:
    """Check a decoded task table and build the :class:`Task` (see :func:`load_task`).

    ``network`` replaces the file named by the task's ``network`` key (a worker on
    another machine gets the network as data).
    """
    base_dir = Path(base_dir or ".")
    fmt = raw.get("format")
    if fmt != FORMAT:
        raise InputError(src, "format", f"must be {FORMAT!r}, found {fmt!r}")
    _check_known_keys(src, raw)
    name = checks.get(src, raw, "", "name", str, required=True)
    description = checks.get(src, raw, "", "description", str, default="")
    net_ref = checks.get(src, raw, "", "network", str, required=True)
    mechanics = raw.get("mechanics", "linear")
    if mechanics not in MECHANICS:
        raise InputError(src, "mechanics", f"must be \"linear\" or \"nonlinear\", found {mechanics!r}")
    if network is None:
        net_path = base_dir / net_ref
        network = Network.load(net_path) if net_path.suffix == ".json" else Network.open(net_ref)
    n = network.n_nodes
    for section in ("inputs", "dataset", "loss"):
        if not isinstance(raw.get(section), dict):
            raise InputError(src, section, "table is missing")

    # [inputs]
    t = raw["inputs"]
    inputs = InputSpec(
        nodes=_nodes(src, "inputs.nodes", t.get("nodes"), n),
        axis=checks.axis(src, "inputs.axis", t.get("axis", "y")),
        scaling=checks.get(src, t, "inputs", "scaling", str, default="none"),
        force_n=checks.bounded(src, "inputs.force_n", t.get("force_n", 1.0), -checks.FORCE_N, checks.FORCE_N, "N"),
        floor=checks.get(src, t, "inputs", "floor", float, default=0.0),
        gain_bounds=_pair(src, t, "inputs", "learn_gain"),
        preload_bounds=_pair(src, t, "inputs", "learn_preload"),
        lr=checks.bounded(src, "inputs.lr", checks.get(src, t, "inputs", "lr", float, default=0.02), 1e-12, 10.0),
    )
    if not 0 <= inputs.floor < 1:
        raise InputError(src, "inputs.floor", f"must be in [0, 1), found {inputs.floor!r}")
    if inputs.scaling not in SCALINGS:
        raise InputError(src, "inputs.scaling", f"must be one of {', '.join(SCALINGS)}, found {inputs.scaling!r}")

    # [loss]
    loss_spec = dict(raw["loss"])
    kind = loss_spec.get("kind")

    # [dataset]
    dataset = _parse_dataset(src, raw["dataset"], loss_spec, n, base_dir)
    d = dataset.features.shape[1]
    if d != len(inputs.nodes):
        raise InputError(src, "inputs.nodes", f"lists {len(inputs.nodes)} nodes but the data set has {d} features")
    if kind == "cross_entropy":
        probe = dict(loss_spec, label=0)
        losses.from_spec(probe, f"{src}: loss", n)
        if dataset.labels is None:
            raise InputError(src, "loss.kind",
                             "cross_entropy needs a data set with labels (iris, or fixed with loss.label)")
        if dataset.labels.max() >= len(loss_spec["outputs"]):
            raise InputError(src, "loss.outputs", f"has {len(loss_spec['outputs'])} nodes but the data set has "
                                                  f"{int(dataset.labels.max()) + 1} classes")
    elif kind == "mse":
        if dataset.targets is None:
            raise InputError(src, "loss.kind", "mse needs a data set with targets (linear, or fixed with loss.targets)")
    else:
        raise InputError(src, "loss.kind", f"must be \"mse\" or \"cross_entropy\", found {kind!r}")

    _check_free_nodes(src, network, inputs, dataset, loss_spec)

    # [split]
    t = raw.get("split", {})
    split = SplitSpec(train_fraction=checks.get(src, t, "split", "train_fraction", float, default=0.7),
                      seed=checks.get(src, t, "split", "seed", int, default=0))
    if split.seed < 0:
        raise InputError(src, "split.seed", f"must be >= 0, found {split.seed!r}")
    if not 0 < split.train_fraction < 1:
        raise InputError(src, "split.train_fraction", f"must be between 0 and 1, found {split.train_fraction!r}")

    # [optimizer]
    t = raw.get("optimizer", {})
    okind = t.get("kind", "adam")
    if okind != "adam":
        raise InputError(src, "optimizer.kind", f"must be \"adam\", found {okind!r}")
    betas = t.get("betas", [0.9, 0.999])
    if (not isinstance(betas, list) or len(betas) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise InputError(src, "optimizer.betas", f"must be [beta1, beta2] in [0, 1), found {betas!r}")
    optimizer = OptimizerSpec(
        # Adam steps the width variable by about lr per step: past 10 a step jumps across any width range
        lr=checks.bounded(src, "optimizer.lr", checks.get(src, t, "optimizer", "lr", float, default=0.005),
                          1e-12, 10.0),
        betas=(float(betas[0]), float(betas[1])),
        eps=checks.bounded(src, "optimizer.eps", checks.get(src, t, "optimizer", "eps", float, default=1e-8), 1e-300,
                           1.0),
        epochs=checks.count(src, "optimizer.epochs", t.get("epochs", 100), 1, checks.EPOCHS),
        batch_size=checks.count(src, "optimizer.batch_size", t.get("batch_size", 16), 1, checks.SAMPLES),
    )

    # [widths]
    t = raw.get("widths", {})
    if "bounds_mm" in t:
        b = t["bounds_mm"]
        if (not isinstance(b, list) or len(b) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
                or not 0 < b[0] < b[1] or not np.isfinite(b[1])
                or not checks.WIDTH_MM[0] <= b[0] < b[1] <= checks.WIDTH_MM[1]):
            raise InputError(src, "widths.bounds_mm", f"must be [lo, hi] with 0 < lo < hi, found {b!r}")
        bounds = np.asarray(b, dtype=float) * 1e-3
    elif network.width_bounds is not None:
        bounds = network.width_bounds.copy()
    else:
        raise InputError(src, "widths.bounds_mm", "is missing and the network has no width_bounds_mm")
    method = checks.get(src, t, "widths", "method", str, default="projection")
    if method not in WIDTH_METHODS:
        raise InputError(src, "widths.method", f"must be one of {', '.join(WIDTH_METHODS)}, found {method!r}")
    widths = WidthSpec(bounds=bounds, method=method,
                       sigmoid_beta=checks.positive(src, "widths.sigmoid_beta",
                                              checks.get(src, t, "widths", "sigmoid_beta", float, default=5.0)))
    return Task(name=name, description=description, source=src, network=network, inputs=inputs,
                dataset=dataset, loss_spec=loss_spec, split=split, optimizer=optimizer, widths=widths,
                mechanics=mechanics, raw=raw)


def _parse_dataset(src: str, t: dict, loss_spec: dict, n: int, base_dir: Path) -> datasets.Dataset:
    kind = t.get("kind")
    if kind == "iris":
        rel = checks.get(src, t, "dataset", "path", str, default=None)
        return datasets.iris(base_dir / rel if rel else datasets.IRIS_CSV)
    if kind == "fixed":
        feats = t.get("features", [1.0])
        if not isinstance(feats, list) or not feats or len(feats) > checks.MAX_NODES or not all(
                checks.is_number(v) and np.isfinite(v) and abs(v) <= checks.FEATURE for v in feats):
            raise InputError(src, "dataset.features", f"must be a list of finite numbers, found {feats!r}")
        if loss_spec.get("kind") == "cross_entropy":
            label = loss_spec.get("label", 0)
            if isinstance(label, bool) or not isinstance(label, int):
                raise InputError(src, "loss.label", f"must be a class index, found {label!r}")
            return datasets.fixed(feats, labels=[label])
        if loss_spec.get("kind") == "mse":
            mse = losses.from_spec(loss_spec, f"{src}: loss", n)
            return datasets.fixed(feats, targets=mse.values, nodes=mse.nodes, axes=mse.axes)
        return datasets.fixed(feats)
    if kind == "linear":
        n_samples = checks.count(src, "dataset.n_samples", t.get("n_samples", 100), 1, checks.SAMPLES)
        rng = t.get("force_range_n", [-0.196, 0.196])
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(checks.is_number(v) and np.isfinite(v) for v in rng)
                or rng[0] >= rng[1]):
            raise InputError(src, "dataset.force_range_n", f"must be [lo, hi] newtons with lo < hi, found {rng!r}")
        noise = checks.get(src, t, "dataset", "noise_sd_m", float, default=0.0)
        if noise < 0:
            raise InputError(src, "dataset.noise_sd_m", f"must be >= 0, found {noise!r}")
        seed = checks.get(src, t, "dataset", "seed", int, default=0)
        if seed < 0:
            raise InputError(src, "dataset.seed", f"must be >= 0, found {seed!r}")
        targets = t.get("targets")
        if not isinstance(targets, list) or not targets:
            raise InputError(src, "dataset.targets",
                             f"must list {{node, axis, slope_m_per_n}} tables, found {targets!r}")
        nodes, axes, slopes = [], [], []
        for k, tg in enumerate(targets):
            key = f"dataset.targets[{k}]"
            if not isinstance(tg, dict):
                raise InputError(src, key, f"must be a table, found {tg!r}")
            nodes.append(checks.node(src, f"{key}.node", tg.get("node"), n))
            axes.append(checks.axis(src, f"{key}.axis", tg.get("axis")))
            slopes.append(checks.get(src, tg, key, "slope_m_per_n", float, required=True))
        return datasets.linear_response(n_samples, (float(rng[0]), float(rng[1])), nodes, axes, slopes,
                                        noise_sd_m=noise, seed=seed)
    raise InputError(src, "dataset.kind", f"must be \"iris\", \"linear\" or \"fixed\", found {kind!r}")

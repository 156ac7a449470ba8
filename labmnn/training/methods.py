"""Training the printed network: one loop, five methods (see ``docs/training-methods.md``).

``insilico``
    Train the model (:func:`labmnn.training.loop.train`), print once.
``identify``
    Print the starting design, measure ``identify_cases`` single loadings on it,
    identify its stiffness (:func:`labmnn.fabrication.identify.identify`, exact
    mechanics when the installed version offers them), train the identified
    model, print.
``pat``
    Physics-aware training: per batch the forward loadings are measured on the
    print, dL/du is taken at the measured displacements, and the adjoint
    elongations come from the model at the measured state (the linear model's
    adjoint, or with ``mechanics="nonlinear"`` the tangent stiffness at the
    measured displacements); Adam updates the widths and the design is
    reprinted once they moved by more than the printer's resolution.
``insitu``
    The seed paper's gradient: forward and adjoint both measured.  The adjoint
    force -dL/du of each sample is scaled so its largest stack is
    ``adjoint_grams``, rounded to whole grams and split by pull direction
    (+x, -x, +y, -y: one loading each, hung on top of the forward stacks); the
    increments are added up and divided by the scale.
``hybrid``
    ``insilico`` (or ``identify``) first, then ``hybrid_steps`` PAT (or in-situ) steps;
    the default start and steps depend on the task's kind (:func:`hybrid_defaults`).

Every run counts its loadings and prints (:class:`~labmnn.training.printed.BenchLog`);
scoring the final print (noise-free, on the task's held-out split) costs nothing.  Every new
print is conditioned (``condition_s`` unloaded on the bench) before its first loading, and the
measured methods keep the print with the lowest loss measured while it was young
(``rank_age_s``): both against creep, see ``docs/training-methods.md``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from labmnn.errors import InputError
from labmnn.model.network import GRAVITY, Network, check_mechanics
from labmnn.training.datasets import split_indices
from labmnn.training.loop import evaluate, initial_encoding, train
from labmnn.training.optim import Adam, WidthMap
from labmnn.training.printed import SECONDS_PER_LOADING, SECONDS_PER_PRINT, BenchLog, PrintedNetwork
from labmnn.training.tasks import Task

METHODS = ("insilico", "identify", "pat", "insitu", "hybrid")
RESOLUTION_M = 5e-5  # printer resolution: reprint when a width moved by more than this
CONDITION_S = 300.0  # a new print waits this long, unloaded, before its first loading (docs/training-methods.md)
RANK_AGE_S = 1200.0  # the best print is ranked by losses measured while it was at most this old


@dataclass
class MethodSettings:
    """How a method runs.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    mechanics : {"linear", "nonlinear"}
        The model's mechanics (training in the model, identification, PAT's adjoint).
    epochs : int or None
        Epochs of training (in the model or on the print); default the task's.
    seed : int or None
        Split and shuffling seed; default the task's.
    resolution_m : float
        Reprint when a width moved by more than this (m).
    identify_cases, identify_grams : int, float
        Single loadings measured for identification and their mass (g).
    adjoint_grams : float
        Largest adjoint stack of in-situ training (g), rounded to whole grams.
    hybrid_start, hybrid_follow : str
        ``insilico`` or ``identify`` (``None``: :func:`hybrid_defaults`); ``pat`` or ``insitu``.
    hybrid_steps : int or None
        Steps on the print after the start (``None``: :func:`hybrid_defaults`).
    hybrid_lr : float or None
        Adam step of the hybrid's steps on the print (default: the task's).
    seconds_per_loading, seconds_per_print : float
        Bench time of one loading and of one print change (s), for ``bench_hours``
        (default the stated estimates of :mod:`labmnn.training.printed`).
    identify_regularization : "auto" or float
        Tikhonov weight of the identification (``"auto"``: cross-validated).
    final : {"best", "last"}
        Measured methods: print the last widths, measure that print once on
        the training set, and keep the print whose mean measured loss is the
        lowest (an earlier print is remounted; nothing more is printed); or
        print the last widths and stop (never measured).
    adjoint_at : {"corrected", "print", "model"}
        Between reprints the optimiser's widths run ahead of the print on the
        bench.  ``"corrected"``: the measured displacements are shifted by the
        model's predicted change from the printed to the current widths, and
        the gradient is taken there (at the current widths); ``"print"``: the
        gradient at the printed widths, uncorrected; ``"model"``: uncorrected
        measurement, adjoint at the current widths.
    condition_s : float
        Conditioning of every new print before its first loading: it waits this
        long on the bench, unloaded (s; counted in bench hours).  See
        :class:`~labmnn.training.printed.BenchLog`.
    rank_age_s : float
        ``final="best"``: prints are ranked by the losses measured on them
        while they were at most this old (s, by the bench clock; ``inf``: every
        loss), so that prints are compared at like ages near the age of use.
    """

    method: str = "insilico"
    mechanics: str = "linear"
    epochs: int | None = None
    seed: int | None = None
    resolution_m: float = RESOLUTION_M
    identify_cases: int = 9
    identify_grams: float = 10.0
    adjoint_grams: float = 10.0
    hybrid_start: str | None = None
    hybrid_follow: str = "pat"
    hybrid_steps: int | None = None
    hybrid_lr: float | None = None
    identify_regularization: str | float = "auto"
    final: str = "best"
    adjoint_at: str = "print"
    condition_s: float = CONDITION_S
    rank_age_s: float = RANK_AGE_S
    seconds_per_loading: float = SECONDS_PER_LOADING
    seconds_per_print: float = SECONDS_PER_PRINT

    def __post_init__(self):
        check_method(self.method)
        check_mechanics(self.mechanics)
        if self.hybrid_start not in (None, "insilico", "identify"):
            raise InputError("hybrid start", "", f"must be insilico or identify, found {self.hybrid_start!r}")
        if self.hybrid_follow not in ("pat", "insitu"):
            raise InputError("hybrid follow-up", "", f"must be pat or insitu, found {self.hybrid_follow!r}")
        if self.hybrid_steps is not None and (isinstance(self.hybrid_steps, bool) or int(self.hybrid_steps) < 0):
            raise InputError("--hybrid-steps", "", f"must be >= 0, found {self.hybrid_steps!r}")
        if self.final not in ("best", "last"):
            raise InputError("final print", "", f"must be best or last, found {self.final!r}")
        if self.adjoint_at not in ("corrected", "print", "model"):
            raise InputError("adjoint model", "", f"must be corrected, print or model, found {self.adjoint_at!r}")
        c = self.condition_s
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not np.isfinite(c) or c < 0:
            raise InputError("--condition-s", "", f"must be a finite number of seconds >= 0, found {c!r}")
        r = self.rank_age_s
        if isinstance(r, bool) or not isinstance(r, (int, float)) or np.isnan(r) or not r > 0:
            raise InputError("rank age", "", f"must be > 0 s (inf: every measured loss), found {r!r}")
        if not self.resolution_m > 0:
            raise InputError("printer resolution", "", f"must be > 0, found {self.resolution_m!r}")


@dataclass
class MethodResult:
    """A method's outcome: the final print's widths, its score on the print, and the cost."""

    network: Network
    metrics: dict
    history: list = field(default_factory=list)


def check_method(name: str, option: str = "--method") -> str:
    if name not in METHODS:
        raise InputError(option, "", f"must be one of {', '.join(METHODS)}, found {name!r}")
    return name


def hybrid_defaults(task: Task) -> tuple[str, int]:
    """The hybrid's default start and number of steps on the print.

    The start is ``identify`` for every task: 9 single loadings and one print
    more than ``insilico``, and better on all three shipped kinds (measured
    with ``benchmarks/print_methods_floor.py``, 8 prints: behaviour-MSE
    0.54 % against 1.02 % mean target error, Iris 0.992 against 0.978 test
    accuracy, regression 7.6 % against 7.9 % test error).  Steps: 80 on a
    behaviour task (one loading each; 40 left 0.85 % mean and 2 % on the worst
    print), 40 on a dataset task (a batch of loadings each).  See
    ``docs/training-methods.md``.
    """
    return "identify", (80 if task.kind == "behaviour" else 40)


def hybrid_plan(task: Task, start: str | None = None, steps: int | None = None) -> tuple[str, int]:
    """The hybrid's start and steps on the print: ``start``/``steps`` where given, else :func:`hybrid_defaults`."""
    d_start, d_steps = hybrid_defaults(task)
    return start or d_start, d_steps if steps is None else int(steps)


def metric_of(task: Task) -> tuple[str, bool]:
    """The comparison's metric key and whether higher is better."""
    if task.kind == "behaviour":
        return "max_target_relative_error", False
    if task.loss_spec["kind"] == "cross_entropy":
        return "test_accuracy", True
    return "test_relative_error", False


class _Setup:
    """Split, feature scale, encoding and forces of a task (shared by every method)."""

    def __init__(self, task: Task, seed: int | None):
        ds = task.dataset
        self.seed = task.split.seed if seed is None else int(seed)
        self.train_idx, self.test_idx = split_indices(ds.n_samples, task.split.train_fraction, self.seed)
        self.scale = task.feature_scale(self.train_idx)
        self.encoding = initial_encoding(task, task.network)
        self.F_all = task.forces(np.arange(ds.n_samples), self.scale, self.encoding)


def score(task: Task, net: Network, U_all: np.ndarray, setup: _Setup, prefix: str) -> dict:
    """The task's figures for displacements ``U_all`` of every sample (on the print or in the model)."""
    out = {}
    tr = evaluate(task, net, setup.train_idx, setup.scale, U_all)
    if task.kind == "behaviour":
        tgt = task.dataset.targets[0]
        got = U_all[0][task.dataset.target_nodes, task.dataset.target_axes]
        out[f"{prefix}max_target_relative_error"] = float(np.max(np.abs(got - tgt) / np.abs(tgt)))
        out[f"{prefix}loss"] = tr.loss
        return out
    te = evaluate(task, net, setup.test_idx, setup.scale, U_all)
    key = "accuracy" if tr.accuracy is not None else "relative_error"
    out[f"{prefix}train_{key}"] = getattr(tr, key)
    out[f"{prefix}test_{key}"] = getattr(te, key)
    out[f"{prefix}loss"] = tr.loss
    return out


# ------------------------------------------------------------------ gradients
def _pat_gradient(net: Network, U: np.ndarray, dLdu: np.ndarray, mechanics: str) -> np.ndarray:
    """dL/dk from measured displacements and the model's adjoint at the measured state."""
    k = net.stiffness
    if mechanics == "linear":
        e_adj = net.equilibrium().solve(-dLdu).elongations
        e_fwd = (net.compatibility_matrix @ U.reshape(len(U), -1).T).T
        return np.mean(e_adj * e_fwd, axis=0)
    from labmnn.model.nonlinear import NonlinearStatics, bar_state

    statics = NonlinearStatics(net, k)
    state = bar_state(net, U, k)
    V = statics.adjoint(state, -dLdu)
    return np.mean(statics.elongations_along(state, V) * state.stretch, axis=0)


def _geometric(net: Network, U: np.ndarray):
    """Stretch l - L (S, m) and deformed unit vectors (S, m, 2) of measured displacements."""
    i, j = net.bonds[:, 0], net.bonds[:, 1]
    d = (net.nodes[j] - net.nodes[i])[None] + U[:, j] - U[:, i]
    length = np.hypot(d[..., 0], d[..., 1])
    return length - net.lengths[None], d / length[..., None]


def adjoint_loadings(adj: np.ndarray, grams: float) -> tuple[list, np.ndarray]:
    """Split adjoint forces (S, n, 2) into hangable loadings.

    Each sample's force is scaled so its largest component is ``grams``,
    rounded to whole grams, and split by pull direction (+x, -x, +y, -y).

    Returns
    -------
    parts : list of (sample, forces (n, 2))
        One loading each, in newtons (to be hung on top of the sample's forward loads).
    scale : ndarray (S,)
        The factor each sample's force was scaled by (0 where nothing is hung).
    """
    S = len(adj)
    peak = np.abs(adj).reshape(S, -1).max(axis=1)
    scale = np.where(peak > 0, grams * 1e-3 * GRAVITY / np.where(peak > 0, peak, 1.0), 0.0)
    applied = np.round(adj * scale[:, None, None] / (1e-3 * GRAVITY)) * (1e-3 * GRAVITY)
    parts = []
    for s in range(S):
        for axis in (0, 1):
            for sign in (1.0, -1.0):
                mask = np.zeros_like(applied[s], dtype=bool)
                mask[:, axis] = sign * applied[s][:, axis] > 0
                if mask.any():
                    parts.append((s, np.where(mask, applied[s], 0.0)))
    return parts, scale


def _insitu_gradient(net: Network, log: BenchLog, F: np.ndarray, U: np.ndarray, dLdu: np.ndarray,
                     grams: float) -> np.ndarray:
    """dL/dk with forward and adjoint elongations measured on the print."""
    stretch, n = _geometric(net, U)
    parts, scale = adjoint_loadings(-dLdu, grams)
    V = np.zeros_like(U)
    if parts:
        Fp = np.array([F[s] + p for s, p in parts])
        Up = log.measure(Fp)
        for (s, _), u in zip(parts, Up):
            V[s] += (u - U[s]) / scale[s]
    i, j = net.bonds[:, 0], net.bonds[:, 1]
    e_adj = np.einsum("smk,smk->sm", n, V[:, j] - V[:, i])
    return np.mean(e_adj * stretch, axis=0)


# ------------------------------------------------------------------ the loop
def train_on_print(task: Task, net: Network, log: BenchLog, setup: _Setup, kind: str, mechanics: str,
                   epochs: int | None = None, max_steps: int | None = None, lr: float | None = None,
                   resolution_m: float = RESOLUTION_M, adjoint_grams: float = 10.0,
                   lr_final: float = 0.1, rng=None, adjoint_at: str = "print") -> tuple[Network, list]:
    """Adam on the widths with gradients measured on the print (``kind`` "pat" or "insitu").

    ``net`` is the model (its widths are those of the current print when the
    loop starts); the print is reprinted whenever the widths moved by more than
    ``resolution_m``.  The Adam step decays linearly to ``lr_final`` times its
    start over the run (measured gradients are noisy).  Returns the model at the last widths and a history
    (one row per step: loss measured on the print, prints so far).
    """
    net = net.copy()
    if log.widths is None:
        log.reprint(net.width)
    wmap = WidthMap(task.widths.bounds, task.widths.method, task.widths.sigmoid_beta)
    opt = Adam(lr=task.optimizer.lr if lr is None else lr, betas=task.optimizer.betas, eps=task.optimizer.eps)
    x = wmap.to_variable(net.width)
    net.set_widths(wmap.to_width(x))
    rng = rng or np.random.default_rng([setup.seed, 7])
    epochs = task.optimizer.epochs if epochs is None else int(epochs)
    bs = task.optimizer.batch_size
    history, step, epoch = [], 0, 0
    lr0 = opt.lr
    total = max_steps if max_steps is not None else epochs * -(-len(setup.train_idx) // bs)
    while max_steps is not None or epoch < epochs:
        epoch += 1
        order = rng.permutation(setup.train_idx) if len(setup.train_idx) > 1 else setup.train_idx
        for start in range(0, len(order), bs):
            if max_steps is not None and step >= max_steps:
                return net, history
            idx = order[start:start + bs]
            F = setup.F_all[idx]
            U = log.measure(F)
            value, dLdu = task.loss(idx)(U)
            log.note(float(np.mean(value)))
            at = net
            if not np.array_equal(net.width, log.widths):
                printed = net.copy()
                printed.set_widths(log.widths)
                if adjoint_at == "print":
                    at = printed
                elif adjoint_at == "corrected":  # what the print would show at the optimiser's widths
                    U = U + _model_solve(net, F, mechanics) - _model_solve(printed, F, mechanics)
                    _, dLdu = task.loss(idx)(U)
            dLdu = np.asarray(dLdu, dtype=float)
            if kind == "pat":
                g_k = _pat_gradient(at, U, dLdu, mechanics)
            else:
                g_k = _insitu_gradient(at, log, F, U, dLdu, adjoint_grams)
            g_w = g_k * at.stiffness / at.width
            opt.lr = lr0 * (1.0 - (1.0 - lr_final) * step / max(total, 1))  # annealed: measured gradients are noisy
            x = wmap.clip(opt.step(x, wmap.variable_gradient(x, g_w)))
            net.set_widths(wmap.to_width(x))
            step += 1
            if np.max(np.abs(net.width - log.widths)) > resolution_m:
                log.reprint(net.width)
            history.append({"step": step, "measured_loss": float(np.mean(value)), "loadings": log.loadings,
                            "prints": log.prints})
    return net, history


def identification_nodes(net: Network, cases: int) -> np.ndarray:
    """The free nodes the identification loads, one single loading each: ``cases`` spread evenly."""
    free = np.setdiff1d(np.arange(net.n_nodes), net.fixed_nodes)
    return free[np.unique(np.round(np.linspace(0, len(free) - 1, min(cases, len(free)))).astype(int))]


def _identify(task: Task, log: BenchLog, settings: MethodSettings) -> tuple[Network, dict]:
    """Measure single loadings on a print of the starting design and identify it."""
    from labmnn.fabrication import identify as ident_mod
    from labmnn.fabrication.load_series import LoadCase

    net = task.network
    if log.widths is None or not np.array_equal(log.widths, net.width):
        log.reprint(net.width)
    nodes = identification_nodes(net, settings.identify_cases)
    F = np.zeros((len(nodes), net.n_nodes, 2))
    F[np.arange(len(nodes)), nodes, 1] = -settings.identify_grams * 1e-3 * GRAVITY
    U = log.measure(F)
    cases = [LoadCase(F[s], U[s], None, f"node{int(nd)}-{settings.identify_grams:g}g") for s, nd in enumerate(nodes)]
    kwargs = {"holdout": 0, "seed": 0, "regularization": settings.identify_regularization}
    used = "linear"
    if "mechanics" in inspect.signature(ident_mod.identify).parameters:
        kwargs["mechanics"] = used = settings.mechanics
    result = ident_mod.identify(net, cases, **kwargs)
    return result.network, {"identify_cases": len(cases), "identify_mechanics": used,
                            "identified_modulus_factor": result.modulus_factor}


def run_method(task: Task, settings: MethodSettings, printed: PrintedNetwork | None) -> MethodResult:
    """Train ``task`` by ``settings.method`` and score the final print.

    Parameters
    ----------
    printed : PrintedNetwork or None
        The print world (``None``: only ``insilico`` can run, and nothing is scored on a print).

    Returns
    -------
    MethodResult
        ``metrics`` holds ``method``, ``loadings``, ``prints``, ``bench_hours``, the
        model's own figures (``model_...``) and the final print's (``print_...``).

    Raises
    ------
    InputError
        When the method needs a print and there is none.
    """
    method = settings.method
    if printed is None and method != "insilico":
        raise InputError("--method", "", f"{method} measures a print: give --on sim (the simulated print world) "
                                         "or --on rig")
    log = (BenchLog(printed, condition_s=float(settings.condition_s), seconds_per_loading=settings.seconds_per_loading,
                    seconds_per_print=settings.seconds_per_print) if printed is not None else None)
    setup = _Setup(task, settings.seed)
    mech = settings.mechanics
    extra: dict = {}
    history: list = []
    h_start, h_steps = hybrid_plan(task, settings.hybrid_start, settings.hybrid_steps)
    start = h_start if method == "hybrid" else method

    if start in ("insilico", "identify"):
        model = task.network
        if start == "identify":
            model, extra = _identify(task, log, settings)
        res = train(task, seed=setup.seed, epochs=settings.epochs, network=model, **_mech_kw(mech))
        net = res.network
        if method == "hybrid":
            log.reprint(net.width)
            net, history = train_on_print(task, net, log, setup, settings.hybrid_follow, mech, max_steps=h_steps,
                                          lr=settings.hybrid_lr, resolution_m=settings.resolution_m,
                                          adjoint_grams=settings.adjoint_grams, adjoint_at=settings.adjoint_at)
    else:
        log.reprint(task.network.width)
        net, history = train_on_print(task, task.network, log, setup, method, mech, epochs=settings.epochs,
                                      resolution_m=settings.resolution_m, adjoint_grams=settings.adjoint_grams,
                                      adjoint_at=settings.adjoint_at)
    if log is not None and settings.final == "best" and log.measured:
        _keep_best_print(task, net, log, setup, settings.rank_age_s)
    elif log is not None and (log.widths is None or not np.array_equal(net.width, log.widths)):
        log.reprint(net.width)
    if log is not None:
        net = net.copy()
        net.set_widths(log.widths)  # what is printed
    metrics = {"task": task.name, "kind": task.kind, "method": method, "mechanics": mech, "seed": setup.seed,
               "hybrid": ({"start": h_start, "follow": settings.hybrid_follow, "steps": h_steps,
                           "lr": settings.hybrid_lr if settings.hybrid_lr is not None else task.optimizer.lr}
                          if method == "hybrid" else None),
               "resolution_mm": settings.resolution_m * 1e3, "final": settings.final,
               "adjoint_at": settings.adjoint_at, "rank_age_s": settings.rank_age_s, **extra}
    metrics.update(score(task, net, _model_solve(net, setup.F_all, mech), setup, "model_"))
    if log is not None:
        metrics.update(score(task, net, log.truth(setup.F_all), setup, "print_"))
        metrics.update(log.cost())
    else:
        metrics.update({"loadings": 0, "prints": 1, "bench_hours": None})
    key, _ = metric_of(task)
    metrics["metric"] = key
    metrics["metric_on_print"] = metrics.get(f"print_{key}")
    return MethodResult(network=net, metrics=metrics, history=history)


def _keep_best_print(task: Task, net: Network, log: BenchLog, setup: _Setup, rank_age_s: float = np.inf) -> None:
    """End of a measured run: print the last widths, measure them on the training set, keep the best print.

    The last widths are printed (unless some print already has them) and
    measured once on every training sample (counted).  Candidates are the
    prints measured on at least as many batches as an epoch has, so that
    mean batch losses compare; the one with the lowest is mounted (an earlier
    print is remounted: a print change, nothing printed).  Only losses measured
    while a print was at most ``rank_age_s`` old count (like ages: creep); if
    no print qualifies so, every loss counts.
    """
    bs = task.optimizer.batch_size
    if not any(np.array_equal(net.width, w) for w in log.shelf.values()):
        log.reprint(net.width)
        for start in range(0, len(setup.train_idx), bs):
            idx = setup.train_idx[start:start + bs]
            value, _ = task.loss(idx)(log.measure(setup.F_all[idx]))
            log.note(float(np.mean(value)))
    need = -(-len(setup.train_idx) // bs)
    best = log.best_measured(min_count=need, max_age_s=None if np.isinf(rank_age_s) else rank_age_s)
    if best is None:
        best = log.best_measured(min_count=need)
    log.remount(best if best is not None else log.current)


def _mech_kw(mechanics: str) -> dict:
    """``mechanics=`` for :func:`train` when the installed loop takes it (else the linear model)."""
    if mechanics != "linear" and "mechanics" in inspect.signature(train).parameters:
        return {"mechanics": mechanics}
    return {}


def _model_solve(net: Network, F: np.ndarray, mechanics: str) -> np.ndarray:
    return net.solve(F, mechanics=mechanics).displacements

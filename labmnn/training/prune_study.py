"""Damage study: remove each bond of a trained network in turn, before and after retraining.

For every bond b the trained network without b is checked for zero modes
(a mechanism cannot be solved or trained: reported as ``zero-modes``), then
scored on the task's held-out split as it is (damage) and after retraining
for some epochs (recovery).  Bonds are ranked as the paper's SI does:
*critical* bonds cost the most when pruned, *redundant* ones almost nothing.

The bonds are independent jobs.  They run on local processes
(``concurrent.futures.ProcessPoolExecutor``) by default, or on a Dask cluster
(``scheduler="tcp://host:8786"``, needs ``pip install 'labmnn[cluster]'``).
Any object with ``submit(fn, *args) -> future`` and ``future.result()`` works
as the executor.

Example
-------
>>> study = run_study("iris", trained_network, epochs=30)        # doctest: +SKIP
>>> [o.bond for o in study.ranked()[:3]]                          # most critical first   # doctest: +SKIP
[22, 25, 13]
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from labmnn.errors import InputError
from labmnn.model.network import Network
from labmnn.model.threads import small_solves
from labmnn.training.loop import train
from labmnn.training.tasks import load_task, task_from_payload

CRITICAL_DROP = 0.2     # accuracy lost (or relative error gained) to call a bond critical
REDUNDANT_DROP = 0.02   # at most this much lost: redundant


@dataclass
class BondOutcome:
    """What pruning one bond does.

    Attributes
    ----------
    bond : int
        Index in the trained network.
    nodes : (int, int)
    status : str
        ``"ok"`` or ``"zero-modes"`` (the pruned network is a mechanism).
    zero_modes : int
    before, after : float or None
        Test score (accuracy, or relative error for regression) right after
        pruning and after retraining.
    train_before, train_after : float or None
    drop : float or None
        Loss of quality from pruning, before retraining (positive = worse): the damage.
    lasting_drop : float or None
        Loss of quality that retraining did not win back (positive = worse).
    category : str
        By the damage: ``critical``, ``moderate``, ``redundant`` or ``zero-modes``.
    recovery : str
        By what retraining wins back: ``recovered`` (lasting drop <= REDUNDANT_DROP),
        ``partly`` or ``not recovered`` (lasting drop >= CRITICAL_DROP); ``""`` when
        there was nothing to recover.
    """

    bond: int
    nodes: tuple
    status: str
    zero_modes: int = 0
    before: float | None = None
    after: float | None = None
    train_before: float | None = None
    train_after: float | None = None
    drop: float | None = None
    lasting_drop: float | None = None
    category: str = ""
    recovery: str = ""


@dataclass
class StudyResult:
    """All bonds' outcomes and the undamaged baseline."""

    task: str
    metric: str
    baseline: float
    epochs: int
    seed: int
    outcomes: list = field(default_factory=list)

    def ranked(self) -> list:
        """Solvable bonds, most critical first (then the zero-mode bonds)."""
        ok = [o for o in self.outcomes if o.status == "ok"]
        bad = [o for o in self.outcomes if o.status != "ok"]
        return sorted(ok, key=lambda o: -o.drop) + bad

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "outcomes"}
        d["outcomes"] = [asdict(o) for o in self.ranked()]
        d["critical"] = [o.bond for o in self.ranked() if o.category == "critical"]
        d["redundant"] = [o.bond for o in self.ranked() if o.category == "redundant"]
        d["not_recovered"] = [o.bond for o in self.ranked() if o.recovery == "not recovered"]
        d["zero_modes"] = [o.bond for o in self.outcomes if o.status != "ok"]
        return d


def _metric(task) -> tuple[str, int]:
    """Score key and its sign (+1: higher is better)."""
    if task.loss_spec["kind"] == "cross_entropy":
        return "accuracy", +1
    return "relative_error", -1


def study_bond(task_payload: dict, network_dict: dict, bond: int, epochs: int, seed: int) -> dict:
    """One job: prune ``bond`` from the network, score, retrain, score.

    Arguments and result are plain data, so the job runs on any worker process or machine.
    """
    task = task_from_payload(task_payload)
    net = Network.from_dict(network_dict, "trained network")
    key, sign = _metric(task)
    i, j = (int(v) for v in net.bonds[bond])
    pruned = net.without_bonds([bond])
    n_modes, _ = pruned.zero_modes()
    if n_modes:
        return asdict(BondOutcome(bond, (i, j), "zero-modes", zero_modes=int(n_modes), category="zero-modes"))
    with small_solves():  # early stopping on the training score: see train(keep_best=...)
        res = train(task, seed=seed, epochs=epochs, network=pruned, record_every=1, keep_best=True)
    h0, h1 = res.history[0], res.history[-1]
    return asdict(BondOutcome(bond, (i, j), "ok", before=h0[f"test_{key}"], after=h1[f"test_{key}"],
                              train_before=h0[f"train_{key}"], train_after=h1[f"train_{key}"]))


@contextlib.contextmanager
def make_executor(scheduler: str | None = None, workers: int | None = None):
    """Local process pool, or a Dask ``Client`` connected to ``scheduler``.

    Raises
    ------
    InputError
        When a scheduler is asked for but dask.distributed is not installed,
        or the scheduler cannot be reached.
    """
    if scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise InputError("--scheduler", "", "needs dask.distributed: pip install 'labmnn[cluster]'") from None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError("--scheduler", "", f"cannot reach the Dask scheduler at {scheduler!r} ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    from concurrent.futures import ProcessPoolExecutor

    n = workers or os.cpu_count() or 1
    pool = ProcessPoolExecutor(max_workers=n, initializer=_ignore_ctrl_c)
    try:
        yield pool
    except BaseException:  # Ctrl-C or an error: stop the workers now, do not wait for their queue
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _ignore_ctrl_c() -> None:
    """Worker initialiser: Ctrl-C is the parent's to handle (it stops the workers)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_study(task_spec: str, trained: Network, epochs: int = 30, seed: int | None = None,
              executor=None, scheduler: str | None = None, workers: int | None = None,
              bonds=None, progress: bool = False) -> StudyResult:
    """Prune every bond (or ``bonds``) of ``trained`` in turn; score before and after retraining.

    Parameters
    ----------
    task_spec : str
        Task file path or shipped task name (sent to workers as data).
    trained : Network
        The trained network.
    epochs : int
        Retraining epochs per pruned network.
    seed : int, optional
        Split seed (default: the task's); the same split for every bond.
    executor : object with ``submit``, optional
        Run jobs there (tests pass a fake); else one is made from
        ``scheduler`` / ``workers``.

    Returns
    -------
    StudyResult
    """
    task = load_task(task_spec)
    if trained.n_nodes != task.network.n_nodes:
        raise InputError(trained.source, "nodes_mm", f"has {trained.n_nodes} nodes but the task's network has "
                                                     f"{task.network.n_nodes}")
    if task.kind == "behaviour":
        raise InputError(task.source, "dataset", f"task {task.name!r} has a single sample (behaviour): a prune "
                                                 "study scores held-out samples, so give a classification or "
                                                 "regression task")
    seed = task.split.seed if seed is None else int(seed)
    bond_list = list(range(trained.n_bonds)) if bonds is None else [int(b) for b in bonds]
    for b in bond_list:
        if not 0 <= b < trained.n_bonds:
            raise InputError("--bonds", "", f"bond {b} is out of range (0..{trained.n_bonds - 1})")
    key, sign = _metric(task)
    with small_solves():
        base = train(task, seed=seed, epochs=0, network=trained)
    baseline = base.history[0][f"test_{key}"]
    net_dict = trained.to_dict()
    spec = task.payload()

    def collect(ex):
        futures = [ex.submit(study_bond, spec, net_dict, b, epochs, seed) for b in bond_list]
        it = futures
        if progress:
            import sys

            if sys.stderr.isatty():
                from tqdm import tqdm

                it = tqdm(futures, desc="bonds", file=sys.stderr, leave=False)
        return [f.result() for f in it]

    if executor is not None:
        rows = collect(executor)
    else:
        with make_executor(scheduler, workers) as ex:
            rows = collect(ex)
    study = StudyResult(task=task.name, metric=f"test_{key}", baseline=float(baseline), epochs=epochs, seed=seed)
    for r in rows:
        o = BondOutcome(**{**r, "nodes": tuple(r["nodes"])})
        if o.status == "ok":
            o.drop = float(sign * (baseline - o.before))
            o.lasting_drop = float(sign * (baseline - o.after))
            o.category = ("critical" if o.drop >= CRITICAL_DROP else
                          "redundant" if o.drop <= REDUNDANT_DROP else "moderate")
            if o.drop > REDUNDANT_DROP:
                o.recovery = ("recovered" if o.lasting_drop <= REDUNDANT_DROP else
                              "not recovered" if o.lasting_drop >= CRITICAL_DROP else "partly")
        study.outcomes.append(o)
    return study


def study_table(study: StudyResult) -> str:
    """The ranking as a markdown table."""
    lines = [f"baseline {study.metric}: {study.baseline:.3f} (seed {study.seed}, retrained {study.epochs} epochs)", "",
             "| rank | bond | nodes | damage | before retraining | after retraining | retraining |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r, o in enumerate(study.ranked(), start=1):
        if o.status == "ok":
            lines.append(f"| {r} | {o.bond} | {o.nodes[0]}-{o.nodes[1]} | {o.category} "
                         f"| {o.before:.3f} | {o.after:.3f} | {o.recovery or '-'} |")
        else:
            lines.append(f"| - | {o.bond} | {o.nodes[0]}-{o.nodes[1]} | zero modes ({o.zero_modes}) | - | - | - |")
    lines += ["", "damage: the score lost right after pruning (critical >= "
              f"{CRITICAL_DROP}, redundant <= {REDUNDANT_DROP}); retraining: what {study.epochs} epochs win back, "
              "ending at the epoch with the best training score"]
    return "\n".join(lines)


def outcome_arrays(study: StudyResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bond numbers and before / after scores of the solvable bonds, in bond order."""
    ok = sorted((o for o in study.outcomes if o.status == "ok"), key=lambda o: o.bond)
    return (np.array([o.bond for o in ok]), np.array([o.before for o in ok]), np.array([o.after for o in ok]))

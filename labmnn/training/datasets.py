"""Data sets the training engine learns from, and their seeded train/test split.

Three kinds, all reduced to one shape: ``features`` (S, d) that the task turns
into forces, and either integer ``labels`` (S,) (classification) or target
displacements ``targets`` (S, T) in metres (regression / behaviour).

``fixed``
    One sample with given features (behaviour learning: "5 g on node 10").
``linear``
    The paper's synthetic regression (its Eq. 9): an input force X drawn
    uniformly in a range, targets u = slope * X (m per N) for chosen node
    components, optional Gaussian noise on the targets.
``iris``
    Fisher's Iris flowers from the CSV shipped in ``labmnn/data/datasets``.

Example
-------
>>> ds = iris()
>>> ds.features.shape, ds.class_names
((150, 4), ['setosa', 'versicolor', 'virginica'])
>>> train, test = split_indices(150, 0.7, seed=0)
>>> len(train), len(test)
(105, 45)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labmnn.errors import InputError
from labmnn.resources import DATA

DATASETS_DIR = DATA / "datasets"
IRIS_CSV = DATASETS_DIR / "iris.csv"


@dataclass
class Dataset:
    """Samples of one task.

    Attributes
    ----------
    features : ndarray (S, d)
        Raw input features (their units are the data set's).
    labels : ndarray (S,) of int or None
        Class of each sample (classification).
    targets : ndarray (S, T) or None
        Target displacements, metres (regression / behaviour).
    target_nodes, target_axes : ndarray (T,) of int
        Which node component each target column is (axis 0 = x, 1 = y).
    class_names : list of str
    feature_names : list of str
    """

    features: np.ndarray
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None
    target_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    target_axes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    class_names: list = field(default_factory=list)
    feature_names: list = field(default_factory=list)
    clean_targets: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return len(self.features)

    @property
    def is_classification(self) -> bool:
        return self.labels is not None


def iris(path: str | Path = IRIS_CSV) -> Dataset:
    """Fisher's Iris data: 4 features (cm) and 3 classes, in file order.

    Parameters
    ----------
    path : str or Path
        A CSV with four numeric columns then a species column (header row first).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(str(path), "", f"cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, csv.Error):
        raise InputError(str(path), "", "is not a CSV text file") from None
    if len(rows) < 2:
        raise InputError(str(path), "", "holds no samples (a header row, then one sample per row)")
    header, body = rows[0], [r for r in rows[1:] if r]
    names: list[str] = []
    feats, labels = [], []
    for line, r in enumerate(body, start=2):
        if len(r) != 5:
            raise InputError(str(path), f"line {line}", f"needs 5 columns, found {len(r)}")
        try:
            feats.append([float(v) for v in r[:4]])
        except ValueError:
            raise InputError(str(path), f"line {line}", f"non-numeric feature in {r[:4]!r}") from None
        if not np.all(np.isfinite(feats[-1])):
            raise InputError(str(path), f"line {line}", f"non-finite feature in {r[:4]!r}")
        if r[4] not in names:
            names.append(r[4])
        labels.append(names.index(r[4]))
    return Dataset(features=np.array(feats), labels=np.array(labels, dtype=np.int64),
                   class_names=names, feature_names=header[:4])


def linear_response(n_samples: int, force_range_n: tuple[float, float], nodes, axes, slopes,
                    noise_sd_m: float = 0.0, seed: int = 0) -> Dataset:
    """The paper's Eq. 9: targets u = slope * X for a force X drawn uniformly.

    Parameters
    ----------
    n_samples : int
    force_range_n : (lo, hi)
        Range of the input force X, newtons.
    nodes, axes : sequence of int
        Node and component (0 = x, 1 = y) of each target.
    slopes : sequence of float
        du/dX of each target, metres per newton.
    noise_sd_m : float
        Standard deviation of Gaussian noise added to the targets, metres.
    seed : int
        Seeds the draw of X and of the noise.

    Example
    -------
    >>> ds = linear_response(100, (-0.196, 0.196), [12, 13], [1, 1], [0.016, 0.016])
    >>> ds.targets.shape
    (100, 2)
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(force_range_n[0], force_range_n[1], size=n_samples)
    clean = X[:, None] * np.asarray(slopes, dtype=float)[None, :]
    noisy = clean + rng.normal(0.0, noise_sd_m, size=clean.shape) if noise_sd_m > 0 else clean.copy()
    return Dataset(features=X[:, None], targets=noisy, clean_targets=clean,
                   target_nodes=np.asarray(nodes, dtype=np.int64),
                   target_axes=np.asarray(axes, dtype=np.int64), feature_names=["force_n"])


def fixed(features, labels=None, targets=None, nodes=(), axes=()) -> Dataset:
    """A one-sample data set (behaviour learning): the same load every step."""
    f = np.atleast_2d(np.asarray(features, dtype=float))
    lab = None if labels is None else np.atleast_1d(np.asarray(labels, dtype=np.int64))
    tgt = None if targets is None else np.atleast_2d(np.asarray(targets, dtype=float))
    return Dataset(features=f, labels=lab, targets=tgt, clean_targets=tgt,
                   target_nodes=np.asarray(nodes, dtype=np.int64),
                   target_axes=np.asarray(axes, dtype=np.int64))


def split_indices(n_samples: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random train/test split (sorted indices).

    With one sample (behaviour learning) both sets are that sample.

    Returns
    -------
    train, test : ndarray of int
    """
    if n_samples == 1:
        return np.array([0]), np.array([0])
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_samples)
    n_train = int(round(train_fraction * n_samples))
    n_train = min(max(n_train, 1), n_samples - 1)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])

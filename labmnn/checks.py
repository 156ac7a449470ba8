"""Field checks shared by the readers of network, protocol, task and loss files.

Each check returns the value (converted where said) or raises a one-line
:class:`~labmnn.errors.InputError` naming the file, the key and the value found.

Example
-------
>>> number("task.toml", "optimizer.lr", 0.01, positive=True)
0.01
>>> axis("task.toml", "loss.axis", "y")
1
>>> number("task.toml", "optimizer.lr", -1, positive=True)
Traceback (most recent call last):
...
labmnn.errors.InputError: task.toml: optimizer.lr: must be positive, found -1
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from labmnn.errors import InputError

AXES = {"x": 0, "y": 1}


def fail(src: str, key: str, msg: str) -> NoReturn:
    """Raise the :class:`InputError` for ``key`` of ``src``."""
    raise InputError(src, key, msg)


def is_number(x: Any) -> bool:
    """An int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def number(src: str, key: str, v: Any, positive: bool = False, nonneg: bool = False) -> float:
    """A finite number as float; optionally > 0 (``positive``) or >= 0 (``nonneg``)."""
    if not is_number(v) or not math.isfinite(v):
        fail(src, key, f"must be a finite number, found {v!r}")
    if positive and v <= 0:
        fail(src, key, f"must be positive, found {v!r}")
    if nonneg and v < 0:
        fail(src, key, f"must be zero or positive, found {v!r}")
    return float(v)


def integer(src: str, key: str, v: Any, minimum: int | None = None) -> int:
    """An integer (not a bool), at least ``minimum`` when given."""
    if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
        fail(src, key, "must be an integer" + ("" if minimum is None else f" >= {minimum}") + f", found {v!r}")
    return int(v)


def positive(src: str, key: str, v: Any):
    """``v`` itself when it is above zero."""
    if not v > 0:
        fail(src, key, f"must be positive, found {v!r}")
    return v


def string(src: str, key: str, v: Any) -> str:
    """A non-empty string."""
    if not isinstance(v, str) or not v:
        fail(src, key, f"must be a non-empty string, found {v!r}")
    return v


def listed(src: str, key: str, v: Any) -> list:
    """A list."""
    if not isinstance(v, list):
        fail(src, key, f"must be a list, found {v!r}"[:200])
    return v


def table(src: str, data: dict, key: str) -> dict:
    """The sub-table ``data[key]`` (empty when absent)."""
    v = data.get(key, {})
    if not isinstance(v, dict):
        fail(src, key, f"must be a table, found {v!r}")
    return v


def node(src: str, key: str, v: Any, n: int | None = None) -> int:
    """A node number: an integer >= 0, below ``n`` (the network's node count) when given."""
    if isinstance(v, bool) or not isinstance(v, int) or (v < 0 and n is None):
        fail(src, key, f"must be a node number (integer >= 0), found {v!r}")
    if n is not None and not 0 <= v < n:
        fail(src, key, f"node {v} is out of range (the network has {n} nodes, 0..{n - 1})")
    return v


def axis(src: str, key: str, a: Any) -> int:
    """``"x"`` -> 0, ``"y"`` -> 1."""
    if a not in AXES:
        fail(src, key, f"must be \"x\" or \"y\", found {a!r}")
    return AXES[a]


def get(src: str, data: dict, section: str, key: str, kind, default=None, required: bool = False):
    """``data[key]`` of table ``section`` checked to be of ``kind`` (``float``: a finite number,
    returned as float; ``int``: an integer; else an ``isinstance`` check); ``default`` when
    absent, unless ``required``."""
    full = f"{section}.{key}" if section else key
    if key not in data:
        if required:
            fail(src, full, "is missing")
        return default
    v = data[key]
    if kind is float:
        return number(src, full, v)
    if kind is int:
        return integer(src, full, v)
    if not isinstance(v, kind):
        fail(src, full, f"must be a {getattr(kind, '__name__', kind)}, found {v!r}")
    return v


def holds_bool(v: Any, limit: int = 1_000_000) -> bool:
    """Whether ``v`` or any list inside it holds a ``True``/``False`` (which numpy would
    silently take for 1/0); looks at no more than ``limit`` items."""
    stack, seen = [v], 0
    while stack and seen < limit:
        x = stack.pop()
        seen += 1
        if isinstance(x, bool):
            return True
        if isinstance(x, (list, tuple)):
            stack.extend(x)
    return False


def bounded(src: str, key: str, v: Any, lo: float, hi: float, unit: str = "",
            integer_only: bool = False) -> float:
    """A finite number with ``lo <= v <= hi`` (an integer when ``integer_only``).

    The bounds are the sanity limits of a field: a value outside them is a typo
    (a lost decimal point, an extra zero) that would otherwise be measured, or
    would make the program hang or run out of memory.

    >>> bounded("p.toml", "protocol.repeats", 3, 1, 1000, integer_only=True)
    3
    >>> bounded("p.toml", "weights.sizes_g[0]", 1e308, 1e-3, 1e4, "g")
    Traceback (most recent call last):
    ...
    labmnn.errors.InputError: p.toml: weights.sizes_g[0]: must be between 0.001 and 10000 g, found 1e+308
    """
    u = f" {unit}" if unit else ""
    if integer_only:
        if isinstance(v, bool) or not isinstance(v, int):
            fail(src, key, f"must be an integer between {lo:g} and {hi:g}{u}, found {v!r}"[:200])
    elif not is_number(v) or not math.isfinite(v):
        fail(src, key, f"must be a finite number, found {v!r}"[:200])
    if not lo <= v <= hi:
        if lo > 0 and v <= 0:
            fail(src, key, f"must be positive (between {lo:g} and {hi:g}{u}), found {v!r}")
        shown = f"{v:g}" if isinstance(v, float) or abs(v) >= 10**15 else repr(v)
        fail(src, key, f"must be between {lo:g} and {hi:g}{u}, found {shown}")
    return int(v) if integer_only else float(v)


def count(src: str, key: str, v: Any, lo: int, hi: int) -> int:
    """An integer count ``lo <= v <= hi`` (see :func:`bounded`)."""
    return int(bounded(src, key, v, lo, hi, integer_only=True))


def length(src: str, key: str, seq: Any, hi: int, lo: int = 0) -> list:
    """A list of at most ``hi`` (and at least ``lo``) entries."""
    listed(src, key, seq)
    if not lo <= len(seq) <= hi:
        fail(src, key, f"must list between {lo} and {hi} entries, found {len(seq)}")
    return seq


# Sanity limits (see docs/cli-errors.md): what no bench or network reaches.
MAX_NODES = 10_000  # nodes of a network file
MAX_BONDS = 50_000
COORD_MM = 1e5  # |x|, |y| of a node, mm (100 m)
WIDTH_MM = (1e-3, 1e3)  # bond width, mm
THICKNESS_MM = (1e-3, 1e3)
MODULUS_PA = (1e3, 1e13)
STIFFNESS_N_PER_M = (1e-9, 1e12)
MASS_G = (1e-3, 1e4)  # one calibrated weight on the bench, grams
WEIGHT_COUNT = 100  # weights of one size on the bench
REPEATS = 1000
RETAKES = 100
TRAIN_STEPS = 10_000
EPOCHS = 1_000_000  # training epochs of a task file
SAMPLES = 1_000_000  # samples of a generated data set, batch size
FORCE_N = 1e3  # |force| of one load, newtons
FEATURE = 1e6  # |x| of one feature of a data set
TARGET_M = 1.0  # |target displacement| of a loss, metres
PIXELS = 1e6  # |x|, |y| of a joint in a photo, pixels

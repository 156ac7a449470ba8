"""Parsers for command-line values, and checks of output paths, shared by several commands."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from labmnn.errors import InputError

if TYPE_CHECKING:
    import numpy as np


def parse_node_pair(text: str, option: str) -> tuple[int, str]:
    node, sep, rest = text.partition(":")
    if not sep or not node.strip().lstrip("-").isdigit():
        raise InputError(option, "", f"expected NODE:VALUE, found {text!r}")
    return int(node), rest


def _float(text: str, option: str, whole: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(option, "", f"{text!r} in {whole!r} is not a number") from None
    if not math.isfinite(v):
        raise InputError(option, "", f"{whole!r} is not finite")
    return v


def forces_from_args(n_nodes: int, force: list[str] | None, grams: list[str] | None,
                     fixed_nodes=()) -> np.ndarray:
    """Assemble an (n_nodes, 2) force array from ``--force N:FX,FY`` and ``--grams N:G`` values.

    ``--grams N:G`` hangs G grams on node N: Fy = -G * 9.8e-3 N.  Repeats add up.
    A load on one of ``fixed_nodes`` (clamped to the frame, it would move
    nothing) is refused as a mistyped node.
    """
    import numpy as np

    from labmnn.model.network import GRAVITY

    F = np.zeros((n_nodes, 2))
    for text in force or []:
        node, rest = parse_node_pair(text, "--force")
        parts = rest.split(",")
        if len(parts) != 2:
            raise InputError("--force", "", f"expected NODE:FX,FY (newtons), found {text!r}")
        fx, fy = (_float(p, "--force", text) for p in parts)
        _check_node(node, n_nodes, "--force", text, fixed_nodes)
        F[node] += (fx, fy)
    for text in grams or []:
        node, rest = parse_node_pair(text, "--grams")
        g = _float(rest, "--grams", text)
        _check_node(node, n_nodes, "--grams", text, fixed_nodes)
        F[node, 1] -= g * 1e-3 * GRAVITY
    return F


def _check_node(node: int, n_nodes: int, option: str, text: str, fixed_nodes=()) -> None:
    if not 0 <= node < n_nodes:
        raise InputError(option, "", f"node {node} in {text!r} is out of range (0..{n_nodes - 1})")
    if node in set(int(i) for i in fixed_nodes):
        raise InputError(option, "", f"node {node} in {text!r} is fixed to the frame: a load there moves nothing")


def _probe_writable(folder: Path, option: str, shown: str) -> None:
    """Create and remove a scratch file in ``folder``: the only sure test that writing will work."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".labmnn-write-test-"):
            pass
    except OSError as exc:
        raise InputError(option, "", f"cannot write in {shown!r}: {exc.strerror or exc}") from None


def refuse_session_path(path: str | Path, option: str, allowed: str | Path | None = None) -> None:
    """Refuse an output inside a recorded session (a folder holding a ``log.jsonl``).

    A session is written only by the commands that own it (run, resume,
    reanalyze, report); ``allowed`` names the one session a command may write
    into (its own).

    Raises
    ------
    InputError
        Naming ``option``, the path and the session.
    """
    from labmnn.protocol.integrity import session_of

    folder = session_of(path)
    if folder is None:
        return
    if allowed is not None and folder == Path(allowed).resolve():
        return
    raise InputError(option, "", f"{str(path)!r} is inside the recorded session {str(folder)!r}, which nothing "
                     "but its own run, resume, reanalyze and report may write; give a path outside it")


def output_dir(path: str | Path, option: str) -> Path:
    """Make sure ``path`` is a folder the command can write into (created if missing).

    Call it after the inputs are checked and before any long work, so a bad
    output folder fails in a second, not after the run.

    Raises
    ------
    InputError
        Naming ``option`` and the path: an existing file, a parent that is a
        file, a folder that cannot be created or written, or a path inside a
        recorded session.

    Example
    -------
    >>> output_dir("/proc/nope", "--out")  # doctest: +SKIP
    InputError: --out: cannot create the folder '/proc/nope': No such file or directory
    """
    p = Path(path)
    refuse_session_path(p, option)
    if p.exists() and not p.is_dir():
        raise InputError(option, "", f"{str(p)!r} is an existing file, not a folder; give a folder name")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(option, "", f"cannot create the folder {str(p)!r}: {exc.strerror or exc}") from None
    _probe_writable(p, option, str(p))
    return p


def output_file(path: str | Path, option: str, suffixes: tuple[str, ...] = (),
                inputs: tuple = ()) -> Path:
    """Make sure ``path`` can be written as a file, before any long work.

    ``suffixes`` (e.g. ``(".json",)``), when given, are the accepted endings;
    ``inputs`` are files the command reads, which it must not overwrite.

    Raises
    ------
    InputError
        Naming ``option`` and the path: a folder, a missing or unwritable
        parent folder, a wrong ending, one of the inputs, or a path inside a
        recorded session.
    """
    p = Path(path)
    refuse_session_path(p, option)
    if p.is_dir():
        example = str(p / ("out" + (suffixes[0] if suffixes else "")))
        raise InputError(option, "", f"{str(p)!r} is a folder; give a file name, e.g. {example!r}")
    if suffixes and p.suffix.lower() not in suffixes:
        raise InputError(option, "", f"{str(p)!r} should end in {' or '.join(suffixes)}")
    for q in inputs:
        if q is not None and Path(q).exists() and p.exists() and p.resolve() == Path(q).resolve():
            raise InputError(option, "", f"{str(p)!r} is also an input: it would be overwritten; give another name")
    parent = p.parent
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise InputError(option, "", f"the folder of {str(p)!r} {what}")
    _probe_writable(parent, option, str(parent))
    return p

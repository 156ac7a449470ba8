"""Parsers for command-line values shared by several commands."""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .network import GRAVITY


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
    if not np.isfinite(v):
        raise InputError(option, "", f"{whole!r} is not finite")
    return v


def forces_from_args(n_nodes: int, force: list[str] | None, grams: list[str] | None) -> np.ndarray:
    """Assemble an (n_nodes, 2) force array from ``--force N:FX,FY`` and ``--grams N:G`` values.

    ``--grams N:G`` hangs G grams on node N: Fy = -G * 9.8e-3 N.  Repeats add up.
    """
    F = np.zeros((n_nodes, 2))
    for text in force or []:
        node, rest = parse_node_pair(text, "--force")
        parts = rest.split(",")
        if len(parts) != 2:
            raise InputError("--force", "", f"expected NODE:FX,FY (newtons), found {text!r}")
        fx, fy = (_float(p, "--force", text) for p in parts)
        _check_node(node, n_nodes, "--force", text)
        F[node] += (fx, fy)
    for text in grams or []:
        node, rest = parse_node_pair(text, "--grams")
        g = _float(rest, "--grams", text)
        _check_node(node, n_nodes, "--grams", text)
        F[node, 1] -= g * 1e-3 * GRAVITY
    return F


def _check_node(node: int, n_nodes: int, option: str, text: str) -> None:
    if not 0 <= node < n_nodes:
        raise InputError(option, "", f"node {node} in {text!r} is out of range (0..{n_nodes - 1})")

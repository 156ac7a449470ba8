"""Who acts at the rig: the engine asks, an :class:`Operator` does it and confirms.

The engine never talks to a terminal; it hands an :class:`Instruction` to an
operator, whose ``confirm`` blocks until the action is done (or raises
:class:`AbortRequested`).  :class:`TerminalOperator` prompts on a terminal,
:class:`AutoOperator` lets the simulated operator of ``hardware_sim`` act, and
the GUI implements its own.

Example
-------
>>> ins = Instruction("r1/forward/1", "hang", "Hang 10 g on node 12, pulling down",
...                   node=12, grams=10.0, direction=(0.0, -1.0))
>>> ins.kind, ins.node
('hang', 12)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

KINDS = ("hang", "remove", "weigh", "capture", "info")


class AbortRequested(Exception):
    """The operator (or the GUI) asked to stop the protocol."""


@dataclass(frozen=True)
class Instruction:
    """One thing the operator must do before the engine goes on.

    Parameters
    ----------
    step : str
        The engine step it belongs to (e.g. ``"repeat 1/3: adjoint loading 1"``).
    kind : {"hang", "remove", "weigh", "capture", "info"}
    text : str
        The prompt, naming node (numbered as on the overlay), grams and direction.
    node, grams, direction : optional
        The node, the nominal grams and the pull direction (unit vector) for
        ``hang`` and ``weigh``.
    """

    step: str
    kind: str
    text: str
    node: int | None = None
    grams: float | None = None
    direction: tuple[float, float] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")


@runtime_checkable
class Operator(Protocol):
    """Carries out instructions; ``confirm`` blocks until done, raises :class:`AbortRequested`."""

    def confirm(self, instruction: Instruction) -> None: ...


class TerminalOperator:
    """Prompts on a terminal: Enter confirms, ``a`` + Enter aborts.

    Parameters
    ----------
    input_fn : callable
        Reads one line (default :func:`input`).
    out : file
        Where prompts go (default stdout).
    """

    def __init__(self, input_fn: Callable[[str], str] = input, out=None):
        self.input_fn = input_fn
        self.out = out or sys.stdout

    def confirm(self, instruction: Instruction) -> None:
        tag = {"hang": "HANG", "remove": "REMOVE", "weigh": "WEIGH", "capture": "CAMERA",
               "info": "NOTE"}[instruction.kind]
        print(f"\n[{instruction.step}] {tag}: {instruction.text}", file=self.out, flush=True)
        try:
            answer = self.input_fn("  Enter when done, 'a' to abort > ")
        except EOFError:
            raise AbortRequested("no operator input (end of file)") from None
        if answer.strip().lower() in ("a", "abort", "q", "quit"):
            raise AbortRequested("aborted by the operator")


class AutoOperator:
    """The simulated operator acts on every instruction (``--auto`` on the simulated rig).

    Parameters
    ----------
    sim_operator : hardware_sim.operator.SimOperator
        Has ``put_on_balance(nominal_grams) -> true grams``, ``take_off_balance()``,
        ``apply(node, grams, direction)`` and ``clear()``.
    hook : callable, optional
        Called with each instruction first (tests use it to inject faults).
    """

    def __init__(self, sim_operator, hook: Callable[[Instruction], None] | None = None):
        self.sim = sim_operator
        self.hook = hook
        self.log: list[Instruction] = []

    def confirm(self, instruction: Instruction) -> None:
        self.log.append(instruction)
        if self.hook is not None:
            self.hook(instruction)
        kind = instruction.kind
        if kind == "weigh":
            self.sim.put_on_balance(instruction.grams)
        elif kind == "hang":  # the pieces just weighed (same nominal grams) are hung
            self.sim.apply(instruction.node, instruction.grams, instruction.direction)
            self.sim.take_off_balance()
        elif kind == "remove":
            self.sim.clear()


class PromptedSimOperator:
    """Rehearsal on the simulated rig: a person confirms each prompt, then the simulated
    operator carries it out (``labmnn run --sim`` without ``--auto``).

    Parameters
    ----------
    prompter : Operator
        Who confirms (e.g. :class:`TerminalOperator` or a GUI); may raise :class:`AbortRequested`.
    sim_operator : hardware_sim.operator.SimOperator
    """

    def __init__(self, prompter: Operator, sim_operator):
        self.prompter = prompter
        self.auto = AutoOperator(sim_operator)

    def confirm(self, instruction: Instruction) -> None:
        self.prompter.confirm(instruction)
        self.auto.confirm(instruction)

"""Guided in-situ backpropagation on the rig: protocol files, loading planner,
engine, operator interface and session recording.

>>> from labmnn.protocol import load_protocol
>>> spec = load_protocol("protocols/gradient.toml")   # doctest: +SKIP
>>> spec.kind, spec.repeats                            # doctest: +SKIP
('gradient', 3)
"""

from .operator import AbortRequested, AutoOperator, Instruction, Operator, TerminalOperator
from .planner import LoadingPlan, PlanError, RigLimits, WeightSet, plan_loading
from .spec import ProtocolSpec, load_protocol

__all__ = [
    "AbortRequested", "AutoOperator", "Instruction", "Operator", "TerminalOperator",
    "LoadingPlan", "PlanError", "RigLimits", "WeightSet", "plan_loading",
    "ProtocolSpec", "load_protocol",
]

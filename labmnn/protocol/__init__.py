"""Guided in-situ backpropagation on the rig: protocol files, loading planner,
engine, operator interface and session recording (see ``docs/protocol.md``).

>>> from labmnn.protocol import load_protocol
>>> spec = load_protocol("protocols/gradient.toml")   # doctest: +SKIP
>>> spec.kind, spec.repeats                            # doctest: +SKIP
('gradient', 3)
"""

from .bench import Bench, open_bench
from .engine import Engine
from .operator import AbortRequested, AutoOperator, Instruction, Operator, TerminalOperator
from .planner import LoadingPlan, PlanError, RigLimits, WeightSet, plan_loading
from .reanalyze import reanalyze
from .recorder import Session, read_log
from .report import write_report
from .runner import resume_run, start_run
from .sessions import list_sessions
from .spec import ProtocolSpec, load_protocol

__all__ = [
    "AbortRequested", "AutoOperator", "Instruction", "Operator", "TerminalOperator",
    "LoadingPlan", "PlanError", "RigLimits", "WeightSet", "plan_loading",
    "ProtocolSpec", "load_protocol", "Bench", "open_bench", "Engine", "Session", "read_log",
    "start_run", "resume_run", "reanalyze", "write_report", "list_sessions",
]

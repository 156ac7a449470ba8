"""Guided in-situ backpropagation on the rig: protocol files, loading planner,
engine, operator interface and session recording (see ``docs/protocol.md``).

>>> from labmnn.protocol import load_protocol
>>> spec = load_protocol("protocols/gradient.toml")   # doctest: +SKIP
>>> spec.kind, spec.repeats                            # doctest: +SKIP
('gradient', 3)
"""

from labmnn.protocol.bench import Bench, open_bench
from labmnn.protocol.engine import Engine
from labmnn.protocol.operator import (
    AbortRequested,
    AutoOperator,
    Instruction,
    Operator,
    TerminalOperator,
)
from labmnn.protocol.planner import (
    LoadingPlan,
    PlanError,
    RigLimits,
    WeightSet,
    plan_loading,
)
from labmnn.protocol.reanalyze import reanalyze
from labmnn.protocol.recorder import Session, read_log
from labmnn.protocol.report import write_report
from labmnn.protocol.runner import resume_run, start_run
from labmnn.protocol.sessions import list_sessions
from labmnn.protocol.spec import ProtocolSpec, load_protocol

__all__ = [
    "AbortRequested", "AutoOperator", "Instruction", "Operator", "TerminalOperator",
    "LoadingPlan", "PlanError", "RigLimits", "WeightSet", "plan_loading",
    "ProtocolSpec", "load_protocol", "Bench", "open_bench", "Engine", "Session", "read_log",
    "start_run", "resume_run", "reanalyze", "write_report", "list_sessions",
]

"""Operator interface: terminal prompts, abort, and the CLI's operator choice."""

import io
from pathlib import Path

import pytest

from labmnn.cli import main
from labmnn.protocol.operator import (
    AbortRequested,
    AutoOperator,
    Instruction,
    TerminalOperator,
)


def test_terminal_operator_prompts_and_aborts():
    out = io.StringIO()
    answers = iter(["", "a"])
    op = TerminalOperator(input_fn=lambda prompt: next(answers), out=out)
    ins = Instruction("repeat 1/3: forward loading 1/1", "hang", "Hang the 10 g stack on node 12, pulling down.",
                      node=12, grams=10.0, direction=(0.0, -1.0))
    op.confirm(ins)
    assert "HANG: Hang the 10 g stack on node 12, pulling down." in out.getvalue()
    with pytest.raises(AbortRequested):
        op.confirm(ins)
    eof = TerminalOperator(input_fn=lambda prompt: (_ for _ in ()).throw(EOFError()), out=out)
    with pytest.raises(AbortRequested, match="no operator input"):
        eof.confirm(ins)


def test_instruction_kind_is_checked():
    with pytest.raises(ValueError):
        Instruction("s", "dance", "x")


def test_auto_operator_weighs_then_hangs_the_same_pieces():
    calls = []

    class Sim:
        def put_on_balance(self, g):
            calls.append(("weigh", g))

        def apply(self, node, g, d):
            calls.append(("apply", node, g, d))

        def take_off_balance(self):
            calls.append(("off",))

        def clear(self):
            calls.append(("clear",))

    op = AutoOperator(Sim())
    op.confirm(Instruction("s", "weigh", "w", node=3, grams=5.0, direction=(0.0, -1.0)))
    op.confirm(Instruction("s", "hang", "h", node=3, grams=5.0, direction=(0.0, -1.0)))
    op.confirm(Instruction("s", "remove", "r"))
    op.confirm(Instruction("s", "info", "i"))
    assert calls == [("weigh", 5.0), ("apply", 3, 5.0, (0.0, -1.0)), ("off",), ("clear",)]


def test_auto_without_sim_is_refused(tmp_path, capsys):
    proto = Path(__file__).resolve().parents[1] / "protocols" / "gradient.toml"
    assert main(["run", str(proto), "--auto", "--out", str(tmp_path)]) == 2
    assert "--auto" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before a session folder is made


def test_prompted_sim_operator_acts_only_after_confirmation():
    from labmnn.protocol.operator import PromptedSimOperator

    done = []

    class Sim:
        def put_on_balance(self, g):
            done.append("weigh")

        def apply(self, node, g, d):
            done.append("hang")

        def take_off_balance(self):
            pass

        def clear(self):
            done.append("clear")

    answers = iter(["", "a"])
    op = PromptedSimOperator(TerminalOperator(input_fn=lambda p: next(answers), out=io.StringIO()), Sim())
    op.confirm(Instruction("s", "weigh", "w", node=3, grams=5.0, direction=(0.0, -1.0)))
    with pytest.raises(AbortRequested):
        op.confirm(Instruction("s", "hang", "h", node=3, grams=5.0, direction=(0.0, -1.0)))
    assert done == ["weigh"]

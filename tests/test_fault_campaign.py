"""A fast subset of benchmarks/faults.py: the fuzz of every user file kind and a misbehaving
MT-SICS balance end in clean errors or right results, never in an internal error, a hang or
an absurd value accepted."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

faults = pytest.importorskip("faults")
pytest.importorskip("hypothesis")


def _clean(row):
    assert (row.internal, row.hangs, row.nonsense, row.changed) == (0, 0, 0, 0), row.line()


def test_fuzz_of_every_user_file_kind(tmp_path):
    row = faults.fuzz(tmp_path, 5 * len(faults.KINDS))
    assert row.cases == 5 * len(faults.KINDS) >= 55  # the rig's train, series and task-payload files too
    _clean(row)
    assert row.clean > row.cases // 2  # the absurd values were refused, not skipped


def test_the_fuzz_would_see_an_accepted_absurd_value(tmp_path, monkeypatch):
    fz = faults.Fuzzer(tmp_path)
    monkeypatch.setattr(fz, "read", lambda kind, path: None)  # a reader that accepts anything
    row = faults.Row("check")
    path, nonsense = fz.case("network", "value", 3, 1e308, 0.5)
    fz.classify("network", path, nonsense, row)
    assert row.nonsense == 1


@pytest.mark.slow
def test_misbehaving_balance_on_a_pty():
    row = faults.balance_faults(1)
    assert row.cases == 7
    _clean(row)
    assert row.ok >= 3  # stray lines, trickled bytes and busy replies still give the right mass

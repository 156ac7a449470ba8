"""``labmnn reproduce --quick`` runs every figure's path end to end."""

import json

import pytest

from labmnn.cli import main


@pytest.mark.slow
def test_reproduce_quick(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "--quick", "--out", str(out)]) == 0
    report = (out / "REPORT.md").read_text()
    rows = json.loads((out / "report.json").read_text())
    figs = {r["figure"] for r in rows}
    assert {"1e", "2a", "2c", "2d", "3b", "4b", "4d", "5e"} <= figs
    assert all(r["like_for_like"].startswith("no:") for r in rows if r["figure"] in ("3", "3b", "5b", "5e"))
    assert all(r["exact_mechanics"] not in ("", None) for r in rows)
    for png in ("figure1e.png", "figure2.png", "figure3.png", "figure4.png", "figure4c.png", "figure4d.png",
                "figure5.png"):
        assert (out / png).stat().st_size > 1000
    assert "| paper | labmnn |" in report
    assert main(["reproduce", "--figures", "7", "--out", str(out)]) == 2

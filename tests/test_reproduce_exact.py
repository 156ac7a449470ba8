"""The reproduction report's exact-mechanics column, like-for-like marks and Fig. 4d rows."""

import json

from labmnn.paper.reproduce import figure4d, like_for_like, reproduce


def test_figure4d_rows_from_the_paper_data(tmp_path):
    rows = figure4d(tmp_path)
    assert [r[0] for r in rows] == ["4d"] * 3
    assert rows[0][2].startswith("0.064/0.343/0.593 sim; 0.105/0.291/0.604 meas.")
    assert all(len(r) == 6 and "error bar" in r[5] for r in rows)
    assert (tmp_path / "figure4d.png").stat().st_size > 1000


def test_rows_not_like_for_like_are_marked():
    for fig in ("3", "3b", "5b"):
        assert like_for_like(fig).startswith("no:") and "1.0-3.0 mm" in like_for_like(fig)
    assert like_for_like("5e").startswith("no:") and "bond" in like_for_like("5e")
    assert like_for_like("4b") == like_for_like("1e") == "yes"


def test_report_has_the_exact_mechanics_column(tmp_path):
    reproduce(tmp_path, quick=True, figures=("1",), log=lambda s: None)
    report = (tmp_path / "REPORT.md").read_text()
    assert "| paper | labmnn | exact mechanics | like for like | note |" in report
    rows = json.loads((tmp_path / "report.json").read_text())
    grad = next(r for r in rows if r["figure"] == "1")
    # the exact (large-rotation) gradient at 10 g is several percent off the paper's linear one
    assert 0.03 < float(grad["exact_mechanics"]) < 0.15
    assert all(r["like_for_like"] == "yes" for r in rows)

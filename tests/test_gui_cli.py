"""`labmnn gui`: the missing-extra message, argument errors, and the --screenshot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labmnn.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_missing_pyside6_gives_one_line_with_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "PySide6", None)  # import PySide6 -> ImportError
    assert main(["gui", "--sim"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["labmnn: error: the GUI needs PySide6 and pyqtgraph: pip install labmnn[gui]"]


@pytest.mark.parametrize("args, source", [(["--size", "big"], "--size"), (["--repeats", "0"], "--repeats")])
def test_bad_arguments_are_one_line_errors(capsys, args, source):
    pytest.importorskip("PySide6")
    assert main(["gui", "--sim", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"labmnn: error: {source}") and "Traceback" not in err


@pytest.mark.slow
def test_screenshot_runs_the_measurement_and_writes_the_png(tmp_path):
    pytest.importorskip("PySide6")
    out = tmp_path / "results.png"
    during = tmp_path / "protocol.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "labmnn", "gui", "--light-sim", "--screenshot", str(out),
                           "--screenshot-protocol", str(during), "--size", "1280x800", "--repeats", "1",
                           "--sessions", str(tmp_path / "sessions")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "run success" in proc.stdout and "frames/s" in proc.stdout
    from PySide6.QtGui import QImage

    for path in (out, during):
        img = QImage(str(path))
        assert (img.width(), img.height()) == (1280, 800)
    sessions = list((tmp_path / "sessions").iterdir())
    assert len(sessions) == 1 and (sessions[0] / "results.json").is_file()
    assert json.loads((sessions[0] / "results.json").read_text())["repeats"] == 1

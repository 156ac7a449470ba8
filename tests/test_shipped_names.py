"""Shipped protocols and tasks by name, from any folder; a folder never hides a shipped name."""

from __future__ import annotations

import pytest

from labmnn.cli import main
from labmnn.errors import InputError
from labmnn.resources import find_protocol, find_task, protocols_dir, tasks_dir


@pytest.mark.parametrize("spec", ["gradient", "gradient.toml", "protocols/gradient.toml"])
def test_a_shipped_protocol_by_name_from_an_empty_folder(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_protocol(spec) == protocols_dir() / "gradient.toml"


def test_a_file_wins_and_a_folder_does_not_shadow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gradient").mkdir()
    (tmp_path / "iris").mkdir()
    assert find_protocol("gradient") == protocols_dir() / "gradient.toml"
    assert find_task("iris") == tasks_dir() / "iris.toml"
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "gradient.toml").write_text("mine")
    assert find_protocol("protocols/gradient.toml").resolve() == tmp_path / "protocols" / "gradient.toml"
    (tmp_path / "regression.toml").write_text("mine")
    assert find_task("regression.toml").resolve() == tmp_path / "regression.toml"


@pytest.mark.parametrize("spec", ["nope", "elsewhere/gradient.toml", "gradient.json", "protocols/tasks/iris.toml"])
def test_an_unknown_protocol_lists_the_shipped_names(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as exc:
        find_protocol(spec)
    msg = exc.value.one_line()
    assert msg.startswith(f"{spec}: no such protocol file (shipped protocols: ")
    assert "gradient, gradient-nonlinear, train, validate" in msg


def test_a_folder_that_is_no_shipped_name_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    with pytest.raises(InputError, match=r"mine: is a folder, not a task file \(shipped tasks: .*iris"):
        find_task("mine")


def test_run_and_gui_name_the_shipped_protocols(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "gradiant", "--sim", "--auto"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("labmnn: error: gradiant: no such protocol file (shipped protocols: gradient, "
                   "gradient-nonlinear, train, validate)")
    assert not (tmp_path / "sessions").exists()
    pytest.importorskip("PySide6")
    pytest.importorskip("pyqtgraph")
    assert main(["gui", "--sim", "--protocol", "nope", "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "nope: no such protocol file (shipped protocols: gradient" in capsys.readouterr().err

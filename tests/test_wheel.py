"""A built wheel carries the shipped protocols, training tasks and calibration files.

An installed labmnn finds them as ``labmnn/_shipped/`` (``labmnn.resources``);
without them ``labmnn train iris`` in a wheel install knows no shipped task.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "labmnn", "hardware_sim", "protocols",
           "calibration")


def shipped_files(folder: str) -> set[str]:
    base = ROOT / folder
    return {f"labmnn/_shipped/{folder}/{p.relative_to(base).as_posix()}" for p in base.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_the_wheel_ships_protocols_tasks_and_calibration(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / name)
    out = tmp_path / "wheel"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("labmnn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = shipped_files("protocols") | shipped_files("calibration")
    assert {"labmnn/_shipped/protocols/gradient.toml", "labmnn/_shipped/protocols/tasks/iris.toml",
            "labmnn/_shipped/calibration/simulated-rig.json"} <= wanted
    assert not wanted - names, sorted(wanted - names)
    assert "labmnn/resources.py" in names and "hardware_sim/light.py" in names
    assert not [n for n in names if n.startswith("labmnn/data/sim/")]

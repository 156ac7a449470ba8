"""A built wheel carries the shipped protocols, training tasks and calibration files.

An installed labmnn finds them as ``labmnn/_shipped/`` (``labmnn.resources``);
without them ``labmnn train iris`` in a wheel install knows no shipped task.
"""

import json
import os
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


def build_wheel(tmp_path: Path) -> Path:
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
    return wheel


@pytest.mark.slow
def test_the_wheel_ships_protocols_tasks_and_calibration(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = shipped_files("protocols") | shipped_files("calibration")
    assert {"labmnn/_shipped/protocols/gradient.toml", "labmnn/_shipped/protocols/tasks/iris.toml",
            "labmnn/_shipped/calibration/simulated-rig.json"} <= wanted
    assert not wanted - names, sorted(wanted - names)
    assert "labmnn/resources.py" in names and "hardware_sim/light.py" in names
    assert not [n for n in names if n.startswith("labmnn/data/sim/")]


JOURNEYS = r'''
set -e
labmnn train iris --epochs 3 --no-plots --out runs/iris
labmnn demo --repeats 1 --out demo
labmnn run gradient --sim --auto --repeats 1 --out sessions
session=$(ls -d sessions/*/)
labmnn resume "$session" --sim --auto || test $? -eq 2
labmnn export-docs "$session" --no-validate -o docs.jsonl
labmnn sim-photos --out photos --case 12:10 --boards 4 --plane-board --px-per-mm 15
square=$(python -c "import json; print(json.load(open('photos/truth.json'))['board']['square_mm'])")
labmnn calibrate --board 9x6 --square "$square" --plane photos/plane/*.jpg photos/calibration/*.jpg -o cal.json
labmnn track --calibration cal.json --network paper-triangle-n4 --reference photos/network/SIM_0000.jpg \
    photos/network/SIM_0001.jpg -o track.json --no-overlay
labmnn gui --sim --repeats 1 --size 800x600 --screenshot gui.png
python -c "import labmnn, sys; print('labmnn from', labmnn.__file__)"
'''


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("LABMNN_WHEEL_JOURNEYS") != "1",
                    reason="builds a fresh venv (~2-4 min): set LABMNN_WHEEL_JOURNEYS=1 (.ci/run does)")
def test_an_installed_wheel_does_every_job_from_any_folder(tmp_path):
    """Build the wheel, install it with its dependencies in a venv of its own, run the jobs from an empty folder."""
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q"]
    done = subprocess.run([*pip, f"{wheel}[gui]"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    work = tmp_path / "anywhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", QT_QPA_PLATFORM="offscreen", MPLBACKEND="Agg",
               HOME=str(tmp_path / "home"))
    done = subprocess.run(["bash", "-c", JOURNEYS], cwd=work, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert f"labmnn from {venv}" in done.stdout  # the wheel's labmnn, not the checkout's
    assert json.loads((work / "runs/iris/metrics.json").read_text())["epochs"] == 3
    assert json.loads((work / "demo/summary.json").read_text())["relative_error"] < 0.1
    assert (work / "docs.jsonl").read_text().splitlines()[-1].startswith('["stop"')
    assert json.loads((work / "cal.json").read_text())["format"] == "labmnn-calibration/1"
    assert not any(json.loads((work / "track.json").read_text())["images"][0]["lost"])
    assert (work / "gui.png").stat().st_size > 10_000
    assert not (work / "protocols").exists() and not (work / "calibration").exists()

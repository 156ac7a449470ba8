import json
import subprocess
import sys

import numpy as np
import pytest

from labmnn import GRAVITY, Network


def run(*args):
    return subprocess.run([sys.executable, "-m", "labmnn", *args], capture_output=True, text=True)


def test_simulate_json_matches_the_model():
    proc = run("simulate", "paper-triangle-n4", "--grams", "12:10", "--force", "5:0.01,0", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    net = Network.example()
    F = np.zeros((14, 2))
    F[12, 1] = -0.010 * GRAVITY
    F[5, 0] = 0.01
    res = net.solve(F)
    assert np.allclose(out["displacements_mm"], res.displacements * 1e3)
    assert np.allclose(out["elongations_mm"], res.elongations * 1e3)


def test_simulate_bad_node_is_one_line():
    proc = run("simulate", "paper-triangle-n4", "--grams", "20:10")
    assert proc.returncode == 2 and "node 20" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_demo_writes_summary(tmp_path):
    proc = run("demo", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["gradient_simulated"]) == 28

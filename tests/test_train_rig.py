"""``labmnn train TASK --method insitu --on rig``: a checkpointed train session that survives kill -9."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labmnn.errors import InputError
from labmnn.protocol.recorder import read_log
from labmnn.protocol.spec import load_protocol
from labmnn.protocol.task_protocol import check_rig_task, loading_seconds, write_train_protocol
from labmnn.training.tasks import load_task

WORKER = Path(__file__).with_name("train_rig_worker.py")


def test_protocol_from_a_behaviour_task(tmp_path):
    task = load_task("behaviour-mse")
    spec = load_protocol(write_train_protocol(task, tmp_path, steps=4))
    assert spec.kind == "train" and spec.train.steps == 4
    assert spec.train.learning_rate == pytest.approx(0.005 * 2.0)  # the task's step on its 2 mm width span
    assert [(f.node, f.force_n) for f in spec.forward] == [(10, (0.0, -0.049))]
    assert spec.loss["targets"] == task.loss_spec["targets"]
    net = json.loads((tmp_path / "network.json").read_text())
    assert net["width_bounds_mm"] == [1.0, 3.0]  # the rig's Adam clips to the task's bounds


def test_the_real_bench_gets_its_balance_port(tmp_path):
    spec = load_protocol(write_train_protocol(load_task("behaviour-mse"), tmp_path, steps=2,
                                              balance_port="/dev/ttyUSB3"))
    assert spec.balance["port"] == "/dev/ttyUSB3"


def test_only_behaviour_tasks_go_to_the_rig():
    with pytest.raises(InputError, match="behaviour tasks only"):
        check_rig_task(load_task("iris"))


def _sessions(out):
    return sorted((out / "sessions").glob("*")) if (out / "sessions").exists() else []


def _steps(folder):
    try:
        return (folder / "log.jsonl").read_bytes().count(b'"kind": "step"')
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_kill_9_then_resume(tmp_path):
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, str(WORKER), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    t_end = time.time() + 60
    while p.poll() is None and time.time() < t_end and not (_sessions(out) and _steps(_sessions(out)[0]) >= 4):
        time.sleep(0.005)
    assert p.poll() is None, p.communicate()
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    (folder,) = _sessions(out)
    before = (folder / "log.jsonl").read_bytes()
    assert not (folder / "metrics.json").exists()
    r = subprocess.run([sys.executable, str(WORKER), str(out), str(folder)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    after = (folder / "log.jsonl").read_bytes()
    assert after.startswith(before)  # append-only: nothing recorded before the kill was lost
    records = read_log(folder / "log.jsonl")
    keys = [x["key"] for x in records if x.get("kind") == "step"]
    assert len(keys) == len(set(keys))  # no step done twice
    assert sum(k.endswith("/update") for k in keys) == 3
    assert records[-1]["kind"] == "stop" and records[-1]["status"] == "success"
    results = json.loads((folder / "results.json").read_text())
    assert len(results["history"]) == 3 and results["loss_last"] < results["loss_first"]
    n_loadings = sum("/forward/" in k or "/adjoint/" in k for k in keys)
    assert loading_seconds(folder)["loadings"] == n_loadings >= 6  # forward + adjoint (one or more) per step

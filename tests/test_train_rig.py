"""``labmnn train TASK --method M --on rig``: checkpointed sessions that survive kill -9 (insitu, pat)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from labmnn.errors import InputError
from labmnn.model.network import Network
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
    check_rig_task(load_task("iris"), datasets=True)  # a data set: one loading per sample (pat, insitu, hybrid)


def _sessions(out):
    return sorted((out / "sessions").glob("*")) if (out / "sessions").exists() else []


def _steps(folder):
    try:
        return (folder / "log.jsonl").read_bytes().count(b'"kind": "step"')
    except FileNotFoundError:
        return 0


def _kill_9_mid_run(out, method, steps_before_kill):
    env = dict(os.environ, TRAIN_RIG_METHOD=method)
    p = subprocess.Popen([sys.executable, str(WORKER), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    t_end = time.time() + 60
    while p.poll() is None and time.time() < t_end and not (_sessions(out) and
                                                             _steps(_sessions(out)[0]) >= steps_before_kill):
        time.sleep(0.005)
    assert p.poll() is None, p.communicate()
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    (folder,) = _sessions(out)
    before = (folder / "log.jsonl").read_bytes()
    assert not (folder / "metrics.json").exists()
    r = subprocess.run([sys.executable, str(WORKER), str(out), str(folder)], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    after = (folder / "log.jsonl").read_bytes()
    assert after.startswith(before)  # append-only: nothing recorded before the kill was lost
    return folder, before


@pytest.mark.slow
def test_kill_9_then_resume(tmp_path):
    folder, _ = _kill_9_mid_run(tmp_path / "run", "insitu", 4)  # insitu: the worker's default method
    records = read_log(folder / "log.jsonl")
    keys = [x["key"] for x in records if x.get("kind") == "step"]
    assert len(keys) == len(set(keys))  # no step done twice
    assert sum(k.endswith("/update") for k in keys) == 3
    assert records[-1]["kind"] == "stop" and records[-1]["status"] == "success"
    results = json.loads((folder / "results.json").read_text())
    assert len(results["history"]) == 3 and results["loss_last"] < results["loss_first"]
    n_loadings = sum("/forward/" in k or "/adjoint/" in k for k in keys)
    assert loading_seconds(folder)["loadings"] == n_loadings >= 6  # forward + adjoint (one or more) per step


# ------------------------------------------------------------------ PAT on the rig
def test_pat_protocol_has_no_adjoint_loadings_to_plan(tmp_path):
    spec = load_protocol(write_train_protocol(load_task("behaviour-mse"), tmp_path, steps=2, gradient="pat"))
    assert spec.train.gradient == "pat"
    from labmnn.model.network import Network
    from labmnn.protocol.planner import preflight

    net = Network.open(spec.network)
    pre = preflight(spec, net, spec.build_loss(net.n_nodes))
    assert pre.adjoint is None and any("no adjoint loadings" in line for line in pre.lines)
    insitu = load_protocol(write_train_protocol(load_task("behaviour-mse"), tmp_path / "i", steps=2))
    assert insitu.train.gradient == "insitu"


def test_unknown_train_gradient_is_refused(tmp_path):
    path = write_train_protocol(load_task("behaviour-mse"), tmp_path, steps=2)
    path.write_text(path.read_text().replace('gradient = "insitu"', 'gradient = "guess"'))
    with pytest.raises(InputError, match=r"train\.gradient.*'guess'"):
        load_protocol(path)


def _fake_rig(monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent))
    from protocol_fakes import use_fake_bench

    use_fake_bench(monkeypatch)


def test_pat_on_the_rig_hangs_only_forward_loads(tmp_path, monkeypatch, capsys):
    from labmnn.cli import main

    _fake_rig(monkeypatch)
    out = tmp_path / "pat"
    assert main(["train", "behaviour-mse", "--method", "pat", "--on", "rig", "--sim", "--auto", "--epochs", "3",
                 "--out", str(out)]) == 0
    (folder,) = _sessions(out)
    keys = [x["key"] for x in read_log(folder / "log.jsonl") if x.get("kind") == "step"]
    assert not any("/adjoint" in k for k in keys)
    # 3 steps, and the last design mounted and measured once ([train] final = "best", as the sim methods)
    assert sum("/forward/" in k for k in keys) == 3 + 1 and sum(k.endswith("/update") for k in keys) == 3
    m = json.loads((folder / "metrics.json").read_text())
    assert m["method"] == "pat" and m["loadings"] == 3 + 1 and m["prints"] == 3 + 1 and m["steps"] == 3
    assert m["seconds_per_loading"] > 0 and m["bench_hours"] > 0
    results = json.loads((folder / "results.json").read_text())
    assert results["gradient"] == "pat" and results["loss_last"] < results["loss_first"]
    assert "training needed 4 loadings, 4 prints" in capsys.readouterr().out
    assert main(["report", str(folder)]) == 0 and main(["verify", str(folder)]) == 0  # no adjoint to map: no crash


def test_pat_gradient_on_an_exact_print_is_the_model_gradient(tmp_path, monkeypatch):
    from labmnn.cli import main

    _fake_rig(monkeypatch)
    out = tmp_path / "pat"
    assert main(["train", "behaviour-mse", "--method", "pat", "--on", "rig", "--sim", "--auto", "--epochs", "1",
                 "--out", str(out)]) == 0
    (folder,) = _sessions(out)
    grad = [x["data"] for x in read_log(folder / "log.jsonl") if x.get("kind") == "step"
            and x["key"].endswith("/gradient")][0]
    assert grad["relative_error"] < 1e-6  # the fake bench measures the model exactly


def test_pat_on_the_rendered_sim_rig(tmp_path):
    from labmnn.cli import main

    out = tmp_path / "pat"
    assert main(["train", "behaviour-mse", "--method", "pat", "--on", "rig", "--sim", "--auto", "--epochs", "1",
                 "--out", str(out), "--mismatch", "0.1"]) == 0
    (folder,) = _sessions(out)
    m = json.loads((folder / "metrics.json").read_text())
    assert m["loadings"] == 1 + 1 and m["prints"] == 1 + 1 and (folder / "trained.json").exists()  # + the last design


@pytest.mark.slow
def test_pat_kill_9_then_resume(tmp_path):
    folder, before = _kill_9_mid_run(tmp_path / "run", "pat", 5)
    records = read_log(folder / "log.jsonl")
    keys = [x["key"] for x in records if x.get("kind") == "step"]
    assert len(keys) == len(set(keys))  # no step done twice
    assert sum(k.endswith("/update") for k in keys) == 3 and not any("/adjoint" in k for k in keys)
    assert records[-1]["kind"] == "stop" and records[-1]["status"] == "success"
    assert loading_seconds(folder)["loadings"] == 3 + 1  # + the last design's measurement
    assert b'"resumed"' in (folder / "log.jsonl").read_bytes()[len(before):]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("argv, needle", [
    (["train", "iris", "--method", "insilico", "--on", "rig", "--sim"], "behaviour tasks only"),
    (["train", "regression", "--method", "identify", "--on", "rig", "--sim"], "behaviour tasks only"),
    (["train", "behaviour-ce-left", "--method", "pat", "--on", "rig", "--sim"], "cross_entropy loss"),
    (["train", "behaviour-mse", "--method", "identify", "--on", "rig", "--auto"], "add --sim"),
    (["train", "behaviour-mse", "--method", "hybrid", "--on", "rig", "--mismatch", "0.1"], "add --sim"),
    (["train", "behaviour-mse", "--method", "hybrid", "--on", "rig", "--sim", "--hybrid-steps", "0"],
     "--hybrid-steps: must be >= 1"),
    (["train", "behaviour-mse", "--method", "insilico", "--on", "rig", "--sim", "--hybrid-steps", "3"],
     "belongs to --method hybrid"),
    (["train", "behaviour-mse", "--method", "insilico", "--on", "rig", "--sim", "--epochs", "0"],
     "--epochs: must be >= 1"),
    (["train", "behaviour-mse", "--method", "pat", "--on", "rig", "--sim", "--bench-timing", "x"],
     "--bench-timing: belongs to --on sim"),
    (["train", "behaviour-mse", "--method", "telepathy", "--on", "rig", "--sim"], "--method: must be one of"),
    (["train", "behaviour-mse", "--method", "pat", "--on", "moon"], "--on: must be sim or rig"),
    (["train", "iris", "--method", "pat", "--on", "rig", "--sim", "--mechanics", "nonlinear"],
     "--mechanics: nonlinear on the rig is for behaviour tasks"),
])
def test_rig_bad_input_is_one_line_exit_2(argv, needle, capsys, tmp_path):
    from labmnn.cli import main

    assert main(argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labmnn: error:") and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("metrics.json"))


# ------------------------------------------------------------------ staged methods
def _run(argv):
    from labmnn.cli import main

    return main(["train", "behaviour-mse", "--on", "rig", "--sim", "--auto"] + argv)


def test_insilico_on_the_rig_exports_and_scores_the_print(tmp_path, monkeypatch, capsys):
    _fake_rig(monkeypatch)
    out = tmp_path / "ins"
    assert _run(["--method", "insilico", "--epochs", "20", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "insilico" and m["loadings"] == 0 and m["prints"] == 1 and m["bench_hours"] == 0.0
    assert m["bench_timing"] == "session " + Path(m["score_session"]).name
    assert m["score_loadings"] == 1 and m["seconds_per_loading"] > 0
    for name in ("design.json", "design.svg", "design.dxf", "design.stl"):
        assert (out / "print" / name).stat().st_size > 0
    # the fake bench measures the model exactly: the print scores as the model predicts
    assert m["metric_on_print"] == pytest.approx(m["model_max_target_relative_error"], rel=1e-6)
    design = json.loads((out / "print" / "design.json").read_text())
    start = load_task("behaviour-mse").network
    assert design["width_bounds_mm"] == [1.0, 3.0] and not np.allclose(
        np.asarray(Network.from_dict(design).width), start.width)  # trained widths, not the start
    spec = load_protocol(out / "score" / "score.toml")
    assert spec.kind == "load_series" and spec.series.all_nodes == (10,) and spec.series.grams == (5.0,)
    capsys.readouterr()
    assert _run(["--method", "insilico", "--epochs", "20", "--out", str(out)]) == 0  # again: reuses the session
    assert "finished earlier: reused" in capsys.readouterr().out
    assert len(list((out / "score" / "sessions").iterdir())) == 1
    # another simulated print, or another design: a new session, not the old one
    assert _run(["--method", "insilico", "--epochs", "20", "--out", str(out), "--mismatch", "0.1"]) == 0
    assert _run(["--method", "insilico", "--epochs", "21", "--out", str(out), "--mismatch", "0.1"]) == 0
    assert "finished earlier" not in capsys.readouterr().out
    assert len(list((out / "score" / "sessions").iterdir())) == 3


def test_insilico_on_the_rendered_sim_rig(tmp_path):
    out = tmp_path / "ins"
    assert _run(["--method", "insilico", "--epochs", "20", "--out", str(out), "--mismatch", "0.1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["loadings"] == 0 and m["prints"] == 1 and m["score_loadings"] == 1
    assert 0 < m["metric_on_print"] < 1


def test_identify_on_the_rig_measures_the_sim_methods_loadings(tmp_path, monkeypatch, capsys):
    from labmnn.training.methods import MethodSettings, identification_nodes

    _fake_rig(monkeypatch)
    out = tmp_path / "id"
    assert _run(["--method", "identify", "--epochs", "20", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    task = load_task("behaviour-mse")
    nodes = identification_nodes(task.network, MethodSettings().identify_cases).tolist()
    assert m["identify_nodes"] == nodes and len(nodes) == 9 and m["identify_grams"] == 10.0
    assert m["loadings"] == 9 == m["identify_cases"] and m["prints"] == 2 and m["score_loadings"] == 1
    assert m["identified_modulus_factor"] == pytest.approx(1.0, abs=1e-3)  # the fake bench is the model
    spec = load_protocol(out / "identify" / "identify.toml")
    assert spec.series.all_nodes == tuple(nodes) and spec.series.grams == (10.0,)
    (folder,) = _sessions(out / "identify")
    keys = [x["key"] for x in read_log(folder / "log.jsonl") if x.get("kind") == "step"]
    assert sorted(k for k in keys if "/series/" in k) == sorted(f"r0/series/n{n}/0/0" for n in nodes)
    for name in ("design.json", "design.stl"):
        assert (out / "print" / name).exists()
    assert (out / "identified.json").exists()


@pytest.mark.slow
def test_identify_on_the_rendered_sim_rig(tmp_path):
    out = tmp_path / "id"
    assert _run(["--method", "identify", "--epochs", "20", "--out", str(out), "--mismatch", "0.1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["loadings"] == 9 and m["seconds_per_loading"] > 0 and 0 < m["metric_on_print"] < 1


@pytest.mark.slow
def test_identify_kill_9_then_run_again(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, TRAIN_RIG_METHOD="identify")
    p = subprocess.Popen([sys.executable, str(WORKER), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    t_end = time.time() + 60
    while p.poll() is None and time.time() < t_end and not (_sessions(out / "identify") and
                                                             _steps(_sessions(out / "identify")[0]) >= 4):
        time.sleep(0.005)
    assert p.poll() is None, p.communicate()
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    (folder,) = _sessions(out / "identify")
    before = (folder / "log.jsonl").read_bytes()
    r = subprocess.run([sys.executable, str(WORKER), str(out), "again"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert _sessions(out / "identify") == [folder]  # the same session, continued
    assert (folder / "log.jsonl").read_bytes().startswith(before)
    keys = [x["key"] for x in read_log(folder / "log.jsonl") if x.get("kind") == "step"]
    assert len(keys) == len(set(keys)) and sum("/series/" in k for k in keys) == 9
    assert json.loads((out / "metrics.json").read_text())["loadings"] == 9


def test_hybrid_on_the_rig_starts_pat_from_the_insilico_design(tmp_path, monkeypatch):
    _fake_rig(monkeypatch)
    out = tmp_path / "hy"
    assert _run(["--method", "hybrid", "--hybrid-start", "insilico", "--epochs", "20", "--hybrid-steps", "2",
                 "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["hybrid"] == {"start": "insilico", "follow": "pat", "steps": 2}
    assert m["steps"] == 2 and m["loadings"] == 2 + 1 and m["prints"] == 2 + 1 and m["score_loadings"] == 1
    (folder,) = _sessions(out / "pat")
    assert json.loads((folder / "results.json").read_text())["gradient"] == "pat"
    design = Network.load(out / "print" / "design.json")
    mounted = Network.load(folder / "network.json")  # the PAT session starts from the in-silico design
    assert np.allclose(mounted.width, design.width)
    final = Network.load(folder / "trained.json")
    assert not np.allclose(final.width, design.width)
    assert m["final_model_max_target_relative_error"] == pytest.approx(m["metric_on_print"], rel=1e-6)


@pytest.mark.slow
def test_hybrid_on_the_rendered_sim_rig(tmp_path):
    out = tmp_path / "hy"
    assert _run(["--method", "hybrid", "--hybrid-start", "insilico", "--epochs", "20", "--hybrid-steps", "1",
                 "--out", str(out), "--mismatch", "0.1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["loadings"] == 1 + 1 and m["prints"] == 1 + 1 and 0 < m["metric_on_print"] < 1  # + the last design


# ------------------------------------------------------------------ data-set tasks (Iris, regression)
def test_dataset_protocol_names_the_task(tmp_path):
    path = write_train_protocol(load_task("iris"), tmp_path, steps=2, gradient="pat")
    spec = load_protocol(path)
    assert spec.train.task == str(tmp_path / "task.json") and not spec.forward and spec.loss is None
    assert spec.train.seed == load_task("iris").split.seed
    loss = '\n[loss]\nkind = "mse"\ntargets = [{ node = 13, axis = "y", value = -0.001 }]\n'
    path.write_text(path.read_text() + loss)
    with pytest.raises(InputError, match="train.task: takes the forward loads and the loss from the task"):
        load_protocol(path)


def _gradients(folder):  # the training steps' (not the final design's measurement, "final/...")
    return [x["data"] for x in read_log(folder / "log.jsonl") if x.get("kind") == "step"
            and x["key"].endswith("/gradient") and not x["key"].startswith("final/")]


def test_iris_pat_on_the_rig_hangs_one_loading_per_sample(tmp_path, monkeypatch):
    from labmnn.training.methods import _Setup

    _fake_rig(monkeypatch)
    out = tmp_path / "iris"
    assert main_train(["iris", "--method", "pat", "--epochs", "2", "--out", str(out)]) == 0
    (folder,) = _sessions(out)
    task = load_task("iris")
    grads = _gradients(folder)
    assert len(grads) == 2 and all(len(g["samples"]) == task.optimizer.batch_size for g in grads)
    assert set(grads[0]["samples"]) <= set(_Setup(task, None).train_idx.tolist())
    assert all(g["relative_error"] < 1e-9 for g in grads)  # the fake bench is the model: PAT is exact
    keys = [x["key"] for x in read_log(folder / "log.jsonl") if x.get("kind") == "step"]
    for s in grads[0]["samples"]:
        assert any(k.startswith(f"t0/r0/forward/s{s}/") for k in keys)
    assert not any("/adjoint" in k for k in keys)
    m = json.loads((folder / "metrics.json").read_text())
    assert m["loadings"] >= 2 * task.optimizer.batch_size and m["prints"] == 2
    assert (folder / "task.json").exists()  # a resume finds the task in the session
    from labmnn.cli import main

    assert main(["report", str(folder)]) == 0


def test_regression_insitu_on_the_rig_hangs_adjoints_per_sample(tmp_path, monkeypatch):
    _fake_rig(monkeypatch)
    out = tmp_path / "reg"
    assert main_train(["regression", "--method", "insitu", "--epochs", "1", "--out", str(out)]) == 0
    (folder,) = _sessions(out)
    keys = [x["key"] for x in read_log(folder / "log.jsonl") if x.get("kind") == "step"]
    (g,) = _gradients(folder)
    plans = [k for k in keys if "/adjoint-plan/s" in k]
    assert len(plans) == len(g["samples"]) and any("/adjoint/s" in k for k in keys)
    # the x target of node 12 has no pull direction on this rig: the planner predicts that error, and it is
    # the one the measured gradient shows (the fake bench is the model)
    plan = [x["data"]["plan"] for x in read_log(folder / "log.jsonl") if x.get("kind") == "step"
            and "/adjoint-plan/s" in x["key"] and x["data"]["plan"]][0]
    assert 0.3 < g["relative_error"] < 0.6 and g["relative_error"] == pytest.approx(plan["predicted_error"], rel=0.1)


def main_train(argv):
    from labmnn.cli import main

    return main(["train"] + argv[:1] + ["--on", "rig", "--sim", "--auto"] + argv[1:])


@pytest.mark.slow
def test_iris_pat_on_the_rendered_sim_rig(tmp_path):
    out = tmp_path / "iris"
    assert main_train(["iris", "--method", "pat", "--epochs", "1", "--out", str(out)]) == 0
    (folder,) = _sessions(out)
    (g,) = _gradients(folder)
    assert g["cosine"] > 0.9  # tracked photos of the rendered rig, model adjoint


@pytest.mark.slow
def test_iris_pat_kill_9_then_resume(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, TRAIN_RIG_METHOD="pat")
    argv = [sys.executable, str(WORKER), str(out)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**env, "TRAIN_RIG_TASK": "iris"})
    t_end = time.time() + 60
    while p.poll() is None and time.time() < t_end and not (_sessions(out) and _steps(_sessions(out)[0]) >= 10):
        time.sleep(0.005)
    assert p.poll() is None, p.communicate()
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    (folder,) = _sessions(out)
    before = (folder / "log.jsonl").read_bytes()
    r = subprocess.run(argv + [str(folder)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert (folder / "log.jsonl").read_bytes().startswith(before)
    records = read_log(folder / "log.jsonl")
    keys = [x["key"] for x in records if x.get("kind") == "step"]
    assert len(keys) == len(set(keys)) and sum(k.endswith("/update") for k in keys) == 3
    assert records[-1]["kind"] == "stop" and records[-1]["status"] == "success"
    grads = _gradients(folder)
    assert len(grads) == 3 and all(len(g["samples"]) == 16 for g in grads)


def test_insitu_iris_without_pulleys_is_refused_before_anything_is_hung(tmp_path, monkeypatch, capsys):
    _fake_rig(monkeypatch)
    out = tmp_path / "iris"
    assert main_train(["iris", "--method", "insitu", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "before anything is hung" in err and "pulley" in err
    assert not any(_steps(f) for f in _sessions(out))  # refused at the protocol's checks: nothing measured


def test_hybrid_iris_on_the_rig(tmp_path, monkeypatch):
    _fake_rig(monkeypatch)
    out = tmp_path / "hy"
    assert main_train(["iris", "--method", "hybrid", "--epochs", "2", "--hybrid-steps", "1", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["metric"] == "test_accuracy" and m["metric_on_print"] is None and m["steps"] == 1
    assert 0 <= m["final_model_test_accuracy"] <= 1 and m["loadings"] >= load_task("iris").optimizer.batch_size
    assert not (out / "score").exists()  # a data-set task's print is not scored on the rig


def test_pat_with_exact_mechanics_on_the_rendered_sim_rig(tmp_path):
    out = tmp_path / "nl"
    assert main_train(["behaviour-mse", "--method", "pat", "--mechanics", "nonlinear", "--epochs", "1",
                       "--out", str(out)]) == 0
    assert load_protocol(out / "train.toml").mechanics == "nonlinear"
    (folder,) = _sessions(out)
    (g,) = _gradients(folder)
    # the forward load hung whole, the tangent adjoint at the measured state: nearer the exact model than the linear
    assert g["mechanics"] == "nonlinear" and g["relative_error"] < g["relative_error_linear_model"]

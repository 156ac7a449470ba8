"""``--on rig`` as the simulated methods run: the hybrid's identify start, conditioning of every new print."""

import argparse
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
from labmnn.protocol.recorder import Session, read_log
from labmnn.protocol.spec import load_protocol
from labmnn.protocol.task_protocol import session_timing, write_series_protocol, write_train_protocol
from labmnn.training.methods import CONDITION_S, MethodSettings, identification_nodes
from labmnn.training.tasks import load_task

HERE = Path(__file__).resolve().parent
WORKER = HERE / "condition_kill_worker.py"


def _fake_rig(monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent))
    from protocol_fakes import use_fake_bench

    use_fake_bench(monkeypatch)


def _train(argv, task="behaviour-mse"):
    from labmnn.cli import main

    return main(["train", task, "--on", "rig", "--sim", "--auto"] + argv)


def _steps(folder):
    return [r for r in read_log(folder / "log.jsonl") if r.get("kind") == "step"]


def _one_session(folder):
    (s,) = sorted(p for p in folder.glob("*") if (p / "log.jsonl").exists())
    return s


# ------------------------------------------------------------------ hybrid: identify first, as the sim default
def test_hybrid_on_the_rig_starts_with_identify_by_default(tmp_path, monkeypatch, capsys):
    _fake_rig(monkeypatch)
    out = tmp_path / "hy"
    assert _train(["--method", "hybrid", "--epochs", "20", "--hybrid-steps", "2", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["hybrid"] == {"start": "identify", "follow": "pat", "steps": 2}
    task = load_task("behaviour-mse")
    nodes = identification_nodes(task.network, MethodSettings().identify_cases).tolist()
    assert m["identify_nodes"] == nodes and m["identify_loadings"] == 9
    # training cost: the 9 identification loadings, the 2 PAT loadings and the last design's; the starting print,
    # the 2 PAT designs and the last design
    assert m["loadings"] == 9 + 2 + 1 and m["prints"] == 1 + 2 + 1 and m["score_loadings"] == 1
    ident = _one_session(out / "identify" / "sessions")
    pat = _one_session(out / "pat" / "sessions")
    assert m["bench_hours"] == pytest.approx(session_timing(ident)["bench_hours"]
                                             + session_timing(pat)["bench_hours"])
    mounted = Network.load(pat / "network.json")  # the identified model at the trained widths
    design = Network.load(out / "print" / "design.json")
    assert np.allclose(mounted.width, design.width) and mounted.stiffness_override is not None
    assert (out / "identified.json").exists()
    assert "identified, trained design, then 2 PAT steps" in capsys.readouterr().out


def test_hybrid_on_the_rig_identifies_a_dataset_task_too(tmp_path, monkeypatch):
    _fake_rig(monkeypatch)
    out = tmp_path / "iris"
    assert _train(["--method", "hybrid", "--epochs", "2", "--hybrid-steps", "1", "--out", str(out)], "iris") == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["hybrid"]["start"] == "identify" and m["identify_loadings"] == 9
    assert m["loadings"] >= 9 + load_task("iris").optimizer.batch_size and m["prints"] == 2
    assert m["metric_on_print"] is None and 0 <= m["final_model_test_accuracy"] <= 1


@pytest.mark.parametrize("task, steps", [("behaviour-mse", 80), ("iris", 40)])
def test_hybrid_steps_on_the_rig_default_to_the_sim_methods(task, steps):
    from labmnn.cli.commands._train_rig import hybrid_plan

    args = argparse.Namespace(hybrid_start=None, hybrid_steps=None)
    assert hybrid_plan(args, load_task(task)) == ("identify", steps)
    args = argparse.Namespace(hybrid_start="insilico", hybrid_steps=3)
    assert hybrid_plan(args, load_task(task)) == ("insilico", 3)


@pytest.mark.parametrize("argv, needle", [
    (["--method", "hybrid", "--hybrid-start", "guess"], "--hybrid-start: must be insilico or identify, found 'guess'"),
    (["--method", "pat", "--hybrid-start", "identify"], "--hybrid-start: belongs to --method hybrid"),
    (["--method", "pat", "--condition-s", "-1"], "--condition-s: must be a finite number of seconds >= 0"),
    (["--method", "pat", "--condition-s", "nan"], "--condition-s: must be a finite number of seconds >= 0"),
    (["--method", "pat", "--condition-s", "1e6"], "--condition-s: must be at most 86400 s"),
])
def test_bad_hybrid_start_or_conditioning_is_one_line_exit_2(argv, needle, tmp_path, capsys):
    assert _train(argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labmnn: error:") and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "out").exists()


def test_bad_hybrid_start_on_the_sim_is_one_line_exit_2(tmp_path, capsys):
    from labmnn.cli import main

    assert main(["train", "behaviour-mse", "--method", "hybrid", "--on", "sim", "--hybrid-start", "x",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--hybrid-start: must be insilico or identify" in err


# ------------------------------------------------------------------ conditioning keys
def test_train_protocols_condition_by_default_as_the_sim_methods(tmp_path):
    task = load_task("behaviour-mse")
    assert load_protocol(write_train_protocol(task, tmp_path / "a", steps=2)).train.condition_s == CONDITION_S
    spec = load_protocol(write_train_protocol(task, tmp_path / "b", steps=2, condition_s=0))
    assert spec.train.condition_s == 0.0
    series = write_series_protocol(tmp_path / "c", task.network, [10], [5.0], "s", "a series")
    assert load_protocol(series).series.condition_s == 0.0  # a plain load series does not wait
    series = write_series_protocol(tmp_path / "d", task.network, [10], [5.0], "s", "a series", condition_s=60)
    assert load_protocol(series).series.condition_s == 60.0


@pytest.mark.parametrize("value, needle", [("-1.0", "between 0 and 86400 s, found -1"),
                                           ('"long"', "must be a finite number, found 'long'"),
                                           ("1e6", "between 0 and 86400 s")])
def test_bad_condition_key_is_refused_naming_the_field(tmp_path, value, needle):
    path = write_train_protocol(load_task("behaviour-mse"), tmp_path, steps=2, condition_s=300)
    path.write_text(path.read_text().replace("condition_s = 300.0", f"condition_s = {value}"))
    with pytest.raises(InputError, match="train.condition_s") as err:
        load_protocol(path)
    assert needle in str(err.value)


# ------------------------------------------------------------------ conditioning on the simulated rig
def test_every_new_design_is_conditioned_and_counted_in_bench_hours(tmp_path, monkeypatch):
    _fake_rig(monkeypatch)
    out = tmp_path / "pat"
    assert _train(["--method", "pat", "--epochs", "2", "--condition-s", "120", "--out", str(out)]) == 0
    folder = _one_session(out / "sessions")
    steps = _steps(folder)
    keys = [s["key"] for s in steps]
    # design 1 before its reference photo; design 2 after it is installed, before its reference photo
    assert keys.index("t0/condition") < keys.index("t0/r0/reference")
    assert keys.index("t1/install") < keys.index("t1/condition") < keys.index("t1/r0/reference")
    conds = {s["key"]: s["data"] for s in steps if s["key"].endswith("/condition")}
    assert set(conds) == {"t0/condition", "t1/condition", "final/condition"}
    for c in conds.values():  # the simulated operator does not wait: the wait is recorded, not slept
        assert c["seconds"] == 120 and c["short_s"] == 0
        assert c["waited_s"] + c["simulated_s"] == pytest.approx(120) and c["simulated_s"] > 110
    install = next(s for s in steps if s["key"] == "t1/install")
    assert conds["t1/condition"]["mounted"] == install["time"]  # the wait runs from the mount
    m = json.loads((folder / "metrics.json").read_text())
    assert m["conditionings"] == 3 and m["conditioning_s"] == pytest.approx(360)
    recs = read_log(folder / "log.jsonl")
    clock_h = (max(r["time"] for r in recs if "time" in r) - min(r["time"] for r in recs if "time" in r)) / 3600
    assert m["bench_hours"] == pytest.approx(clock_h + sum(c["simulated_s"] for c in conds.values()) / 3600)
    texts = [r["text"] for r in recs if r.get("name") == "instruction" and r["text"].startswith("Condition")]
    assert len(texts) == 3 and "of 120 s" in texts[0]


def test_no_conditioning_with_condition_s_0(tmp_path, monkeypatch):
    _fake_rig(monkeypatch)
    out = tmp_path / "pat"
    assert _train(["--method", "pat", "--epochs", "2", "--condition-s", "0", "--out", str(out)]) == 0
    folder = _one_session(out / "sessions")
    assert not any(s["key"].endswith("condition") for s in _steps(folder))
    m = json.loads((folder / "metrics.json").read_text())
    assert m["conditionings"] == 0 and m["conditioning_s"] == 0 and m["bench_hours"] < 0.01


def test_identify_and_score_sessions_condition_their_print(tmp_path, monkeypatch):
    _fake_rig(monkeypatch)
    out = tmp_path / "id"
    assert _train(["--method", "identify", "--epochs", "5", "--condition-s", "30", "--out", str(out)]) == 0
    for stage in ("identify", "score"):
        keys = [s["key"] for s in _steps(_one_session(out / stage / "sessions"))]
        assert keys[:2] == ["condition", "r0/reference"], (stage, keys)
    m = json.loads((out / "metrics.json").read_text())
    assert m["conditioning_s"] == pytest.approx(30) and m["bench_hours"] >= 30 / 3600


# ------------------------------------------------------------------ a person at the bench
class _Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def _engine(tmp_path, condition_s, prompter, clock, monkeypatch):
    sys.path.insert(0, str(HERE))
    from protocol_fakes import fake_bench

    import labmnn.protocol.conditioning as conditioning
    from labmnn.protocol.engine import Engine
    from labmnn.protocol.operator import PromptedSimOperator

    monkeypatch.setattr(conditioning, "clock", clock)
    spec = load_protocol(write_train_protocol(load_task("behaviour-mse"), tmp_path / "p", steps=1, gradient="pat",
                                              condition_s=condition_s, final="last"))
    net = Network.open(spec.network)
    bench = fake_bench(net)
    return Engine(spec, Session.create(tmp_path / "s", spec.name), bench, PromptedSimOperator(prompter,
                                                                                              bench.sim_operator))


class _Person:
    """Confirms every prompt; waits ``wait_s`` on the lab clock at the conditioning prompt."""

    def __init__(self, clock, wait_s):
        self.clock, self.wait_s, self.seen = clock, wait_s, []

    def confirm(self, ins):
        if ins.text.startswith("Condition"):
            self.seen.append(ins.text)
            self.clock.t += self.wait_s


def test_the_operator_is_told_until_when_and_the_wait_is_recorded(tmp_path, monkeypatch):
    clock = _Clock(1.0e9)
    person = _Person(clock, 300.0)
    eng = _engine(tmp_path, 300, person, clock, monkeypatch)
    assert eng.run().status == "success"
    (text,) = person.seen
    assert f"until {time.strftime('%H:%M:%S', time.localtime(1.0e9 + 300))}" in text and "another 300 s" in text
    data = eng.session.completed_steps()["t0/condition"]
    assert data == {"seconds": 300.0, "mounted": 1.0e9, "waited_s": 300.0, "simulated_s": 0.0, "short_s": 0.0}
    assert not [r for r in eng.session.records if r.get("name") == "warning" and "conditioned" in r["text"]]


def test_confirming_before_the_wait_is_over_is_recorded_and_warned(tmp_path, monkeypatch):
    clock = _Clock(1.0e9)
    eng = _engine(tmp_path, 300, _Person(clock, 100.0), clock, monkeypatch)
    assert eng.run().status == "success"
    data = eng.session.completed_steps()["t0/condition"]
    assert data["waited_s"] == 100.0 and data["short_s"] == 200.0
    (w,) = [r["text"] for r in eng.session.records if r.get("name") == "warning" and "conditioned" in r["text"]]
    assert "conditioned 100 s of 300 s" in w


# ------------------------------------------------------------------ kill -9 during the wait
def _event(folder):
    recs = read_log(folder / "log.jsonl") if (folder / "log.jsonl").exists() else []
    return next((r for r in recs if r.get("name") == "condition"), None)


@pytest.mark.parametrize("later_s, asked", [(200.0, True), (400.0, False)])
def test_kill_9_during_the_wait_then_resume_keeps_the_mount_time(tmp_path, later_s, asked):
    out = tmp_path / "run"
    env = dict(os.environ, CONDITION_HANG="1")
    p = subprocess.Popen([sys.executable, str(WORKER), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        t_end = time.time() + 60
        folder = None
        while p.poll() is None and time.time() < t_end:
            folders = sorted((out / "sessions").glob("*")) if (out / "sessions").exists() else []
            if folders and _event(folders[0]) is not None:
                folder = folders[0]
                break
            time.sleep(0.01)
        assert p.poll() is None and folder is not None, p.communicate()
        os.kill(p.pid, signal.SIGKILL)  # the operator was waiting out the conditioning
        p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    before = (folder / "log.jsonl").read_bytes()
    event = _event(folder)
    assert event["key"] == "t0/condition" and event["seconds"] == CONDITION_S
    assert "t0/condition" not in Session(folder).completed_steps()
    env = dict(os.environ, CONDITION_NOW=repr(event["mounted"] + later_s))
    r = subprocess.run([sys.executable, str(WORKER), str(out), str(folder)], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    after = (folder / "log.jsonl").read_bytes()
    assert after.startswith(before)  # append-only
    recs = read_log(folder / "log.jsonl")
    assert [x["key"] for x in recs if x.get("name") == "condition"] == ["t0/condition", "t1/condition",
                                                                         "final/condition"]
    data = Session(folder).completed_steps()["t0/condition"]
    # the wait counts from the mount recorded before the kill: not started again from zero
    assert data["mounted"] == event["mounted"] and data["waited_s"] == pytest.approx(later_s)
    assert data["simulated_s"] == pytest.approx(max(0.0, CONDITION_S - later_s)) and data["short_s"] == 0
    prompts = [x for x in recs[len(before.splitlines()):] if x.get("name") == "instruction"
               and x["text"].startswith("Condition") and x["step"].startswith("step 1")]
    assert bool(prompts) == asked
    if asked:
        assert f"another {CONDITION_S - later_s:.0f} s" in prompts[0]["text"]
    keys = [x["key"] for x in recs if x.get("kind") == "step"]
    assert len(keys) == len(set(keys)) and recs[-1]["status"] == "success"


# ------------------------------------------------------------------ the best measured design is kept
def _best_run(tmp_path, lr):
    sys.path.insert(0, str(HERE))
    from protocol_fakes import fake_bench

    from labmnn.protocol.engine import Engine
    from labmnn.protocol.operator import AutoOperator

    spec = load_protocol(write_train_protocol(load_task("behaviour-mse"), tmp_path / "p", steps=3, gradient="pat",
                                              condition_s=0, learning_rate_mm=lr))
    assert spec.train.final == "best"
    net = Network.open(spec.network)
    bench = fake_bench(net)
    op = AutoOperator(bench.sim_operator)
    eng = Engine(spec, Session.create(tmp_path / "s", spec.name), bench, op)
    outcome = eng.run()
    assert outcome.status == "success"
    return eng.session.folder, outcome.summary, op, bench


def test_a_worse_last_design_gives_way_to_the_best_measured_one(tmp_path):
    folder, res, op, bench = _best_run(tmp_path, 1.0)  # Adam's steps overshoot: the last design is not the best
    losses = res["design_losses"]
    assert len(losses) == 4 and res["best_design"] == int(np.argmin(losses)) == 2 and losses[3] > losses[2]
    keys = [s["key"] for s in _steps(folder)]
    assert keys[-1] == "final/remount" and "final/install" in keys and "final/r0/forward/0" in keys
    kept = Network.load(folder / "trained.json")
    assert np.allclose(kept.width, Network.load(folder / "design_step2.json").width)
    assert np.allclose(res["widths_mm"], kept.width * 1e3) and res["best_loss"] == losses[2]
    assert np.allclose(bench.rig.net.width, kept.width)  # the simulated rig holds the remounted design
    (ask,) = [i.text for i in op.log if i.text.startswith("Mount again")]
    assert "design_step2.json" in ask
    hist = json.loads((folder / "results.json").read_text())["history"]
    assert [h["loss"] for h in hist] == losses[:3]  # design k measured at step k
    from labmnn.cli import main

    assert main(["verify", str(folder)]) == 0  # the results rebuilt from the log agree


def test_a_best_last_design_is_kept_without_remounting(tmp_path):
    folder, res, op, _ = _best_run(tmp_path, 0.3)
    assert res["best_design"] == 3 and res["final_loss"] == res["best_loss"] == min(res["design_losses"])
    assert "final/remount" not in [s["key"] for s in _steps(folder)]
    assert np.allclose(Network.load(folder / "trained.json").width, Network.load(folder / "design_step3.json").width)
    assert not [i for i in op.log if i.text.startswith("Mount again")]


def test_best_design_rule_keys_are_checked(tmp_path):
    path = write_train_protocol(load_task("behaviour-mse"), tmp_path / "a", steps=2)
    path.write_text(path.read_text().replace('final = "best"', 'final = "good"'))
    with pytest.raises(InputError, match=r"train\.final.*'good'"):
        load_protocol(path)
    iris = write_train_protocol(load_task("iris"), tmp_path / "b", steps=2, gradient="pat")
    assert load_protocol(iris).train.final == "last"  # a design is measured on one batch, not an epoch
    iris.write_text(iris.read_text() + 'final = "best"\n')
    with pytest.raises(InputError, match=r"train\.final: must be \"last\" with \[train\] task"):
        load_protocol(iris)


# ------------------------------------------------------------------ report: the loss's unit
def test_report_of_a_classification_training_gives_its_loss_no_unit(tmp_path, monkeypatch):
    from labmnn.cli import main
    from labmnn.protocol.report_data import figure, session_loss_kind

    _fake_rig(monkeypatch)
    out = tmp_path / "iris"
    assert _train(["--method", "pat", "--epochs", "1", "--condition-s", "0", "--out", str(out)], "iris") == 0
    folder = _one_session(out / "sessions")
    assert session_loss_kind(folder) == "cross_entropy"
    assert main(["report", str(folder)]) == 0
    html = (folder / "report" / "index.html").read_text()
    loss = json.loads((folder / "results.json").read_text())["loss_first"]
    shown = figure("loss_first", loss, "cross_entropy")
    assert "m²" not in shown.value and "cross-entropy" in shown.meaning and shown.value in html
    assert f"{loss:.3e} m²" not in html and "cross-entropy" in html
    # a behaviour task's loss is still squared metres
    assert figure("loss_first", 1e-8).value == "1.000e-08 m²" and session_loss_kind(tmp_path) == "mse"

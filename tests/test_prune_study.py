"""The prune study: dispatch, ranking, zero modes, and its command."""

import importlib.util
import json

import pytest

from labmnn.cli import main
from labmnn.errors import InputError
from labmnn.training.loop import train
from labmnn.training.prune_study import make_executor, run_study, study_table
from labmnn.training.tasks import load_task


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class FakeExecutor:
    """Runs each job at once in this process and records what was submitted (as Dask's Client would get)."""

    def __init__(self):
        self.calls = []

    def submit(self, fn, *args):
        self.calls.append((fn.__name__, args))
        return _Done(fn(*args))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    r = train(load_task("iris"), seed=0, epochs=20)
    path = tmp_path_factory.mktemp("tr") / "network.json"
    r.network.save(path)
    return r.network, path


def test_dispatch_ranking_and_zero_modes(trained):
    net, _ = trained
    ex = FakeExecutor()
    study = run_study("iris", net, epochs=5, seed=0, executor=ex, bonds=[1, 15, 21])
    assert [c[0] for c in ex.calls] == ["study_bond"] * 3
    assert [c[1][2] for c in ex.calls] == [1, 15, 21]
    assert all(isinstance(c[1][0], dict) and isinstance(c[1][1], dict) for c in ex.calls)  # plain data only
    by_bond = {o.bond: o for o in study.outcomes}
    assert by_bond[1].status == "zero-modes" and by_bond[1].zero_modes >= 1
    assert by_bond[21].category == "critical" and by_bond[21].drop >= 0.2
    assert by_bond[15].drop < by_bond[21].drop
    ranked = study.ranked()
    assert ranked[0].bond == 21 and ranked[-1].bond == 1
    d = study.to_dict()
    assert d["zero_modes"] == [1] and 21 in d["critical"]
    assert "zero modes" in study_table(study)


@pytest.mark.skipif(importlib.util.find_spec("dask") is not None, reason="dask is installed")
def test_scheduler_without_dask_says_how_to_install():
    with pytest.raises(InputError, match=r"labmnn\[cluster\]"), make_executor("tcp://127.0.0.1:8786"):
        pass


def test_command_on_local_processes(trained, tmp_path, capsys):
    _, path = trained
    out = tmp_path / "p"
    assert main(["prune-study", "iris", str(path), "--bonds", "11", "21", "--epochs", "3",
                 "--workers", "2", "--out", str(out)]) == 0
    d = json.loads((out / "prune_study.json").read_text())
    assert d["zero_modes"] == [11]
    assert [o["bond"] for o in d["outcomes"]][0] == 21
    assert (out / "prune_study.png").exists() and (out / "prune_study.md").exists()
    assert "critical" in capsys.readouterr().out
    assert main(["prune-study", "iris", str(path), "--bonds", "99", "--out", str(out)]) == 2


def test_dask_path_uses_a_client_at_the_scheduler_address(trained, monkeypatch):
    """With a stand-in ``dask.distributed`` module: the study goes through Client(address).submit."""
    import sys
    import types

    made = {}

    class FakeClient(FakeExecutor):
        def __init__(self, address, timeout=None):
            super().__init__()
            made["address"], made["client"], made["closed"] = address, self, False

        def close(self):
            made["closed"] = True

    dask = types.ModuleType("dask")
    distributed = types.ModuleType("dask.distributed")
    distributed.Client = FakeClient
    dask.distributed = distributed
    monkeypatch.setitem(sys.modules, "dask", dask)
    monkeypatch.setitem(sys.modules, "dask.distributed", distributed)
    net, _ = trained
    study = run_study("iris", net, epochs=1, seed=0, scheduler="tcp://10.0.0.5:8786", bonds=[27])
    assert made["address"] == "tcp://10.0.0.5:8786" and made["closed"]
    assert [c[1][2] for c in made["client"].calls] == [27]
    assert study.outcomes[0].status == "ok"


def test_jobs_are_plain_data_that_survive_pickling(trained):
    import pickle

    from labmnn.training.prune_study import study_bond

    net, _ = trained
    task = load_task("iris")
    payload = pickle.loads(pickle.dumps(task.payload()))
    row = study_bond(payload, pickle.loads(pickle.dumps(net.to_dict())), 27, 1, 0)
    assert row["status"] == "ok" and 0 <= row["before"] <= 1


def test_a_real_in_process_dask_cluster_runs_the_study(trained, tmp_path, capsys):
    """``--scheduler`` against a real Dask ``LocalCluster`` (threads in this process): same rows as locally."""
    distributed = pytest.importorskip("dask.distributed")
    net, path = trained
    local = run_study("iris", net, epochs=2, seed=0, executor=FakeExecutor(), bonds=[11, 27])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) \
            as cluster:
        address = cluster.scheduler_address
        done = []

        class Seen(distributed.diagnostics.plugin.SchedulerPlugin):
            def transition(self, key, start, finish, *args, **kwargs):
                if finish == "memory":
                    done.append(str(key))

        cluster.scheduler.add_plugin(Seen())
        study = run_study("iris", net, epochs=2, seed=0, scheduler=address, bonds=[11, 27])
        out = tmp_path / "p"
        assert main(["prune-study", "iris", str(path), "--bonds", "27", "--epochs", "1", "--scheduler", address,
                     "--out", str(out)]) == 0
    assert sum(k.startswith("study_bond") for k in done) == 3  # the scheduler really ran the jobs
    assert study.to_dict() == local.to_dict()
    assert json.loads((out / "prune_study.json").read_text())["outcomes"][0]["bond"] == 27
    assert "wrote" in capsys.readouterr().out


def test_a_folder_named_like_a_shipped_task_does_not_hide_it(trained, tmp_path, monkeypatch):
    _, path = trained
    monkeypatch.chdir(tmp_path)
    (tmp_path / "iris").mkdir()
    assert load_task("iris").name == "iris"
    assert main(["prune-study", "iris", str(path), "--bonds", "27", "--epochs", "0", "--workers", "1",
                 "--out", str(tmp_path / "p")]) == 0
    assert main(["train", "iris", "--epochs", "0", "--no-plots", "--out", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["epochs"] == 0

"""Data others can open: results.h5 as NeXus (nexusformat), sessions as Bluesky documents (databroker)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from protocol_fakes import fake_bench  # noqa: E402

from labmnn.cli import main  # noqa: E402
from labmnn.model.network import Network  # noqa: E402
from labmnn.protocol.docs_export import session_documents, stream_of  # noqa: E402
from labmnn.protocol.engine import Engine  # noqa: E402
from labmnn.protocol.operator import AutoOperator  # noqa: E402
from labmnn.protocol.recorder import Session  # noqa: E402
from labmnn.protocol.spec import load_protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_session(tmp_path, name="gradient"):
    spec = load_protocol(ROOT / "protocols" / f"{name}.toml")
    spec.repeats = 1
    spec.linearize = "none"
    net = Network.open(spec.network)
    bench = fake_bench(net)
    eng = Engine(spec, Session.create(tmp_path / "s", spec.name), bench, AutoOperator(bench.sim_operator))
    out = eng.run()
    assert out["status"] == "success"
    return eng.session.folder, out


@pytest.fixture(scope="module")
def gradient_session(tmp_path_factory):
    return run_session(tmp_path_factory.mktemp("g"))


def test_results_h5_is_nexus_with_units_and_a_default_plot(gradient_session):
    folder, out = gradient_session
    with h5py.File(folder / "results.h5") as h:
        assert h.attrs["default"] == "entry" and h["entry"].attrs["NX_class"] == "NXentry"
        assert h["entry"].attrs["default"] == "gradient"
        plot = h["entry/gradient"]
        assert plot.attrs["NX_class"] == "NXdata" and plot.attrs["signal"] == "gradient_measured"
        assert list(plot.attrs["axes"]) == ["bond"]
        for group in ("network", "steps", "summary", "steps/r0.forward.0"):
            assert h[f"entry/{group}"].attrs["NX_class"] == "NXcollection"
        assert h["entry/network/stiffness_n_per_m"].attrs["units"] == "N/m"
        assert h["entry/steps/r0.forward.0/displacements_mm"].attrs["units"] == "mm"
        assert h["entry/steps/r0.forward.0/masses_g"].attrs["units"] == "g"
        assert h["entry/steps/r0.forward.0/forces_n"].attrs["units"] == "N"
        assert "units" not in h["entry/steps/r0.forward.0/lost"].attrs
        # the names earlier readers use still work
        np.testing.assert_array_equal(h["summary/gradient_measured"][()], out["summary"]["gradient_measured"])
        assert h["network/nodes_m"].shape == (14, 2)


def test_nexusformat_reads_the_default_plot(gradient_session):
    nexus = pytest.importorskip("nexusformat.nexus")
    folder, out = gradient_session
    root = nexus.nxload(str(folder / "results.h5"))
    data = root.plottable_data
    assert data.nxclass == "NXdata" and data.nxpath == "/entry/gradient"
    assert data.nxsignal.nxname == "gradient_measured" and [a.nxname for a in data.nxaxes] == ["bond"]
    np.testing.assert_allclose(data.nxsignal.nxvalue, out["summary"]["gradient_measured"])
    assert data.nxerrors is not None
    assert root["entry/steps/r0.adjoint.0/model_displacements_mm"].attrs["units"] == "mm"


def test_a_session_without_gradient_plots_its_last_loading(tmp_path):
    folder, _ = run_session(tmp_path, "validate")
    with h5py.File(folder / "results.h5") as h:
        plot = h["entry"][h["entry"].attrs["default"]]
        assert plot.attrs["NX_class"] == "NXdata" and plot[plot.attrs["signal"]].attrs["units"] == "mm"


def test_stream_names():
    assert [stream_of(k) for k in ("r0/reference", "r1/adjoint-half/2", "r0/adjoint-plan", "train/epoch/3")] == [
        "reference", "adjoint_half", "adjoint_plan", "train_epoch"]


def test_documents_follow_event_model_and_declare_units_and_booleans(gradient_session, tmp_path, capsys):
    pytest.importorskip("event_model")
    folder, out = gradient_session
    target = tmp_path / "docs.jsonl"
    assert main(["export-docs", str(folder), "-o", str(target)]) == 0
    assert "checked against event-model" in capsys.readouterr().out
    docs = [tuple(json.loads(line)) for line in target.read_text().splitlines()]
    names = [n for n, _ in docs]
    assert names[0] == "start" and names[-1] == "stop" and names.count("start") == 1
    descriptors = {d["name"]: d for n, d in docs if n == "descriptor"}
    assert {"reference", "forward", "adjoint_plan", "adjoint", "gradient", "weighings"} <= set(descriptors)
    fwd = descriptors["forward"]["data_keys"]
    assert fwd["lost"] == {"dtype": "array", "shape": [14], "source": "labmnn:forward", "dtype_numpy": "|b1"}
    assert fwd["displacements_mm"]["units"] == "mm" and fwd["displacements_mm"]["shape"] == [14, 2]
    assert descriptors["weighings"]["data_keys"]["mass_g"] == {"dtype": "number", "shape": [],
                                                               "source": "labmnn:weighings", "units": "g"}
    stop = docs[-1][1]
    assert stop["exit_status"] == "success" and stop["num_events"]["gradient"] == 1
    assert docs == [tuple(x) for x in json.loads(json.dumps(session_documents(folder)))]  # same uids every time


def test_an_interrupted_session_exports_as_failed(gradient_session, tmp_path):
    pytest.importorskip("event_model")
    from labmnn.protocol.docs_export import validate

    folder, _ = gradient_session
    cut = tmp_path / "cut"
    cut.mkdir()
    lines = (folder / "log.jsonl").read_text().splitlines()
    (cut / "log.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # no stop record
    docs = session_documents(cut)
    assert validate(docs) == len(docs)
    assert docs[-1][1]["exit_status"] == "fail" and "incomplete" in docs[-1][1]["reason"]


def test_export_docs_bad_input(tmp_path, capsys):
    assert main(["export-docs", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"labmnn: error: {tmp_path / 'nope'}: no such session folder"
    assert main(["export-docs", str(tmp_path)]) == 2
    assert "holds no start record" in capsys.readouterr().err


@pytest.mark.slow  # importing databroker (intake, dask, xarray) takes several seconds
def test_databroker_reads_a_stream_back(gradient_session, tmp_path):
    pytest.importorskip("event_model")
    jsonl = pytest.importorskip("databroker._drivers.jsonl")
    folder, out = gradient_session
    target = tmp_path / "docs.jsonl"
    assert main(["export-docs", str(folder), "-o", str(target)]) == 0
    catalog = jsonl.BlueskyJSONLCatalog([str(target)])
    (uid,) = list(catalog)
    run = catalog[uid]
    assert run.metadata["start"]["protocol"] == "gradient-fig1"
    assert run.metadata["stop"]["exit_status"] == "success"
    grad = run["gradient"].read()
    np.testing.assert_allclose(grad["gradient"].values[0], out["summary"]["gradient_measured"])
    fwd = run["forward"].read()
    assert fwd["lost"].dtype == bool and fwd["displacements_mm"].shape == (1, 14, 2)

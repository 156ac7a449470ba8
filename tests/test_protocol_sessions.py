"""Sessions list, report and reanalysis on sessions recorded with fake devices."""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from protocol_fakes import FakeTracker, fake_bench  # noqa: E402

from labmnn.cli import main  # noqa: E402
from labmnn.errors import InputError  # noqa: E402
from labmnn.model.network import Network  # noqa: E402
from labmnn.protocol.engine import Engine  # noqa: E402
from labmnn.protocol.operator import AbortRequested, AutoOperator  # noqa: E402
from labmnn.protocol.reanalyze import reanalyze  # noqa: E402
from labmnn.protocol.recorder import Session  # noqa: E402
from labmnn.protocol.report import write_report  # noqa: E402
from labmnn.protocol.sessions import list_sessions  # noqa: E402
from labmnn.protocol.spec import load_protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(root, name="gradient", noise_mm=0.001, hook=None):
    spec = load_protocol(ROOT / "protocols" / f"{name}.toml")
    bench = fake_bench(Network.open(spec.network), noise_mm=noise_mm)
    eng = Engine(spec, Session.create(root, spec.name), bench, AutoOperator(bench.sim_operator, hook=hook))
    return eng, eng.run()


def digest_tree(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    root = tmp_path_factory.mktemp("sessions")
    good, _ = run(root)
    series, _ = run(root, "validate")

    def abort(ins):
        if ins.kind == "hang":
            raise AbortRequested("stop")

    aborted, _ = run(root, hook=abort)
    return root, good.session.folder, series.session.folder, aborted.session.folder


def test_sessions_list_status(sessions, capsys):
    root, good, series, aborted = sessions
    infos = {i.folder: i for i in list_sessions(root)}
    # two-level: reference + 2 forward + 2 adjoint
    assert infos[good].status == "success" and infos[good].images == 15 and infos[good].kind == "gradient"
    assert infos[aborted].status == "abort" and infos[aborted].reason == "stop"
    assert infos[series].kind == "load_series"
    assert main(["sessions", str(root)]) == 0
    out = capsys.readouterr().out
    assert good.name in out and "abort" in out and "success" in out
    assert main(["sessions", str(root), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


@pytest.mark.slow
def test_report_writes_html_and_figures(sessions):
    _, good, series, aborted = sessions
    page = write_report(good)
    html = page.read_text()
    for png in ("gradient_bars.png", "gradient_scatter.png", "elongation_maps.png"):
        assert (page.parent / png).stat().st_size > 5000 and png in html
    assert "relative_error" in html
    page = write_report(series)
    assert (page.parent / "load_series.png").exists()
    html = page.read_text()
    for png in ("validation/parity.png", "validation/displacement_vs_load_0.png"):
        assert (page.parent / png).stat().st_size > 5000 and f"src='{png}'" in html
    assert "R²" in html and "largest error" in html and "Warning" not in html
    with pytest.raises(InputError, match="resume"):
        write_report(aborted)


def test_report_shows_a_failed_validation_as_a_warning(sessions, tmp_path, capsys):
    import shutil

    _, _, series, _ = sessions
    broken = tmp_path / series.name
    shutil.copytree(series, broken)
    (broken / "load_series.json").write_text('{"cases": [{"label": "x"}]}')
    page = write_report(broken)
    html = page.read_text()
    assert "Warning:" in html and "validation report failed" in html
    assert "validation report failed" in capsys.readouterr().err
    assert (page.parent / "load_series.png").exists()  # the rest of the report is still written


def test_reanalyze_writes_new_results_and_never_touches_raw_data(sessions):
    _, good, _, _ = sessions
    before = digest_tree(good)
    old = json.loads((good / "results.json").read_text())
    out = reanalyze(good, make_tracker=FakeTracker, name="again")
    after = digest_tree(good)
    for path, digest in before.items():
        assert after[path] == digest, path  # nothing existing changed
    new = set(after) - set(before)
    assert {"again.json", "again.h5", "again-load_series.json", "again-csv/gradient.csv"} <= new
    assert not any(p.startswith("raw/") or p == "log.jsonl" for p in new)
    s = json.loads((good / "again.json").read_text())
    np.testing.assert_allclose(s["gradient_measured"], old["gradient_measured"], rtol=1e-9)
    assert out["summary"]["relative_error"] == pytest.approx(old["relative_error"])
    with pytest.raises(InputError, match="exist already"):
        reanalyze(good, make_tracker=FakeTracker, name="again")


def test_reanalyze_with_other_tracking_changes_the_numbers(sessions):
    _, good, _, _ = sessions

    class Biased(FakeTracker):  # e.g. a different calibration scale
        def track(self, path):
            r = super().track(path)
            r.displacements_network_mm = r.displacements_network_mm * 1.02
            return r

    out = reanalyze(good, make_tracker=Biased, name="biased")
    old = json.loads((good / "results.json").read_text())
    ratio = np.asarray(out["summary"]["gradient_measured"]) / np.asarray(old["gradient_measured"])
    assert np.median(ratio) == pytest.approx(1.02 ** 2, rel=2e-3)


def test_reanalyze_refuses_an_incomplete_session(sessions):
    _, _, _, aborted = sessions
    with pytest.raises(InputError, match="not complete.*labmnn resume"):
        reanalyze(aborted, make_tracker=FakeTracker)

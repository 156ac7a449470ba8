"""The session report as a reader sees it: units, headline, masses, hashes, figures with SVG twins.

Sessions are recorded with the fake rig (JSON "photos", no thumbnails), so
these tests are fast; tests/test_report_browser.py renders a report of the
simulated rig (real photos) in Chromium.
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from protocol_fakes import fake_bench  # noqa: E402

from labmnn.model.network import Network  # noqa: E402
from labmnn.protocol.engine import Engine  # noqa: E402
from labmnn.protocol.operator import AutoOperator  # noqa: E402
from labmnn.protocol.recorder import Session  # noqa: E402
from labmnn.protocol.report import write_report  # noqa: E402
from labmnn.protocol.report_data import format_value, rounding_sentence, step_words  # noqa: E402
from labmnn.protocol.spec import load_protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _run(root, name):
    spec = load_protocol(ROOT / "protocols" / f"{name}.toml")
    bench = fake_bench(Network.open(spec.network), noise_mm=0.001)
    eng = Engine(spec, Session.create(root, spec.name), bench, AutoOperator(bench.sim_operator))
    eng.run()
    return eng.session.folder


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_page")
    return {name: write_report(_run(root, name)) for name in ("gradient", "validate", "train")}


def test_units_and_words():
    assert format_value(0.0142549, "%") == "1.43 %"
    assert format_value(0.000585428, "m2") == "5.854e-04 m²"
    assert format_value(0.0019, "mm") == "1.9 µm"
    assert format_value(3.2e-16, "%") == "< 0.00001 %"
    assert "about 2.3 %" in rounding_sentence({"predicted_rounding_error": 0.023})
    assert "less than 0.01 %" in rounding_sentence({"predicted_rounding_error": 2.3e-16})
    assert step_words("t1/r0/forward-half/0") == "training step 2, repeat 1, forward at half load, loading 1"


@pytest.mark.slow  # shares a fixture that records and reports three sessions (~10 s)
def test_gradient_page_speaks_units_not_keys(reports):
    page = reports["gradient"]
    html = page.read_text(encoding="utf-8")
    head = html.split("id='headline'")[1].split("</div></div></div>")[0]
    assert "Gradient error" in head and re.search(r"[0-9.]+ %", head) and " m²" in head
    assert "relative_error" not in head and "0.0" not in head.split("value'>")[1][:4]
    assert "Rounding the adjoint loads to the weight set changes the gradient by about" in html
    # planned vs weighed grams of every hung stack
    masses = html.split("id='masses'")[1].split("</table>")[0]
    assert masses.count("<tr>") == 1 + 15 - 3  # header + every loaded photo (15 photos, 3 references)
    assert "planned (g)" in masses and "weighed (g)" in masses
    # the full SHA-256 of every photo
    for sha in re.findall(r"\b[0-9a-f]{64}\b", (page.parent.parent / "log.jsonl").read_text()):
        assert sha in html
    # every PNG figure has an SVG twin, linked
    for png in re.findall(r"<img src='([^']+\.png)'", html):
        if not png.startswith(("validation/", "overlays/")):
            svg = png[:-4] + ".svg"
            assert (page.parent / svg).stat().st_size > 5000 and f"href='{svg}'" in html
    for stem in ("gradient_bars", "gradient_scatter", "gradient_residual", "elongation_maps"):
        assert f"src='{stem}.png'" in html
    assert "standard error" in html and "status <b" in html and "duration" in html


@pytest.mark.slow  # shares a fixture that records and reports three sessions (~10 s)
def test_load_series_page_shows_residuals_per_node_and_load(reports):
    html = reports["validate"].read_text(encoding="utf-8")
    assert "src='load_series_residuals.png'" in html and "µm" in html
    assert "coefficient of determination" in html     # R² is explained
    assert "RMS displacement error" in html


@pytest.mark.slow  # shares a fixture that records and reports three sessions (~10 s)
def test_training_page_has_traces_against_goals(reports):
    page = reports["train"]
    html = page.read_text(encoding="utf-8")
    assert "src='training.png'" in html and (page.parent / "training.svg").exists()
    head = html.split("id='headline'")[1]
    assert "Loss at the start" in head and "Loss reduction" in head and "m²" in head
    assert "against its goal" in html


@pytest.mark.slow  # shares a fixture that records and reports three sessions (~10 s)
def test_links_exist(reports):
    for page in reports.values():
        html = page.read_text(encoding="utf-8")
        for ref in re.findall(r"(?:src|href)='([^'#]+)'", html):
            assert (page.parent / ref).exists(), (page, ref)


@pytest.mark.slow  # shares a fixture that records and reports three sessions (~10 s)
def test_report_never_writes_raw(reports):
    folder = reports["gradient"].parent.parent
    raw = sorted(p.name for p in (folder / "raw").iterdir())
    assert raw and not any(p.endswith(".jpg") and "thumb" in p for p in raw)
    assert np.all([not p.startswith("report") for p in raw])

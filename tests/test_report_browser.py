"""Check by looking: a gradient session of the simulated rig, reported and rendered in headless Chromium.

Asserts on what a reader sees: every image of the page loads (naturalWidth > 0,
read back from the rendered DOM), every link points at a file, the headline
figures are there with units, thumbnails link to the original photos.  Skips
when no Chromium binary is installed (Debian: ``apt-get install chromium``).
"""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("hardware_sim.rig")

from labmnn.cli import main  # noqa: E402

pytestmark = pytest.mark.slow  # records a session on the simulated rig (~20 s)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")

# Appended to a copy of the page: after load, write which images failed to decode into the DOM.
PROBE = ("<script>window.addEventListener('load',function(){var bad=[].slice.call(document.images)"
         ".filter(function(i){return !(i.complete&&i.naturalWidth>0)}).map(function(i){return i.getAttribute('src')});"
         "var d=document.createElement('div');d.id='probe';d.textContent='images '+document.images.length+"
         "' broken '+bad.length+' '+bad.join(' ');document.body.appendChild(d);});</script>")


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser")
    assert main(["run", str(ROOT / "protocols" / "gradient.toml"), "--sim", "--auto", "--repeats", "1",
                 "--out", str(out)]) == 0
    (folder,) = [p for p in out.iterdir() if (p / "log.jsonl").exists()]
    before = digest(folder / "raw")
    assert main(["report", str(folder)]) == 0
    assert digest(folder / "raw") == before   # the raw photos are read, never written
    return folder / "report" / "index.html"


def dump_dom(page: Path, extra: str = "") -> str:
    probe = page.with_name("_probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", extra + PROBE + "</body>"), encoding="utf-8")
    try:
        run = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=20000",
                              "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    return run.stdout


@needs_chromium
def test_every_image_loads_in_the_browser(report):
    dom = dump_dom(report)
    m = re.search(r"<div id=\"probe\">images (\d+) broken (\d+)([^<]*)</div>", dom)
    assert m, dom[-2000:]
    n, broken = int(m[1]), int(m[2])
    assert broken == 0, m[3]
    # 4 figures + 4 overlays + 5 thumbnails
    assert n == 13
    # the probe can fail: a missing picture is reported as broken
    dom = dump_dom(report, "<img src='no-such-picture.png'>")
    assert re.search(r"broken 1 no-such-picture\.png", dom)


@needs_chromium
def test_the_reader_sees_the_headline(report):
    dom = dump_dom(report)
    head = dom.split('id="headline"')[1].split("</div></div></div>")[0]
    assert "Gradient error" in head and re.search(r"\d+(\.\d+)? %", head)
    assert "Loss" in head and "m²" in head and "Repeats" in head
    assert "Rounding the adjoint loads to the weight set changes the gradient by about" in dom


def test_no_broken_links(report):
    html = report.read_text(encoding="utf-8")
    refs = re.findall(r"(?:src|href)='([^'#]+)'", html)
    assert len(refs) > 30
    for ref in refs:
        assert (report.parent / ref).is_file(), ref


def test_thumbnails_link_to_the_originals(report):
    html = report.read_text(encoding="utf-8")
    pairs = re.findall(r"<a href='(\.\./raw/[^']+\.jpg)'><img src='(thumbs/[^']+\.jpg)'", html)
    assert len(pairs) == 5
    for raw, thumb in pairs:
        assert (report.parent / thumb).stat().st_size < 60_000 < (report.parent / raw).stat().st_size
    overlays = re.findall(r"<img src='(overlays/[^']+\.png)'", html)
    assert len(overlays) == 4 and "every joint tracked" in html


@needs_chromium
def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1400,3000", report.as_uri()],
                   capture_output=True, timeout=120)
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (3000, 1400)
    assert img.std() > 20   # text and figures, not an empty page

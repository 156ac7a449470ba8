"""Every command, fed the mistakes a user at the rig makes.

The rule (developers' guide): bad input gets exactly one line
``labmnn: error: ...`` naming the file or option, the field and the value,
exit code 2, never a traceback, and nothing already on disk is destroyed.

Most cases call :func:`labmnn.cli.main` in-process (fast); a representative
few run the real ``python -m labmnn`` in a subprocess, and so does the Ctrl-C
check.  Each case runs in its own folder holding ``keep.json`` and
``run/metrics.json`` (earlier outputs); cases point outputs at them and the
test checks they are untouched and no ``.tmp`` file is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from interrupts import interrupt_when

from labmnn.cli import build_parser, main
from labmnn.fabrication.load_series import (
    hanging_plan,
    simulate_cases,
    write_load_series,
)
from labmnn.model.network import Network

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "protocols" / "tasks"
KEEP = '{"keep": "an earlier result"}\n'


# ---------------------------------------------------------------- fixtures
def _mutate_json(src: Path, dst: Path, change) -> None:
    data = json.loads(src.read_text())
    change(data)
    dst.write_text(json.dumps(data))


def _mutate_text(src: Path, dst: Path, old: str, new: str) -> None:
    text = src.read_text()
    assert old in text, old
    dst.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    """A folder of good and bad inputs, built once."""
    d = tmp_path_factory.mktemp("bad-input")
    net = Network.example("paper-triangle-n4")
    net.save(d / "net.json")
    # a load-series session and broken copies of it
    sess = d / "session"
    sess.mkdir()
    net.save(sess / "network.json")
    F, labels = hanging_plan(net, grams=(10.0,), nodes=[12, 13, 10])
    write_load_series(sess / "load_series.json", simulate_cases(net, F, labels), "network.json")
    ls = sess / "load_series.json"
    _mutate_json(ls, d / "ls_nan.json", lambda e: e["cases"][1]["displacements_mm"][3].__setitem__(1, float("nan")))
    _mutate_json(ls, d / "ls_short.json", lambda e: e["cases"][1]["displacements_mm"].pop())
    _mutate_json(ls, d / "ls_nocases.json", lambda e: e.__setitem__("cases", []))
    _mutate_json(ls, d / "ls_nonet.json", lambda e: e.pop("network"))
    _mutate_json(ls, d / "ls_same_labels.json", lambda e: [c.__setitem__("label", "same") for c in e["cases"]])
    _mutate_json(ls, d / "ls_n3.json", lambda e: e.__setitem__(
        "cases", [{"label": "a", "forces_n": [[0, 0]] * 3, "displacements_mm": [[0, 0]] * 3}]))
    # broken network files
    nj = d / "net.json"
    _mutate_json(nj, d / "net_nan.json", lambda e: e.__setitem__("width_mm", float("nan")))
    _mutate_json(nj, d / "net_strnode.json", lambda e: e["bonds"].__setitem__(0, ["a", 1]))
    _mutate_json(nj, d / "net_oor.json", lambda e: e["bonds"].__setitem__(0, [0, 99]))
    _mutate_json(nj, d / "net_allfixed.json", lambda e: e.__setitem__("fixed_nodes", list(range(14))))
    # files of the wrong kind
    (d / "empty.json").write_text("")
    (d / "trunc.json").write_text(nj.read_text()[:300])
    (d / "array.json").write_text("[1, 2]")
    (d / "adir").mkdir()
    (d / "afile").write_text("a file, not a folder\n")
    # photographs: a small simulated rig set (reference + one loaded photo)
    assert main(["sim-photos", "--out", str(d / "photos"), "--width", "600", "--height", "400",
                 "--case", "12:10"]) == 0
    ref, loaded = d / "photos" / "network" / "SIM_0000.jpg", d / "photos" / "network" / "SIM_0001.jpg"
    (d / "photo.png").write_bytes(ref.read_bytes())  # a JPEG named .png: a photo where JSON is expected
    (d / "trunc.jpg").write_bytes(loaded.read_bytes()[:4000])
    img = cv2.imread(str(loaded))
    cv2.imwrite(str(d / "big.jpg"), cv2.resize(img, (1200, 800)))
    cv2.imwrite(str(d / "black.png"), np.zeros((400, 600), np.uint8))
    cam = json.loads((d / "photos" / "truth.json").read_text())["camera"]
    cal = {"format": "labmnn-calibration/1", "camera_matrix": cam["camera_matrix"],
           "dist_coeffs": cam["dist_coeffs"], "image_size": [cam["width"], cam["height"]], "rms_px": 0.1}
    (d / "cal.json").write_text(json.dumps(cal))
    cj = d / "cal.json"
    _mutate_json(cj, d / "cal_other.json", lambda e: e.__setitem__("image_size", [6000, 4000]))
    _mutate_json(cj, d / "cal_nan.json", lambda e: e["camera_matrix"][0].__setitem__(0, float("nan")))
    _mutate_json(cj, d / "cal_board.json", lambda e: e.__setitem__("board", {"cols": 9, "rows": 6, "square": 20}))
    _mutate_json(cj, d / "cal_singular.json", lambda e: e.__setitem__("plane_homography", [[0] * 3] * 3))
    _mutate_json(cj, d / "cal_format.json", lambda e: e.__setitem__("format", "opencv-yaml"))
    (d / "joints_bad.csv").write_text("node,x,y\n0,abc,1\n")
    # broken task files
    mse, iris = TASKS / "behaviour-mse.toml", TASKS / "iris.toml"
    for name, old, new in [
        ("task_nodes99", "nodes = [10]", "nodes = [99]"),
        ("task_nodesstr", "nodes = [10]", 'nodes = ["ten"]'),
        ("task_forcenan", "force_n = -0.049", "force_n = nan"),
        ("task_epochsneg", "epochs = 1000", "epochs = -3"),
        ("task_lrstr", "lr = 0.005", 'lr = "fast"'),
        ("task_boundsinf", "bounds_mm = [1.0, 3.0]", "bounds_mm = [1.0, inf]"),
        ("task_featuresnan", "features = [1.0]", "features = [nan]"),
        ("task_typo_table", "[optimizer]", "[optimiser]\nlr = 0.01\n[optimizer]"),
        ("task_typo_key", "lr = 0.005", "learning_rate = 0.005"),
        ("task_fixed_input", "nodes = [10]", "nodes = [0]"),
        ("task_fixed_target", "{ node = 12,", "{ node = 4,"),
        ("task_losskind", 'kind = "mse"', 'kind = "mae"'),
        ("task_netmissing", 'network = "paper-triangle-n4"', 'network = "gone.json"'),
        ("task_trunc", "targets = [\n", "targets = [\n  { node = 12, axis = "),
    ]:
        _mutate_text(mse, d / f"{name}.toml", old, new)
    (d / "task_trunc.toml").write_text((d / "task_trunc.toml").read_text().split("{ node = 12, axis = ")[0]
                                       + "{ node = 12, axis = ")
    _mutate_text(iris, d / "iris_csv_png.toml", 'kind = "iris"', 'kind = "iris"\npath = "photo.png"')
    return d


# ---------------------------------------------------------------- the cases
# (id, argv ({d}: inputs folder, {t}: this case's folder), words the error line must hold)
CASES = [
    # simulate
    ("simulate-missing", ["simulate", "{d}/nope.json"], ["nope.json", "no such file"]),
    ("simulate-photo-as-network", ["simulate", "{d}/photo.png"], ["photo.png", "cannot be read"]),
    ("simulate-empty", ["simulate", "{d}/empty.json"], ["empty.json", "not valid JSON"]),
    ("simulate-truncated", ["simulate", "{d}/trunc.json"], ["trunc.json", "not valid JSON", "line"]),
    ("simulate-folder", ["simulate", "{d}/adir"], ["adir", "cannot be read"]),
    ("simulate-json-array", ["simulate", "{d}/array.json"], ["array.json", "JSON object"]),
    ("simulate-nan-width", ["simulate", "{d}/net_nan.json"], ["net_nan.json", "width_mm", "nan"]),
    ("simulate-string-node", ["simulate", "{d}/net_strnode.json"], ["bonds[0]", "'a'"]),
    ("simulate-node-out-of-range", ["simulate", "{d}/net_oor.json"], ["bonds[0]", "99", "out of range"]),
    ("simulate-all-fixed", ["simulate", "{d}/net_allfixed.json"], ["net_allfixed.json", "fixed_nodes", "all 14"]),
    ("simulate-grams-no-colon", ["simulate", "paper-triangle-n4", "--grams", "12"], ["--grams", "NODE:VALUE", "'12'"]),
    ("simulate-grams-node-99", ["simulate", "paper-triangle-n4", "--grams", "99:10"], ["--grams", "99", "out of range"]),
    ("simulate-grams-negative-node", ["simulate", "paper-triangle-n4", "--grams=-1:10"], ["--grams", "-1", "out of range"]),
    ("simulate-grams-dash-value", ["simulate", "paper-triangle-n4", "--grams", "-1:10"], ["--grams", "--grams=-VALUE"]),
    ("simulate-grams-not-number", ["simulate", "paper-triangle-n4", "--grams", "12:abc"], ["--grams", "'abc'"]),
    ("simulate-grams-nan", ["simulate", "paper-triangle-n4", "--grams", "12:nan"], ["--grams", "12:nan", "finite"]),
    ("simulate-grams-bad-node", ["simulate", "paper-triangle-n4", "--grams", "x:10"], ["--grams", "'x:10'"]),
    ("simulate-grams-fixed-node", ["simulate", "paper-triangle-n4", "--grams", "0:10"], ["--grams", "node 0", "fixed"]),
    ("simulate-force-one-component", ["simulate", "paper-triangle-n4", "--force", "12:1"], ["--force", "FX,FY", "'12:1'"]),
    ("simulate-no-network", ["simulate"], ["simulate", "required", "network"]),
    ("simulate-unknown-option", ["simulate", "paper-triangle-n4", "--mass", "12:10"], ["--mass", "unrecognized"]),
    ("unknown-command", ["simulte"], ["simulte", "invalid choice"]),
    # train
    ("train-missing-task", ["train", "{d}/nope.toml"], ["nope.toml", "no such task file", "iris"]),
    ("train-photo-as-task", ["train", "{d}/photo.png"], ["photo.png", "cannot be read"]),
    ("train-empty-task", ["train", "{d}/empty.json"], ["empty.json", "format"]),
    ("train-truncated-task", ["train", "{d}/task_trunc.toml"], ["task_trunc.toml", "not valid TOML"]),
    ("train-network-json-as-task", ["train", "{d}/net.json"], ["net.json", "not valid TOML"]),
    ("train-input-node-99", ["train", "{d}/task_nodes99.toml"], ["task_nodes99.toml", "inputs.nodes[0]", "99"]),
    ("train-input-node-string", ["train", "{d}/task_nodesstr.toml"], ["inputs.nodes[0]", "'ten'"]),
    ("train-force-nan", ["train", "{d}/task_forcenan.toml"], ["inputs.force_n", "nan"]),
    ("train-epochs-negative-in-file", ["train", "{d}/task_epochsneg.toml"], ["optimizer.epochs", "-3"]),
    ("train-lr-string", ["train", "{d}/task_lrstr.toml"], ["optimizer.lr", "'fast'"]),
    ("train-bounds-inf", ["train", "{d}/task_boundsinf.toml"], ["widths.bounds_mm", "inf"]),
    ("train-features-nan", ["train", "{d}/task_featuresnan.toml"], ["dataset.features", "nan"]),
    ("train-misspelt-table", ["train", "{d}/task_typo_table.toml"], ["optimiser", "did you mean 'optimizer'"]),
    ("train-misspelt-key", ["train", "{d}/task_typo_key.toml"], ["optimizer.learning_rate", "not a task setting"]),
    ("train-input-on-fixed-node", ["train", "{d}/task_fixed_input.toml"], ["inputs.nodes[0]", "node 0", "fixed"]),
    ("train-target-on-fixed-node", ["train", "{d}/task_fixed_target.toml"], ["loss.targets[0].node", "node 4", "fixed"]),
    ("train-loss-kind", ["train", "{d}/task_losskind.toml"], ["loss.kind", "'mae'"]),
    ("train-task-network-missing", ["train", "{d}/task_netmissing.toml"], ["gone.json", "no such file"]),
    ("train-iris-csv-is-photo", ["train", "{d}/iris_csv_png.toml"], ["photo.png", "not a CSV"]),
    ("train-epochs-negative", ["train", "behaviour-mse", "--epochs", "-1"], ["--epochs", "-1"]),
    ("train-epochs-not-int", ["train", "behaviour-mse", "--epochs", "ten"], ["--epochs", "'ten'"]),
    ("train-seed-negative", ["train", "behaviour-mse", "--seed", "-1"], ["--seed", "-1"]),
    ("train-init-missing", ["train", "behaviour-mse", "--init", "{d}/nope.json"], ["nope.json", "no such file"]),
    ("train-init-photo", ["train", "behaviour-mse", "--init", "{d}/photo.png"], ["photo.png", "cannot be read"]),
    ("train-prune-999", ["train", "behaviour-mse", "--prune", "999"], ["bond", "999", "out of range"]),
    ("train-prune-twice", ["train", "behaviour-mse", "--prune", "3", "--prune", "3"], ["--prune", "bond 3", "more than once"]),
    ("train-out-is-file", ["train", "behaviour-mse", "--epochs", "1", "--out", "{t}/keep.json"], ["--out", "keep.json", "existing file"]),
    ("train-out-under-file", ["train", "behaviour-mse", "--epochs", "1", "--out", "{d}/afile/run"], ["--out", "afile/run"]),
    ("train-out-unwritable", ["train", "behaviour-mse", "--epochs", "1", "--out", "/proc/labmnn-run"], ["--out", "/proc/labmnn-run"]),
    ("train-bad-task-keeps-run", ["train", "{d}/task_nodes99.toml", "--out", "{t}/run"], ["inputs.nodes[0]"]),
    # prune-study
    ("prune-behaviour-task", ["prune-study", "behaviour-mse", "{d}/net.json", "--workers", "1"], ["behaviour-mse", "dataset", "classification or regression"]),
    ("prune-bond-999", ["prune-study", "iris", "{d}/net.json", "--bonds", "999", "--workers", "1"], ["--bonds", "999", "out of range"]),
    ("prune-epochs-negative", ["prune-study", "iris", "{d}/net.json", "--epochs", "-2"], ["--epochs", "-2"]),
    ("prune-workers-zero", ["prune-study", "iris", "{d}/net.json", "--workers", "0"], ["--workers", "0"]),
    ("prune-trained-photo", ["prune-study", "iris", "{d}/photo.png"], ["photo.png", "cannot be read"]),
    ("prune-trained-other-network", ["prune-study", "iris", "{d}/ls_n3.json"], ["ls_n3.json", "format"]),
    ("prune-out-is-file", ["prune-study", "iris", "{d}/net.json", "--bonds", "1", "--out", "{t}/keep.json"], ["--out", "existing file"]),
    # reproduce, demo
    ("reproduce-bad-figure", ["reproduce", "--figures", "9"], ["--figures", "'9'"]),
    ("reproduce-out-is-file", ["reproduce", "--figures", "1", "--quick", "--out", "{t}/keep.json"], ["--out", "existing file"]),
    ("demo-out-is-file", ["demo", "--out", "{t}/keep.json"], ["--out", "keep.json", "existing file"]),
    ("demo-out-under-file", ["demo", "--out", "{d}/afile/demo"], ["--out", "afile/demo"]),
    # identify
    ("identify-missing", ["identify", "{d}/nope", "-o", "{t}/keep.json"], ["nope", "no such file"]),
    ("identify-photo", ["identify", "{d}/photo.png", "-o", "{t}/keep.json"], ["photo.png", "not a text (JSON) file"]),
    ("identify-truncated", ["identify", "{d}/trunc.json", "-o", "{t}/keep.json"], ["trunc.json", "not valid JSON"]),
    ("identify-nan", ["identify", "{d}/ls_nan.json", "-o", "{t}/keep.json"], ["ls_nan.json", "cases[1].displacements_mm[3]", "nan"]),
    ("identify-short", ["identify", "{d}/ls_short.json", "-o", "{t}/keep.json"], ["cases[1].displacements_mm", "[13, 2]"]),
    ("identify-no-cases", ["identify", "{d}/ls_nocases.json", "-o", "{t}/keep.json"], ["ls_nocases.json", "cases", "[]"]),
    ("identify-no-network", ["identify", "{d}/ls_nonet.json", "-o", "{t}/keep.json"], ["ls_nonet.json", "network", "--network"]),
    ("identify-node-count", ["identify", "{d}/ls_n3.json", "--network", "paper-triangle-n4", "-o", "{t}/keep.json"], ["ls_n3.json", "3 nodes", "14"]),
    ("identify-out-folder", ["identify", "{d}/session", "-o", "{d}/adir"], ["--output", "adir", "is a folder"]),
    ("identify-out-missing-folder", ["identify", "{d}/session", "-o", "{t}/nodir/id.json"], ["--output", "nodir", "does not exist"]),
    ("identify-out-under-file", ["identify", "{d}/session", "-o", "{d}/afile/id.json"], ["--output", "afile", "is a file"]),
    ("identify-out-is-input", ["identify", "{d}/session/load_series.json", "-o", "{d}/session/load_series.json"], ["--output", "also an input"]),
    ("identify-holdout", ["identify", "{d}/session", "-o", "{t}/id.json", "--holdout", "1.5"], ["--holdout", "1.5"]),
    ("identify-regularization", ["identify", "{d}/session", "-o", "{t}/id.json", "--regularization", "abc"], ["--regularization", "'abc'"]),
    ("identify-seed", ["identify", "{d}/session", "-o", "{t}/id.json", "--seed", "-1"], ["--seed", "-1"]),
    ("identify-holdout-label", ["identify", "{d}/session", "-o", "{t}/id.json", "--holdout-label", "nosuch"], ["'nosuch'"]),
    ("identify-ambiguous-label", ["identify", "{d}/ls_same_labels.json", "--network", "paper-triangle-n4", "-o", "{t}/keep.json", "--holdout-label", "same"], ["--holdout-label", "'same'", "3 load cases"]),
    # validate-report
    ("validate-missing", ["validate-report", "{d}/nope", "--out", "{t}/vr"], ["nope", "no such file"]),
    ("validate-photo", ["validate-report", "{d}/photo.png", "--out", "{t}/vr"], ["photo.png", "not a text (JSON) file"]),
    ("validate-no-network", ["validate-report", "{d}/ls_nonet.json", "--out", "{t}/vr"], ["ls_nonet.json", "network", "--network"]),
    ("validate-node-count", ["validate-report", "{d}/ls_n3.json", "--network", "paper-triangle-n4", "--out", "{t}/vr"], ["ls_n3.json", "3 nodes"]),
    ("validate-node-99", ["validate-report", "{d}/session", "--out", "{t}/vr", "--node", "99"], ["--node", "99", "out of range"]),
    ("validate-out-is-file", ["validate-report", "{d}/session", "--out", "{t}/keep.json"], ["--out", "existing file"]),
    ("validate-out-unwritable", ["validate-report", "{d}/session", "--out", "/proc/labmnn-vr"], ["--out", "/proc/labmnn-vr"]),
    # export
    ("export-nothing", ["export", "paper-triangle-n4"], ["nothing to write", "--svg"]),
    ("export-missing-network", ["export", "{d}/nope.json", "--svg", "{t}/a.svg"], ["nope.json", "no such file"]),
    ("export-missing-folder", ["export", "paper-triangle-n4", "--svg", "{t}/nodir/a.svg"], ["--svg", "nodir", "does not exist"]),
    ("export-svg-is-folder", ["export", "paper-triangle-n4", "--svg", "{d}/adir"], ["--svg", "adir"]),
    ("export-wrong-suffix", ["export", "paper-triangle-n4", "--stl", "{t}/part.svg"], ["--stl", "part.svg", ".stl"]),
    ("export-over-network", ["export", "{d}/net.json", "--svg", "{d}/net.json"], ["--svg", "net.json"]),
    ("export-dxf-under-file", ["export", "paper-triangle-n4", "--dxf", "{d}/afile/a.dxf"], ["--dxf", "afile", "is a file"]),
    ("export-hole-inf", ["export", "paper-triangle-n4", "--svg", "{t}/a.svg", "--hole", "inf"], ["--hole", "inf"]),
    ("export-hole-too-big", ["export", "paper-triangle-n4", "--svg", "{t}/a.svg", "--hole", "20"], ["--hole", "20 mm", "does not fit"]),
    ("export-joint-radius-huge", ["export", "paper-triangle-n4", "--svg", "{t}/a.svg", "--joint-radius", "500"], ["--joint-radius", "500", "merge"]),
    ("export-tab-width-nan", ["export", "paper-triangle-n4", "--svg", "{t}/a.svg", "--tab-width", "nan"], ["--tab-width", "nan"]),
    ("export-tab-direction", ["export", "paper-triangle-n4", "--svg", "{t}/a.svg", "--tab-direction", "left"], ["--tab-direction", "'left'"]),
    # calibrate
    ("calibrate-missing-photo", ["calibrate", "{d}/nope.jpg", "--board", "9x6", "--square", "20"], ["nope.jpg", "not found"]),
    ("calibrate-json-as-photo", ["calibrate", "{d}/net.json", "--board", "9x6", "--square", "20", "-o", "{t}/c.json"], ["net.json", "not a readable image"]),
    ("calibrate-empty-photo", ["calibrate", "{d}/empty.json", "--board", "9x6", "--square", "20", "-o", "{t}/c.json"], ["empty.json", "empty"]),
    ("calibrate-truncated-jpeg", ["calibrate", "{d}/trunc.jpg", "--board", "9x6", "--square", "20", "-o", "{t}/c.json"], ["trunc.jpg", "truncated"]),
    ("calibrate-board-9by6", ["calibrate", "{d}/big.jpg", "--board", "9by6", "--square", "20"], ["--board", "'9by6'", "9x6"]),
    ("calibrate-board-0x0", ["calibrate", "{d}/big.jpg", "--board", "0x0", "--square", "20"], ["--board", "0x0"]),
    ("calibrate-square-0", ["calibrate", "{d}/big.jpg", "--board", "9x6", "--square", "0"], ["--square", "0"]),
    ("calibrate-square-inf", ["calibrate", "{d}/big.jpg", "--board", "9x6", "--square", "inf"], ["--square", "inf"]),
    ("calibrate-square-units", ["calibrate", "{d}/big.jpg", "--board", "9x6", "--square", "20mm"], ["--square", "'20mm'"]),
    ("calibrate-out-folder", ["calibrate", "{d}/big.jpg", "--board", "9x6", "--square", "20", "-o", "{d}/adir"], ["--output", "adir", "is a folder"]),
    ("calibrate-out-under-file", ["calibrate", "{d}/big.jpg", "--board", "9x6", "--square", "20", "-o", "{d}/afile/c.json"], ["--output", "afile", "is a file"]),
    ("calibrate-no-board-keeps-old", ["calibrate", "{d}/big.jpg", "--board", "9x6", "--square", "20", "-o", "{t}/keep.json"], ["IMAGES", "9x6", "none"]),
    ("calibrate-plane-missing", ["calibrate", "{d}/big.jpg", "--board", "9x6", "--square", "20", "--plane", "{d}/nope.jpg", "-o", "{t}/c.json"], ["nope.jpg", "not found"]),
    # track
    ("track-calibration-missing", ["track", "{L}", "--calibration", "{d}/nope.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/keep.json"], ["nope.json", "not found"]),
    ("track-calibration-photo", ["track", "{L}", "--calibration", "{d}/photo.png", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["photo.png", "not valid JSON"]),
    ("track-calibration-empty", ["track", "{L}", "--calibration", "{d}/empty.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["empty.json", "not valid JSON"]),
    ("track-calibration-truncated", ["track", "{L}", "--calibration", "{d}/trunc.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["trunc.json", "not valid JSON"]),
    ("track-calibration-folder", ["track", "{L}", "--calibration", "{d}/adir", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["adir", "cannot be read"]),
    ("track-calibration-is-network", ["track", "{L}", "--calibration", "{d}/net.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["net.json", "format", "'labmnn-network/1'"]),
    ("track-calibration-other-camera", ["track", "{L}", "--calibration", "{d}/cal_other.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/keep.json"], ["--reference", "SIM_0000.jpg", "600x400", "cal_other.json", "6000x4000"]),
    ("track-calibration-nan", ["track", "{L}", "--calibration", "{d}/cal_nan.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["cal_nan.json", "camera_matrix", "nan"]),
    ("track-calibration-board", ["track", "{L}", "--calibration", "{d}/cal_board.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["cal_board.json", "board", "'square'"]),
    ("track-calibration-singular", ["track", "{L}", "--calibration", "{d}/cal_singular.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["cal_singular.json", "plane_homography", "singular"]),
    ("track-calibration-format", ["track", "{L}", "--calibration", "{d}/cal_format.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/r.json"], ["cal_format.json", "format", "'opencv-yaml'"]),
    ("track-reference-missing", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{d}/nope.jpg", "-o", "{t}/r.json"], ["nope.jpg", "not found"]),
    ("track-reference-not-image", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{d}/net.json", "-o", "{t}/r.json"], ["net.json", "not a readable image"]),
    ("track-reference-truncated", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{d}/trunc.jpg", "-o", "{t}/r.json"], ["trunc.jpg", "truncated"]),
    ("track-reference-wrong-size", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{d}/big.jpg", "-o", "{t}/r.json"], ["--reference", "big.jpg", "1200x800", "600x400"]),
    ("track-reference-black", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{d}/black.png", "-o", "{t}/r.json"], ["--reference", "black.png", "--joints"]),
    ("track-image-wrong-size", ["track", "{d}/big.jpg", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/keep.json", "--no-overlay"], ["IMAGE", "big.jpg", "1200x800"]),
    ("track-image-truncated", ["track", "{d}/trunc.jpg", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{t}/keep.json", "--no-overlay"], ["trunc.jpg", "truncated"]),
    ("track-joints-photo", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{R}", "--joints", "{d}/photo.png", "-o", "{t}/r.json"], ["photo.png", "cannot be read"]),
    ("track-joints-bad-row", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{R}", "--joints", "{d}/joints_bad.csv", "-o", "{t}/r.json"], ["joints_bad.csv", "line 2", "abc"]),
    ("track-search-zero", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{R}", "--search", "0", "-o", "{t}/r.json"], ["--search", "0"]),
    ("track-out-folder", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{d}/adir"], ["--output", "adir", "is a folder"]),
    ("track-out-under-file", ["track", "{L}", "--calibration", "{d}/cal.json", "--network", "paper-triangle-n4", "--reference", "{R}", "-o", "{d}/afile/r.json"], ["--output", "afile", "is a file"]),
    # sim-photos
    ("sim-photos-out-is-file", ["sim-photos", "--out", "{t}/keep.json", "--width", "200", "--height", "150"], ["--out", "existing file"]),
    ("sim-photos-out-holds-a-set", ["sim-photos", "--out", "{d}/photos", "--width", "200", "--height", "150"], ["--out", "truth.json", "new folder"]),
    ("sim-photos-case-syntax", ["sim-photos", "--out", "{t}/sp", "--case", "12:10:5"], ["--case", "12:10:5"]),
    ("sim-photos-case-node-99", ["sim-photos", "--out", "{t}/sp", "--case", "99:10"], ["--case", "99", "out of range"]),
    ("sim-photos-case-fixed-node", ["sim-photos", "--out", "{t}/sp", "--case", "0:10"], ["--case", "node 0", "fixed"]),
    ("sim-photos-case-too-heavy", ["sim-photos", "--out", "{t}/sp", "--case", "12:1e9"], ["--case", "1e9", "at most"]),
    ("sim-photos-width-zero", ["sim-photos", "--out", "{t}/sp", "--width", "0"], ["--width", "0"]),
    ("sim-photos-seed-negative", ["sim-photos", "--out", "{t}/sp", "--seed", "-1"], ["--seed", "-1"]),
    ("sim-photos-tilt", ["sim-photos", "--out", "{t}/sp", "--tilt-deg", "5"], ["--tilt-deg", "'5'"]),
    # camera (simulated) and balance
    ("camera-capture-out-is-file", ["camera", "capture", "--sim", "--out", "{t}/keep.json"], ["--out", "keep.json"]),
    ("camera-preview-not-image-name", ["camera", "preview", "--sim", "--out", "{t}/p.txt"], ["--out", "p.txt", ".png"]),
    ("camera-preview-under-file", ["camera", "preview", "--sim", "--out", "{d}/afile/p.png"], ["--out", "afile"]),
    ("camera-format-empty", ["camera", "settings", "--sim", "--format", ""], ["--format", "empty"]),
    ("camera-sim-network-missing", ["camera", "capture", "--sim", "--network", "{d}/nope.json", "--out", "{t}"], ["nope.json", "no such file"]),
    ("camera-no-action", ["camera"], ["camera", "ACTION"]),
    ("balance-timeout-zero", ["balance", "--sim", "--timeout", "0"], ["--timeout", "0"]),
    ("balance-baud-zero", ["balance", "--sim", "--baud", "0"], ["--baud", "0"]),
    ("balance-sim-mass-nan", ["balance", "--sim", "--sim-mass", "nan"], ["--sim-mass", "nan"]),
    ("balance-no-port", ["balance"], ["--port"]),
    ("balance-port-missing", ["balance", "--port", "{d}/ttyUSB9"], ["ttyUSB9"]),
]

# run as the real program (a representative few; the rest in-process)
SUBPROCESS = {"simulate-photo-as-network", "train-epochs-negative", "train-misspelt-table", "calibrate-board-9by6",
              "track-calibration-other-camera", "export-missing-folder", "simulate-grams-dash-value"}


def _argv(template: list[str], d: Path, t: Path) -> list[str]:
    photos = d / "photos" / "network"
    fill = {"d": str(d), "t": str(t), "R": str(photos / "SIM_0000.jpg"), "L": str(photos / "SIM_0001.jpg")}
    return [a.format(**fill) for a in template]


def _check(rc, err: str, words: list[str]) -> None:
    lines = err.splitlines()
    assert "Traceback" not in err, err
    assert rc == 2, f"exit code {rc}, stderr: {err!r}"
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert lines[0].startswith("labmnn: error: "), lines[0]
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


@pytest.mark.parametrize("case_id, template, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(case_id, template, words, d, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default outputs (runs/..., calibration.json) land here
    t = tmp_path / "case"
    (t / "run").mkdir(parents=True)
    (t / "keep.json").write_text(KEEP)
    (t / "run" / "metrics.json").write_text(KEEP)
    argv = _argv(template, d, t)
    if case_id in SUBPROCESS:
        proc = subprocess.run([sys.executable, "-m", "labmnn", *argv], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        rc, err = proc.returncode, proc.stderr
    else:
        rc = main(argv)
        err = capfd.readouterr().err
    _check(rc, err, words)
    # nothing already there is destroyed, nothing half-written is left
    assert (t / "keep.json").read_text() == KEEP
    assert (t / "run" / "metrics.json").read_text() == KEEP
    assert not list(tmp_path.rglob("*.tmp")) and not list(d.rglob("*.tmp"))


def test_every_option_of_every_command_is_explained():
    """``labmnn CMD --help`` must tell a user at the rig what each option does."""
    parser = build_parser()
    missing = []

    def walk(p, name):
        assert p.description or name == "labmnn", f"{name} has no description"
        for a in p._actions:
            if a.__class__.__name__ == "_SubParsersAction":
                for sub_name, sp in a.choices.items():
                    walk(sp, f"{name} {sub_name}")
            elif a.dest != "help" and not a.help:
                missing.append(f"{name} {'/'.join(a.option_strings) or a.dest}")

    walk(parser, "labmnn")
    assert not missing, f"options without help: {missing}"


@pytest.mark.parametrize("command", sorted(build_parser()._subparsers._group_actions[0].choices))
def test_help_exits_0(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: labmnn {command}")


def test_ctrl_c_during_train_exits_130_without_traceback(tmp_path):
    """SIGINT while training: exit code 130, one line, no traceback, nothing half-written."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "labmnn", "train", "iris", "--epochs", "1000000", "--out", str(out),
                             "--no-plots"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    # the output folder is made (and checked) just before training starts
    stdout, stderr = interrupt_when(proc, out.exists, delay=0.3, wait_s=90, poll_s=0.05)
    assert out.exists(), "the output folder was not made before training"
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == ["labmnn: interrupted"]
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_prune_study_stops_workers_and_exits_130(d, tmp_path):
    """Ctrl-C in a terminal reaches the whole process group: the study must stop at once, not hang."""
    out = tmp_path / "study"
    proc = subprocess.Popen([sys.executable, "-m", "labmnn", "prune-study", "iris", str(d / "net.json"), "--epochs",
                             "100000", "--workers", "2", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 90
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.exists(), "the output folder was not made before the study"
        time.sleep(2.0)  # workers started and busy
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert stderr.strip().splitlines() == ["labmnn: interrupted"]


@pytest.mark.slow
def test_simulated_camera_never_overwrites_an_earlier_photo(tmp_path, capsys):
    """Two captures into one folder from two runs: the first photo is kept (as the real camera does)."""
    assert main(["camera", "capture", "--sim", "--out", str(tmp_path)]) == 0
    first = (tmp_path / "SIM_0000.jpg").read_bytes()
    assert main(["camera", "capture", "--sim", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "SIM_0000.jpg").read_bytes() == first
    assert (tmp_path / "SIM_0001.jpg").is_file()

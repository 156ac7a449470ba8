"""``--bench-timing SESSION``: a simulated training costed at the pace a recorded session measured."""

import json

import pytest

from labmnn.cli import main
from labmnn.errors import InputError
from labmnn.protocol.task_protocol import bench_timing, session_timing
from labmnn.training.printed import SECONDS_PER_LOADING, SECONDS_PER_PRINT


def _session(folder, with_install=True):
    """A log whose loadings took 60 s and 40 s, and (optionally) one design change 900 s."""
    folder.mkdir(parents=True)
    recs = [("start", None, 0.0), ("step", "t0/r0/reference", 10.0), ("step", "t0/r0/forward/0", 70.0),
            ("step", "t0/r0/gradient", 71.0), ("step", "t0/update", 72.0)]
    if with_install:
        recs.append(("step", "t1/install", 972.0))
    recs += [("step", "t1/r0/reference", 980.0), ("step", "t1/r0/forward/0", 1020.0), ("stop", None, 1030.0)]
    lines = []
    for seq, (kind, key, t) in enumerate(recs, 1):
        r = {"seq": seq, "time": 1.0e9 + t, "kind": kind}
        if key:
            r.update(key=key, data={})
        if kind == "stop":
            r["status"] = "success"
        lines.append(json.dumps(r))
    (folder / "log.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_session_timing_takes_medians(tmp_path):
    t = session_timing(_session(tmp_path / "s"))
    assert t["loadings"] == 2 and t["seconds_per_loading"] == pytest.approx(50.0)
    assert t["design_changes"] == 1 and t["seconds_per_design_change"] == pytest.approx(900.0)
    assert t["bench_hours"] == pytest.approx(1030.0 / 3600)


def test_stated_and_measured_timing(tmp_path):
    assert bench_timing(None) == {"bench_timing": "stated", "seconds_per_loading": SECONDS_PER_LOADING,
                                  "seconds_per_print": SECONDS_PER_PRINT, "seconds_per_print_source": "stated"}
    b = bench_timing(_session(tmp_path / "rig-a"))
    assert b["bench_timing"] == "session rig-a" and b["seconds_per_loading"] == pytest.approx(50.0)
    assert b["seconds_per_print"] == pytest.approx(900.0) and b["seconds_per_print_source"] == "session"
    b = bench_timing(_session(tmp_path / "rig-b", with_install=False))
    assert b["seconds_per_print"] == SECONDS_PER_PRINT and b["seconds_per_print_source"] == "stated"


def test_a_folder_without_loadings_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a session folder"):
        bench_timing(tmp_path / "empty")
    with pytest.raises(InputError, match="not a session folder"):
        bench_timing(tmp_path / "nope")


def test_train_on_sim_costs_at_the_sessions_pace(tmp_path):
    s = _session(tmp_path / "rig", with_install=False)
    out = tmp_path / "run"
    assert main(["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--epochs", "3", "--out", str(out),
                 "--bench-timing", str(s)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["bench_timing"] == "session rig" and m["seconds_per_loading"] == pytest.approx(50.0)
    changes = m["prints"] + m["remounts"]
    assert m["condition_hours"] > 0  # conditioning waits are bench time too, whatever the pace of a loading
    assert m["bench_hours"] == pytest.approx((m["loadings"] * 50.0 + changes * SECONDS_PER_PRINT) / 3600
                                             + m["condition_hours"])
    stated = tmp_path / "stated"
    assert main(["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--epochs", "3",
                 "--out", str(stated)]) == 0
    m0 = json.loads((stated / "metrics.json").read_text())
    assert m0["bench_timing"] == "stated" and m0["loadings"] == m["loadings"]
    assert m0["bench_hours"] > m["bench_hours"]


def test_compare_methods_costs_at_the_sessions_pace(tmp_path):
    s = _session(tmp_path / "rig")
    out = tmp_path / "cmp"
    assert main(["compare-methods", "behaviour-mse", "--prints", "1", "--methods", "pat", "--epochs", "2",
                 "--workers", "1", "--condition-s", "0", "--bench-timing", str(s), "--out", str(out)]) == 0
    comp = json.loads((out / "comparison.json").read_text())
    assert comp["bench_timing"] == "session rig" and comp["seconds_per_print"] == pytest.approx(900.0)
    r = comp["methods"]["pat"]
    assert main(["compare-methods", "behaviour-mse", "--prints", "1", "--methods", "pat", "--epochs", "2",
                 "--workers", "1", "--condition-s", "0", "--out", str(tmp_path / "stated")]) == 0
    stated = json.loads((tmp_path / "stated" / "comparison.json").read_text())
    r0 = stated["methods"]["pat"]
    assert stated["bench_timing"] == "stated" and r0["loadings"] == r["loadings"]
    changes = (r0["bench_hours"] * 3600 - r0["loadings"] * SECONDS_PER_LOADING) / SECONDS_PER_PRINT
    assert r["bench_hours"] == pytest.approx((r["loadings"] * 50.0 + changes * 900.0) / 3600)
    assert r["bench_hours"] < r0["bench_hours"]


@pytest.mark.parametrize("argv, needle", [
    (["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--bench-timing", "{d}/nope"],
     "not a session folder"),
    (["train", "behaviour-mse", "--method", "insilico", "--bench-timing", "{d}/rig"], "give --on sim"),
    (["train", "behaviour-mse", "--method", "pat", "--on", "sim", "--hybrid-steps", "3"],
     "belongs to --method hybrid"),
    (["compare-methods", "behaviour-mse", "--bench-timing", "{d}/nope"], "not a session folder"),
])
def test_bad_bench_timing_is_one_line_exit_2(argv, needle, tmp_path, capsys):
    _session(tmp_path / "rig")
    argv = [a.replace("{d}", str(tmp_path)) for a in argv]
    assert main(argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labmnn: error:") and err.count("\n") == 1 and needle in err, err

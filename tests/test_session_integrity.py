"""A session defends its record (issue 15): one writer, no outside writes, hashes checked,
partial files aside, derived files rebuilt, inputs inside, a full disk at the start, Ctrl-C."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from protocol_fakes import FakeTracker, fake_bench  # noqa: E402

from labmnn.cli import main  # noqa: E402
from labmnn.cli.args import output_dir, output_file  # noqa: E402
from labmnn.errors import InputError  # noqa: E402
from labmnn.model.network import Network  # noqa: E402
from labmnn.protocol.engine import Engine  # noqa: E402
from labmnn.protocol.integrity import SessionDamaged, SessionLock  # noqa: E402
from labmnn.protocol.operator import AbortRequested, AutoOperator  # noqa: E402
from labmnn.protocol.reanalyze import reanalyze  # noqa: E402
from labmnn.protocol.recorder import Session, read_log  # noqa: E402
from labmnn.protocol.runner import resume_run, start_run  # noqa: E402
from labmnn.protocol.spec import load_protocol  # noqa: E402
from labmnn.protocol.verify import verify_session  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _run(root, hook=None):
    spec = load_protocol(ROOT / "protocols" / "gradient.toml")
    spec.repeats = 1
    bench = fake_bench(Network.open(spec.network), noise_mm=0.001)
    eng = Engine(spec, Session.create(root, spec.name), bench, AutoOperator(bench.sim_operator, hook=hook))
    eng.run()
    return eng.session.folder


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("recorded")
    good = _run(root)
    hung = []

    def abort(ins):  # stop after the first loaded photo
        if ins.kind == "hang":
            hung.append(ins)
            if len(hung) == 3:
                raise AbortRequested("stop")

    return good, _run(root, hook=abort)


@pytest.fixture
def good(recorded, tmp_path):
    dest = tmp_path / recorded[0].name
    shutil.copytree(recorded[0], dest)
    return dest


@pytest.fixture
def aborted(recorded, tmp_path):
    dest = tmp_path / recorded[1].name
    shutil.copytree(recorded[1], dest)
    return dest


def _photo(folder, n=1):
    return sorted((folder / "raw").glob("*.fake"))[n]


# ------------------------------------------------------------------ the lock
HOLDER = """
import sys
from labmnn.protocol.recorder import Session
s = Session.open(sys.argv[1]).lock()
print("locked", flush=True)
sys.stdin.read()   # hold the lock until the test closes our stdin
"""


def test_a_second_process_is_refused_naming_the_holder(aborted, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(aborted)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"  # blocks until the lock is held: no race
        log = (aborted / "log.jsonl").read_bytes()
        for argv in (["resume", str(aborted)], ["verify", str(aborted)], ["report", str(aborted)]):
            assert main(argv) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1
            assert f"is in use by process {holder.pid}" in err, err
        assert (aborted / "log.jsonl").read_bytes() == log  # nothing written by the refused ones
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # the lock died with its process: the session can be taken again
    SessionLock(aborted).acquire().release()


def test_the_lock_is_per_opening_so_two_resumes_in_one_process_conflict_too(aborted):
    bench = fake_bench(Network.open(aborted / "network.json"))
    first = resume_run(aborted, bench=bench, operator=AutoOperator(bench.sim_operator))
    with pytest.raises(InputError, match=f"in use by process {os.getpid()}"):
        resume_run(aborted, bench=fake_bench(Network.open(aborted / "network.json")))
    assert first.run()["status"] == "success"  # the run lets go of the lock at its stop record
    assert verify_session(aborted).ok
    SessionLock(aborted).acquire().release()


# ------------------------------------------------------------------ outside writes
def test_outputs_inside_a_recorded_session_are_refused(good, capsys):
    for call in (lambda: output_file(good / "network.json", "--output"),
                 lambda: output_file(good / "raw" / "x.json", "--output"),
                 lambda: output_dir(good, "--out"), lambda: output_dir(good / "sub", "--out")):
        with pytest.raises(InputError, match="inside the recorded session"):
            call()
    assert not (good / "sub").exists()
    before = (good / "network.json").read_bytes()
    assert main(["train", "iris", "--out", str(good)]) == 2
    assert "inside the recorded session" in capsys.readouterr().err
    assert main(["run", str(ROOT / "protocols" / "gradient.toml"), "--sim", "--auto", "--out", str(good)]) == 2
    assert "inside the recorded session" in capsys.readouterr().err
    assert (good / "network.json").read_bytes() == before
    # a link into a session counts as inside it
    link = good.parent / "link"
    link.symlink_to(good)
    with pytest.raises(InputError, match="inside the recorded session"):
        output_file(link / "load_series.json", "--output")


def test_reanalysis_names_stay_inside_the_session(good, capsys):
    assert main(["reanalyze", str(good), "--name", "../x"]) == 2
    assert "plain file name" in capsys.readouterr().err
    assert not (good.parent / "x.json").exists()
    with pytest.raises(InputError, match="plain file name"):
        reanalyze(good, make_tracker=FakeTracker, name="sub/x")


def test_a_symlinked_log_is_never_followed(aborted, tmp_path):
    elsewhere = tmp_path / "elsewhere.jsonl"
    shutil.move(aborted / "log.jsonl", elsewhere)
    (aborted / "log.jsonl").symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    with pytest.raises(InputError, match="symbolic link"):
        resume_run(aborted, bench=fake_bench(Network.open(aborted / "network.json")))
    assert elsewhere.read_bytes() == before


# ------------------------------------------------------------------ hashes
def test_flipped_bytes_in_a_photo_are_named_by_reanalyze_report_and_verify(good, capsys):
    photo = _photo(good, 2)
    data = bytearray(photo.read_bytes())
    for i in range(0, 24, 2):
        data[10 + i] ^= 0xFF
    photo.write_bytes(bytes(data))
    rel = str(photo.relative_to(good))
    with pytest.raises(SessionDamaged, match=f"{rel}: SHA-256 .* differs from the recorded"):
        reanalyze(good, make_tracker=FakeTracker, name="again")
    assert main(["report", str(good)]) == 3
    err = capsys.readouterr().err
    assert rel in err and "SHA-256" in err
    assert main(["verify", str(good)]) == 3
    out = capsys.readouterr().out
    assert f"MISMATCH {rel}" in out and "1 mismatch" in out


def test_resume_refuses_a_deleted_earlier_photo(aborted, capsys):
    photo = _photo(aborted, 0)
    photo.unlink()
    assert main(["resume", str(aborted)]) == 3
    err = capsys.readouterr().err
    assert f"{photo.relative_to(aborted)}: is missing" in err and "labmnn verify" in err


def test_verify_passes_a_clean_session_and_catches_two_writers(good, capsys):
    assert main(["verify", str(good)]) == 0
    assert ": OK (" in capsys.readouterr().out
    lines = (good / "log.jsonl").read_bytes().splitlines(keepends=True)
    with open(good / "log.jsonl", "ab") as fh:  # what two resumes at once left: records replayed
        fh.writelines(lines[3:6])
    v = verify_session(good)
    assert not v.ok
    found = " ".join(m.line() for m in v.problems)
    assert "appears 2 times" in found
    assert main(["verify", str(good), "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert main(["verify", str(good / "raw")]) == 2  # not a session


def test_verify_finds_an_unrecorded_file_in_raw(good):
    (good / "raw" / "9999_extra.fake").write_text("{}")
    assert [m.path for m in verify_session(good).problems] == ["raw/9999_extra.fake"]


# ------------------------------------------------------------------ partial files
def test_a_part_file_is_set_aside_never_filed_as_a_photo(aborted):
    inc = aborted / "raw" / ".incoming"
    inc.mkdir(exist_ok=True)
    (inc / "capt0001.jpg.part").write_bytes(b"\xff\xd8 half a photo")
    (aborted / "raw" / "0099_x.part").write_bytes(b"left in raw")
    bench = fake_bench(Network.open(aborted / "network.json"))
    assert resume_run(aborted, bench=bench, operator=AutoOperator(bench.sim_operator)).run()["status"] == "success"
    recs = read_log(aborted / "log.jsonl")
    assert not any(str(r.get("path", "")).endswith(".part") for r in recs if r.get("name") in
                   ("image", "orphan_image"))
    kept = [r for r in recs if r.get("name") == "partial_file"]
    assert sorted(r["path"] for r in kept) == ["raw/.incoming/capt0001.jpg.part", "raw/0099_x.part"]
    assert (aborted / ".partial" / "capt0001.jpg.part").read_bytes() == b"\xff\xd8 half a photo"
    assert not list((aborted / "raw").rglob("*.part"))
    assert verify_session(aborted).ok


# ------------------------------------------------------------------ derived files
def test_a_truncated_results_json_is_rebuilt_by_report(good, capsys):
    old = json.loads((good / "results.json").read_text())
    data = (good / "results.json").read_bytes()
    (good / "results.json").write_bytes(data[: len(data) // 2])
    assert [m.path for m in verify_session(good).problems] == ["results.*"]
    assert main(["report", str(good)]) == 0
    assert "rebuilding results.* from the log" in capsys.readouterr().err
    new = json.loads((good / "results.json").read_text())
    assert new["gradient_measured"] == pytest.approx(old["gradient_measured"], rel=1e-12)
    assert any(r.get("name") == "results_rebuilt" for r in read_log(good / "log.jsonl"))
    assert verify_session(good).ok


def test_a_truncated_results_h5_is_detected_and_rebuilt(good, capsys):
    h5 = good / "results.h5"
    h5.write_bytes(h5.read_bytes()[:2000])
    assert main(["verify", str(good)]) == 3
    assert "results.h5" in capsys.readouterr().out
    assert main(["report", str(good)]) == 0
    assert verify_session(good).ok


def test_results_that_disagree_with_the_log_are_found(good):
    res = json.loads((good / "results.json").read_text())
    res["relative_error"] = 0.5
    (good / "results.json").write_text(json.dumps(res))
    (good / "results.sha256").unlink()  # an older session: no digests, the rebuild still tells
    assert [m.line() for m in verify_session(good).problems] == [
        "results.json: relative_error differs from a rebuild out of the log"]


# ------------------------------------------------------------------ inputs inside
def test_the_joints_file_is_copied_and_used_on_resume(tmp_path):
    n = Network.open(load_protocol(ROOT / "protocols" / "gradient.toml").network)
    (tmp_path / "mine.csv").write_text("node,x_px,y_px\n" + "".join(f"{i},{10 * i},{5 * i}\n"
                                                                  for i in range(n.n_nodes)))
    text = (ROOT / "protocols" / "gradient.toml").read_text().replace(
        "[camera]", '[tracking]\njoints = "mine.csv"\n\n[camera]', 1)
    proto = tmp_path / "p.toml"
    proto.write_text(text)
    bench = fake_bench(n)
    eng = start_run(proto, out=tmp_path / "s", bench=bench, operator=AutoOperator(bench.sim_operator))
    folder = eng.session.folder
    eng.session.close()
    assert (folder / "joints.csv").read_bytes() == (tmp_path / "mine.csv").read_bytes()
    (tmp_path / "mine.csv").unlink()  # the session must not need it any more
    Session(folder).start(protocol="p")
    again = resume_run(folder, bench=fake_bench(n))
    assert again.spec.tracking["joints"] == str(folder / "joints.csv")
    again.session.close()


# ------------------------------------------------------------------ a full disk at the start
def _no_space(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_at_the_start_leaves_no_folder_and_names_the_file(tmp_path, monkeypatch):
    out = tmp_path / "s"
    spec_path = ROOT / "protocols" / "gradient.toml"
    n = Network.open(load_protocol(spec_path).network)
    monkeypatch.setattr(os, "fsync", _no_space)  # every durable write fails
    with pytest.raises(OSError, match="No space left") as exc:
        start_run(spec_path, out=out, bench=fake_bench(n))
    assert exc.value.filename.endswith("protocol.toml")
    assert list(out.iterdir()) == []


def test_a_full_disk_at_the_first_record_leaves_no_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "s"
    monkeypatch.setattr(Session, "_write_line", lambda self, data: _no_space())
    assert main(["run", str(ROOT / "protocols" / "gradient.toml"), "--sim", "--auto", "--out", str(out),
                 "--repeats", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labmnn: error: ") and err.endswith("log.jsonl: No space left on device"), err
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------ Ctrl-C
def _cli(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "labmnn", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _interrupt_at_photo(proc, sessions: Path, count: int):
    """SIGINT once the session's log holds ``count`` image records (a state, not a time)."""
    try:
        while proc.poll() is None:
            logs = list(sessions.glob("*/log.jsonl")) if sessions.exists() else []
            if logs and logs[0].read_bytes().count(b'"name": "image"') >= count:
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.01)
        return proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
def test_ctrl_c_in_demo_exits_130_and_keeps_a_good_summary(tmp_path):
    demo = tmp_path / "demo"
    demo.mkdir()
    good = '{"status": "success", "relative_error": 0.012}\n'
    (demo / "summary.json").write_text(good)
    proc = _cli("demo", "--out", str(demo), "--repeats", "1", "--mechanics", "linear", "--linearize", "none",
                cwd=tmp_path)
    _, err = _interrupt_at_photo(proc, demo / "sessions", 1)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "labmnn: interrupted"
    assert (demo / "summary.json").read_text() == good


@pytest.mark.slow
def test_ctrl_c_in_run_and_resume_exits_130(tmp_path):
    sessions = tmp_path / "sessions"
    proc = _cli("run", str(ROOT / "protocols" / "gradient.toml"), "--sim", "--auto", "--repeats", "1",
                "--linearize", "none", "--out", str(sessions), cwd=tmp_path)
    _, err = _interrupt_at_photo(proc, sessions, 1)
    assert proc.returncode == 130, err
    folder = next(sessions.iterdir())
    assert Session(folder).status() == "abort"
    proc = _cli("resume", str(folder), cwd=tmp_path)
    _, err = _interrupt_at_photo(proc, sessions, 2)
    assert proc.returncode == 130, err
    assert Session(folder).status() == "abort"
    assert verify_session(folder).ok

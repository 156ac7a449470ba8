"""kill -9 of the real CLI during a simulated gradient run, then `labmnn resume`.

The run is `labmnn run protocols/gradient.toml --sim --auto` (one repeat, one
level: five photos) in a subprocess, killed at three moments: while a photo is
being written (``raw/.incoming``), just after the first loaded photo is logged,
and later mid-run.  Each time `labmnn resume` takes over.  At the end every
photo on disk is in the log with its SHA-256, no photo or log byte seen after a
kill has changed, and the session ends in success.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labmnn.cli import main

pytestmark = pytest.mark.slow  # end to end

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _cli(*args):
    return subprocess.Popen([sys.executable, "-m", "labmnn", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _log(folder):
    try:
        return (folder / "log.jsonl").read_bytes()
    except (FileNotFoundError, TypeError):
        return b""


def _photos(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "raw").glob("*.jpg")}


def _kill_when(proc, out, condition, timeout=40.0):
    """Wait for the session folder and ``condition(folder)``, then SIGKILL; the folder."""
    t0 = time.monotonic()
    folder = None
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        if folder is None:
            found = [d for d in out.iterdir() if (d / "log.jsonl").exists()] if out.exists() else []
            folder = found[0] if found else None
        if folder is not None and condition(folder):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return folder, True
        time.sleep(0.001)
    proc.communicate()
    return folder, False


def _incoming(folder):
    inc = folder / "raw" / ".incoming"
    return inc.exists() and any(inc.iterdir())


def _first_loaded_photo(folder):
    return _log(folder).count(b'"name": "image"') >= 2


def test_kill_during_cli_run_then_resume_keeps_everything(tmp_path, capsys):
    out = tmp_path / "sessions"
    proc = _cli("run", "protocols/gradient.toml", "--sim", "--auto", "--out", str(out),
                "--repeats", "1", "--linearize", "none")
    moments = [_incoming, _first_loaded_photo, lambda f: _log(f).count(b"\n") >= 30]
    seen, kills, folder = [], 0, None
    for moment in moments:
        folder, killed = _kill_when(proc, out, moment)
        assert folder is not None
        if killed:
            kills += 1
            seen.append((_log(folder), _photos(folder)))
            if kills == 1:
                assert main(["sessions", str(out)]) == 0
                assert "incomplete" in capsys.readouterr().out
        proc = _cli("resume", str(folder))
    text = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, text
    assert kills >= 2, "the run finished before it could be killed twice"
    print(f"killed {kills} times")

    log = _log(folder)
    records = [json.loads(line) for line in log.splitlines()
               if line.strip().startswith(b"{") and line.strip().endswith(b"}")]
    assert [r["status"] for r in records if r["kind"] == "stop"][-1] == "success"
    assert sum(r.get("name") == "resumed" for r in records) == kills
    logged = {Path(r["path"]).name: r["sha256"] for r in records
              if r["kind"] == "event" and r.get("name") in ("image", "orphan_image")}
    photos = _photos(folder)
    assert photos and set(photos) <= set(logged)           # every photo on disk is in the log ...
    assert all(logged[name] == h for name, h in photos.items())  # ... with its SHA-256
    for log_then, photos_then in seen:
        assert log.startswith(log_then)                     # the log only grew
        assert all(photos.get(n) == h for n, h in photos_then.items())  # nothing captured was lost
    assert json.loads((folder / "results.json").read_text())["relative_error"] < 0.05


def test_devices_that_cannot_be_opened_leave_no_empty_session(tmp_path, capsys):
    out = tmp_path / "sessions"
    assert main(["run", str(ROOT / "protocols" / "gradient.toml"), "--out", str(out)]) == 2
    assert "balance.port" in capsys.readouterr().err
    assert main(["run", str(ROOT / "protocols" / "gradient.toml"), "--sim", "--auto", "--out", str(out),
                 "--stiffness-error", "2"]) == 2
    assert "--stiffness-error" in capsys.readouterr().err
    assert not out.exists()

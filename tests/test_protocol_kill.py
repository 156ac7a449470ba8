"""kill -9 at random moments, then resume: nothing captured is lost, the log only grows."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labmnn.protocol.recorder import read_log, sha256_file

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # of zero bytes

WORKER = Path(__file__).with_name("protocol_kill_worker.py")


def _start(folder):
    return subprocess.Popen([sys.executable, str(WORKER), str(folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _count(folder):
    try:
        return (folder / "log.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    folder = tmp_path / "session"
    rng = random.Random(1234)
    kills = 0
    snapshots = []  # (log bytes, {image path: sha256}) seen after each kill
    for attempt in range(12):
        p = _start(folder)
        if attempt < 5:
            # wait until the run has written a random number of new records, then kill it a
            # random few milliseconds later (mid-capture, mid-record, between steps, ...)
            before = _count(folder)
            target = before + rng.randint(1, 25)
            t_end = time.time() + 30
            while p.poll() is None and _count(folder) < target and time.time() < t_end:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.03))
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                kills += 1
        out, err = p.communicate(timeout=60)
        if (folder / "log.jsonl").exists():
            log = (folder / "log.jsonl").read_bytes()
            imgs = {str(q.relative_to(folder)): sha256_file(q) for q in (folder / "raw").glob("*") if q.is_file()}
            incoming = {str(q.relative_to(folder)): sha256_file(q) for q in (folder / "raw" / ".incoming").glob("*")}
            snapshots.append((log, imgs, incoming))
        if p.returncode == 0:
            assert out.startswith("success"), (out, err)
            break
    else:
        raise AssertionError("never completed")
    assert kills >= 3
    final_log = (folder / "log.jsonl").read_bytes()
    records = read_log(folder / "log.jsonl")
    logged = {r["path"]: r["sha256"] for r in records if r.get("name") in ("image", "orphan_image")}
    partial = {r["path"]: r["kept_as"] for r in records if r.get("name") == "partial_file"}
    for log, imgs, incoming in snapshots:
        # append-only: every earlier state of the log is a prefix of the final one
        assert final_log.startswith(log)
        # every photo that had reached raw/ is still there, unchanged, and logged
        for path, digest in imgs.items():
            assert sha256_file(folder / path) == digest
            assert logged[path] == digest, path
        # a photo caught between camera and log was adopted, bytes unchanged; one caught while
        # the camera was still writing it (empty at the kill) was set aside, bytes kept, never filed
        for path, digest in incoming.items():
            if digest in logged.values():
                continue
            assert digest == EMPTY_SHA256 and path in partial, (path, digest)
            assert (folder / partial[path]).is_file() and not (folder / path).exists(), path
    assert records[-1]["kind"] == "stop" and records[-1]["status"] == "success"
    summary = json.loads((folder / "results.json").read_text())
    assert summary["relative_error"] < 1e-6  # noiseless fakes: the resumed run is still exact
    steps = [r["key"] for r in records if r.get("kind") == "step"]
    assert len(steps) == len(set(steps))  # no step recorded twice

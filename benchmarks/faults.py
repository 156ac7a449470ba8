"""A fault campaign on the simulated rig that anyone can rerun (issue 15).

usage: python benchmarks/faults.py [--quick] [--kills N] [--fuzz N] [--seed S] [--only PART,...]

Parts (each a row of the closing table):

- ``kill``: ``labmnn run --sim --auto`` killed with SIGKILL at N random moments, then
  ``labmnn resume``: the session completes, every photo seen before the kill is unchanged,
  the log only grew, and the resumed gradient's error is compared with an uninterrupted run;
- ``concurrent``: two ``labmnn resume`` of one interrupted session at once (one must be refused);
- ``disk``: a run into a full disk (a tmpfs of a few kB and of a few MB where one can be
  mounted, else a file size limit, RLIMIT_FSIZE): a one-line error, no internal error, and the
  session resumes once there is room;
- ``photos``: a recorded photo corrupted (12 bytes flipped) or deleted, then ``reanalyze``,
  ``report`` and ``resume``: the damage must be reported (a non-zero exit), never measured;
- ``fuzz``: property-based mutations (hypothesis, derandomized) of every user file kind
  (network, protocol, task, joints.csv, calibration, load series, photo): each case must end
  in a clean one-line error or be accepted, never in an internal error, a hang, or an absurd
  value (1e308, 10^15, NaN, ...) accepted;
- ``balance``: the real MT-SICS driver against a misbehaving balance on a pty (stray lines,
  late replies, trickled bytes, a vanished port, silence, garbage).

Targets: 0 internal errors, 0 hangs, 0 accepted nonsense, 0 recorded bytes changed, every
concurrent resume refused.  ``--quick`` keeps each part small (a few minutes in all).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

PROTOCOL = ROOT / "protocols" / "gradient.toml"
ABSURD = (1e308, -1e308, 10**15, -(10**15), float("nan"), True, "x", "DEEP")
HANG_S = 30.0  # one fuzz case taking longer than this is a hang
MEMORY_CAP = 6 * 2**30  # address space of the fuzzing process: a blow-up becomes MemoryError


@dataclass
class Row:
    """One line of the table: counts of outcomes of one kind of fault."""

    part: str
    cases: int = 0
    ok: int = 0  # the right result, or the damage reported
    clean: int = 0  # refused with a one-line error (exit 2, InputError, DeviceError)
    internal: int = 0
    hangs: int = 0
    nonsense: int = 0  # accepted although absurd, or damage not noticed
    changed: int = 0  # recorded bytes changed
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        note = "; ".join(dict.fromkeys(self.notes))[:150]
        return (f"{self.part:24s} {self.cases:6d} {self.ok:5d} {self.clean:6d} {self.internal:9d} "
                f"{self.hangs:6d} {self.nonsense:9d} {self.changed:8d}  {note}")


HEADER = (f"{'fault':24s} {'cases':>6s} {'ok':>5s} {'clean':>6s} {'internal':>9s} {'hangs':>6s} "
          f"{'nonsense':>9s} {'changed':>8s}  notes")


# ----------------------------------------------------------------- helpers
def cli(args, timeout=300.0, preexec=None, cwd=None) -> tuple[int, str, str]:
    """Run ``python -m labmnn ARGS``; (exit code, stdout, stderr); a timeout is exit -9."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    try:
        p = subprocess.run([sys.executable, "-m", "labmnn", *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, env=env, preexec_fn=preexec, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        return -9, str(exc.stdout or ""), "timeout"
    return p.returncode, p.stdout, p.stderr


def popen(args, preexec=None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen([sys.executable, "-m", "labmnn", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=preexec)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> tuple[bytes, dict[str, str]]:
    """The log's bytes and the SHA-256 of every photo in ``raw/``."""
    log = folder / "log.jsonl"
    raw = folder / "raw"
    photos = {p.name: sha(p) for p in sorted(raw.iterdir()) if p.is_file()} if raw.is_dir() else {}
    return (log.read_bytes() if log.exists() else b""), photos


def changed_since(before: tuple[bytes, dict], folder: Path) -> list[str]:
    """What changed in recorded data: the log not a continuation, a photo altered or gone."""
    log, photos = before
    now_log, now_photos = snapshot(folder)
    out = [] if now_log.startswith(log) else ["log.jsonl rewritten"]
    out += [f"raw/{k} {'gone' if k not in now_photos else 'altered'}" for k, v in photos.items()
            if now_photos.get(k) != v]
    return out


def image_records_match(folder: Path) -> list[str]:
    """Photos whose recorded SHA-256 differs from the file (or that are missing)."""
    bad = []
    for line in (folder / "log.jsonl").read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            r = json.loads(line)
            if r.get("kind") == "event" and r.get("name") == "image" and r.get("sha256"):
                p = folder / r["path"]
                if not p.exists() or sha(p) != r["sha256"]:
                    bad.append(r["path"])
    return bad


def one_line_error(err: str) -> bool:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    return len(lines) >= 1 and lines[-1].startswith("labmnn: error:") and "Traceback" not in err


def session_in(out: Path) -> Path | None:
    found = sorted(p for p in out.glob("*") if (p / "log.jsonl").exists()) if out.is_dir() else []
    return found[0] if found else None


def relative_error(folder: Path) -> float | None:
    res = folder / "results.json"
    if not res.exists():
        return None
    with contextlib.suppress(ValueError):
        return float(json.loads(res.read_text())["relative_error"])
    return None


def image_records(out: Path) -> int:
    """Photos recorded so far by the session under ``out`` (0 before it exists)."""
    folder = session_in(out)
    if folder is None or not (folder / "log.jsonl").exists():
        return 0
    text = (folder / "log.jsonl").read_text(errors="replace")
    return text.count('"name": "image"') + text.count('"name":"image"')


def interrupted_run(out: Path, photos: int, limit_s: float = 300.0) -> Path | None:
    """Start a run into ``out`` and kill -9 it once its session has recorded ``photos`` photos
    (a state, not a time); returns the session folder, or None if none was made."""
    p = popen(run_args(out))
    deadline = time.monotonic() + limit_s
    while p.poll() is None and image_records(out) < photos and time.monotonic() < deadline:
        time.sleep(0.02)
    p.kill()
    p.communicate()
    return session_in(out)


def run_args(out: Path, seed: int = 0) -> list:
    return ["run", PROTOCOL, "--sim", "--auto", "--out", out, "--repeats", "1", "--seed", seed]


# ----------------------------------------------------------------- kill -9
def kill_campaign(work: Path, kills: int, rng: random.Random, reference: float | None,
                  photos_per_run: int) -> Row:
    row = Row("kill -9 then resume")
    errors = []
    for i in range(kills):
        out = work / f"kill{i}"
        folder = interrupted_run(out, rng.randint(1, max(photos_per_run - 1, 1)))  # before the last photo
        row.cases += 1
        if folder is None:
            row.ok += 1
            row.notes.append("killed before a session existed")
            continue
        before = snapshot(folder)
        rc, _, err = cli(["resume", folder], timeout=300)
        gone = changed_since(before, folder) + image_records_match(folder)
        row.changed += bool(gone)
        if rc == -9:
            row.hangs += 1
        elif rc == 0:
            row.ok += 1
            e = relative_error(folder)
            if e is not None:
                errors.append(e)
        elif "internal error" in err:
            row.internal += 1
            row.notes.append(err.strip().splitlines()[-1][:80])
        elif "already complete" in err:
            row.ok += 1  # the run had finished before the kill
            row.notes.append("finished before the kill")
        else:
            row.clean += 1
            row.notes.append(err.strip().splitlines()[-1][:80] if err.strip() else f"exit {rc}")
    if errors:
        ref = "?" if reference is None else f"{reference * 100:.2f}%"
        row.notes.insert(0, f"gradient relative error after resume {min(errors) * 100:.2f}-{max(errors) * 100:.2f}% "
                            f"(uninterrupted {ref})")
    return row


def concurrent_resumes(work: Path) -> Row:
    row = Row("two resumes at once")
    out = work / "concurrent"
    folder = interrupted_run(out, 2)
    if folder is None:
        row.notes.append("no session to resume")
        return row
    before = snapshot(folder)
    a, b = popen(["resume", folder]), popen(["resume", folder])
    outs = [q.communicate(timeout=400) for q in (a, b)]
    codes = [a.returncode, b.returncode]
    row.cases = 1
    seqs = [json.loads(x).get("seq") for x in (folder / "log.jsonl").read_text().splitlines() if x.strip()]
    dup = len(seqs) - len(set(seqs))
    refused = sum(c != 0 and any(w in e.lower() for w in ("lock", "pid", "in use by process"))
                  for c, (_, e) in zip(codes, outs))
    if refused == 1 and 0 in codes and dup == 0:
        row.ok += 1
        row.notes.append("the second resume was refused")
    else:
        row.nonsense += 1
        row.notes.append(f"exit codes {codes}, {dup} duplicate seq numbers in the log")
    row.changed += bool(changed_since(before, folder))
    row.internal += sum("internal error" in e for _, e in outs)
    return row


# ----------------------------------------------------------------- full disk
@contextlib.contextmanager
def small_disk(work: Path, size: str):
    """A tmpfs of ``size`` (yields its path and None), or a file size limit when none can be
    mounted (yields a folder and a preexec function setting RLIMIT_FSIZE)."""
    mnt = work / f"disk-{size}"
    mnt.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                        capture_output=True).returncode == 0
    if ok:
        try:
            yield mnt, None, "tmpfs"
        finally:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        return
    limit = int(size.rstrip("km")) * (1024 if size.endswith("k") else 2**20)

    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    yield mnt, preexec, "RLIMIT_FSIZE"


def full_disk(work: Path) -> Row:
    row = Row("full disk")
    for size in ("64k", "6m"):
        with small_disk(work, size) as (mnt, preexec, how):
            rc, _, err = cli(run_args(mnt / "sessions"), timeout=300, preexec=preexec)
            folder = session_in(mnt / "sessions")
            keep = None
            if folder is not None:
                keep = work / f"disk-copy-{size}"
                shutil.copytree(folder, keep, symlinks=True)
        row.cases += 1
        if rc == 0:
            row.ok += 1
            row.notes.append(f"{how} {size}: the run fitted")
            continue
        if "internal error" in err or not one_line_error(err):
            row.internal += 1
            row.notes.append(f"{how} {size}: {err.strip().splitlines()[-1][:70] if err.strip() else rc}")
            continue
        if keep is None:
            row.ok += 1
            row.notes.append(f"{how} {size}: refused, no session left")
            continue
        rc2, _, err2 = cli(["resume", keep], timeout=300)
        if rc2 == 0:
            row.ok += 1
            row.notes.append(f"{how} {size}: one-line error, resumed with room")
        else:
            row.clean += 1
            row.notes.append(f"{how} {size}: resume after: {err2.strip().splitlines()[-1][:70] if err2 else rc2}")
    return row


# ----------------------------------------------------------------- photos
def damaged_photos(work: Path, done: Path) -> Row:
    """Corrupt or delete a photo of a finished (and of an interrupted) session; commands must notice."""
    row = Row("corrupted/deleted photo")
    for damage in ("corrupt", "delete"):
        for cmd in ("reanalyze", "report", "verify"):
            folder = work / f"photo-{damage}-{cmd}"
            shutil.copytree(done, folder)
            photo = sorted((folder / "raw").glob("0002_*"))[0]
            if damage == "corrupt":
                data = bytearray(photo.read_bytes())
                for k in range(12):
                    data[len(data) // 3 + 97 * k] ^= 0xFF
                photo.write_bytes(bytes(data))
            else:
                photo.unlink()
            before = snapshot(folder)
            rc, out, err = cli([cmd, folder], timeout=300)
            row.cases += 1
            row.changed += bool(changed_since(before, folder))
            if "internal error" in err:
                row.internal += 1
            elif rc != 0 and photo.name in (out + err):
                row.ok += 1
            elif rc == 2 and "invalid choice" in err:
                row.cases -= 1  # no such command on this version
            else:
                row.nonsense += 1
                row.notes.append(f"{cmd} on a {damage.rstrip('e')}ed photo: exit {rc}")
    return row


def resume_after_damage(work: Path) -> Row:
    row = Row("photo lost, then resume")
    out = work / "lost-photo"
    folder = interrupted_run(out, 3)
    photos = sorted((folder / "raw").glob("0001_*")) if folder else []
    if not photos:
        row.notes.append("no photo yet")
        return row
    photos[0].unlink()
    rc, _, err = cli(["resume", folder], timeout=300)
    row.cases = 1
    if "internal error" in err:
        row.internal += 1
    elif rc != 0 and photos[0].name in err:
        row.ok += 1
    else:
        row.nonsense += 1
        row.notes.append(f"resume with {photos[0].name} deleted: exit {rc}")
    return row


# ----------------------------------------------------------------- fuzz
class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(doc: dict) -> str:
    """A small TOML writer for the shipped protocol and task files (tables, arrays of tables)."""
    top = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)
           and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))]
    out = top[:]
    for k, v in doc.items():
        if isinstance(v, dict):
            out.append(f"\n[{k}]")
            out += [f"{json.dumps(str(a))} = {_toml_value(b)}" for a, b in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                out.append(f"\n[[{k}]]")
                out += [f"{json.dumps(str(a))} = {_toml_value(b)}" for a, b in x.items()]
    return "\n".join(out) + "\n"


def _leaves(obj, path=()):
    """Paths of the numeric leaves of a decoded document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def _deep(fmt: str):
    return "DEEP-JSON" if fmt == "json" else "DEEP-TOML"


class Fuzzer:
    """The user file kinds, their readers and their mutations."""

    def __init__(self, work: Path):
        import numpy as np

        import labmnn
        from labmnn.metrology.synthetic import network_scene
        from labmnn.resources import tasks_dir

        self.work = work
        self.np = np
        self.net = labmnn.Network.example("paper-triangle-n4")
        self.net.save(work / "network.json")
        self.ref, self.px = network_scene(self.net, px_per_mm=6.0, seed=1)
        h, w = self.ref.shape
        self.valid = {
            "network": ("json", json.loads((work / "network.json").read_text())),
            "protocol": ("toml", self._toml(PROTOCOL)),
            "task": ("toml", self._toml(Path(tasks_dir()) / "behaviour-mse.toml")),
            "calibration": ("json", {"format": "labmnn-calibration/1",
                                     "camera_matrix": [[800.0, 0, w / 2], [0, 800.0, h / 2], [0, 0, 1]],
                                     "dist_coeffs": [0.01, -0.02, 0.0, 0.0, 0.0], "image_size": [w, h],
                                     "rms_px": 0.2, "plane_homography": [[1 / 6, 0, 0], [0, -1 / 6, 0], [0, 0, 1]],
                                     "plane_rms_mm": 0.01}),
            "load series": ("json", self._series()),
            "joints.csv": ("csv", [[i, round(float(x), 2), round(float(y), 2)] for i, (x, y) in enumerate(self.px)]),
        }
        self._rig_protocols(work)
        self.valid["task"][1]["network"] = str(work / "network.json")
        self.valid["protocol"][1]["network"] = {"file": str(work / "network.json")}
        import cv2

        self.jpeg = bytes(cv2.imencode(".jpg", self.ref.astype("uint8"))[1])
        self.png = bytes(cv2.imencode(".png", self.ref.astype("uint8"))[1])

    def _rig_protocols(self, work: Path) -> None:
        """The protocols ``labmnn train --on rig`` writes: PAT with conditioning and the best design,
        a load series over several nodes, and a data-set task's batches (its task payload fuzzed)."""
        from labmnn.protocol.task_protocol import write_series_protocol, write_train_protocol
        from labmnn.training.tasks import load_task

        beh = write_train_protocol(load_task("behaviour-mse"), work / "pat", 2, gradient="pat", final="best")
        self.valid["train protocol"] = ("toml", self._toml(beh))
        self.valid["train protocol"][1]["network"] = {"file": str(work / "pat" / "network.json")}
        series = write_series_protocol(work / "series", self.net, [3, 5, 9], [10], "identify", "nine nodes",
                                       condition_s=120)
        self.valid["series protocol"] = ("toml", self._toml(series))
        self.valid["series protocol"][1]["network"] = {"file": str(work / "network.json")}
        iris = write_train_protocol(load_task("iris"), work / "iris", 2, gradient="pat", final="last")
        text = iris.read_text().replace('task = "task.json"', f'task = "{work / "case.json"}"')
        (work / "iris" / "batches.toml").write_text(text)
        self.valid["task payload"] = ("json", json.loads((work / "iris" / "task.json").read_text()))

    def _toml(self, path: Path) -> dict:
        import tomllib

        return tomllib.loads(path.read_text())

    def _series(self) -> dict:
        from labmnn.fabrication.load_series import hanging_plan, load_series_to_dict, simulate_cases

        F, labels = hanging_plan(self.net, grams=(2, 4), nodes=[12])
        return load_series_to_dict(simulate_cases(self.net, F, labels), "network.json")

    # -- readers: return normally when the file is accepted
    def read(self, kind: str, path: Path) -> None:
        from labmnn.fabrication.load_series import read_load_series
        from labmnn.fabrication.validation import validate
        from labmnn.metrology.calibration import Calibration
        from labmnn.metrology.images import read_grey
        from labmnn.metrology.jointsfile import read_joints_csv
        from labmnn.metrology.tracking import JointTracker
        from labmnn.model.network import Network
        from labmnn.protocol.spec import load_protocol
        from labmnn.training.tasks import load_task

        if kind == "network":
            net = Network.load(path)
            net.solve(self.np.zeros((net.n_nodes, 2)))
        elif kind in ("protocol", "train protocol", "series protocol"):
            spec = load_protocol(path)
            spec.check_network(Network.open(spec.network))
        elif kind == "task payload":  # read as a data-set train session does before its first loading
            from labmnn.protocol.task_batches import TaskBatches

            spec = load_protocol(self.work / "iris" / "batches.toml")
            net = Network.open(spec.network)
            spec.check_network(net)
            tb = TaskBatches(spec, net)
            tb.plan(spec, 0)
        elif kind == "task":
            load_task(path)
        elif kind == "calibration":
            cal = Calibration.load(path)
            cal.to_plane_mm(self.px[:3])
        elif kind == "load series":
            validate(self.net, read_load_series(path).cases)
        elif kind == "joints.csv":
            JointTracker(None, self.net, self.ref, joints_px=read_joints_csv(path, self.net.n_nodes))
        elif kind in ("jpeg", "png"):
            read_grey(path)

    def write(self, kind: str, doc, path: Path) -> None:
        fmt = self.valid[kind][0]
        if fmt == "json":
            text = json.dumps(doc)
        elif fmt == "toml":
            text = to_toml(doc)
        else:
            text = "node,x,y\n" + "".join(",".join(map(str, r)) + "\n" for r in doc)
        deep = "[" * 50_000 + "]" * 50_000
        text = text.replace('"DEEP"', deep).replace(",DEEP,", f",{deep},")
        path.write_text(text)

    def case(self, kind: str, how: str, pick: int, value, cut: float) -> tuple[Path, bool]:
        """Write one mutated file; returns (path, whether accepting it would be nonsense)."""
        import copy

        suffix = {"protocol": ".toml", "task": ".toml", "train protocol": ".toml", "series protocol": ".toml",
                   "joints.csv": ".csv", "jpeg": ".jpg", "png": ".png"}
        path = self.work / f"case{suffix.get(kind, '.json')}"
        if kind in ("jpeg", "png"):
            data = bytearray(self.jpeg if kind == "jpeg" else self.png)
            if how == "value":  # claim a huge size in the header
                if kind == "jpeg":
                    sof = data.find(b"\xff\xc0")
                    data[sof + 5:sof + 9] = (60000).to_bytes(2, "big") * 2
                else:
                    data[16:24] = (60000).to_bytes(4, "big") * 2
            elif how == "truncate":
                data = data[:int(len(data) * cut)]
            else:
                for k in range(12):
                    data[int(len(data) * cut + 37 * k) % len(data)] ^= 0xFF
            path.write_bytes(bytes(data))
            return path, False
        fmt, doc = self.valid[kind]
        doc = copy.deepcopy(doc)
        if how == "value":
            if fmt == "csv":
                r, c = pick % len(doc), 1 + pick % 2
                v = value if value != "DEEP" else "DEEP"
                doc[r][c] = "nan" if isinstance(v, float) and math.isnan(v) else v
                self.last = f"line {r + 2} column {c + 1} = {v!r}"
            else:
                leaves = [p for p in _leaves(doc) if "seed" not in map(str, p)]
                p = leaves[pick % len(leaves)]
                _set(doc, p, value)
                self.last = f"{'.'.join(map(str, p))} = {value!r}"[:60]
            self.write(kind, doc, path)
            return path, True
        self.write(kind, doc, path)
        data = path.read_bytes()
        if how == "truncate":
            data = data[:int(len(data) * cut)]
        else:
            data = bytearray(data)
            for k in range(4):
                data[int(len(data) * cut + 13 * k) % len(data)] = 0x80 + (pick + k) % 100
            data = bytes(data)
        path.write_bytes(data)
        return path, False

    def classify(self, kind: str, path: Path, nonsense_if_accepted: bool, row: Row) -> None:
        from labmnn.errors import LabmnnError

        row.cases += 1
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
        try:
            self.read(kind, path)
        except Hang:
            row.hangs += 1
            row.notes.append(f"{kind}: hang")
        except LabmnnError as exc:
            if "\n" in str(exc):
                row.internal += 1
                row.notes.append(f"{kind}: multi-line error")
            else:
                row.clean += 1
        except BaseException as exc:  # noqa: BLE001 - that is what is counted
            if isinstance(exc, KeyboardInterrupt):
                raise
            row.internal += 1
            row.notes.append(f"{kind}: {type(exc).__name__}: {str(exc)[:60]}")
        else:
            if nonsense_if_accepted:
                row.nonsense += 1
                row.notes.append(f"{kind}: accepted {self.last}")
            else:
                row.ok += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


KINDS = ("network", "protocol", "task", "calibration", "load series", "joints.csv", "jpeg", "png",
         "train protocol", "series protocol", "task payload")


def _property(kind: str, examples: int, fz: Fuzzer, row: Row):
    """The hypothesis test of one file kind (derandomized: the same cases every run)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(how=st.sampled_from(("value", "value", "truncate", "bytes")), pick=st.integers(0, 10_000),
           value=st.sampled_from(ABSURD), cut=st.floats(0.05, 0.95))
    def one(how, pick, value, cut):
        path, nonsense = fz.case(kind, how, pick, value, cut)
        fz.classify(kind, path, nonsense, row)

    return one


def fuzz(work: Path, n: int, seed: int = 0, fuzzer: Fuzzer | None = None) -> Row:
    """``n`` property-based cases spread over every user file kind (hypothesis, derandomized)."""
    row = Row("fuzz of user files")
    fz = fuzzer or Fuzzer(work)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > MEMORY_CAP:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, hard))
    per_kind = max(1, n // len(KINDS))
    try:
        for kind in KINDS:
            _property(kind, per_kind, fz, row)()
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    # accepted nonsense notes carry the kind; keep the table short
    return row


# ----------------------------------------------------------------- balance
def _weigh_twice(bal, pan: dict, result: dict) -> None:
    """Weigh, put 5 g more on the pan, weigh again; ``result["got"]``: masses or errors."""
    from labmnn.errors import DeviceError

    got: list = []
    for k in range(2):
        try:
            got.append(bal.read_stable().mass_g)
        except DeviceError as exc:
            got.append(exc)
        except Exception as exc:  # noqa: BLE001 - counted as an internal error
            got.append(("internal", exc))
        if k == 0:
            pan["g"] += 5.0  # the next reading must show the new mass, not a late reply
    result["got"] = got


def balance_faults(reps: int) -> Row:
    from hardware_sim.balance_pty import SimBalanceServer
    from labmnn.instruments.balance import MTSICSBalance

    row = Row("misbehaving MT-SICS")
    for fault in ("extra", "late", "trickle", "close", "silence", "garbage", "busy"):
        for r in range(reps):
            pan = {"g": 12.3 + r}
            srv = SimBalanceServer(lambda pan=pan: pan["g"], settle_s=0.0, stable_wait_s=0.5, seed=r)
            srv.late_s = 0.4
            srv.start()
            bal = MTSICSBalance(srv.port, timeout=0.3, settle_timeout=1.0)
            result: dict = {}
            srv.inject(fault)
            t = threading.Thread(target=_weigh_twice, args=(bal, pan, result), daemon=True)
            try:
                t.start()
                t.join(timeout=15.0)
            finally:
                bal.close()
                srv.stop()
            row.cases += 1
            if t.is_alive():
                row.hangs += 1
                continue
            got = result.get("got", [])
            want = (12.3 + r, 17.3 + r)
            bad = [g for g, w in zip(got, want) if isinstance(g, float) and abs(g - w) > 1e-6]
            if any(isinstance(g, tuple) for g in got):
                row.internal += 1
            elif bad:
                row.nonsense += 1
                row.notes.append(f"{fault}: read {bad[0]:g} g")
            elif all(isinstance(g, float) for g in got):
                row.ok += 1
            elif fault == "close" or isinstance(got[-1], float):
                row.clean += 1  # the faulty exchange refused, the next one right (or the port gone)
            else:
                row.nonsense += 1
                row.notes.append(f"{fault}: no recovery ({got[-1]})")
    return row


# ----------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts (a few minutes)")
    ap.add_argument("--kills", type=int, help="kill -9 moments (default 10, quick 2)")
    ap.add_argument("--fuzz", type=int, help="fuzz cases (default 560, quick 80)")
    ap.add_argument("--reps", type=int, help="repeats of each balance fault (default 5, quick 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="kill,concurrent,disk,photos,fuzz,balance", help="parts to run")
    ap.add_argument("--work", help="folder for the sessions (default: a temporary folder, removed)")
    args = ap.parse_args(argv)
    kills = args.kills if args.kills is not None else (2 if args.quick else 10)
    n_fuzz = args.fuzz if args.fuzz is not None else (80 if args.quick else 560)
    reps = args.reps if args.reps is not None else (2 if args.quick else 5)
    parts = set(args.only.split(","))
    rng = random.Random(args.seed)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="labmnn-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.time()
    try:
        reference = done = None
        if parts & {"kill", "photos"}:
            rc, _, err = cli(run_args(work / "reference"), timeout=400)
            done = session_in(work / "reference")
            reference = relative_error(done) if done else None
            print(f"uninterrupted run: exit {rc}, relative error "
                  f"{'?' if reference is None else f'{reference * 100:.3f}%'}", flush=True)
        if "kill" in parts:
            rows.append(kill_campaign(work, kills, rng, reference, image_records(work / "reference")))
            print(rows[-1].line(), flush=True)
        if "concurrent" in parts:
            rows.append(concurrent_resumes(work))
            print(rows[-1].line(), flush=True)
        if "disk" in parts:
            rows.append(full_disk(work))
            print(rows[-1].line(), flush=True)
        if "photos" in parts and done is not None:
            rows.append(damaged_photos(work, done))
            print(rows[-1].line(), flush=True)
            rows.append(resume_after_damage(work))
            print(rows[-1].line(), flush=True)
        if "fuzz" in parts:
            (work / "fuzz").mkdir(exist_ok=True)
            rows.append(fuzz(work / "fuzz", n_fuzz, args.seed))
            print(rows[-1].line(), flush=True)
        if "balance" in parts:
            rows.append(balance_faults(reps))
            print(rows[-1].line(), flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    total = Row("total", *(sum(getattr(r, f) for r in rows) for f in
                           ("cases", "ok", "clean", "internal", "hangs", "nonsense", "changed")))
    print()
    print(f"fault campaign ({'quick' if args.quick else 'full'}, seed {args.seed}, {time.time() - t0:.0f} s)")
    print(HEADER)
    for r in rows + [total]:
        print(r.line())
    print("targets: 0 internal, 0 hangs, 0 nonsense, 0 changed")
    return 0 if total.internal == total.hangs == total.nonsense == total.changed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

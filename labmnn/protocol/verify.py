"""Checking a whole session against its own record, and rebuilding its derived files.

:func:`verify_session` (``labmnn verify SESSION``) checks the log (one start,
no sequence number or step twice: what two writers at once leave), every
recorded photo (there, not a link, same size and SHA-256), every file in
``raw/`` (recorded), and the results files (readable, matching the digests
written with them in ``<name>.sha256``, and for ``results`` the same figures
as a rebuild from the log's step records).

:func:`rebuild_results` writes ``results.*`` again from the log: the derived
files are never trusted over the record.

Example
-------
>>> v = verify_session("sessions/20261122-101500-gradient-fig1")   # doctest: +SKIP
>>> v.ok, [m.line() for m in v.problems]                           # doctest: +SKIP
(True, [])
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from labmnn.errors import InputError
from labmnn.protocol.integrity import Mismatch, check_photos, photo_records
from labmnn.protocol.recorder import INCOMING, LOG, RAW, ReadOnlySession, Session, sha256_file

SKIPPED_KEYS = ("written", "files")  # differ between a run and a rebuild by design


@dataclass
class Verdict:
    """What :func:`verify_session` found."""

    folder: Path
    problems: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    photos: int = 0
    records: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# ------------------------------------------------------------------ the log
def check_log(folder: Path) -> tuple[list[Mismatch], list[str], list[dict]]:
    """Problems, notes and the parsed records of ``folder/log.jsonl``."""
    log = folder / LOG
    if log.is_symlink():
        return [Mismatch(LOG, "is a symbolic link, not the session's own log")], [], []
    problems, notes, records = [], [], []
    for n, line in enumerate(log.read_bytes().split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            rec = None
        if not isinstance(rec, dict):
            notes.append(f"{LOG} line {n}: a torn record (a write cut off by a kill), skipped")
            continue
        records.append(rec)
    seqs = [r.get("seq") for r in records]
    for seq, k in sorted(Counter(seqs).items(), key=lambda kv: str(kv[0])):
        if k > 1:
            problems.append(Mismatch(LOG, f"sequence number {seq} appears {k} times (two writers at once?)"))
    if any(isinstance(a, int) and isinstance(b, int) and b < a for a, b in zip(seqs, seqs[1:])):
        problems.append(Mismatch(LOG, "sequence numbers go backwards"))
    starts = [r for r in records if r.get("kind") == "start"]
    if len(starts) != 1 or (records and records[0].get("kind") != "start"):
        problems.append(Mismatch(LOG, f"has {len(starts)} start record(s); a session has exactly one, first"))
    keys = Counter(r.get("key") for r in records if r.get("kind") == "step")
    for key, k in keys.items():
        if k > 1:
            problems.append(Mismatch(LOG, f"step {key!r} is recorded {k} times"))
    wins = sum(1 for r in records if r.get("kind") == "stop" and r.get("status") == "success")
    if wins > 1:
        problems.append(Mismatch(LOG, f"{wins} success stop records"))
    return problems, notes, records


def check_raw(folder: Path, records: list[dict]) -> tuple[list[Mismatch], list[str]]:
    """Files in ``raw/`` the log does not record (problems) or that await a resume (notes)."""
    logged = {r.get("path") for r in photo_records(records)}
    problems, notes = [], []
    raw = folder / RAW
    for p in sorted(raw.glob("*")) if raw.is_dir() else []:
        rel = str(p.relative_to(folder))
        if p.name == INCOMING and p.is_dir():
            waiting = [q.name for q in p.iterdir()]
            if waiting:
                notes.append(f"{rel}: {len(waiting)} file(s) not yet filed; `labmnn resume` files or sets them aside")
        elif rel not in logged:
            problems.append(Mismatch(rel, "is in raw/ but not in the log"))
    return problems, notes


# ------------------------------------------------------------------ results files
def results_damage(folder: Path, name: str = "results", every_file: bool = False) -> str | None:
    """Why ``<name>.json`` / ``.h5`` cannot be trusted (None when they read and match their digests).

    ``every_file`` also checks the CSVs and load series against their digests.
    """
    js = folder / f"{name}.json"
    try:
        data = json.loads(js.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return f"{js.name} is missing"
    except (OSError, ValueError) as exc:
        return f"{js.name} cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
    h5 = folder / f"{name}.h5"
    if h5.exists():
        why = _h5_damage(h5)
        if why:
            return why
    manifest = folder / f"{name}.sha256"
    if manifest.is_file():
        for line in manifest.read_text(encoding="utf-8", errors="replace").splitlines():
            digest, _, rel = line.partition("  ")
            p = folder / rel
            if not rel or not every_file and rel not in (f"{name}.json", f"{name}.h5"):
                continue
            if not p.is_file() or p.is_symlink():
                return f"{rel} is missing"
            if sha256_file(p) != digest:
                return f"{rel} differs from the SHA-256 written with it in {manifest.name}"
    return None


def _h5_damage(path: Path) -> str | None:
    try:
        import h5py
    except ImportError:  # pragma: no cover
        return None
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda _n, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
    except Exception as exc:  # noqa: BLE001 - any failure to read it means it is damaged
        return f"{path.name} cannot be read ({type(exc).__name__})"
    return None


def rebuild_summary(folder: Path) -> tuple:
    """``(spec, net, steps, summary)`` assembled again from the log's step records (nothing written)."""
    from labmnn.model.network import Network
    from labmnn.protocol import kinds
    from labmnn.protocol.bench import Bench
    from labmnn.protocol.engine import Engine
    from labmnn.protocol.reanalyze import _NoDevice
    from labmnn.protocol.runner import use_session_joints
    from labmnn.protocol.spec import load_protocol

    sess = ReadOnlySession(folder)
    spec = load_protocol(folder / "protocol.toml")
    spec.network = str(folder / "network.json")
    use_session_joints(folder, spec)
    net = Network.open(spec.network)
    steps = sess.completed_steps()
    with tempfile.TemporaryDirectory(prefix="labmnn-rebuild-") as scratch:
        sess.folder = Path(scratch)  # a train run writes its designs: never into the session
        bench = Bench(camera=_NoDevice(), balance=_NoDevice(), make_tracker=_NoDevice())
        engine = Engine(spec, sess, bench, operator=_NoDevice(), network=net, offline=True, steps=steps)
        summary = kinds.RUNNERS[spec.kind](engine)
    if "design" in summary and spec.train is not None:
        summary["design"] = Path(spec.train.output).name
    return spec, Network.open(folder / "network.json"), steps, summary


def rebuild_results(session: Session, why: str) -> list[str]:
    """Write ``results.*`` again from the log (the caller holds the session's lock); logs why."""
    from labmnn.protocol.results import write_results

    spec, net, steps, summary = rebuild_summary(session.folder)
    files = write_results(session.folder, net, spec, steps, summary, "results")
    session.event("results_rebuilt", reason=why, files=files)
    return files


def differences(stored: dict, rebuilt: dict, rtol: float = 1e-9) -> list[str]:
    """Keys whose values differ between a results file and a rebuild."""
    out = []
    for key, value in rebuilt.items():
        if key in SKIPPED_KEYS:
            continue
        if key not in stored:
            out.append(f"{key} is missing")
        elif not _same(stored[key], json.loads(json.dumps(value, default=_plain)), rtol):
            out.append(f"{key} differs")
    return out


def _plain(x):
    from labmnn.text_files import json_default

    return json_default(x)


def _same(a, b, rtol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b or abs(a - b) <= rtol * max(abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, rtol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], rtol) for k in a)
    return a == b


# ------------------------------------------------------------------ the whole session
def verify_session(folder: str | Path) -> Verdict:
    """Check a session's log, photos, raw folder and results files; nothing is written."""
    folder = Path(folder)
    if not (folder / LOG).exists() and not (folder / LOG).is_symlink():
        raise InputError(str(folder), "", f"is not a session folder (no {LOG})")
    v = Verdict(folder)
    problems, notes, records = check_log(folder)
    v.records = len(records)
    v.problems += problems
    v.notes += notes
    if (folder / LOG).is_symlink():
        return v
    v.photos = len(photo_records(records))
    v.problems += check_photos(folder, records)
    problems, notes = check_raw(folder, records)
    v.problems += problems
    v.notes += notes
    status = Session(folder).status()
    names = sorted(p.name[: -len(".json")] for p in folder.glob("*.json")
                   if (folder / (p.name[: -len(".json")] + ".h5")).exists() or p.name == "results.json")
    if status == "success" and "results" not in names:
        v.problems.append(Mismatch("results.json", "is missing (the session ended in success)"))
    for name in names:
        why = results_damage(folder, name, every_file=True)
        if why:
            v.problems.append(Mismatch(f"{name}.*", why))
        elif name == "results" and status == "success":
            stored = json.loads((folder / "results.json").read_text(encoding="utf-8"))
            try:
                diff = differences(stored, rebuild_summary(folder)[3])
            except Exception as exc:  # noqa: BLE001 - a session that cannot be rebuilt is a finding
                diff = [f"cannot be rebuilt from the log ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"]
            v.problems += [Mismatch("results.json", f"{d} from a rebuild out of the log") for d in diff]
    if status != "success":
        v.notes.append(f"status {status}: `labmnn resume {folder}` finishes it")
    return v

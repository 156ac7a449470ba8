"""Session folders: an append-only log, raw images with their SHA-256, input copies.

Layout of one session (``docs/protocol.md``)::

    SESSION/
      log.jsonl          start / step / event / stop records, one JSON object a line
                         (their fields: :mod:`labmnn.protocol.events`, ``docs/events.md``)
      protocol.toml      the protocol as used (byte copy)
      network.json       the network as used
      calibration.*      the calibration as used (when there is one)
      raw/               photographs exactly as captured, named NNNN_<role>.<ext>
      .lock              the writer's OS lock (holds its PID; see labmnn.protocol.integrity)
      .partial/          unfinished downloads (.part) set aside, never filed as photos
      results.h5, results.json, csv/, load_series.json   written at the end

Every record is written with one ``write``, flushed and fsynced before the
engine goes on, so a kill -9 loses at most the record being written; a torn
last line is skipped when reading and closed off (not rewritten) when the
session is resumed.  Nothing in a session is ever modified after it is written.

Example
-------
>>> s = Session.create("sessions", "gradient")          # doctest: +SKIP
>>> s.step("r0/reference", {"image": "raw/0001_reference.jpg"})   # doctest: +SKIP
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, cast

from labmnn.protocol.events import (
    EventName,
    EventRecord,
    ImageRecord,
    LogRecord,
    StartRecord,
    Status,
    StepRecord,
    StopRecord,
)
from labmnn.protocol.integrity import (
    LOCK,
    SessionLock,
    is_partial,
    open_no_follow,
    set_aside_partials,
)
from labmnn.text_files import fsync_dir, fsync_file
from labmnn.text_files import json_default as _jsonable
from labmnn.text_files import write_atomic as write_durable

LOG = "log.jsonl"
RAW = "raw"
INCOMING = ".incoming"


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of :func:`read_log` as plain JSON objects, for code that reads any kind's keys."""
    return [dict(r) for r in read_log(path)]


def read_log(path: str | Path) -> list[LogRecord]:
    """All complete records of a ``log.jsonl`` (a torn or garbled line is skipped).

    A symbolic link in place of the log is refused (:class:`InputError`), never followed.
    """
    out: list[LogRecord] = []
    try:
        fd = open_no_follow(Path(path), os.O_RDONLY)
    except FileNotFoundError:
        return out
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read()
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(rec, dict):
            out.append(cast(LogRecord, rec))  # a JSON object from the log, not validated field by field
    return out


class Session:
    """One run's folder and its append-only log.

    Use :meth:`create` for a new run and :meth:`open` to resume or read one.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.raw = self.folder / RAW
        self.log_path = self.folder / LOG
        self.records = read_log(self.log_path)
        self._seq = max((r.get("seq", 0) for r in self.records), default=0)
        self._fh = None
        self._lock = SessionLock(self.folder)
        self._dead: OSError | None = None  # set when a failed first write removed the folder

    # ---------------------------------------------------------------- creation
    @classmethod
    def create(cls, root: str | Path, name: str) -> Session:
        """Make ``root/<UTC time>-<name>`` (unique) with its ``raw/`` folder."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
        folder = root / f"{stamp}-{safe}"
        k = 1
        while folder.exists():
            k += 1
            folder = root / f"{stamp}-{safe}-{k}"
        (folder / RAW).mkdir(parents=True)
        fsync_dir(root)
        return cls(folder)

    @classmethod
    def open(cls, folder: str | Path) -> Session:
        """Open an existing session (raises :class:`InputError` if it is not one)."""
        from labmnn.errors import InputError

        folder = Path(folder)
        if not (folder / LOG).is_file():
            raise InputError(str(folder), "", f"is not a session folder (no {LOG})")
        return cls(folder)

    # ------------------------------------------------------------------ the lock
    def lock(self) -> Session:
        """Become the session's one writer (an OS lock that dies with the process).

        Raises :class:`InputError` naming the holder's PID when another process
        holds it; the records are read again once the lock is held.
        """
        self._lock.acquire()
        self.records = read_log(self.log_path)
        self._seq = max((r.get("seq", 0) for r in self.records), default=0)
        return self

    def unlock(self) -> None:
        """Let another process write the session."""
        self._lock.release()

    # ------------------------------------------------------------------ writing
    def _open_log(self):
        if self._fh is None:
            fd = open_no_follow(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self._fh = os.fdopen(fd, "ab")
            if self._fh.tell() > 0:  # close off a torn last line, never rewrite it
                with open(self.log_path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        self._fh.write(b"\n")
        return self._fh

    def append(self, record_kind: str, **data) -> dict:
        """Append one record (flushed and fsynced before returning)."""
        self._seq += 1
        rec = {"seq": self._seq, "time": time.time(), "kind": record_kind, **data}
        line = json.dumps(rec, default=_jsonable, allow_nan=True) + "\n"
        if self._dead is not None:
            raise self._dead
        try:
            self._write_line(line.encode("utf-8"))
        except OSError as exc:
            named = _named(exc, self.log_path)
            if not any(r.get("kind") == "start" for r in self.records) and self.discard_if_empty():
                self._dead = named
            raise named from None
        self.records.append(json.loads(line))
        return rec

    def _write_line(self, data: bytes) -> None:
        fh = self._open_log()
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())

    def discard_if_empty(self) -> bool:
        """Remove the folder of a session that recorded nothing (no log record, no photo).

        A disk full at the very start must leave no half-made session behind;
        returns whether the folder was removed.
        """
        if any(read_log(self.log_path)):
            return False
        for p in self.folder.rglob("*"):
            if p.is_dir() and not p.is_symlink():
                continue
            own = p.parent == self.folder and (p.name in (LOG, LOCK, "protocol.toml", "network.json")
                                               or p.name.startswith(("calibration.", "joints.", ".")))
            if not own:
                return False
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        return True

    def start(self, **meta) -> StartRecord:
        """The first record: versions, host, process, and ``meta`` (protocol, network, bench...)."""
        from labmnn import __version__

        return cast(StartRecord, self.append("start", labmnn_version=__version__, host=socket.gethostname(),
                           pid=os.getpid(), **meta))

    def step(self, key: str, data: dict) -> StepRecord:
        """A completed, checkpointed step (its data is reused on resume)."""
        return cast(StepRecord, self.append("step", key=key, data=data))

    def event(self, name: EventName, **data) -> EventRecord:
        """Something that happened during the run (``name`` and fields: :data:`EventRecord`)."""
        return cast(EventRecord, self.append("event", name=name, **data))

    def stop(self, status: Status, reason: str = "") -> StopRecord:
        """Close the run: ``status`` is ``success``, ``abort`` or ``fail`` (and let go of the lock)."""
        try:
            return cast(StopRecord, self.append("stop", status=status, reason=reason))
        finally:
            self.unlock()

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:  # a full disk: the records were fsynced one by one already
                pass
            self._fh = None
        self.unlock()

    # ------------------------------------------------------------------- inputs
    def copy_input(self, name: str, source: str | Path | bytes) -> dict:
        """Copy a file (or bytes) into the session once; returns its name and SHA-256."""
        dest = self.folder / name
        if not dest.exists():
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            try:
                write_durable(dest, data)
            except OSError as exc:
                raise _named(exc, dest) from None
        return {"file": name, "sha256": sha256_file(dest)}

    # ------------------------------------------------------------------- images
    @property
    def incoming(self) -> Path:
        """Where the camera saves a capture before it is filed and logged."""
        p = self.raw / INCOMING
        p.mkdir(parents=True, exist_ok=True)
        return p

    def file_image(self, path: str | Path, role: str, key: str) -> dict:
        """Move a fresh capture into ``raw/`` under a numbered name, fsync it, log it.

        The bytes are not touched; the record carries the SHA-256.
        """
        path = Path(path)
        n = sum(1 for r in self.records if r.get("kind") == "event" and r.get("name") == "image") + 1
        dest = self.raw / f"{n:04d}_{role}{path.suffix.lower()}"
        while dest.exists():
            n += 1
            dest = self.raw / f"{n:04d}_{role}{path.suffix.lower()}"
        fsync_file(path)
        os.replace(path, dest)
        fsync_dir(self.raw)
        info = {"path": str(dest.relative_to(self.folder)), "sha256": sha256_file(dest),
                "bytes": dest.stat().st_size, "role": role, "key": key}
        self.event("image", **info)
        return info

    def adopt_orphans(self) -> list[dict]:
        """Log images that reached disk but not the log (a kill between the two)."""
        found = []
        inc = self.raw / INCOMING
        self.set_aside_partials()
        if inc.is_dir():
            for p in sorted(inc.iterdir()):
                if p.is_file() and not p.is_symlink() and not is_partial(p):
                    found.append(self.file_image(p, "orphan", "orphan"))
        logged = {r.get("path") for r in self.records if r.get("name") in ("image", "orphan_image")}
        for p in sorted(self.raw.glob("*")):
            rel = str(p.relative_to(self.folder))
            if p.is_file() and rel not in logged:
                info = {"path": rel, "sha256": sha256_file(p), "bytes": p.stat().st_size}
                self.event("orphan_image", **info)
                found.append(info)
        return found

    def set_aside_partials(self) -> list[dict]:
        """Move unfinished downloads (``.part``...) out of ``raw/`` into ``.partial/``, logging each."""
        candidates = [p for d in (self.raw / INCOMING, self.raw) if d.is_dir() for p in sorted(d.iterdir())]
        logged = {r.get("path") for r in self.records if r.get("name") in ("image", "orphan_image")}
        moved = set_aside_partials(self.folder, [p for p in candidates
                                                 if str(p.relative_to(self.folder)) not in logged])
        for info in moved:
            self.event("partial_file", **info)
        return moved

    # ------------------------------------------------------------------ reading
    def completed_steps(self) -> dict[str, dict]:
        """Data of every checkpointed step, by key."""
        steps = (cast(StepRecord, r) for r in self.records if r.get("kind") == "step")
        return {r["key"]: r.get("data", {}) for r in steps}

    def start_record(self) -> StartRecord | dict:
        """The start record ({} before the session has started)."""
        return next((cast(StartRecord, r) for r in self.records if r.get("kind") == "start"), {})

    def status(self) -> str:
        """``success``, ``abort``, ``fail`` (last stop record) or ``incomplete`` (no stop yet)."""
        stops = [r for r in self.records if r.get("kind") in ("start", "stop")]
        if not stops or stops[-1].get("kind") != "stop":
            return "incomplete"
        return str(stops[-1].get("status", "fail"))

    def images(self) -> list[ImageRecord]:
        """The ``image`` event records, in order."""
        return [cast(ImageRecord, r) for r in self.records if r.get("kind") == "event" and r.get("name") == "image"]



def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` with the file it concerns (a full disk says which file it could not write)."""
    if exc.filename:
        return exc
    code = exc.errno if exc.errno is not None else errno.EIO
    return OSError(code, exc.strerror or os.strerror(code), str(path))


class ReadOnlySession(Session):
    """A session opened for reanalysis: records go to memory only, the folder is never written."""

    def append(self, record_kind: str, **data) -> dict:
        rec = json.loads(json.dumps({"kind": record_kind, **data}, default=_jsonable))
        self.records.append(rec)
        return rec

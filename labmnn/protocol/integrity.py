"""A session defends its record: one writer at a time, photos checked against their
recorded SHA-256, partial files kept aside, no path out of the session.

* :class:`SessionLock` -- an OS file lock (``fcntl.flock``) on ``SESSION/.lock``
  that holds the owner's PID; it dies with the process, so a kill -9 never
  leaves a stale lock, and a second writer is refused naming the holder.
* :func:`check_photos` / :func:`require_photos` -- every ``image`` record's file
  is there, is not a symbolic link, and has the recorded size and SHA-256.
* :func:`set_aside_partials` -- a ``.part`` (or other unfinished download) is
  moved to ``SESSION/.partial/`` with a ``partial_file`` event, never filed as
  a photo.
* :func:`session_of` -- the recorded session a path lies in (any folder holding
  a ``log.jsonl``), used to refuse outside writes into sessions.

Example
-------
>>> lock = SessionLock("sessions/20261122-101500-gradient-fig1").acquire()   # doctest: +SKIP
>>> lock.release()                                                           # doctest: +SKIP
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labmnn.errors import InputError, LabmnnError

LOG = "log.jsonl"
LOCK = ".lock"
PARTIAL = ".partial"
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download")


class SessionDamaged(LabmnnError):
    """A recorded file no longer matches its record (exit code 3, like lost joints)."""

    exit_code = 3


# ------------------------------------------------------------------- the lock
class SessionLock:
    """The one-writer lock of a session folder.

    Parameters
    ----------
    folder : path
        The session folder (the lock file is ``folder/.lock``).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> SessionLock:
        """Take the lock without waiting; raise :class:`InputError` naming the holder's PID."""
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError(str(self.path), "", "is a symbolic link; a session's files are never "
                                 "followed out of it") from None
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OSError(exc.errno, exc.strerror, str(self.path)) from None
            raise InputError(str(self.folder), "", f"is in use by {holder}; wait for it to end (or stop it), "
                             "then try again") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except OSError:  # the lock is held all the same; only the holder's name is missing
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        """Let another process write the session (the file stays; only the lock goes)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> SessionLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        words = os.read(fd, 200).decode("utf-8", "replace").split()
    except OSError:
        words = []
    if words and words[0].isdigit():
        host = f" on {words[1]}" if len(words) > 1 else ""
        return f"process {words[0]}{host}"
    return "another process (PID not yet written)"


# ------------------------------------------------------------------- paths
def session_of(path: str | Path) -> Path | None:
    """The recorded session folder ``path`` lies in (or is), else None.

    Symbolic links in ``path`` are resolved first, so a link into a session
    counts as inside it.
    """
    p = Path(path).expanduser().resolve(strict=False)
    for folder in (p, *p.parents):
        if os.path.lexists(folder / LOG):
            return folder
    return None


def inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` (resolved) lies inside ``folder`` (resolved)."""
    p = Path(path).resolve(strict=False)
    f = Path(folder).resolve(strict=False)
    return p == f or f in p.parents


def check_results_name(folder: Path, name: str, option: str = "--name") -> None:
    """A results base name must be one plain file name inside the session (no ``/``, ``..``)."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or name.startswith(".") or not inside(folder / name, folder)):
        raise InputError(option, "", f"{name!r} must be a plain file name (no folder, no leading '.'): the "
                         f"results stay inside the session {str(folder)!r}")


def open_no_follow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` with a one-line error."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(str(path), "", "is a symbolic link; a session's files are never followed "
                             "out of it (replace the link by the file)") from None
        raise


# ------------------------------------------------------------------- photos
@dataclass
class Mismatch:
    """One recorded file that no longer matches its record."""

    path: str
    what: str

    def line(self) -> str:
        return f"{self.path}: {self.what}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    fd = open_no_follow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_photo(folder: Path, rec: Mapping[str, Any]) -> Mismatch | None:
    """Compare one ``image`` (or ``orphan_image``) record with its file."""
    rel = str(rec.get("path", ""))
    p = folder / rel
    if not rel or not inside(p, folder) and not p.is_symlink():
        return Mismatch(rel or "?", "the record names a file outside the session")
    if p.is_symlink():
        return Mismatch(rel, f"is a symbolic link (to {os.readlink(p)}), not the recorded photo")
    if not p.is_file():
        return Mismatch(rel, "is missing (recorded, no longer on disk)")
    size = p.stat().st_size
    if "bytes" in rec and size != rec["bytes"]:
        return Mismatch(rel, f"has {size} bytes, the log recorded {rec['bytes']}")
    if rec.get("sha256"):
        found = _sha256(p)
        if found != rec["sha256"]:
            return Mismatch(rel, f"SHA-256 {found[:12]}… differs from the recorded {str(rec['sha256'])[:12]}… "
                            "(the bytes changed)")
    return None


def photo_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The log's ``image`` and ``orphan_image`` event records, in order."""
    return [r for r in records if r.get("kind") == "event" and r.get("name") in ("image", "orphan_image")]


def check_photos(folder: str | Path, records: Sequence[Mapping[str, Any]]) -> list[Mismatch]:
    """Every recorded photo that is missing, a link, or whose size or SHA-256 differs."""
    folder = Path(folder)
    out = []
    for rec in photo_records(records):
        m = check_photo(folder, rec)
        if m is not None:
            out.append(m)
    return out


def require_photos(folder: str | Path, records: Sequence[Mapping[str, Any]], doing: str) -> None:
    """Raise :class:`SessionDamaged` (exit 3) naming the first damaged photo, before ``doing``."""
    bad = check_photos(folder, records)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise SessionDamaged(f"{folder}: {bad[0].line()}{more}; refusing to {doing} on damaged data: restore the "
                             f"photo from a backup (`labmnn verify {folder}` lists every problem)")


# ------------------------------------------------------------------- partial files
def is_partial(path: Path) -> bool:
    """An unfinished download or temporary file: a ``.part``-like ending, hidden, or empty."""
    name = path.name.lower()
    return (name.endswith(PARTIAL_SUFFIXES) or path.name.startswith(".")
            or (path.is_file() and path.stat().st_size == 0))


def set_aside_partials(folder: Path, candidates: list[Path]) -> list[dict]:
    """Move each partial file among ``candidates`` to ``folder/.partial/``; their records' fields.

    The bytes are kept (never deleted) but never filed as a photo.
    """
    moved = []
    for p in candidates:
        if p.is_symlink() or not p.is_file() or not is_partial(p):
            continue
        dest_dir = folder / PARTIAL
        dest_dir.mkdir(exist_ok=True)
        dest = dest_dir / p.name.lstrip(".")
        k = 1
        while os.path.lexists(dest):
            k += 1
            dest = dest_dir / f"{k}-{p.name.lstrip('.')}"
        size = p.stat().st_size
        shutil.move(str(p), str(dest))
        moved.append({"path": str(p.relative_to(folder)), "kept_as": str(dest.relative_to(folder)),
                      "bytes": size})
    return moved

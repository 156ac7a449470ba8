"""The kernel's file I/O: reading the user's text files with one-line errors, and writing
files atomically (temporary file beside the target, then one rename) and durably (fsync).

Example
-------
>>> import json, tempfile
>>> import numpy as np
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> write_json_atomic(folder / "a.json", {"x": np.float64(1.5), "p": Path("b")})
>>> json.loads(read_text(folder / "a.json"))
{'x': 1.5, 'p': 'b'}
>>> sorted(p.name for p in folder.iterdir())     # no temporary file left behind
['a.json']
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labmnn.errors import InputError

MAX_TEXT_BYTES = 64 * 2**20  # no user text file (network, protocol, task, joints) is near this


def read_text(path: str | Path, what: str = "file", max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The text of ``path``; a missing, unreadable or oversized file raises a one-line
    :class:`InputError`.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file should be, for the message (``"no such protocol file"``).
    max_bytes : int
        At most this many bytes are read: a larger file (or an endless one such as
        ``/dev/zero``) is refused instead of filling the memory.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InputError(str(path), "", f"is larger than {max_bytes // 2**20} MiB: not a {what}")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise InputError(str(path), "", f"no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "", f"cannot be read ({exc.__class__.__name__}: {exc})") from None


# ------------------------------------------------------------------ writing
def fsync_file(path: str | Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Make the created or renamed entries of a folder durable (quietly skipped where the
    file system refuses)."""
    try:
        fsync_file(path)
    except OSError:  # pragma: no cover  (some filesystems refuse)
        pass


@contextmanager
def replacing(path: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on leaving the block it replaces ``path``.

    The temporary file is hidden (``.NAME.PID.tmp``, so two processes never share one).
    If the block raises, the temporary file is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or Path
        The file to (re)place.
    fsync : bool
        Flush the new file to disk before the rename and the folder after it, so the
        file survives a power cut whole or not at all.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if fsync:
            fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_file():
            tmp.unlink()
        raise
    if fsync:
        fsync_dir(path.parent)


def write_atomic(path: str | Path, data: bytes | str, *, fsync: bool = True) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically: readers see the old
    file or the whole new one, never a part.  ``fsync`` as in :func:`replacing`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with replacing(path, fsync=fsync) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def write_json_atomic(path: str | Path, obj: Any, *, fsync: bool = True, indent: int = 1) -> None:
    """Write ``obj`` as indented JSON with a final newline (via :func:`write_atomic`);
    numpy values, paths and dataclasses are converted (:func:`json_default`)."""
    write_atomic(path, json.dumps(obj, indent=indent, default=json_default) + "\n", fsync=fsync)


# ------------------------------------------------------------------ JSON values
def _leaf(x: Any) -> tuple[bool, Any]:
    """(True, JSON-able form) of a numpy array/scalar, path or dataclass, else (False, x)."""
    np = sys.modules.get("numpy")  # not imported here: a numpy value means numpy is loaded
    if np is not None and isinstance(x, np.ndarray):
        return True, x.tolist()
    if np is not None and isinstance(x, np.generic):
        return True, x.item()
    if isinstance(x, Path):
        return True, str(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return True, jsonable(dataclasses.asdict(x))
    return False, x


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy arrays and scalars, paths and dataclasses turned into JSON types,
    through dicts (keys made strings), lists and tuples; anything else is returned as it is.

    >>> import numpy as np
    >>> jsonable({1: (np.arange(2), np.float32(0.5)), "p": Path("x")})
    {'1': [[0, 1], 0.5], 'p': 'x'}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return _leaf(obj)[1]


def json_default(x: Any) -> Any:
    """For ``json.dumps(..., default=json_default)``: the JSON-able form of ``x``, or
    ``TypeError`` for a type it does not know."""
    known, out = _leaf(x)
    if not known:
        raise TypeError(f"cannot record {type(x).__name__}")
    return out

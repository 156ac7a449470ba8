"""Reading the user's text files with one-line errors (missing, unreadable, not UTF-8)."""

from __future__ import annotations

from pathlib import Path

from labmnn.errors import InputError


def read_text(path: str | Path, what: str = "file") -> str:
    """The text of ``path``; a missing or unreadable file raises a one-line :class:`InputError`.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file should be, for the message (``"no such protocol file"``).
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), "", f"no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "", f"cannot be read ({exc.__class__.__name__}: {exc})") from None

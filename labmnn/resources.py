"""Where labmnn's shipped files are, in a source checkout and in an installed wheel.

Inside the package (``labmnn/data/``): example networks, data sets, the paper's
figure data.  At the repository's top level, one source of truth for what a user
edits and names: ``protocols/`` (protocols, and training tasks in
``protocols/tasks/``) and ``calibration/`` (board definitions, the simulated
rig's calibration).  A built wheel carries copies of those two folders as
``labmnn/_shipped/`` (see ``setup.py``), so an installed labmnn finds them from
any working folder.

>>> sorted(p.stem for p in tasks_dir().glob("iris*.toml"))
['iris', 'iris-learned-inputs']
>>> (protocols_dir() / "gradient.toml").is_file()
True

A command takes a file or a shipped name (:func:`find_protocol`, :func:`find_task`):
a path that is an existing *file* wins; otherwise the name (``gradient``,
``gradient.toml`` or ``protocols/gradient.toml``) is looked up among the shipped
files, so a folder that happens to share a shipped name does not hide it.

>>> find_protocol("gradient") == protocols_dir() / "gradient.toml"
True
>>> find_task("iris.toml") == tasks_dir() / "iris.toml"
True
"""

from __future__ import annotations

from pathlib import Path

from labmnn.errors import InputError

PACKAGE = Path(__file__).resolve().parent
DATA = PACKAGE / "data"


def shipped_dir(name: str) -> Path:
    """The shipped top-level folder ``name`` (``"protocols"`` or ``"calibration"``).

    The wheel's copy (``labmnn/_shipped/NAME``) wins; in a source checkout
    (editable install) it is the repository's own folder.
    """
    in_wheel = PACKAGE / "_shipped" / name
    if in_wheel.is_dir():
        return in_wheel
    return PACKAGE.parent / name


def protocols_dir() -> Path:
    """The shipped protocols (``gradient.toml``, ``validate.toml``, ``train.toml``, ...)."""
    return shipped_dir("protocols")


def tasks_dir() -> Path:
    """The shipped training tasks (``iris.toml``, ``regression.toml``, ...)."""
    return protocols_dir() / "tasks"


def calibration_dir() -> Path:
    """The shipped calibration files (``boards.toml``, ``simulated-rig.json``, ...)."""
    return shipped_dir("calibration")


def shipped_names(folder: Path) -> list[str]:
    """Names of the shipped TOML files in ``folder`` (without ``.toml``), sorted."""
    return sorted(q.stem for q in folder.glob("*.toml"))


def _shipped_stem(path: Path, prefix: tuple[str, ...]) -> str | None:
    """The shipped name ``path`` spells: ``NAME``, ``NAME.toml`` or ``PREFIX/NAME.toml``."""
    if path.suffix not in ("", ".toml"):
        return None
    parents = path.parts[:-1]
    if parents and tuple(parents) != prefix[-len(parents):]:
        return None
    return path.stem if path.suffix else path.name


def find_shipped(spec: str | Path, folder: Path, what: str, prefix: tuple[str, ...]) -> Path:
    """A file the user named: an existing file, else the shipped file of that name.

    Parameters
    ----------
    spec : str or Path
        What the user typed.
    folder : Path
        The shipped folder to look in.
    what : str
        ``"protocol"`` or ``"task"`` (for the error message).
    prefix : tuple of str
        The shipped folder's path in the repository (``("protocols",)``), so
        ``protocols/gradient.toml`` also names the shipped file from any folder.

    Raises
    ------
    InputError
        No such file and no shipped file of that name; lists the shipped names.
    """
    path = Path(spec)
    if path.is_file():
        return path
    stem = _shipped_stem(path, prefix)
    if stem and (folder / f"{stem}.toml").is_file():
        return folder / f"{stem}.toml"
    names = ", ".join(shipped_names(folder))
    problem = f"is a folder, not a {what} file" if path.is_dir() else f"no such {what} file"
    raise InputError(str(spec), "", f"{problem} (shipped {what}s: {names})")


def find_protocol(spec: str | Path) -> Path:
    """A protocol file path, or a shipped protocol's name (``gradient``, ``validate``, ``train``)."""
    return find_shipped(spec, protocols_dir(), "protocol", ("protocols",))


def find_task(spec: str | Path) -> Path:
    """A task file path, or a shipped task's name (``iris``, ``regression`` ...)."""
    return find_shipped(spec, tasks_dir(), "task", ("protocols", "tasks"))

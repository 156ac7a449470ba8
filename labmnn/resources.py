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
"""

from __future__ import annotations

from pathlib import Path

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

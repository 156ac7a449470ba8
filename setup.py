"""Build hook: a wheel carries the repository's ``protocols/`` and ``calibration/``.

``pyproject.toml`` holds the project's configuration; this file only extends
``build_py`` so that a built (non-editable) package has copies of the two
top-level folders users edit and name, as ``labmnn/_shipped/protocols`` and
``labmnn/_shipped/calibration`` (found by :mod:`labmnn.resources`).  An editable
install copies nothing: ``labmnn.resources`` then reads the repository's own
folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("protocols", "calibration")


class BuildPyWithShipped(build_py):
    """``build_py`` that also copies the top-level shipped folders into ``labmnn/_shipped``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "labmnn" / "_shipped"
        for name in SHIPPED:
            source = HERE / name
            if not source.is_dir():
                raise FileNotFoundError(f"{source} is missing: a labmnn wheel ships it as labmnn/_shipped/{name}")
            if (target / name).exists():
                shutil.rmtree(target / name)
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithShipped})

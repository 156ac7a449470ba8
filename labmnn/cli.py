"""The ``labmnn`` command line.

Each sub-command lives in its own module in :mod:`labmnn.commands` and exposes
``register(subparsers)``; adding a module adds a command.  Errors the user can
act on (:class:`~labmnn.errors.LabmnnError`) are printed as one line and exit
with code 2; Ctrl-C exits with 130.  ``LABMNN_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from . import __version__
from .errors import LabmnnError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labmnn",
        description="Train mechanical neural networks by in-situ backpropagation, on the bench or in simulation.",
    )
    parser.add_argument("--version", action="version", version=f"labmnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LabmnnError as exc:
        if os.environ.get("LABMNN_DEBUG"):
            raise
        print(f"labmnn: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("labmnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())

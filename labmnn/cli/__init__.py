"""The ``labmnn`` command line.

Each sub-command lives in its own module in :mod:`labmnn.cli.commands` and exposes
``register(subparsers)``; adding a module adds a command.  Errors the user can
act on (:class:`~labmnn.errors.LabmnnError`), mistyped options and files that
cannot be read or written are printed as one line ``labmnn: error: ...`` and
exit with code 2; Ctrl-C exits with 130; an unexpected failure (a bug) is one
line too, exit code 1.  ``LABMNN_DEBUG=1`` shows tracebacks instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import warnings

from labmnn import __version__
from labmnn.errors import LabmnnError


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``labmnn: error:`` line (exit code 2)."""

    def error(self, message: str):
        hint = ""
        if "expected one argument" in message:
            option = message.split(":")[0].removeprefix("argument ").split("/")[-1]
            hint = f" (a value that starts with '-' is written {option}=-VALUE)"
        command = self.prog.removeprefix("labmnn").strip()
        where = f"{command}: " if command else ""
        sys.stderr.write(f"labmnn: error: {where}{message}{hint}; see '{self.prog} --help'\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="labmnn",
        description="Train mechanical neural networks by in-situ backpropagation, on the bench or in simulation.",
        epilog="'labmnn COMMAND --help' explains a command's options. A mistake in a file or an option "
               "prints one line 'labmnn: error: <file or option>: <field>: <what is wrong>' and exits "
               "with code 2; Ctrl-C exits with 130.",
    )
    parser.add_argument("--version", action="version", version=f"labmnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from labmnn.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


_ENTRY_POINT = False  # True once run() (the process's own entry point) owns the SIGINT handler
_SIGINT_SEEN = False  # set by the entry point's handler: a Ctrl-C arrived, whatever a library made of it


def _on_sigint(signum, frame) -> None:
    """The entry point's SIGINT handler: remember the Ctrl-C, then interrupt as Python does.

    Libraries may turn the ``KeyboardInterrupt`` into something else on its way
    up (numpy, interrupted while its C extension loads, raises an ``ImportError``);
    the flag lets :func:`main` still answer 130, deterministically.
    """
    global _SIGINT_SEEN
    _SIGINT_SEEN = True
    raise KeyboardInterrupt


def _quiet_interrupts(unraisable) -> None:
    """``sys.unraisablehook``: a Ctrl-C that landed where Python cannot raise it is remembered, not printed."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def _interrupted() -> int:
    """Print the one Ctrl-C line and return 130; in the entry point, a second Ctrl-C is then ignored."""
    if _ENTRY_POINT:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # no second traceback while we exit
        except ValueError:  # not the main thread
            pass
        _forget_unhandled_interrupt()
    print("labmnn: interrupted", file=sys.stderr)
    return 130


def _forget_unhandled_interrupt() -> None:
    """Clear CPython's "unhandled KeyboardInterrupt" mark: the interrupt *was* handled.

    CPython 3.11 sets a process-wide flag when Ctrl-C lands while a C extension
    runs Python code through ``PyRun_String`` (numpy and scipy do while they
    load), even if the exception is caught later; at exit it then kills the
    process with SIGINT (exit status -2) instead of returning our 130.  Where
    the flag is not exported (other versions), this does nothing.
    """
    try:
        import ctypes

        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0
    except (ImportError, AttributeError, ValueError, OSError):
        pass


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 2 bad input, 130 Ctrl-C, 1 a bug)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        return _interrupted()
    except Exception:
        if _SIGINT_SEEN:  # an interrupt that a library wrapped while the parser's modules loaded
            return _interrupted()
        raise
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = bool(os.environ.get("LABMNN_DEBUG"))
    try:
        with warnings.catch_warnings():
            if not debug:  # numerical warnings mean nothing at the bench; results say what failed
                warnings.simplefilter("ignore", RuntimeWarning)
            code = int(args.func(args) or 0)
        # a Ctrl-C that a library swallowed (or a command turned into a status) still means "interrupted"
        return _interrupted() if _SIGINT_SEEN else code
    except LabmnnError as exc:
        if debug:
            raise
        print(f"labmnn: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001
        if _SIGINT_SEEN:  # a Ctrl-C that a library wrapped into another exception
            return _interrupted()
        if debug:
            raise
        print(f"labmnn: error: {_failure_line(args.command, exc)}", file=sys.stderr)
        return 2 if isinstance(exc, OSError) else 1


def _failure_line(command: str, exc: Exception) -> str:
    """One line for an exception that is not a Ctrl-C: an unreadable file (exit 2) or a bug (exit 1)."""
    if isinstance(exc, OSError):  # a file or folder that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{_one_line(exc.strerror or exc)}"
    return (f"internal error in '{command}' ({type(exc).__name__}: {_one_line(exc)[:300]}); "
            "run again with LABMNN_DEBUG=1 and report the traceback")


def run() -> None:
    """Console-script entry point: Ctrl-C at any moment (even while starting up) exits 130, quietly.

    Importing this module is light (no numpy or scipy: commands load them in
    their ``run``), so the console script's own ``from labmnn.cli import run``
    is over before a user can press Ctrl-C; from here on every interrupt is
    caught.
    """
    global _ENTRY_POINT
    _ENTRY_POINT = True
    try:
        signal.signal(signal.SIGINT, _on_sigint)
        sys.unraisablehook = _quiet_interrupts
    except ValueError:  # not the main thread (embedded use)
        pass
    try:
        code = main()
        # the command is over and its output written: a Ctrl-C while the interpreter shuts down
        # would kill it by signal (or print an "Exception ignored" traceback); keep its exit code
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:  # between main's own handlers (e.g. a second Ctrl-C)
        code = _interrupted()
    if code == 130:
        # Interrupted: our own files are closed and fsynced, the one line is printed.  Libraries'
        # exit hooks may still trip over what the interrupt left (a process pool's wake-up pipe,
        # closed under it, prints a traceback at shutdown), so leave without running them.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(130)
    sys.exit(code)

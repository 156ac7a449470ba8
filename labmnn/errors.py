"""Errors that reach the user as one clear line.

Every failure caused by the user's input (a file, a field, a value) or by the
bench (a device that stops answering) is raised as a :class:`LabmnnError`
subclass.  The command line prints ``labmnn: error: <message>`` and exits with
code 2; nothing else is printed, and nothing already written is touched.
"""

from __future__ import annotations


class LabmnnError(Exception):
    """Base class of every error shown to the user as a single line."""

    exit_code = 2

    def one_line(self) -> str:
        """The message folded onto one line."""
        return " ".join(str(self).split())


class InputError(LabmnnError):
    """A file or argument the user gave is malformed.

    Parameters
    ----------
    source : str
        The file (or ``--option``) the bad value came from.
    key : str
        The field inside it, e.g. ``bonds[3]``.
    message : str
        What is wrong, naming the offending value.
    """

    def __init__(self, source: str, key: str, message: str):
        self.source = str(source)
        self.key = key
        self.message = message
        where = f"{self.source}: {key}" if key else self.source
        super().__init__(f"{where}: {message}")


class ZeroModeError(LabmnnError):
    """The network is a mechanism: some nodes move without stretching a bond."""

    def __init__(self, n_zero_modes: int, free_nodes, name: str = "network"):
        self.n_zero_modes = int(n_zero_modes)
        self.free_nodes = [int(i) for i in free_nodes]
        shown = ", ".join(str(i) for i in self.free_nodes[:20])
        more = f" and {len(self.free_nodes) - 20} more" if len(self.free_nodes) > 20 else ""
        super().__init__(
            f"{name}: cannot be solved: it has {self.n_zero_modes} zero mode"
            f"{'s' if self.n_zero_modes != 1 else ''} under its fixed nodes; "
            f"nodes that move freely: {shown}{more}"
        )


class DeviceError(LabmnnError):
    """A device (camera, balance) failed in a way the operator can act on."""

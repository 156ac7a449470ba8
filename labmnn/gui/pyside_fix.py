"""Work around PySide6 6.12.0's lost references to None/True/False on Python 3.11.

In PySide6/shiboken6 6.12.0 (the only build in this project's package index),
every call of a Qt method that returns ``None`` or a bool from Python 3.11 drops
one reference to that singleton without taking one (``label.setText("x")``
leaves ``sys.getrefcount(None)`` one lower).  After a few thousand calls the
interpreter aborts with ``Fatal Python error: none_dealloc`` (or
``bool_dealloc``).  Python 3.12 made these singletons immortal, so the bug is
invisible there.

:func:`protect_singletons` gives the three singletons a reference count so
large (2**40) that no run can use it up -- what Python 3.12 does by design.
They are static objects that are never freed anyway, so nothing else changes.
It is a no-op on Python >= 3.12.  Remove it once a fixed PySide6 is required.
"""

from __future__ import annotations

import ctypes
import sys

RESERVE = 1 << 40
_done = False


def protect_singletons() -> bool:
    """Make None, True and False effectively immortal (Python < 3.12); True if applied."""
    global _done
    if _done or sys.version_info >= (3, 12) or not hasattr(sys, "getrefcount"):
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += RESERVE
    _done = True
    return True

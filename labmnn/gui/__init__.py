"""The operator's window at the rig (PySide6 + pyqtgraph).

Modules: :mod:`~labmnn.gui.workers` (device owner threads, the engine thread,
the GUI operator), :mod:`~labmnn.gui.session_data` (pure reading of session
results), and one module per panel.  Only the GUI thread touches widgets; every
device, the engine and the tracking run in worker threads and talk to the
widgets through Qt signals.

Start it with ``labmnn gui [--sim]``.
"""

from labmnn.gui.pyside_fix import protect_singletons

protect_singletons()  # PySide6 6.12.0 on Python 3.11 loses references to None/True/False

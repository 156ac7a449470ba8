import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
# pytest runs with --doctest-modules, which imports every module it collects; this one is a
# script (the kill -9 test runs it in a subprocess) that would run its protocol on import.
collect_ignore = ["protocol_kill_worker.py", "train_rig_worker.py"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# pan, server and balance: the simulated MT-SICS balance on a real pseudo-terminal (settle_s overridable)
pytest_plugins = ["balance_fixtures"]

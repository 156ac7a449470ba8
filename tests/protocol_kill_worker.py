"""Run (or resume) the gradient protocol on fake devices in SESSION; used by the kill -9 test.

usage: python protocol_kill_worker.py SESSION_FOLDER
"""

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from protocol_fakes import FakeCamera, fake_bench  # noqa: E402

from labmnn.model.network import Network  # noqa: E402
from labmnn.protocol.engine import Engine  # noqa: E402
from labmnn.protocol.operator import AutoOperator  # noqa: E402
from labmnn.protocol.recorder import RAW, Session  # noqa: E402
from labmnn.protocol.spec import load_protocol  # noqa: E402

_capture = FakeCamera.capture


def slow_capture(self, folder):  # a camera takes time: widen the window for a kill mid-capture
    time.sleep(0.01)
    cap = _capture(self, folder)
    time.sleep(0.01)
    return cap


FakeCamera.capture = slow_capture

folder = Path(sys.argv[1])
if (folder / "log.jsonl").exists():
    spec = load_protocol(folder / "protocol.toml")
    spec.network = str(folder / "network.json")
    session = Session.open(folder)
else:
    (folder / RAW).mkdir(parents=True, exist_ok=True)
    spec = load_protocol(HERE.parent / "protocols" / "gradient.toml")
    session = Session(folder)
net = Network.open(spec.network)
bench = fake_bench(net)
out = Engine(spec, session, bench, AutoOperator(bench.sim_operator)).run()
print(out["status"], out["summary"].get("relative_error"))

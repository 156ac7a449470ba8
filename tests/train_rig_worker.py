"""Run ``labmnn train behaviour-mse --method insitu --on rig --sim --auto`` on fake devices, or resume it.

usage: python train_rig_worker.py OUT_DIR [SESSION_TO_RESUME]
(environment: TRAIN_RIG_TASK the task, default behaviour-mse; TRAIN_RIG_ARGS more options;
TRAIN_RIG_METHOD insitu, the default, pat, insilico, identify or hybrid; with SESSION_TO_RESUME
"again" the same train command is run again, which continues a staged method's sessions)
(the fake camera, balance and operator of protocol_fakes stand in for the rendered simulated rig,
which is far slower; used by tests/test_train_rig.py)
"""

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from protocol_fakes import FakeCamera, fake_bench  # noqa: E402

import labmnn.cli.sim.bench as sim_bench  # noqa: E402
from labmnn.cli import main  # noqa: E402

_capture = FakeCamera.capture


def slow_capture(self, folder):  # a camera takes time: leaves the test room to kill mid-run
    time.sleep(0.02)
    return _capture(self, folder)


FakeCamera.capture = slow_capture
sim_bench.open_sim_bench = lambda spec, net, **kw: fake_bench(net)

if len(sys.argv) > 2 and sys.argv[2] != "again":
    sys.exit(main(["resume", sys.argv[2]]))
TASK = os.environ.get("TRAIN_RIG_TASK", "behaviour-mse")
METHOD = os.environ.get("TRAIN_RIG_METHOD", "insitu")
sys.exit(main(["train", TASK, "--method", METHOD, "--on", "rig", "--sim", "--auto", "--epochs", "3",
               "--out", sys.argv[1]] + os.environ.get("TRAIN_RIG_ARGS", "").split()))

"""Run ``labmnn train behaviour-mse --method pat --on rig --sim --auto --epochs 2`` on fake devices, or resume it.

usage: python condition_kill_worker.py OUT_DIR [SESSION_TO_RESUME]
(environment: CONDITION_HANG=1 makes the simulated operator stay at the first conditioning prompt, as a
person waiting out the conditioning would, so that the test can kill the process there; CONDITION_NOW
fixes the lab clock of the conditioning step (epoch seconds), so a resumed wait is measured against a
known time; used by tests/test_train_rig_condition.py)
"""

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from protocol_fakes import fake_bench  # noqa: E402

import labmnn.cli.sim.bench as sim_bench  # noqa: E402
import labmnn.protocol.conditioning as conditioning  # noqa: E402
from labmnn.cli import main  # noqa: E402
from labmnn.protocol.operator import AutoOperator  # noqa: E402


def _run() -> int:
    sim_bench.open_sim_bench = lambda spec, net, **kw: fake_bench(net)
    if os.environ.get("CONDITION_NOW"):
        now = float(os.environ["CONDITION_NOW"])
        conditioning.clock = lambda: now
    if os.environ.get("CONDITION_HANG"):
        _confirm = AutoOperator.confirm

        def hanging_confirm(self, instruction):
            if instruction.text.startswith("Condition"):
                time.sleep(120)  # the test kills the process here
            _confirm(self, instruction)

        AutoOperator.confirm = hanging_confirm

    if len(sys.argv) > 2:
        return main(["resume", sys.argv[2]])
    return main(["train", "behaviour-mse", "--method", "pat", "--on", "rig", "--sim", "--auto", "--epochs", "2",
                "--out", sys.argv[1]])


if __name__ == "__main__":  # pytest imports test folders' modules (--doctest-modules): run only as a script
    sys.exit(_run())

"""Balance driver on the simulated MT-SICS balance (real pseudo-terminal).

Reads the simulator N times in a row with the real driver and counts errors,
then times the same exchange done by hand with raw ``os.read``/``os.write`` on
the port (the baseline, measured in the same run) and prints the ratio.

Run from the worktree root::

    python benchmarks/balance.py            # 100 readings
    python benchmarks/balance.py --n 1000
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hardware_sim.balance_pty import SimBalanceServer  # noqa: E402
from labmnn.errors import DeviceError  # noqa: E402
from labmnn.instruments.balance import MTSICSBalance  # noqa: E402


def raw_round_trips(port: str, n: int) -> float:
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    t0 = time.perf_counter()
    for _ in range(n):
        os.write(fd, b"S\r\n")
        got = b""
        while not got.endswith(b"\r\n"):
            select.select([fd], [], [], 2.0)
            got += os.read(fd, 64)
    elapsed = time.perf_counter() - t0
    os.close(fd)
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    pan = {"g": 10.0}
    errors, readings = 0, []
    with SimBalanceServer(lambda: pan["g"], settle_s=0.05) as server:
        bal = MTSICSBalance(server.port)
        bal.connect()
        t0 = time.perf_counter()
        for _ in range(args.n):
            try:
                readings.append(bal.read_stable())
            except DeviceError as exc:
                errors += 1
                print("error:", exc)
        driver_s = time.perf_counter() - t0
        bal.close()
        raw_s = raw_round_trips(server.port, args.n)
    off = sum(abs(r.mass_g - 10.0) > 0.01 for r in readings)
    print(f"{len(readings)}/{args.n} stable readings in a row, {errors} errors, "
          f"{off} off by more than 0.01 g")
    print(f"driver: {driver_s / args.n * 1e3:.3f} ms/reading; raw pty round trip (baseline): "
          f"{raw_s / args.n * 1e3:.3f} ms; ratio {driver_s / raw_s:.2f}x")
    return 0 if errors == 0 and off == 0 and len(readings) == args.n else 1


if __name__ == "__main__":
    sys.exit(main())

"""``labmnn balance``: one stable reading from the MT-SICS balance."""

from __future__ import annotations

import json
import math

from labmnn.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("balance", help="print one stable reading of the serial balance",
                       description="Ask an MT-SICS balance for one stable weight (command S). "
                                   "Fails with a one-line message and exit code 2 on a timeout, "
                                   "garbled bytes or a port that disappears.")
    p.add_argument("--port", help="serial port, e.g. /dev/ttyUSB0 or COM3")
    p.add_argument("--baud", type=int, default=9600, help="baud rate (default 9600, 8N1)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="longest wait for a stable weight, seconds (default 10)")
    p.add_argument("--json", action="store_true", help='print {"mass_g": ..., "stable": ...}')
    p.add_argument("--sim", action="store_true", help="use the simulated balance (pseudo-terminal)")
    p.add_argument("--sim-mass", type=float, default=10.0, metavar="G",
                   help="grams on the simulated pan (default 10)")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.cli.sim.devices import open_balance

    if not args.timeout > 0:
        raise InputError("--timeout", "", f"must be positive, got {args.timeout}")
    if args.baud <= 0:
        raise InputError("--baud", "", f"must be positive, got {args.baud}")
    if not math.isfinite(args.sim_mass):
        raise InputError("--sim-mass", "", f"must be a number of grams, got {args.sim_mass}")
    mass = args.sim_mass
    balance = open_balance(port=args.port, sim=args.sim, baud=args.baud, mass_fn=lambda: mass,
                           timeout=min(2.0, args.timeout), settle_timeout=args.timeout)
    try:
        reading = balance.read_stable()
    finally:
        balance.close()
    if args.json:
        print(json.dumps({"mass_g": reading.mass_g, "stable": reading.stable}))
    else:
        print(f"{reading.mass_g} g ({'stable' if reading.stable else 'dynamic'})")
    return 0

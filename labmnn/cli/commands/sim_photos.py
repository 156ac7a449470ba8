"""``labmnn sim-photos``: a folder of simulated rig photographs with their ground truth.

Renders, with the simulated rig of :mod:`hardware_sim`, the unloaded network
(reference), the network under the given loads, checkerboard photos for a
calibration and one board lying in the sample plane, and writes ``truth.json``
(joint pixels, plane millimetres, positions, elongations, board corners and
the camera's true intrinsics, distortion and pose) next to them.
"""

from __future__ import annotations

import json
from pathlib import Path

from labmnn.cli.args import output_dir, parse_node_pair
from labmnn.errors import InputError

MAX_GRAMS = 1000.0  # a kilogram: far beyond what a printed network carries


def register(sub) -> None:
    p = sub.add_parser("sim-photos", help="render simulated rig photos (network, loads, boards) with truth",
                       description="Render photographs of the simulated rig into --out: network/ "
                                   "(reference, then one photo per --case), calibration/ (--boards "
                                   "checkerboard poses), plane/ (the board in the sample plane), and "
                                   "truth.json.  A case is NODE:GRAMS[,NODE:GRAMS...].")
    p.add_argument("network", nargs="?", default="paper-triangle-n4",
                   help="network file or shipped example (default paper-triangle-n4)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (created)")
    p.add_argument("--case", action="append", metavar="NODE:G[,NODE:G...]",
                   help="a loaded photo: grams hung on nodes (repeatable)")
    p.add_argument("--boards", type=int, default=0, metavar="N", help="calibration board photos (default 0)")
    p.add_argument("--plane-board", action="store_true", help="also photograph the board in the sample plane")
    p.add_argument("--width", type=int, default=6000, metavar="PX", help="photo width, pixels (default 6000)")
    p.add_argument("--height", type=int, default=4000, metavar="PX", help="photo height, pixels (default 4000)")
    p.add_argument("--px-per-mm", type=float, default=None, metavar="SCALE",
                   help="scale on the network at 6000 px wide (default 15, less for large networks)")
    p.add_argument("--distance-mm", type=float, default=300.0, metavar="MM",
                   help="camera distance from the network, mm (default 300)")
    p.add_argument("--tilt-deg", default="2,-3", metavar="X,Y",
                   help="camera tilt about the x and y axes, degrees (default 2,-3)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed of the sensor noise and the board poses (default 0)")
    p.add_argument("--thickness", action="store_true", help="render the print's thickness (side walls)")
    p.set_defaults(func=run)


def _case(text: str, n_nodes: int, fixed=()) -> list[tuple[int, float]]:
    loads = []
    for item in text.split(","):
        node, rest = parse_node_pair(item.strip(), "--case")
        try:
            grams = float(rest)
        except ValueError:
            raise InputError("--case", "", f"{rest!r} in {text!r} is not a mass in grams") from None
        if not 0 <= node < n_nodes:
            raise InputError("--case", "", f"node {node} in {text!r} is out of range (0..{n_nodes - 1})")
        if node in fixed:
            raise InputError("--case", "", f"node {node} in {text!r} is fixed to the frame: a weight there moves "
                                           f"nothing")
        if not (grams > 0 and grams <= MAX_GRAMS):
            raise InputError("--case", "", f"mass {rest!r} in {text!r} must be a positive number of grams, "
                                           f"at most {MAX_GRAMS:g}")
        loads.append((node, grams))
    return loads


def run(args) -> int:
    from hardware_sim import SimCamera, SimCameraModel, SimRig
    from labmnn.model.network import Network
    from labmnn.text_files import jsonable as _jsonable

    net = Network.open(args.network)
    cases = [_case(c, net.n_nodes, set(net.fixed_nodes.tolist())) for c in args.case or []]
    for name in ("width", "height", "boards"):
        if getattr(args, name) < (0 if name == "boards" else 16):
            raise InputError(f"--{name.replace('_', '-')}", "", f"{getattr(args, name)} is too small")
    if not ((args.px_per_mm is None or args.px_per_mm > 0) and args.distance_mm > 0):
        raise InputError("--px-per-mm", "", "scale and distance must be positive")
    try:
        tilt = tuple(float(v) for v in args.tilt_deg.split(","))
    except ValueError:
        tilt = ()
    if len(tilt) != 2 or not all(abs(v) < 60 for v in tilt):
        raise InputError("--tilt-deg", "", f"expected two angles X,Y in degrees (|angle| < 60), found "
                                           f"{args.tilt_deg!r}")
    if args.seed < 0:
        raise InputError("--seed", "", f"must be >= 0, found {args.seed}")
    if (Path(args.out) / "truth.json").exists():
        raise InputError("--out", "", f"{args.out!r} already holds a photo set (truth.json); give a new folder")
    out = output_dir(args.out, "--out")
    rig = SimRig(net, seed=args.seed, show_thickness=args.thickness, px_per_mm=args.px_per_mm)
    b = rig.board
    centre = ((b.cols - 1) / 2 * b.square_mm, (b.rows - 1) / 2 * b.square_mm)
    # the rig's framing (scale chosen for this network), from the user's distance and tilt
    rig.camera = SimCameraModel.framing(target_mm=centre, px_per_mm=rig.px_per_mm,
                                        distance_mm=args.distance_mm, tilt_deg=tilt)
    cam = SimCamera(rig, width=args.width, height=args.height, seed=args.seed)
    cam.connect()
    truth: dict = {"camera": rig.camera.scaled(args.width, args.height).to_dict(), "board": b.to_dict(),
                   "network": net.name, "photos": {}}

    def shoot(folder: str, label: str) -> None:
        shot = cam.capture(out / folder)
        rel = f"{folder}/{shot.path.name}"
        truth["photos"][rel] = {"label": label, **_jsonable(shot.truth)}
        print(f"{rel}: {label}")

    shoot("network", "reference")
    for loads in cases:
        rig.clear()
        for node, grams in loads:
            rig.hang(node, grams)
        shoot("network", ", ".join(f"{g:g} g on node {n}" for n, g in loads))
    rig.clear()
    for i, pose in enumerate(rig.board_poses(args.boards, seed=args.seed) if args.boards else []):
        rig.place_board(pose)
        shoot("calibration", f"board pose {i}")
    if args.plane_board:
        rig.place_board(rig.plane_board_pose())
        shoot("plane", "board in the sample plane")
    rig.remove_board()
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(truth['photos'])} photos and {out / 'truth.json'}")
    _next_steps(out, truth, b, args)
    return 0


def _next_steps(out: Path, truth: dict, board, args) -> None:
    """Print the calibrate and track commands that use these photos (board size and all)."""
    names = list(truth["photos"])
    plane = [n for n in names if n.startswith("plane/")]
    net = [n for n in names if n.startswith("network/")]
    if args.boards:
        plane_arg = f" --plane {out / plane[0]}" if plane else ""
        print(f"next: labmnn calibrate --board {board.cols}x{board.rows} --square {board.square_mm:g}"
              f"{plane_arg} {out / 'calibration'}/*.jpg -o {out / 'calibration.json'}")
    if len(net) > 1 and not args.boards:
        print("next: `labmnn track` needs a calibration: photograph the board too "
              "(--boards 8 --plane-board), then calibrate and track")
    elif len(net) > 1:
        cal = f"--calibration {out / 'calibration.json'} "
        print(f"      labmnn track {cal}--network {args.network} --reference {out / net[0]} "
              f"{' '.join(str(out / n) for n in net[1:])} -o {out / 'result.json'}")

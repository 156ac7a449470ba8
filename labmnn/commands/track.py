"""``labmnn track``: joint displacements and bond elongations from photographs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..metrology.calibration import Calibration
from ..metrology.images import read_grey
from ..metrology.jointsfile import read_joints_csv
from ..metrology.overlay import write_overlay
from ..metrology.tracking import JointTracker
from ..network import Network


def register(sub) -> None:
    p = sub.add_parser("track", help="track joints in photos: displacements and elongations",
                       description="Locate each joint's disc in REF, follow it in every IMAGE by sub-pixel "
                                   "correlation, map to sample-plane mm, and write displacements (plane and "
                                   "network frames), geometric bond elongations and per-joint confidence.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="loaded photos (JPEG, PNG or camera RAW)")
    p.add_argument("--calibration", required=True, help="calibration.json from 'labmnn calibrate'")
    p.add_argument("--network", required=True, help="network file or shipped example name")
    p.add_argument("--reference", required=True, metavar="REF", help="unloaded reference photo")
    p.add_argument("--joints", metavar="CSV", help="rough joint pixels in REF (node,x,y); default: found automatically")
    p.add_argument("--search", type=int, default=60, metavar="PX", help="search half-window, pixels (default 60)")
    p.add_argument("-o", "--output", default="result.json", help="output file (default result.json)")
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay PNGs")
    p.set_defaults(func=run)


def run(args) -> int:
    cal = Calibration.load(args.calibration)
    net = Network.open(args.network)
    joints = read_joints_csv(args.joints, net.n_nodes) if args.joints else None
    t = time.perf_counter()
    ref = read_grey(args.reference)
    tracker = JointTracker(cal, net, ref, joints_px=joints, search_px=args.search)
    print(f"reference: {net.n_nodes} joints located (disc radius {tracker.reference.radii_px.mean():.1f} px, "
          f"{time.perf_counter() - t:.2f} s); plane mm from {tracker.plane_source}")
    out = Path(args.output)
    overlay_dir = out.with_name(out.stem + "_overlays")
    if not args.no_overlay:
        overlay_dir.mkdir(parents=True, exist_ok=True)
    images = []
    for path in args.images:
        t = time.perf_counter()
        img = read_grey(path)
        decode = time.perf_counter() - t
        res = tracker.track(img)
        entry = {"path": str(path), **res.to_dict(), "decode_s": round(decode, 4), "track_s": round(res.seconds, 4)}
        if not args.no_overlay:
            png = write_overlay(overlay_dir / (Path(path).stem + "_overlay.png"), img, res.joints_px,
                                net.bonds, res.elongations_mm, res.lost, title=Path(path).name)
            entry["overlay"] = str(png)
        images.append(entry)
        lost = ", ".join(f"{i} ({r})" for i, r in enumerate(res.reasons) if r)
        print(f"{Path(path).name}: {net.n_nodes - int(res.lost.sum())}/{net.n_nodes} joints tracked in "
              f"{res.seconds:.3f} s (decode {decode:.3f} s)" + (f"; lost: {lost}" if lost else ""))
    result = {"format": "labmnn-tracking/1", "network": str(args.network), "calibration": str(args.calibration),
              "reference": {"path": str(args.reference), **tracker.describe()},
              "plane_to_network": tracker.describe()["plane_to_network"],
              "bonds": net.bonds.tolist(), "images": images}
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}" + ("" if args.no_overlay else f" and overlays in {overlay_dir}"))
    return 0

"""``labmnn track``: joint displacements and bond elongations from photographs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from labmnn.cli.args import output_dir, output_file
from labmnn.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("track", help="track joints in photos: displacements and elongations",
                       description="Locate each joint's disc in REF, follow it in every IMAGE by sub-pixel "
                                   "correlation, map to sample-plane mm, and write displacements (plane and "
                                   "network frames), geometric bond elongations and per-joint confidence. "
                                   "Exit code 3 when results were written but some joints were lost.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="loaded photos (JPEG, PNG or camera RAW)")
    p.add_argument("--calibration", required=True, metavar="FILE", help="calibration.json from 'labmnn calibrate'")
    p.add_argument("--network", required=True, help="network file or shipped example name")
    p.add_argument("--reference", required=True, metavar="REF", help="unloaded reference photo")
    p.add_argument("--joints", metavar="CSV", help="rough joint pixels in REF (node,x,y); default: found automatically")
    p.add_argument("--search", type=int, default=60, metavar="PX", help="how far a joint may move between photos, "
                                                                        "pixels (search half-window; default 60)")
    p.add_argument("--predict-load", action="append", default=[], metavar="NODE:G",
                   help="the load hung in the IMAGEs (grams pulling down on a node; repeat for several "
                        "nodes): each joint's search is centred on the exact model's predicted position, "
                        "so large loads do not carry joints out of the search window")
    p.add_argument("-o", "--output", default="result.json",
                   help="result file to write (default result.json; overlays go in <name>_overlays/)")
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay PNGs")
    p.set_defaults(func=run)


def parse_loads(items: list[str], n_nodes: int):
    """``NODE:G`` entries -> forces (n, 2) N pulling down, or None when there are none."""
    import numpy as np

    from labmnn.model.network import GRAVITY

    if not items:
        return None
    F = np.zeros((n_nodes, 2))
    for item in items:
        node, sep, grams = item.partition(":")
        try:
            k, g = int(node), float(grams)
        except ValueError:
            raise InputError("--predict-load", "", f"must be NODE:GRAMS (e.g. 12:30), found {item!r}") from None
        if not sep or not 0 <= k < n_nodes or not np.isfinite(g) or g < 0:
            raise InputError("--predict-load", "", f"must be NODE:GRAMS with a node 0..{n_nodes - 1} and "
                             f"grams >= 0, found {item!r}")
        F[k, 1] -= g * 1e-3 * GRAVITY
    return F


def predicted_displacements_mm(net, forces):
    """The exact model's displacements (n, 2) mm under ``forces`` (one-line error if it has none)."""
    from labmnn.errors import LabmnnError

    try:
        return net.solve(forces, mechanics="nonlinear").displacements * 1e3
    except LabmnnError as exc:
        raise InputError("--predict-load", "", f"the model has no equilibrium under this load ({exc})") from None


def _named(exc: InputError, option: str, path) -> InputError:
    """The tracker's error about an image array, re-addressed to the file it came from."""
    return InputError(f"{option} {path}", exc.key, exc.message)


def _grouped(reasons: dict) -> dict[str, list[int]]:
    """``{node: reason}`` as ``{reason: [nodes]}`` (empty reasons left out)."""
    out: dict[str, list[int]] = {}
    for node, why in reasons.items():
        if why:
            out.setdefault(why, []).append(int(node))
    return {why: sorted(nodes) for why, nodes in out.items()}


def _nodes(nodes: list[int]) -> str:
    return ", ".join(map(str, nodes))


EXIT_JOINTS_LOST = 3  # results written, but some joints could not be tracked


def run(args) -> int:
    from labmnn.metrology.calibration import Calibration
    from labmnn.metrology.images import read_grey
    from labmnn.metrology.jointsfile import read_joints_csv
    from labmnn.metrology.overlay import write_overlay
    from labmnn.metrology.result_file import image_entry, tracking_result
    from labmnn.metrology.tracking import JointTracker
    from labmnn.model.network import Network

    if args.search < 1:
        raise InputError("--search", "", f"must be at least 1 pixel, found {args.search}")
    net = Network.open(args.network)
    loads = parse_loads(args.predict_load, net.n_nodes)
    predicted_mm = predicted_displacements_mm(net, loads) if loads is not None else None
    cal = Calibration.load(args.calibration)
    joints = read_joints_csv(args.joints, net.n_nodes) if args.joints else None
    out = output_file(args.output, "--output", suffixes=(".json",),
                      inputs=(args.calibration, args.reference, *args.images))
    overlay_dir = out.with_name(out.stem + "_overlays")
    if not args.no_overlay:
        output_dir(overlay_dir, "--output (overlay folder)")
    t = time.perf_counter()
    ref = read_grey(args.reference)
    w, h = cal.image_size
    if (ref.shape[1], ref.shape[0]) != (w, h):
        raise InputError(f"--reference {args.reference}", "", f"the photo is {ref.shape[1]}x{ref.shape[0]} px but "
                         f"calibration {args.calibration} is for {w}x{h} px: a calibration of another camera "
                         "or image size? calibrate again with photos from this camera setting")
    try:
        tracker = JointTracker(cal, net, ref, joints_px=joints, search_px=args.search)
    except InputError as exc:
        if exc.source == "joints" and args.joints:
            raise _named(exc, "--joints", args.joints) from None
        raise (_named(exc, "--reference", args.reference) if exc.source == "--reference" else exc) from None
    predicted_px = tracker.predict_px(predicted_mm) if predicted_mm is not None else None
    print(f"reference: {net.n_nodes} joints located (disc radius {tracker.reference.radii_px.mean():.1f} px, "
          f"{time.perf_counter() - t:.2f} s); plane mm from {tracker.plane_source}")
    for why, nodes in _grouped(tracker.suspects).items():
        off = [f"{k} ({tracker.suspect_mm[k]:.2f} mm)" if k in tracker.suspect_mm else str(k) for k in nodes]
        print(f"labmnn: warning: reference joint{'s' if len(nodes) > 1 else ''} {', '.join(off)} "
              f"suspect: {why}; not written as data", file=sys.stderr)
    images, incomplete = [], []
    for path in args.images:
        t = time.perf_counter()
        img = read_grey(path)
        decode = time.perf_counter() - t
        try:
            res = tracker.track(img, predicted_px=predicted_px, from_model=predicted_px is not None)
        except InputError as exc:
            raise (_named(exc, "IMAGE", path) if exc.source == "IMAGE" else exc) from None
        entry = image_entry(path, res, decode)
        if not args.no_overlay:
            png = write_overlay(overlay_dir / (Path(path).stem + "_overlay.png"), img, res.joints_px,
                                net.bonds, res.elongations_mm, res.lost, title=Path(path).name)
            entry["overlay"] = str(png)
        images.append(entry)
        if res.lost.any():
            incomplete.append((Path(path).name, int(res.lost.sum())))
        lost = ", ".join(f"{_nodes(nodes)} ({why})" for why, nodes in
                         _grouped(dict(enumerate(res.reasons))).items())
        print(f"{Path(path).name}: {net.n_nodes - int(res.lost.sum())}/{net.n_nodes} joints tracked in "
              f"{res.seconds:.3f} s (decode {decode:.3f} s)" + (f"; lost: {lost}" if lost else ""))
    result = tracking_result(tracker, args.network, args.calibration, args.reference, images)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}" + ("" if args.no_overlay else f" and overlays in {overlay_dir}"))
    if incomplete:
        # The results are written (lost joints are NaN with their reason), but a script must
        # not take them for a complete measurement: warn and exit 3.
        worst = ", ".join(f"{name} ({k}/{net.n_nodes} lost)" for name, k in incomplete[:5])
        hint = " (lens cap? lights off? wrong reference?)" if any(k == net.n_nodes for _, k in incomplete) else ""
        if tracker.suspects:
            hint = f" ({len(tracker.suspects)} suspect in the reference: check joints.csv and the calibration)"
        print(f"labmnn: warning: joints lost in {len(incomplete)} of {len(images)} image(s): {worst}{hint}; "
              f"see the \"lost\" and \"confidence\" fields of {out}", file=sys.stderr)
        return EXIT_JOINTS_LOST
    return 0

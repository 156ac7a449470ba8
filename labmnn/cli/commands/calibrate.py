"""``labmnn calibrate``: camera calibration from checkerboard photos."""

from __future__ import annotations

import math
from pathlib import Path

from labmnn.cli.args import output_file
from labmnn.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="camera calibration from checkerboard photos",
                       description="Find the checkerboard's inner corners in each photo, estimate the camera "
                                   "matrix and lens distortion, report RMS reprojection errors and flag "
                                   "outliers. --plane gives the pixel -> sample-plane mm mapping. "
                                   "Example: labmnn calibrate --board 9x6 --square 25 boards/*.jpg --plane plane.jpg")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="board photos (JPEG, PNG or camera RAW)")
    p.add_argument("--board", required=True, metavar="COLSxROWS", help="inner corners, e.g. 9x6")
    p.add_argument("--square", required=True, type=float, metavar="MM", help="side of one board square, mm (measure "
                                                                             "it)")
    p.add_argument("--plane", metavar="IMAGE", help="photo of the board lying in the sample plane")
    p.add_argument("-o", "--output", default="calibration.json",
                   help="calibration file to write (default calibration.json)")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.metrology.calibration import BoardSpec, calibrate

    if not (args.square > 0 and math.isfinite(args.square)):
        raise InputError("--square", "", f"must be > 0 mm, got {args.square}")
    board = BoardSpec.parse(args.board, args.square)
    for path in [*args.images, *([args.plane] if args.plane else [])]:
        if not Path(path).is_file():  # before the slow corner search, not after it
            raise InputError("--plane" if path == args.plane else "IMAGE", "", f"{path}: image file not found")
    output_file(args.output, "--output", suffixes=(".json",), inputs=tuple(args.images) + (args.plane,))
    cal = calibrate(args.images, board, plane_image=args.plane,
                    progress=lambda name, ok: print(f"  {name}: {'board found' if ok else 'board NOT found'}"))
    cal.save(args.output)
    K = cal.camera_matrix
    print(f"used {len(cal.per_image_rms_px)} of {len(args.images)} photos; RMS reprojection {cal.rms_px:.3f} px")
    print(f"fx {K[0, 0]:.1f}  fy {K[1, 1]:.1f}  cx {K[0, 2]:.1f}  cy {K[1, 2]:.1f} px; "
          f"distortion {' '.join(f'{d:.4g}' for d in cal.dist_coeffs)}")
    for name, rms in cal.per_image_rms_px.items():
        flag = "  <- outlier" if name in cal.outliers else ""
        print(f"  {name:30s} {rms:7.3f} px{flag}")
    for name, why in cal.rejected.items():
        print(f"  {name:30s} not used: {why}")
    if cal.rms_px > 1.0:
        print("warning: RMS over 1 px: check focus, board flatness and --board")
    if cal.has_plane:
        print(f"plane ({cal.plane_image}): homography residual {cal.plane_rms_mm * 1e3:.1f} um RMS")
    print(f"wrote {args.output}")
    return 0

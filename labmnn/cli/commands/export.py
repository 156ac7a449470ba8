"""``labmnn export``: outlines (SVG, DXF) and a solid (STL) of a network for printing."""

from __future__ import annotations

import math

from labmnn.cli.args import output_file
from labmnn.errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="write a network for printing: SVG/DXF outline (mm), STL solid",
        description="Bars at their widths, necked to half width near the joints, joint discs and "
                    "mounting tabs at fixed nodes. SVG and DXF are true to scale in millimetres "
                    "with node numbers on their own layer; the STL is a closed solid of the "
                    "network's thickness.")
    p.add_argument("network", help="network file (labmnn-network/1) or shipped example name")
    p.add_argument("--svg", metavar="FILE", help="write an SVG outline to FILE (.svg)")
    p.add_argument("--dxf", metavar="FILE", help="write a DXF (R12) outline to FILE (.dxf)")
    p.add_argument("--stl", metavar="FILE", help="write a binary STL solid to FILE (.stl)")
    p.add_argument("--joint-radius", type=float, metavar="MM", help="joint disc radius (default 0.75 x widest bar)")
    p.add_argument("--neck-length", type=float, metavar="MM",
                   help="half-width neck beyond the disc (default 0.1 x shortest bond)")
    p.add_argument("--tab-direction", choices=("up", "outward"), default="up",
                   help="mounting tabs point up (default) or away from the network's centre")
    p.add_argument("--tab-width", type=float, default=8.0, metavar="MM", help="tab width (default 8)")
    p.add_argument("--tab-length", type=float, default=10.0, metavar="MM", help="tab length (0: no tabs; default 10)")
    p.add_argument("--hole", type=float, default=3.0, metavar="MM",
                   help="screw hole diameter in tabs (0: none; default 3)")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.fabrication.export import PrintSettings, write_dxf, write_stl, write_svg
    from labmnn.model.network import Network

    if not (args.svg or args.dxf or args.stl):
        raise InputError("export", "", "nothing to write: give --svg FILE, --dxf FILE and/or --stl FILE")
    for option, value in (("--joint-radius", args.joint_radius), ("--neck-length", args.neck_length),
                          ("--tab-width", args.tab_width), ("--tab-length", args.tab_length), ("--hole", args.hole)):
        if value is not None and not (value >= 0 and math.isfinite(value)):
            raise InputError(option, "", f"must be a length >= 0 (mm), found {value}")
    if args.joint_radius is not None and args.joint_radius <= 0:
        raise InputError("--joint-radius", "", f"must be > 0 mm, found {args.joint_radius}")
    if args.tab_length > 0 and args.hole >= min(args.tab_width, args.tab_length):
        raise InputError("--hole", "", f"a {args.hole:g} mm hole does not fit in a {args.tab_width:g} x "
                                       f"{args.tab_length:g} mm tab (--tab-width x --tab-length)")
    for option, value in (("--svg", args.svg), ("--dxf", args.dxf), ("--stl", args.stl)):
        if value is not None:
            output_file(value, option, suffixes=(option.replace("--", "."),), inputs=(args.network,))
    net = Network.open(args.network)
    shortest = float(net.lengths.min() * 1e3)
    if args.joint_radius is not None and args.joint_radius >= shortest / 2:
        raise InputError("--joint-radius", "", f"{args.joint_radius:g} mm: the discs would merge along the "
                                               f"shortest bond ({shortest:.2f} mm); keep it below {shortest / 2:.2f}")
    radius = args.joint_radius if args.joint_radius is not None else 0.75 * float(net.width.max() * 1e3)
    if args.neck_length is not None and 2 * (radius + args.neck_length) >= shortest:
        raise InputError("--neck-length", "", f"{args.neck_length:g} mm: with joint discs of radius {radius:.2f} mm "
                                              f"no neck fits on the shortest bond ({shortest:.2f} mm); keep it "
                                              f"below {max(shortest / 2 - radius, 0):.2f} mm")
    s = PrintSettings(joint_radius_mm=args.joint_radius, neck_length_mm=args.neck_length,
                      tab_direction=args.tab_direction, tab_width_mm=args.tab_width,
                      tab_length_mm=args.tab_length, tab_hole_mm=args.hole)
    if args.svg:
        info = write_svg(net, args.svg, s)
        print(f"wrote {args.svg}: {info['width_mm']:.1f} x {info['height_mm']:.1f} mm, layers outline, node-numbers")
    if args.dxf:
        info = write_dxf(net, args.dxf, s)
        print(f"wrote {args.dxf}: DXF R12, {info['rings']} closed outlines (layer OUTLINE), "
              f"{info['texts']} node numbers (layer NODE_NUMBERS), mm")
    if args.stl:
        info = write_stl(net, args.stl, s)
        x0, y0, z0, x1, y1, z1 = info["bounds_mm"]
        print(f"wrote {args.stl}: closed solid, {info['triangles']} triangles, "
              f"{x1 - x0:.1f} x {y1 - y0:.1f} x {z1 - z0:.2f} mm, volume {info['volume_mm3']:.1f} mm^3")
    return 0

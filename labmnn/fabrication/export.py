"""Export a network for printing: SVG and DXF outlines, and an STL solid.

The printed part is the union of

- one bar per bond at its width, necked to half its width near both joints
  (the paper's Methods: the thin ends make the bars bend at the joints, as the
  bar model assumes, and not buckle in the middle);
- one disc per joint;
- a mounting tab at every fixed node (a strip towards the frame, with a screw
  hole), by which the part is glued or screwed to the rig.

The 2D outline is built as a polygon union with shapely (GEOS), snapped to a
0.1 um grid.  The STL is that outline extruded to the network's thickness: the
top and bottom faces from a constrained Delaunay triangulation of the outline,
the side walls from its rings, sharing vertices, so the solid is closed and
every edge has exactly two faces.  The SVG and DXF are true to scale in
millimetres with the outline and the node numbers on separate layers.

Example
-------
>>> from labmnn import Network
>>> net = Network.example("paper-triangle-n4")
>>> shape = outline(net)
>>> round(shape.area, 1) > 0                  # mm^2
True
>>> write_stl(net, "part.stl")                # doctest: +SKIP
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from labmnn.errors import InputError, LabmnnError


@dataclass
class PrintSettings:
    """Shape of the printed part (millimetres).

    Attributes
    ----------
    joint_radius_mm : float or None
        Radius of the joint discs; default 0.75 x the widest bar.
    neck_length_mm : float or None
        Length of the half-width neck beyond the disc edge; default 0.1 x the shortest bond.
    neck_ratio : float
        Neck width over bar width (the paper: one half).
    tab_width_mm, tab_length_mm : float
        Mounting tab (plate) size; the tab runs from the fixed joint towards ``tab_direction``.
    tab_gap_mm : float
        Clearance between the joint disc and the plate (a stem as wide as the disc spans it),
        so the plate does not stiffen the bars that leave a fixed joint.
    tab_hole_mm : float
        Screw hole diameter in the tab (0: no hole).
    tab_direction : "up" or "outward"
        Up (+y, towards the frame the network hangs from) or away from the network's centre.
    segments : int
        Segments per full circle.
    grid_mm : float
        Coordinates are snapped to this grid (keeps the mesh exactly closed).
    """

    joint_radius_mm: float | None = None
    neck_length_mm: float | None = None
    neck_ratio: float = 0.5
    tab_width_mm: float = 8.0
    tab_length_mm: float = 10.0
    tab_gap_mm: float = 1.5
    tab_hole_mm: float = 3.0
    tab_direction: str = "up"
    segments: int = 48
    grid_mm: float = 1e-4


def _shapely():
    try:
        import shapely
    except ImportError:  # pragma: no cover  (a declared dependency)
        raise LabmnnError("export needs the 'shapely' package: pip install shapely") from None
    return shapely


def _rectangles(start: np.ndarray, end: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """Corner coordinates (k, 5, 2) of rectangles along segments start -> end."""
    d = end - start
    n = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.linalg.norm(d, axis=1)[:, None]
    off = n * half_width[:, None]
    return np.stack([start - off, end - off, end + off, start + off, start - off], axis=1)


def outline(net, settings: PrintSettings | None = None):
    """The part's 2D outline in millimetres (design frame, y up).

    Parameters
    ----------
    net : Network
    settings : PrintSettings, optional

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        Valid, oriented (exterior counter-clockwise, holes clockwise), snapped to ``grid_mm``.
    """
    shapely = _shapely()
    s = settings or PrintSettings()
    nodes = net.nodes * 1e3
    width = net.width * 1e3
    lengths = net.lengths * 1e3
    r = s.joint_radius_mm if s.joint_radius_mm is not None else 0.75 * width.max()
    neck = s.neck_length_mm if s.neck_length_mm is not None else 0.1 * lengths.min()
    if r <= 0 or neck < 0 or not 0 < s.neck_ratio <= 1:
        raise InputError("export settings", "", f"need joint radius > 0, neck >= 0 and 0 < neck ratio <= 1, "
                         f"found {r}, {neck}, {s.neck_ratio}")
    if s.neck_length_mm is not None and 2 * (r + neck) >= lengths.min():
        raise InputError("--neck-length", "", f"{neck:g} mm: with joint discs of radius {r:.2f} mm no neck fits "
                                              f"on the shortest bond ({lengths.min():.2f} mm); keep it below "
                                              f"{max(lengths.min() / 2 - r, 0):.2f} mm")
    a, b = nodes[net.bonds[:, 0]], nodes[net.bonds[:, 1]]
    u = (b - a) / lengths[:, None]
    quad = max(2, s.segments // 4)
    parts = [shapely.polygons(_rectangles(a, b, 0.5 * s.neck_ratio * width))]  # necked, full length
    full = lengths > 2 * (r + neck)
    if full.any():
        start = a[full] + u[full] * (r + neck)
        end = b[full] - u[full] * (r + neck)
        parts.append(shapely.polygons(_rectangles(start, end, 0.5 * width[full])))
    parts.append(shapely.buffer(shapely.points(nodes), r, quad_segs=quad))
    holes = None
    fixed = nodes[net.fixed_nodes]
    if len(fixed) and s.tab_length_mm > 0 and s.tab_width_mm > 0:
        if s.tab_direction == "up":
            direction = np.tile([0.0, 1.0], (len(fixed), 1))
        elif s.tab_direction == "outward":
            direction = fixed - nodes.mean(axis=0)
            norm = np.linalg.norm(direction, axis=1, keepdims=True)
            direction = np.where(norm > 0, direction / np.where(norm > 0, norm, 1), [[0.0, 1.0]])
        else:
            raise InputError("export settings", "tab_direction",
                             f"must be 'up' or 'outward', found {s.tab_direction!r}")
        base = fixed + direction * (r + s.tab_gap_mm)  # the plate starts clear of the bars
        tip = base + direction * s.tab_length_mm
        k = len(fixed)
        parts.append(shapely.polygons(_rectangles(fixed, base + direction * 0.5, np.full(k, r))))  # stem
        parts.append(shapely.polygons(_rectangles(base, tip, np.full(k, 0.5 * s.tab_width_mm))))
        if s.tab_hole_mm > 0:
            centre = 0.5 * (base + tip)
            holes = shapely.union_all(shapely.buffer(shapely.points(centre), 0.5 * s.tab_hole_mm, quad_segs=quad))
    shape = shapely.union_all(np.concatenate(parts))
    if holes is not None:
        shape = shape.difference(holes)
    shape = shapely.set_precision(shape, s.grid_mm)
    shape = shapely.simplify(shape, 0.0)  # drop collinear vertices left by the union
    return shapely.geometry.polygon.orient(shape, 1.0) if shape.geom_type == "Polygon" else \
        shapely.MultiPolygon([shapely.geometry.polygon.orient(p, 1.0) for p in shape.geoms])


def _polygons(shape) -> list:
    return [shape] if shape.geom_type == "Polygon" else list(shape.geoms)


def _rings(shape) -> list[np.ndarray]:
    """Every ring (exterior and holes) as an open (k, 2) coordinate array."""
    out = []
    for poly in _polygons(shape):
        for ring in [poly.exterior, *poly.interiors]:
            out.append(np.asarray(ring.coords)[:-1])
    return out


def extrude(shape, thickness_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed triangle mesh of ``shape`` extruded from z = 0 to z = ``thickness_mm``.

    Returns
    -------
    vertices : ndarray (V, 3)
    faces : ndarray (T, 3) of int
        Counter-clockwise seen from outside (normals point out).
    """
    shapely = _shapely()
    tris = []
    for poly in _polygons(shape):
        parts = shapely.get_parts(shapely.constrained_delaunay_triangles(poly))
        tris.append(shapely.get_coordinates(parts).reshape(-1, 4, 2)[:, :3])
    tri_xy = np.concatenate(tris)  # (T, 3, 2)
    rings = _rings(shape)
    ring_xy = np.concatenate(rings)
    points, inverse = np.unique(np.concatenate([tri_xy.reshape(-1, 2), ring_xy]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    V = len(points)
    tri = inverse[: tri_xy.shape[0] * 3].reshape(-1, 3)
    p = points[tri]
    d1, d2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    signed = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    tri = np.where((signed < 0)[:, None], tri[:, [0, 2, 1]], tri)
    ring_idx = inverse[tri_xy.shape[0] * 3:]
    starts = np.cumsum([0] + [len(r) for r in rings[:-1]])
    sizes = np.array([len(r) for r in rings])
    pos = np.arange(len(ring_idx))
    owner = np.repeat(np.arange(len(rings)), sizes)
    nxt = starts[owner] + (pos - starts[owner] + 1) % sizes[owner]
    e0, e1 = ring_idx, ring_idx[nxt]
    walls = np.concatenate([np.stack([e0, e1, e1 + V], axis=1), np.stack([e0, e1 + V, e0 + V], axis=1)])
    faces = np.concatenate([tri[:, [0, 2, 1]], tri + V, walls])
    vertices = np.concatenate([np.c_[points, np.zeros(V)], np.c_[points, np.full(V, thickness_mm)]])
    return vertices, faces


def write_stl(net, path, settings: PrintSettings | None = None) -> dict:
    """Write the part as a binary STL solid (millimetres) of the network's thickness.

    Returns
    -------
    dict
        ``triangles``, ``area_mm2``, ``volume_mm3``, ``bounds_mm`` ([xmin, ymin, zmin, xmax, ymax, zmax]).
    """
    shape = outline(net, settings)
    t = net.thickness * 1e3
    vertices, faces = extrude(shape, t)
    tri = vertices[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    rec = np.zeros(len(faces), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec["n"] = normal
    rec["v"] = tri
    header = f"labmnn {net.name} thickness {t:g} mm".encode("ascii", "replace")[:80].ljust(80, b" ")
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(struct.pack("<I", len(faces)))
        fh.write(rec.tobytes())
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    return {"triangles": len(faces), "area_mm2": float(shape.area), "volume_mm3": float(shape.area * t),
            "bounds_mm": [*lo.tolist(), *hi.tolist()]}


def _label_positions(net, r: float) -> np.ndarray:
    """Where node numbers go (mm): just off each joint disc, away from the network's centre."""
    nodes = net.nodes * 1e3
    away = nodes - nodes.mean(axis=0)
    norm = np.linalg.norm(away, axis=1, keepdims=True)
    away = np.where(norm > 0, away / np.where(norm > 0, norm, 1), [[0.0, 1.0]])
    return nodes + away * (r + 1.0)


def _joint_radius(net, settings: PrintSettings | None) -> float:
    s = settings or PrintSettings()
    return s.joint_radius_mm if s.joint_radius_mm is not None else 0.75 * net.width.max() * 1e3


def write_svg(net, path, settings: PrintSettings | None = None, margin_mm: float = 5.0) -> dict:
    """Write the outline as a true-to-scale SVG (mm) with layers ``outline`` and ``node-numbers``."""
    shape = outline(net, settings)
    x0, y0, x1, y1 = shape.bounds
    w, h = x1 - x0 + 2 * margin_mm, y1 - y0 + 2 * margin_mm

    def tx(xy):
        return np.c_[xy[:, 0] - x0 + margin_mm, y1 - xy[:, 1] + margin_mm]

    subpaths = []
    for ring in _rings(shape):
        q = tx(ring)
        subpaths.append("M " + " L ".join(f"{x:.4f},{y:.4f}" for x, y in q) + " Z")
    r = _joint_radius(net, settings)
    labels = tx(_label_positions(net, r))
    text_h = max(1.5, 0.8 * r)
    texts = "\n".join(
        f'    <text x="{x:.3f}" y="{y:.3f}" font-size="{text_h:.2f}" text-anchor="middle" '
        f'dominant-baseline="middle">{i}</text>' for i, (x, y) in enumerate(labels))
    svg = f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
     width="{w:.4f}mm" height="{h:.4f}mm" viewBox="0 0 {w:.4f} {h:.4f}">
  <title>{escape(net.name)}: thickness {net.thickness * 1e3:g} mm (units: mm)</title>
  <g id="outline" inkscape:groupmode="layer" inkscape:label="outline">
    <path fill="#404040" fill-rule="evenodd" stroke="#000000" stroke-width="0.05" d="{' '.join(subpaths)}"/>
  </g>
  <g id="node-numbers" inkscape:groupmode="layer" inkscape:label="node-numbers" fill="#c03030" font-family="sans-serif">
{texts}
  </g>
</svg>
"""
    Path(path).write_text(svg, encoding="utf-8")
    return {"width_mm": w, "height_mm": h, "rings": len(subpaths)}


def _dxf_pairs(pairs) -> str:
    return "".join(f"{code}\n{value}\n" for code, value in pairs)


def write_dxf(net, path, settings: PrintSettings | None = None) -> dict:
    """Write the outline as DXF R12 (mm): closed POLYLINEs on layer OUTLINE, TEXT on NODE_NUMBERS."""
    shape = outline(net, settings)
    rings = _rings(shape)
    x0, y0, x1, y1 = shape.bounds
    r = _joint_radius(net, settings)
    layers = [("OUTLINE", 7), ("NODE_NUMBERS", 1)]
    out = [(0, "SECTION"), (2, "HEADER"), (9, "$ACADVER"), (1, "AC1009"), (9, "$INSUNITS"), (70, 4),
           (9, "$MEASUREMENT"), (70, 1),
           (9, "$EXTMIN"), (10, f"{x0:.4f}"), (20, f"{y0:.4f}"), (30, "0.0"),
           (9, "$EXTMAX"), (10, f"{x1:.4f}"), (20, f"{y1:.4f}"), (30, "0.0"), (0, "ENDSEC"),
           (0, "SECTION"), (2, "TABLES"),
           (0, "TABLE"), (2, "LTYPE"), (70, 1), (0, "LTYPE"), (2, "CONTINUOUS"), (70, 0),
           (3, "Solid line"), (72, 65), (73, 0), (40, "0.0"), (0, "ENDTAB"),
           (0, "TABLE"), (2, "LAYER"), (70, len(layers))]
    for name, color in layers:
        out += [(0, "LAYER"), (2, name), (70, 0), (62, color), (6, "CONTINUOUS")]
    out += [(0, "ENDTAB"), (0, "ENDSEC"), (0, "SECTION"), (2, "ENTITIES")]
    for ring in rings:
        out += [(0, "POLYLINE"), (8, "OUTLINE"), (66, 1), (10, "0.0"), (20, "0.0"), (30, "0.0"), (70, 1)]
        for x, y in ring:
            out += [(0, "VERTEX"), (8, "OUTLINE"), (10, f"{x:.4f}"), (20, f"{y:.4f}"), (30, "0.0")]
        out += [(0, "SEQEND"), (8, "OUTLINE")]
    text_h = max(1.5, 0.8 * r)
    for i, (x, y) in enumerate(_label_positions(net, r)):
        out += [(0, "TEXT"), (8, "NODE_NUMBERS"), (10, f"{x:.4f}"), (20, f"{y:.4f}"), (30, "0.0"),
                (40, f"{text_h:.3f}"), (1, str(i)), (72, 1), (11, f"{x:.4f}"), (21, f"{y:.4f}"), (31, "0.0")]
    out += [(0, "ENDSEC"), (0, "EOF")]
    Path(path).write_text(_dxf_pairs(out), encoding="ascii")
    return {"rings": len(rings), "texts": net.n_nodes}

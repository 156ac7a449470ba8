import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import shapely

from labmnn import Network
from labmnn.cli import main
from labmnn.fabrication.export import (
    PrintSettings,
    extrude,
    outline,
    write_dxf,
    write_stl,
    write_svg,
)
from labmnn.model.lattice import triangle_patch

SVG = "{http://www.w3.org/2000/svg}"
INK = "{http://www.inkscape.org/namespaces/inkscape}"


@pytest.fixture(scope="module")
def net():
    return Network.example("paper-triangle-n4")


def read_stl(path):
    data = Path(path).read_bytes()
    n = int(np.frombuffer(data[80:84], "<u4")[0])
    assert len(data) == 84 + 50 * n
    rec = np.frombuffer(data[84:], dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    return rec["n"].astype(float), rec["v"].astype(float)


def check_closed(tri):
    """Weld identical vertices; every undirected edge must have exactly two faces, used once each way."""
    pts, idx = np.unique(tri.reshape(-1, 3), axis=0, return_inverse=True)
    f = idx.reshape(-1, 3)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    undirected, counts = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    assert np.all(counts == 2), f"edges with {sorted(set(counts.tolist()))} faces"
    _, dcounts = np.unique(directed, axis=0, return_counts=True)
    assert np.all(dcounts == 1), "inconsistent orientation"
    assert np.all(np.ptp(tri, axis=1).max(axis=1) > 0)
    return len(pts), len(undirected)


def signed_volume(tri):
    return np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0


def test_stl_is_a_closed_solid_of_the_right_size(net, tmp_path):
    info = write_stl(net, tmp_path / "p.stl")
    normals, tri = read_stl(tmp_path / "p.stl")
    V, E = check_closed(tri)
    area = outline(net).area
    t = net.thickness * 1e3
    assert signed_volume(tri) == pytest.approx(area * t, rel=1e-6)  # positive: normals point out
    assert info["volume_mm3"] == pytest.approx(area * t)
    # Euler characteristic of a slab with h through-holes: V - E + F = 2 - 2h
    holes = len(outline(net).interiors)
    assert V - E + len(tri) == 2 - 2 * holes
    lo, hi = tri.reshape(-1, 3).min(axis=0), tri.reshape(-1, 3).max(axis=0)
    r = 1.5  # 0.75 x the 2 mm bars
    assert lo == pytest.approx([-64 - 4, -41.569219 - r, 0], abs=1e-3)  # tab half-width 4 mm
    assert hi == pytest.approx([0 + 4, r + 1.5 + 10, t], abs=1e-3)  # disc, gap, 10 mm tab
    centroid = tri.mean(axis=1)
    assert np.all(np.einsum("ij,ij->i", normals, normals) == pytest.approx(1.0, abs=1e-5))
    top = centroid[:, 2] == pytest.approx(t)
    assert np.all(normals[top, 2] > 0.999)


@pytest.mark.parametrize("settings", [
    PrintSettings(tab_direction="outward", segments=24, tab_hole_mm=0),
    PrintSettings(segments=8, neck_length_mm=0.0),
    PrintSettings(joint_radius_mm=4.0, neck_length_mm=3.0, tab_length_mm=0),  # discs swallow the necks
    PrintSettings(joint_radius_mm=0.6, neck_ratio=1.0, segments=64),
])
def test_stl_closed_for_other_shapes(settings):
    net = triangle_patch(top=4, rows=3)
    net.set_widths(np.linspace(1.5, 2.5, net.n_bonds) * 1e-3)
    s = settings
    vertices, faces = extrude(outline(net, s), 3.0)
    tri = vertices[faces]
    check_closed(tri)
    assert signed_volume(tri) == pytest.approx(outline(net, s).area * 3.0, rel=1e-6)


def cross_width(shape, point, direction):
    """Length of the outline cut by a short line through ``point`` across ``direction``."""
    n = np.array([-direction[1], direction[0]])
    line = shapely.LineString([point - 1.4 * n, point + 1.4 * n])  # wider than the bar, inside its cells
    return shape.intersection(line).length


def test_bars_are_necked_to_half_width_near_joints(net):
    shape = outline(net, PrintSettings(joint_radius_mm=1.5, neck_length_mm=2.0))
    b = int(np.flatnonzero((net.bonds == [12, 13]).all(axis=1))[0])  # bottom bar, away from tabs
    a, c = net.nodes[net.bonds[b]] * 1e3
    d = (c - a) / np.linalg.norm(c - a)
    assert cross_width(shape, 0.5 * (a + c), d) == pytest.approx(2.0, abs=1e-3)  # full width mid-bar
    assert cross_width(shape, a + d * (1.5 + 1.0), d) == pytest.approx(1.0, abs=1e-3)  # neck
    assert cross_width(shape, c - d * (1.5 + 1.0), d) == pytest.approx(1.0, abs=1e-3)
    assert shape.contains(shapely.Point(*(a + [0.0, 1.4])))  # inside the joint disc, off the bar


def test_tabs_at_fixed_nodes(net):
    shape = outline(net)
    nodes = net.nodes * 1e3
    for i in net.fixed_nodes:
        for dx in (-3.5, 3.5):  # plate corners: disc 1.5 + gap 1.5, then a 8 x 10 mm plate
            assert shape.contains(shapely.Point(*(nodes[i] + [dx, 3.0 + 9.5])))
            assert not shape.contains(shapely.Point(*(nodes[i] + [dx, 2.8])))  # the gap above the bars
        assert not shape.contains(shapely.Point(*(nodes[i] + [0.0, 3.0 + 5.0])))  # the screw hole
    no_tabs = outline(net, PrintSettings(tab_length_mm=0))
    hole = np.pi * 1.5 ** 2
    added = shape.area - no_tabs.area  # two plates with holes, plus the stems above the discs
    assert 2 * (80 - hole) < added < 2 * (80 - hole + 3 * 3.5)
    assert no_tabs.bounds[3] == pytest.approx(1.5)
    outward = outline(net, PrintSettings(tab_direction="outward"))
    away = nodes[0] - nodes.mean(axis=0)
    assert outward.contains(shapely.Point(*(nodes[0] + away / np.linalg.norm(away) * 12.5)))


def test_svg_is_true_to_scale_with_layers(net, tmp_path):
    info = write_svg(net, tmp_path / "p.svg", margin_mm=5.0)
    root = ET.parse(tmp_path / "p.svg").getroot()
    x0, y0, x1, y1 = outline(net).bounds
    assert root.get("width") == f"{x1 - x0 + 10:.4f}mm" and root.get("height") == f"{y1 - y0 + 10:.4f}mm"
    assert root.get("viewBox").split()[2:] == [f"{x1 - x0 + 10:.4f}", f"{y1 - y0 + 10:.4f}"]
    layers = {g.get(f"{INK}label"): g for g in root.iter(f"{SVG}g") if g.get(f"{INK}groupmode") == "layer"}
    assert set(layers) == {"outline", "node-numbers"}
    path = layers["outline"].find(f"{SVG}path").get("d")
    assert path.count("M ") == info["rings"] == 1 + len(outline(net).interiors)
    texts = [t.text for t in layers["node-numbers"].iter(f"{SVG}text")]
    assert texts == [str(i) for i in range(net.n_nodes)]
    xs = np.array([float(v.split(",")[0]) for v in path.replace("M ", "").replace(" Z", "").split(" L ")
                   if "," in v])
    assert xs.min() == pytest.approx(5.0, abs=1e-3) and xs.max() == pytest.approx(x1 - x0 + 5, abs=1e-3)


def read_dxf_entities(path):
    lines = Path(path).read_text(encoding="ascii").splitlines()
    pairs = list(zip(lines[0::2], lines[1::2]))
    assert pairs[-1] == ("0", "EOF")
    return [(int(c), v) for c, v in pairs]


def test_dxf_has_layers_closed_polylines_and_numbers(net, tmp_path):
    info = write_dxf(net, tmp_path / "p.dxf")
    pairs = read_dxf_entities(tmp_path / "p.dxf")
    assert (1, "AC1009") in pairs
    layer_names = [pairs[i + 1][1] for i, p in enumerate(pairs) if p == (0, "LAYER")]
    assert layer_names == ["OUTLINE", "NODE_NUMBERS"]
    ents = pairs[pairs.index((2, "ENTITIES")):]
    starts = [i for i, p in enumerate(ents) if p[0] == 0]
    records = [ents[a:b] for a, b in zip(starts, starts[1:] + [len(ents)])]
    polylines = [r for r in records if r[0] == (0, "POLYLINE")]
    texts = [r for r in records if r[0] == (0, "TEXT")]
    assert len(polylines) == info["rings"] == 1 + len(outline(net).interiors)
    assert all((8, "OUTLINE") in r and (70, "1") in r for r in polylines)
    assert sorted(int(dict(r)[1]) for r in texts) == list(range(net.n_nodes))
    assert all(dict(r)[8] == "NODE_NUMBERS" for r in texts)
    xs = [float(v) for r in records if r[0] == (0, "VERTEX") for c, v in r if c == 10]
    x0, _, x1, _ = outline(net).bounds
    assert min(xs) == pytest.approx(x0) and max(xs) == pytest.approx(x1)


def test_dxf_reads_in_ezdxf(net, tmp_path):
    ezdxf = pytest.importorskip("ezdxf")
    write_dxf(net, tmp_path / "p.dxf")
    doc = ezdxf.readfile(tmp_path / "p.dxf")
    assert {"OUTLINE", "NODE_NUMBERS"} <= {layer.dxf.name for layer in doc.layers}
    assert len(doc.modelspace().query("TEXT")) == net.n_nodes


def test_export_command(tmp_path, capsys):
    args = ["export", "paper-triangle-n4", "--svg", str(tmp_path / "a.svg"), "--dxf", str(tmp_path / "a.dxf"),
            "--stl", str(tmp_path / "a.stl"), "--joint-radius", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "closed solid" in out and all((tmp_path / f"a.{e}").stat().st_size > 0 for e in ("svg", "dxf", "stl"))
    assert main(["export", "paper-triangle-n4"]) == 2
    assert "nothing to write" in capsys.readouterr().err
    assert main(["export", "paper-triangle-n4", "--stl", str(tmp_path / "a.stl"), "--tab-width", "-3"]) == 2
    assert "--tab-width" in capsys.readouterr().err


def test_stl_closed_for_random_designs():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=8, deadline=None, derandomize=True)
    @given(top=st.integers(2, 5), rows=st.integers(1, 4), seed=st.integers(0, 1000),
           radius=st.floats(0.5, 3.0), neck=st.floats(0.0, 4.0))
    def check(top, rows, seed, radius, neck):
        net = triangle_patch(top=top, rows=min(rows, top))
        widths = np.random.default_rng(seed).uniform(1.5, 2.5, net.n_bonds) * 1e-3
        net.set_widths(widths)
        s = PrintSettings(joint_radius_mm=radius, neck_length_mm=neck, segments=16)
        shape = outline(net, s)
        assert shape.is_valid
        vertices, faces = extrude(shape, 1.7)
        tri = vertices[faces]
        check_closed(tri)
        assert signed_volume(tri) == pytest.approx(shape.area * 1.7, rel=1e-6)

    check()

"""Mesh writers and readers: STL / PLY (ASCII, binary) / OBJ round trips, trimesh
when installed, degenerate meshes, hostile files, atomic writes."""
import os
import struct

import numpy as np
import pytest

from splatcore import mesh as M


def sphere_mesh(n=24, colors=True):
    x = np.arange(n, dtype=np.float64)
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    c = (n - 1) / 2
    vol = (n / 3 - np.sqrt((X - c) ** 2 + (Y - c) ** 2 + (Z - c) ** 2)).astype(np.float32)
    col = np.stack([X / n, Y / n, Z / n], axis=-1).astype(np.float32) if colors else None
    return M.marching_cubes(vol, 0.0, spacing=0.1, origin=(-1, 0, 2), colors=col)


def tri_set(v, f):
    """Triangles as a set of rounded, rotation-normalised coordinate tuples."""
    out = set()
    for t in np.asarray(v, np.float64)[f]:
        k = [tuple(np.round(p, 5)) for p in t]
        i = k.index(min(k))
        out.add(tuple(k[i:] + k[:i]))
    return out


@pytest.mark.parametrize("ext, kw", [(".stl", {}), (".ply", {}), (".ply", {"binary": False}),
                                     (".obj", {}), (".obj", {"colors": False})])
def test_round_trip(tmp_path, ext, kw):
    m = sphere_mesh()
    p = tmp_path / f"mesh{ext}"
    M.write_mesh(p, m, **kw)
    r = M.read_mesh(p)
    assert r.num_faces == m.num_faces and r.num_vertices == m.num_vertices
    if ext == ".stl":  # welded by coordinates: same triangles, same winding
        assert tri_set(r.vertices, r.faces) == tri_set(m.vertices, m.faces)
        assert M.is_watertight(r)
        return
    np.testing.assert_array_equal(r.faces, m.faces)
    tol = 0 if kw.get("binary", True) and ext == ".ply" else 1e-6
    np.testing.assert_allclose(r.vertices, m.vertices, atol=tol, rtol=0)
    np.testing.assert_allclose(r.normals, m.normals, atol=1e-6)
    if kw.get("colors", True):
        step = 1 / 255 if ext == ".ply" else 1e-5
        np.testing.assert_allclose(r.colors, np.clip(m.colors, 0, 1), atol=0.5 * step + 1e-7)
    else:
        assert r.colors is None
    assert M.is_watertight(r)


def test_stl_layout_and_normals(tmp_path):
    m = sphere_mesh(colors=False)
    p = tmp_path / "m.stl"
    M.write_stl(p, m)
    data = p.read_bytes()
    assert len(data) == 84 + 50 * m.num_faces
    assert not data[:5].lower().startswith(b"solid")
    assert struct.unpack("<I", data[80:84])[0] == m.num_faces
    rec = np.frombuffer(data[84:], dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    np.testing.assert_array_equal(rec["v"], m.vertices[m.faces])
    np.testing.assert_allclose(rec["n"], M.face_normals(m.vertices, m.faces), atol=1e-6)
    unwelded = M.read_stl(p, weld=False)
    assert unwelded.num_vertices == 3 * m.num_faces


def test_ascii_stl_reader(tmp_path):
    p = tmp_path / "a.stl"
    p.write_text("solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n"
                 "vertex 0 1 0\nendloop\nendfacet\nfacet normal 0 0 1\nouter loop\n"
                 "vertex 1 0 0\nvertex 1 1 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n")
    r = M.read_stl(p)
    assert r.num_faces == 2 and r.num_vertices == 4
    np.testing.assert_array_equal(r.faces, [[0, 1, 2], [1, 3, 2]])


def test_ply_header_and_obj_text(tmp_path):
    m = sphere_mesh()
    M.write_ply(tmp_path / "m.ply", m)
    head = (tmp_path / "m.ply").read_bytes()[:400].decode("ascii", "replace")
    for line in ("format binary_little_endian 1.0", f"element vertex {m.num_vertices}",
                 "property float nx", "property uchar red", f"element face {m.num_faces}",
                 "property list uchar int vertex_indices"):
        assert line in head
    M.write_obj(tmp_path / "m.obj", m)
    lines = (tmp_path / "m.obj").read_text().splitlines()
    v0 = [ln for ln in lines if ln.startswith("v ")][0].split()
    assert len(v0) == 7                                     # v x y z r g b
    f0 = [ln for ln in lines if ln.startswith("f ")][0]
    a, b, c = m.faces[0] + 1
    assert f0 == f"f {a}//{a} {b}//{b} {c}//{c}"


def test_obj_reader_forms(tmp_path):
    p = tmp_path / "q.obj"
    p.write_text("# quad and triangle\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\n"
                 "f 1/1 2/1 3/1 4/1\nf -4 -2 -1\n")
    r = M.read_obj(p)
    np.testing.assert_array_equal(r.faces, [[0, 1, 2], [0, 2, 3], [0, 2, 3]])
    assert r.normals is None and r.colors is None


@pytest.mark.parametrize("ext", [".stl", ".ply", ".obj"])
def test_trimesh_opens_our_files(tmp_path, ext):
    trimesh = pytest.importorskip("trimesh")
    m = sphere_mesh()
    p = tmp_path / f"m{ext}"
    M.write_mesh(p, m)
    t = trimesh.load(str(p), force="mesh", process=True)
    assert len(t.faces) == m.num_faces
    assert t.is_watertight and t.is_winding_consistent
    assert t.volume > 0  # outward winding
    assert t.area == pytest.approx(M.surface_area(m.vertices, m.faces), rel=1e-5)


@pytest.mark.parametrize("ext", [".stl", ".ply", ".obj"])
def test_degenerate_meshes(tmp_path, ext):
    empty = M.marching_cubes(np.zeros((4, 4, 4)), 0.5)          # empty volume
    p = tmp_path / f"e{ext}"
    M.write_mesh(p, empty)
    r = M.read_mesh(p)
    assert r.num_faces == 0 and r.num_vertices == 0
    assert M.marching_cubes(np.ones((4, 4, 4)), 0.5).num_faces == 0  # all inside, no pad
    box = M.marching_cubes(np.ones((4, 4, 4)), 0.5, pad=True)
    M.write_mesh(p, box)
    rb = M.read_mesh(p)
    assert rb.num_faces == box.num_faces and M.is_watertight(rb)
    bad = M.Mesh(np.array([[0, 0, 0], [1, np.nan, 0], [0, 1, 0]], np.float32),
                 np.array([[0, 1, 2]], np.int32))
    with pytest.raises(ValueError, match="NaN"):
        M.write_mesh(tmp_path / f"nan{ext}", bad)
    assert not (tmp_path / f"nan{ext}").exists()
    with pytest.raises(ValueError, match="faces"):
        M.write_mesh(tmp_path / f"idx{ext}", M.Mesh(box.vertices, box.faces + 1000))


def test_write_is_atomic(tmp_path):
    m = sphere_mesh()
    p = tmp_path / "keep.ply"
    M.write_mesh(p, m)
    before = p.read_bytes()

    broken = M.Mesh(m.vertices, m.faces, m.normals, np.zeros((3, 3)))  # wrong colour rows
    with pytest.raises(ValueError, match="colors"):
        M.write_mesh(p, broken)
    assert p.read_bytes() == before
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
    with pytest.raises(FileNotFoundError):
        M.write_mesh(tmp_path / "no" / "dir.stl", m)
    with pytest.raises(ValueError, match="format"):
        M.write_mesh(tmp_path / "m.xyz", m)


def test_hostile_files(tmp_path):
    m = sphere_mesh()
    stl = tmp_path / "t.stl"
    M.write_stl(stl, m)
    data = stl.read_bytes()
    stl.write_bytes(data[:-7])
    with pytest.raises(ValueError, match="STL"):
        M.read_stl(stl)
    stl.write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="STL"):
        M.read_stl(stl)
    ply = tmp_path / "t.ply"
    M.write_ply(ply, m)
    data = ply.read_bytes()
    ply.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        M.read_ply(ply)
    ply.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                   "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                   "end_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    with pytest.raises(ValueError, match="outside"):
        M.read_ply(ply)
    obj = tmp_path / "t.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nf 1 2 3\n")
    with pytest.raises(ValueError, match="outside"):
        M.read_obj(obj)
    obj.write_text("v 0 0\n")
    with pytest.raises(ValueError, match="line 1"):
        M.read_obj(obj)
    with pytest.raises(FileNotFoundError):
        M.read_mesh(tmp_path / "missing.obj")

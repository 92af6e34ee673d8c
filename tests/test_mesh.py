"""Marching cubes (splatcore.mesh.marching_cubes) against scikit-image and analytic
surfaces: same surface (Hausdorff within a voxel, area within 1%), watertight and
manifold where closed, Euler characteristic, orientation, normals, options, errors."""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore import mesh as M

skm = pytest.importorskip("skimage.measure")
ndimage = pytest.importorskip("scipy.ndimage")
spatial = pytest.importorskip("scipy.spatial")

N = 64


def grid(n=N):
    x = np.arange(n, dtype=np.float64)
    return np.meshgrid(x, x, x, indexing="ij")


def sphere_field(n=N, c=(31.3, 32.1, 30.7), r=20.0):
    X, Y, Z = grid(n)
    return (r - np.sqrt((X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2)).astype(np.float32)


def torus_field(n=N, c=(32.2, 31.6, 31.9), R=18.0, r=7.0):
    X, Y, Z = grid(n)
    rho = np.sqrt((X - c[0]) ** 2 + (Y - c[1]) ** 2)
    return (r - np.sqrt((rho - R) ** 2 + (Z - c[2]) ** 2)).astype(np.float32)


def touching_spheres_field(n=N, r=14.0):
    X, Y, Z = grid(n)
    c1 = np.array([31.7 - r, 32.3, 31.4])
    c2 = np.array([31.7 + r, 32.3, 31.4])  # centres 2r apart: the spheres touch at one point
    d1 = r - np.sqrt((X - c1[0]) ** 2 + (Y - c1[1]) ** 2 + (Z - c1[2]) ** 2)
    d2 = r - np.sqrt((X - c2[0]) ** 2 + (Y - c2[1]) ** 2 + (Z - c2[2]) ** 2)
    return np.maximum(d1, d2).astype(np.float32)


def noise_field(n=48, sigma=2.0, seed=0):
    v = np.random.default_rng(seed).standard_normal((n, n, n))
    if sigma:
        v = ndimage.gaussian_filter(v, sigma)
    return (v / v.std()).astype(np.float32)


FIELDS = {
    "sphere": (sphere_field, 2),
    "torus": (torus_field, 0),
    "touching_spheres": (touching_spheres_field, None),
    "noise": (noise_field, None),
}


def surface_points(mesh_v, mesh_f, n, seed):
    pts = M.sample_surface(M.Mesh(np.asarray(mesh_v, np.float32), np.asarray(mesh_f, np.int32)),
                           n, seed)
    return np.concatenate([pts, np.asarray(mesh_v, np.float64)])


def hausdorff(va, fa, vb, fb, n=20000):
    pa, pb = surface_points(va, fa, n, 1), surface_points(vb, fb, n, 2)
    da, _ = spatial.cKDTree(pb).query(pa)
    db, _ = spatial.cKDTree(pa).query(pb)
    return max(da.max(), db.max())


def signed_volume(v, f):
    v = np.asarray(v, np.float64)
    return float(np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6.0)


def vertex_manifold(mesh):
    """Every vertex's link (the opposite edges of its faces) is one cycle: counted
    by joining the corners of each vertex around it (half-edges b->c, c->d, ...)."""
    f = mesh.faces.astype(np.int64)
    F = len(f)
    v = f.reshape(-1)                     # corner i: vertex v[i], link edge b[i] -> c[i]
    b = np.roll(f, -1, axis=1).reshape(-1)
    c = np.roll(f, -2, axis=1).reshape(-1)
    nv = int(f.max()) + 1
    key_bc = v * nv + b
    order = np.argsort(key_bc)
    if np.any(np.diff(key_bc[order]) == 0):
        return False                       # a vertex with two link edges from one point
    pos = np.searchsorted(key_bc[order], v * nv + c)
    ok = pos < len(order)
    nxt = order[np.minimum(pos, len(order) - 1)]
    if not ok.all() or not np.all(key_bc[nxt] == v * nv + c):
        return False                       # open link (boundary vertex)
    pairs = np.stack([np.arange(3 * F), nxt, nxt], axis=1).astype(np.int32)
    _, cycles = _core._mesh_components(pairs, 3 * F)
    return cycles == len(np.unique(v))


@pytest.mark.parametrize("name", list(FIELDS))
def test_same_surface_as_skimage(name):
    fn, chi = FIELDS[name]
    vol = fn()
    ours = M.marching_cubes(vol, 0.0)
    vs, fs, _, _ = skm.marching_cubes(vol, 0.0)
    a_ours, a_sk = M.surface_area(ours.vertices, ours.faces), skm.mesh_surface_area(vs, fs)
    assert abs(a_ours - a_sk) / a_sk < 0.01, (a_ours, a_sk)
    assert hausdorff(ours.vertices, ours.faces, vs, fs) < 1.0
    # same edge crossings: every skimage vertex on a grid edge is one of ours
    d, _ = spatial.cKDTree(ours.vertices).query(vs)
    assert np.mean(d < 1e-4) > 0.99
    assert ours.vertices.dtype == np.float32 and ours.faces.dtype == np.int32
    if name != "noise":  # closed surfaces inside the grid
        assert M.is_watertight(ours)
        assert vertex_manifold(ours)
        labels, count = M.connected_components(ours)
        got = M.euler_characteristic(ours)
        if chi is not None:
            assert got == chi
        else:
            assert got == 2 * count  # each component a sphere (touching spheres: 1 or 2)
        vol_sk = -signed_volume(vs, fs)  # skimage winds inward for "inside above"
        assert signed_volume(ours.vertices, ours.faces) == pytest.approx(vol_sk, rel=2e-3)


def test_sphere_against_analytic():
    c, r = np.array([31.3, 32.1, 30.7]), 20.0
    m = M.marching_cubes(sphere_field(c=c, r=r), 0.0)
    d = np.linalg.norm(m.vertices - c, axis=1)
    assert np.abs(d - r).max() < 0.05                     # vertices on the sphere
    radial = (m.vertices - c) / d[:, None]
    assert np.einsum("ij,ij->i", m.normals, radial).min() > 0.99   # outward unit normals
    np.testing.assert_allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-5)
    fn = M.face_normals(m.vertices, m.faces)
    cen = m.vertices[m.faces].mean(axis=1) - c
    assert np.all(np.einsum("ij,ij->i", fn, cen) > 0)       # winding: outward
    assert M.surface_area(m.vertices, m.faces) == pytest.approx(4 * np.pi * r * r, rel=0.01)
    assert signed_volume(m.vertices, m.faces) == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.01)


def test_inside_below_matches_signed_distance():
    vol = sphere_field()
    a = M.marching_cubes(vol, 0.0)
    b = M.marching_cubes(-vol, 0.0, inside="below")
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-5)
    np.testing.assert_allclose(a.normals, b.normals, atol=1e-5)


def test_spacing_origin_and_levels():
    vol = torus_field()
    sp, org = (0.5, 1.25, 2.0), (-3.0, 1.0, 7.5)
    m = M.marching_cubes(vol, 1.5, spacing=sp, origin=org)
    vs, fs, _, _ = skm.marching_cubes(vol, 1.5, spacing=sp)
    assert M.surface_area(m.vertices, m.faces) == pytest.approx(skm.mesh_surface_area(vs, fs),
                                                                rel=0.01)
    d, _ = spatial.cKDTree(m.vertices - np.array(org)).query(vs)
    assert np.mean(d < 1e-3) > 0.99
    # normals are gradients in world units: they follow the anisotropic spacing
    ref = M.marching_cubes(vol, 1.5)
    g = ref.normals / np.array(sp)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    assert np.einsum("ij,ij->i", g, m.normals).min() > 0.999
    # default level: middle of the range, as in scikit-image
    mid = M.marching_cubes(vol)
    ref_mid = M.marching_cubes(vol, 0.5 * (float(vol.min()) + float(vol.max())))
    np.testing.assert_array_equal(mid.faces, ref_mid.faces)


def test_threads_give_identical_meshes():
    vol = noise_field(32, sigma=1.0, seed=3)
    prev = sc.num_threads()
    try:
        sc.set_num_threads(1)
        a = M.marching_cubes(vol, 0.1, pad=True)
        sc.set_num_threads(4)
        b = M.marching_cubes(vol, 0.1, pad=True)
    finally:
        sc.set_num_threads(prev)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.vertices, b.vertices)


@pytest.mark.parametrize("sigma, seed", [(0.0, 1), (0.0, 2), (1.0, 3), (2.0, 4)])
def test_noise_watertight_with_padding(sigma, seed):
    """White noise has ambiguous faces everywhere: both cells of a face must decide
    alike, and no diagonal may lie in a face, or edges get 1 or 4 faces."""
    vol = noise_field(20 if sigma == 0 else 32, sigma, seed)
    m = M.marching_cubes(vol, 0.0, pad=True)
    assert m.num_faces > 1000
    counts = M.edge_face_counts(m.faces)
    assert np.all(counts == 2), np.bincount(counts)
    assert M.is_watertight(m)
    assert vertex_manifold(m)
    # every component closed and oriented: positive enclosed volume overall
    assert signed_volume(m.vertices, m.faces) > 0
    assert np.isfinite(m.normals).all()
    np.testing.assert_allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-4)


def test_pad_closes_surface_at_the_boundary():
    vol = sphere_field(32, c=(16.0, 16.0, -4.0), r=14.0)  # a cap cut by the k = 0 face
    open_mesh = M.marching_cubes(vol, 0.0)
    assert not M.is_watertight(open_mesh)
    closed = M.marching_cubes(vol, 0.0, pad=True)
    assert M.is_watertight(closed) and vertex_manifold(closed)
    assert M.euler_characteristic(closed) == 2
    assert closed.vertices[:, 2].min() == pytest.approx(-0.5)  # cap half a voxel outside
    assert signed_volume(closed.vertices, closed.faces) > 0
    cap = closed.vertices[:, 2] < -0.49
    np.testing.assert_allclose(closed.normals[cap], [[0, 0, -1]] * int(cap.sum()))


def test_degenerate_volumes():
    empty = M.marching_cubes(np.zeros((8, 9, 10), np.float32), 0.5)
    assert empty.vertices.shape == (0, 3) and empty.faces.shape == (0, 3)
    assert M.marching_cubes(np.ones((8, 9, 10)), 0.5).num_faces == 0      # all inside
    box = M.marching_cubes(np.ones((8, 9, 10)), 0.5, pad=True)            # closed box
    assert M.is_watertight(box) and M.euler_characteristic(box) == 2
    np.testing.assert_allclose(box.vertices.min(0), [-0.5, -0.5, -0.5])
    np.testing.assert_allclose(box.vertices.max(0), [7.5, 8.5, 9.5])
    # the faces of the box (its edges and corners are bevelled by the cells there)
    assert 0.9 * 484 < M.surface_area(box.vertices, box.faces) < 484
    assert M.marching_cubes(sphere_field(16, c=(8, 8, 8), r=5), 100.0).num_faces == 0
    one = M.marching_cubes(np.ones((1, 1, 1)), 0.5, pad=True)
    assert M.is_watertight(one)
    assert M.marching_cubes(np.arange(8.0).reshape(2, 2, 2), 3.5).num_faces > 0


def test_errors_name_the_argument():
    vol = sphere_field(16, c=(8, 8, 8), r=5)
    bad = vol.copy()
    bad[3, 4, 5] = np.nan
    with pytest.raises(ValueError, match="volume.*NaN"):
        M.marching_cubes(bad, 0.0)
    with pytest.raises(ValueError, match="volume.*NaN"):
        M.marching_cubes(bad)
    bad[3, 4, 5] = np.inf
    with pytest.raises(ValueError, match="volume"):
        M.marching_cubes(bad, 0.0)
    mask = np.ones(vol.shape, bool)
    mask[3, 4, 5] = False
    assert M.marching_cubes(bad, 0.0, mask=mask).num_faces > 0   # masked-out NaN is fine
    with pytest.raises(ValueError, match="3-D"):
        M.marching_cubes(vol[0], 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        M.marching_cubes(np.zeros((1, 4, 4)), 0.0)
    with pytest.raises(ValueError, match="spacing"):
        M.marching_cubes(vol, 0.0, spacing=(1, 0, 1))
    with pytest.raises(ValueError, match="spacing"):
        M.marching_cubes(vol, 0.0, spacing=(1, 1))
    with pytest.raises(ValueError, match="level"):
        M.marching_cubes(vol, float("nan"))
    with pytest.raises(ValueError, match="inside"):
        M.marching_cubes(vol, 0.0, inside="outside")
    with pytest.raises(ValueError, match="mask"):
        M.marching_cubes(vol, 0.0, mask=np.ones((3, 3, 3), bool))
    with pytest.raises(ValueError, match="colors"):
        M.marching_cubes(vol, 0.0, colors=np.ones((3, 3, 3)))
    with pytest.raises(TypeError, match="volume"):
        M.marching_cubes(np.array([["a"]]), 0.0)


def test_mask_and_colors():
    vol = sphere_field()
    X, Y, Z = grid()
    full = M.marching_cubes(vol, 0.0)
    mask = X < 32.0
    half = M.marching_cubes(vol, 0.0, mask=mask)
    assert 0.3 * full.num_faces < half.num_faces < 0.6 * full.num_faces
    assert half.vertices[:, 0].max() <= 31.0 + 1e-6         # only cells with all corners set
    used = np.zeros(half.num_vertices, bool)
    used[half.faces.reshape(-1)] = True
    assert used.all()                                       # no dangling vertices
    d, _ = spatial.cKDTree(full.vertices).query(half.vertices)
    assert d.max() < 1e-5                                   # same crossings as the full mesh
    counts = M.edge_face_counts(half.faces)
    assert set(np.unique(counts)) == {1, 2}                 # an open surface (boundary edges)
    # a linear colour field is reproduced exactly by the per-edge interpolation
    col = np.stack([X, 2 * Y + 1, Z - X], axis=-1).astype(np.float32)
    m = M.marching_cubes(vol, 0.0, colors=col, spacing=0.5, origin=(1, 2, 3))
    idx = (m.vertices - np.array([1, 2, 3])) / 0.5
    ref = np.stack([idx[:, 0], 2 * idx[:, 1] + 1, idx[:, 2] - idx[:, 0]], axis=1)
    np.testing.assert_allclose(m.colors, ref, atol=2e-4)
    one = M.marching_cubes(vol, 0.0, colors=X.astype(np.float32))
    assert one.colors.shape == (one.num_vertices, 1)


def test_largest_component():
    X, Y, Z = grid(48)
    big = 12 - np.sqrt((X - 16) ** 2 + (Y - 24) ** 2 + (Z - 24) ** 2)
    small = 5 - np.sqrt((X - 38) ** 2 + (Y - 24) ** 2 + (Z - 24) ** 2)
    m = M.marching_cubes(np.maximum(big, small).astype(np.float32), 0.0)
    labels, count = M.connected_components(m)
    assert count == 2
    lc = M.largest_component(m)
    assert M.is_watertight(lc) and M.euler_characteristic(lc) == 2
    assert np.linalg.norm(lc.vertices - [16, 24, 24], axis=1).max() < 12.5
    assert lc.num_faces + M.largest_component(m, by="area").num_faces == 2 * lc.num_faces
    assert lc.normals.shape == lc.vertices.shape
    e = M.largest_component(M.Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)))
    assert e.num_faces == 0


def test_mesh_unpacks_like_skimage():
    v, f, n = M.marching_cubes(sphere_field(16, c=(8, 8, 8), r=5), 0.0)
    assert v.shape[1] == 3 and f.shape[1] == 3 and n.shape == v.shape


def test_tables_are_generated_from_cube_topology():
    """cpp/kernels/marching_cubes_tables.h is what cpp/mesh/gen_mc_tables.py derives
    (the script also re-checks per-cell manifoldness, orientation and the decider's
    complement symmetry on all 656 configurations)."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, os.path.join(root, "cpp", "mesh", "gen_mc_tables.py"),
                        "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

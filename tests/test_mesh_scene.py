"""Meshes from a Gaussian scene: TSDF fusion of expected-depth renders and the opacity
field, on the demo scene (splatcore.datasets.synthetic) with Gaussians placed on its
analytic surfaces (a cheap stand-in for a trained scene), judged by the Chamfer
distance to the exact geometry; camera loading; `splatcore export`."""
import json
import os

import numpy as np
import pytest

from splatcore import mesh as M
from splatcore.cli import main as cli_main
from splatcore.datasets.synthetic import make_cameras, make_scene
from splatcore.io.ply import SplatData, write_splat_ply

spatial = pytest.importorskip("scipy.spatial")

SH_C0 = 0.28209479177387814
CROP = (np.array([-1.2, -1.2, -0.05]), np.array([1.2, 1.2, 1.0]))  # objects + nearby ground


def surface_gaussians(scene, n, seed=0, thickness=0.002, opacity=0.95):
    """Flat Gaussians tangent to the true surfaces, coloured by the albedo."""
    p, nrm = scene.sample_surface(n, seed=seed, return_normals=True)
    s = np.sqrt(sum(o.area() for o in scene.objects) / n) * 0.9
    q = np.stack([1 + nrm[:, 2], -nrm[:, 1], nrm[:, 0], np.zeros(n)], 1)  # rotates +z onto n
    q[np.linalg.norm(q, axis=1) < 1e-6] = [0, 1, 0, 0]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    k = np.abs(scene.sdf_objects(p)).argmin(1)
    _, albedo = scene.normals_albedo(p, k)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return SplatData(f32(p), f32(np.log(np.tile([s, s, thickness], (n, 1)))), f32(q),
                     f32(np.full(n, np.log(opacity / (1 - opacity)))),
                     f32((albedo - 0.5) / SH_C0), np.zeros((n, 0, 3), np.float32))


def chamfer(mesh, scene, n=30000, seed=0):
    """(accuracy, completeness, chamfer) inside CROP: mean |sdf| of points sampled on
    the mesh (exact distance to the true surface), mean distance of points sampled on
    the true surface to the mesh (dense mesh samples), and their mean."""
    lo, hi = CROP
    pm = M.sample_surface(mesh, n, seed)
    acc = np.abs(scene.sdf(pm[np.all((pm >= lo) & (pm <= hi), axis=1)])).mean()
    pt = scene.sample_surface(n, seed=seed + 1)
    pt = pt[np.all((pt >= lo) & (pt <= hi), axis=1)]
    comp = spatial.cKDTree(M.sample_surface(mesh, 4 * n, seed + 2)).query(pt)[0].mean()
    return float(acc), float(comp), float(0.5 * (acc + comp))


@pytest.fixture(scope="module")
def demo():
    scene = make_scene(0)
    data = surface_gaussians(scene, 10000)
    cams = make_cameras(n_views=8, width=80, height=60, seed=0, target=scene.center)
    bounds = (CROP[0] - 0.1, CROP[1] + 0.1)
    return scene, data, cams, bounds


@pytest.fixture(scope="module")
def tsdf_mesh(demo):
    scene, data, cams, bounds = demo
    mesh, info = M.mesh_scene(data, "tsdf", cams, resolution=48, bounds=bounds, progress=False,
                              tsdf_options=dict(render_scale=1.5))
    return mesh, info


def test_tsdf_mesh_matches_the_true_surface(demo, tsdf_mesh):
    scene = demo[0]
    mesh, info = tsdf_mesh
    vox = info["voxel_size"]
    acc, comp, ch = chamfer(mesh, scene)
    print(f"\nTSDF (8 views, grid {info['grid']}, voxel {vox:.4f}): accuracy {acc:.4f}, "
          f"completeness {comp:.4f}, Chamfer {ch:.4f}")
    assert ch < 1.0 * vox and acc < 1.0 * vox and comp < 1.5 * vox
    assert mesh.colors is not None and mesh.colors.shape == (mesh.num_vertices, 3)
    assert np.all((mesh.colors >= 0) & (mesh.colors <= 1))
    # colours come from the renders: near the sphere they are the sphere's albedo
    sphere = scene["sphere"]
    near = np.abs(sphere.sdf(mesh.vertices.astype(np.float64))) < 0.5 * vox
    _, alb = scene.normals_albedo(mesh.vertices[near].astype(np.float64),
                                  np.full(int(near.sum()), scene.objects.index(sphere)))
    assert np.median(np.abs(mesh.colors[near] - alb)) < 0.15
    # normals point out of the objects (tsdf positive outside)
    p = mesh.vertices.astype(np.float64)
    eps = 0.5 * vox
    out = scene.sdf(p + eps * mesh.normals) - scene.sdf(p - eps * mesh.normals)
    assert np.mean(out > 0) > 0.95
    assert info["views"] == 8 and info["integrate_s"] > 0


def test_opacity_field_mesh(demo):
    scene, data, cams, bounds = demo
    mesh, info = M.mesh_scene(data, "opacity", None, resolution=48, bounds=bounds)
    acc, comp, ch = chamfer(mesh, scene)
    print(f"\nopacity field (grid {info['grid']}, voxel {info['voxel_size']:.4f}): accuracy "
          f"{acc:.4f}, completeness {comp:.4f}, Chamfer {ch:.4f}")
    assert ch < 1.5 * info["voxel_size"]
    assert M.is_watertight(mesh)  # padded field: closed


def test_opacity_field_against_numpy():
    rng = np.random.default_rng(5)
    n = 40
    means = rng.uniform(0.2, 0.8, (n, 3))
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    scales = rng.uniform(0.03, 0.12, (n, 3))
    op = rng.uniform(0.1, 1.0, n)
    cols = rng.uniform(0, 1, (n, 3))
    arr = M.SceneArrays(*(np.asarray(a, np.float32) for a in (means, q, scales, op, cols)),
                        sh=np.zeros((n, 1, 3), np.float32), sh_degree=0)
    vol = M.opacity_field(arr, bounds=([0, 0, 0], [1, 1, 1]), resolution=21, min_scale=0.0,
                          max_sigma=20.0, solid=False)
    x = np.linspace(0, 1, 21)
    P = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    ref = np.zeros(len(P))
    cref = np.zeros((len(P), 3))
    for i in range(n):
        w, x_, y, z = q[i]
        R = np.array([[1 - 2 * (y * y + z * z), 2 * (x_ * y - w * z), 2 * (x_ * z + w * y)],
                      [2 * (x_ * y + w * z), 1 - 2 * (x_ * x_ + z * z), 2 * (y * z - w * x_)],
                      [2 * (x_ * z - w * y), 2 * (y * z + w * x_), 1 - 2 * (x_ * x_ + y * y)]])
        icov = R @ np.diag(1 / scales[i] ** 2) @ R.T
        d = P - means[i]
        m2 = np.einsum("ij,jk,ik->i", d, icov, d)
        g = op[i] * np.exp(-0.5 * m2) * (m2 < 2 * np.log(255 * op[i]))
        ref += g
        cref += g[:, None] * cols[i]
    got = vol.values.reshape(-1)
    assert np.abs(got - ref).max() < 1e-4 * max(1.0, ref.max())
    np.testing.assert_allclose(vol.colors.reshape(-1, 3)[ref > 1e-3],
                               (cref / np.maximum(ref, 1e-30)[:, None])[ref > 1e-3], atol=1e-4)


def test_fill_enclosed_makes_a_shell_solid():
    x = np.arange(32.0)
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    r = np.sqrt((X - 15.5) ** 2 + (Y - 15.5) ** 2 + (Z - 15.5) ** 2)
    shell = np.exp(-0.5 * ((r - 10) / 1.0) ** 2).astype(np.float32)  # a hollow sphere
    two = M.marching_cubes(shell, 0.5)
    assert M.connected_components(two)[1] == 2                      # outer + inner surface
    from splatcore import _core
    filled = shell.copy()
    assert _core._fill_enclosed(filled, 0.5, 1.0, 1.5) > 0
    one = M.marching_cubes(filled, 0.5)
    assert M.connected_components(one)[1] == 1 and M.is_watertight(one)


def test_scene_bounds_and_grid(demo):
    scene, data, cams, _ = demo
    lo, hi = M.scene_bounds(data, cams)
    assert np.all(lo < [-0.9, -0.9, 0.0]) and np.all(hi > [0.9, 0.9, 0.6])
    assert np.all(lo > [-2.0, -2.0, -0.5]) and np.all(hi < [2.0, 2.0, 1.5])
    origin, vs, dims = M.make_grid((lo, hi), resolution=64)
    assert max(dims) == 64 and np.allclose(origin, lo)
    with pytest.raises(ValueError, match="voxel"):
        M.make_grid((lo, hi), voxel_size=1e-5)
    with pytest.raises(ValueError, match="bounds"):
        M.make_grid((hi, lo))


def test_cameras_from_json_and_colmap(tmp_path, demo):
    from splatcore.io.colmap import (Camera, Image, Points, rotmat_to_qvec, write_cameras,
                                     write_images, write_points3D)
    from splatcore.trainer import cameras_json

    cams = demo[2][:3]
    (tmp_path / "cameras.json").write_text(json.dumps({"train": cameras_json(cams[:2]),
                                                       "test": cameras_json(cams[2:])}))
    got = M.load_cameras(tmp_path)
    assert len(got) == 3 and len(M.load_cameras(tmp_path / "cameras.json", split="train")) == 2
    np.testing.assert_allclose(got[2]["viewmat"], cams[2]["viewmat"], atol=1e-6)
    sparse = tmp_path / "ds" / "sparse" / "0"
    sparse.mkdir(parents=True)
    K = cams[0]["K"]
    write_cameras(sparse / "cameras.txt", [Camera(1, "PINHOLE", 80, 60, float(K[0, 0]),
                                                  float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))])
    write_images(sparse / "images.txt", [
        Image(i + 1, c["name"], 1, rotmat_to_qvec(c["viewmat"][:3, :3].astype(np.float64)),
              c["viewmat"][:3, 3].astype(np.float64)) for i, c in enumerate(cams)])
    write_points3D(sparse / "points3D.txt", Points(np.zeros((0, 3)), np.zeros((0, 3), np.uint8),
                                                   np.zeros(0)))
    col = M.load_cameras(tmp_path / "ds")
    assert len(col) == 3
    for a, b in zip(col, cams):
        np.testing.assert_allclose(a["viewmat"], b["viewmat"], atol=1e-5)
        np.testing.assert_allclose(a["K"], b["K"], atol=1e-5)
    with pytest.raises(FileNotFoundError):
        M.load_cameras(tmp_path / "nothing")


def test_export_command(tmp_path, demo, capsys):
    scene, data, cams, _ = demo
    out = tmp_path / "train_out"
    out.mkdir()
    write_splat_ply(out / "scene.ply", data.means, data.scales_log, data.quats_wxyz,
                    data.opacity_logits, data.sh_dc)
    from splatcore.trainer import cameras_json
    (out / "cameras.json").write_text(json.dumps({"train": cameras_json(cams), "test": []}))
    # opacity field, cameras.json next to the scene (found automatically) for the bounds
    rc = cli_main(["export", str(out / "scene.ply"), "-o", str(tmp_path / "m.ply"), "--method",
                   "opacity", "--resolution", "40", "--largest", "-q"])
    assert rc == 0
    assert "faces" in capsys.readouterr().out
    m = M.read_mesh(tmp_path / "m.ply")
    assert m.num_faces > 1000 and m.colors is not None and m.normals is not None
    assert M.connected_components(m)[1] == 1
    # TSDF, cameras given explicitly, STL output
    rc = cli_main(["export", str(out / "scene.ply"), "-o", str(tmp_path / "m.stl"), "--cameras",
                   str(out), "--resolution", "32", "-q",
                   "--bounds", "-1.3", "-1.3", "-0.15", "1.3", "1.3", "1.1"])
    assert rc == 0
    s = M.read_mesh(tmp_path / "m.stl")
    assert s.num_faces > 500
    lo, hi = s.vertices.min(0), s.vertices.max(0)
    vox = 2.6 / 31  # the grid covers the bounds, to within one voxel past the upper corner
    assert np.all(lo >= np.array([-1.3, -1.3, -0.15]) - 1e-5)
    assert np.all(hi <= np.array([1.3, 1.3, 1.1]) + vox)
    # errors: clear messages, exit status 2, no partial file
    assert cli_main(["export", str(out / "missing.ply"), "-o", str(tmp_path / "x.stl")]) == 2
    assert cli_main(["export", str(out / "scene.ply"), "-o", str(tmp_path / "x.abc"),
                     "--method", "opacity"]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and ".stl, .ply or .obj" in err
    assert not os.path.exists(tmp_path / "x.abc")
    os.remove(out / "cameras.json")
    assert cli_main(["export", str(out / "scene.ply"), "-o", str(tmp_path / "x.stl")]) == 2
    assert "needs cameras" in capsys.readouterr().err

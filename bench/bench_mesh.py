"""Marching cubes beside scikit-image, TSDF fusion per view, and the demo scene's
mesh against its analytic ground truth.

Run: SPLATCORE_BUILD_DIR=build/mesh PYTHONPATH=python python -m pytest bench/bench_mesh.py -q -s

* test_marching_cubes: splatcore.mesh.marching_cubes (pytest-benchmark, all
  threads of the pool) and skimage.measure.marching_cubes (best of a few runs) on
  the same float32 volume in the same run, at 128^3, 256^3 and 512^3 (a sphere:
  one closed surface, the usual shape of a meshing job) and at 256^3 on a
  gyroid (surface through the whole volume). Prints voxels/s of both and the
  ratio scikit-image time / splatcore time (> 1: splatcore is faster), and checks
  that our mesh is watertight (the sphere) and has skimage's area within 1%.
  scikit-image runs on one core; splatcore uses the pool (SPLATCORE_NUM_THREADS).
* test_tsdf_fusion_per_view: TSDF fusion of the expected-depth renders of the
  demo scene (Gaussians on its analytic surfaces) into a 256-voxel grid: render
  and integration seconds per view.
* test_demo_scene_chamfer: set SPLATCORE_DEMO_OUT to the output folder of
  `splatcore demo` (scene.ply + cameras.json); exports the mesh as
  `splatcore export OUT/scene.ply -o OUT/mesh.ply` does and prints accuracy,
  completeness and Chamfer distance to the true surface (objects and the ground
  around them). Skipped without the variable.
"""
import os
import time

import numpy as np
import pytest

import splatcore as sc
from anchor import best_seconds, report_ratio
from splatcore import mesh as M

skm = pytest.importorskip("skimage.measure")


def sphere_volume(n):
    x = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    return (0.7 - np.sqrt(x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2))


def gyroid_volume(n, periods=4):
    x = np.linspace(0.0, 2 * np.pi * periods, n, dtype=np.float32)
    a, b, c = x[:, None, None], x[None, :, None], x[None, None, :]
    return np.sin(a) * np.cos(b) + np.sin(b) * np.cos(c) + np.sin(c) * np.cos(a)


@pytest.mark.parametrize("shape, n", [("sphere", 128), ("sphere", 256), ("sphere", 512),
                                      ("gyroid", 256)],
                         ids=["sphere128", "sphere256", "sphere512", "gyroid256"])
def test_marching_cubes(benchmark, shape, n):
    vol = np.ascontiguousarray((sphere_volume if shape == "sphere" else gyroid_volume)(n),
                               dtype=np.float32)

    def ours():
        return M.marching_cubes(vol, 0.0)

    def theirs():
        return skm.marching_cubes(vol, 0.0)

    m = ours()
    vs, fs, _, _ = theirs()
    area, area_sk = M.surface_area(m.vertices, m.faces), skm.mesh_surface_area(vs, fs)
    assert abs(area - area_sk) / area_sk < 0.01
    if shape == "sphere":
        assert M.is_watertight(m) and M.euler_characteristic(m) == 2
    rounds = 3 if n >= 512 else 5
    benchmark.pedantic(ours, rounds=rounds, iterations=1, warmup_rounds=1)
    sk_s = best_seconds(theirs, repeat=2 if n >= 512 else 3)
    ours_s = benchmark.stats.stats.min
    vox = float(n) ** 3
    print(f"\nmarching cubes {shape} {n}^3: {m.num_vertices} vertices, {m.num_faces} faces; "
          f"splatcore {vox / ours_s / 1e6:.0f} Mvoxel/s, scikit-image {vox / sk_s / 1e6:.0f} "
          f"Mvoxel/s")
    report_ratio(benchmark, f"marching cubes {shape} {n}^3", "scikit-image", sk_s)
    benchmark.extra_info.update(voxels_per_s=vox / ours_s, skimage_voxels_per_s=vox / sk_s)


def _surface_gaussians(scene, n, seed=0):
    from splatcore.io.ply import SplatData

    p, nrm = scene.sample_surface(n, seed=seed, return_normals=True)
    s = np.sqrt(sum(o.area() for o in scene.objects) / n) * 0.9
    q = np.stack([1 + nrm[:, 2], -nrm[:, 1], nrm[:, 0], np.zeros(n)], 1)
    q[np.linalg.norm(q, axis=1) < 1e-6] = [0, 1, 0, 0]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    k = np.abs(scene.sdf_objects(p)).argmin(1)
    _, albedo = scene.normals_albedo(p, k)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return SplatData(f32(p), f32(np.log(np.tile([s, s, 0.002], (n, 1)))), f32(q),
                     f32(np.full(n, 3.0)), f32((albedo - 0.5) / 0.28209479177387814),
                     np.zeros((n, 0, 3), np.float32))


def chamfer(mesh, scene, lo, hi, n=200000, seed=0):
    from scipy.spatial import cKDTree

    pm = M.sample_surface(mesh, n, seed)
    acc = np.abs(scene.sdf(pm[np.all((pm >= lo) & (pm <= hi), axis=1)])).mean()
    pt = scene.sample_surface(n, seed=seed + 1)
    pt = pt[np.all((pt >= lo) & (pt <= hi), axis=1)]
    comp = cKDTree(M.sample_surface(mesh, 4 * n, seed + 2)).query(pt)[0].mean()
    return float(acc), float(comp), float(0.5 * (acc + comp))


CROP = (np.array([-1.2, -1.2, -0.05]), np.array([1.2, 1.2, 1.0]))


def test_tsdf_fusion_per_view(benchmark):
    from splatcore.datasets.synthetic import make_cameras, make_scene

    scene = make_scene(0)
    data = _surface_gaussians(scene, 60000)
    cams = make_cameras(n_views=42, width=128, height=96, seed=0, target=scene.center)
    s = M.load_scene_arrays(data)
    bounds = M.scene_bounds(s, cams)
    origin, vs, dims = M.make_grid(bounds, resolution=256)
    scale = M.auto_render_scale(s, cams, vs)
    depth, rgb, K, _, _ = M.render_depth(s, cams[0], scale)
    tsdf = np.ones(dims, np.float32)
    weight = np.zeros(dims, np.float32)
    col = np.zeros(dims + (3,), np.float32)
    cw = np.zeros(dims, np.float32)

    def integrate_one():
        sc._core._tsdf_integrate(tsdf, weight, col, cw, depth, rgb, cams[0]["viewmat"], K,
                                 tuple(map(float, origin)), float(vs), float(4 * vs), 0.01, 128.0,
                                 True)

    benchmark.pedantic(integrate_one, rounds=5, iterations=1, warmup_rounds=1)
    per_view = benchmark.stats.stats.min
    t0 = time.perf_counter()
    mesh, info = M.mesh_scene(data, "tsdf", cams, resolution=256, progress=False)
    total = time.perf_counter() - t0
    acc, comp, ch = chamfer(mesh, scene, *CROP)
    print(f"\nTSDF fusion, grid {'x'.join(map(str, info['grid']))} ({info['voxels'] / 1e6:.1f} M "
          f"voxels, voxel {info['voxel_size']:.4f}), {info['views']} views rendered at "
          f"{info['render_scale']:.2f}x: integration {per_view * 1e3:.1f} ms/view (benchmark), "
          f"{info['integrate_s'] / info['views'] * 1e3:.1f} ms/view in the pipeline, render "
          f"{info['render_s'] / info['views'] * 1e3:.1f} ms/view; marching cubes "
          f"{info['marching_cubes_s'] * 1e3:.0f} ms; total {total:.1f} s. Surface Gaussians "
          f"(60k): accuracy {acc:.4f}, completeness {comp:.4f}, Chamfer {ch:.4f}")
    benchmark.extra_info.update(integrate_ms_per_view=per_view * 1e3,
                                render_ms_per_view=info["render_s"] / info["views"] * 1e3,
                                chamfer=ch, threads=sc.num_threads())


@pytest.mark.skipif(not os.environ.get("SPLATCORE_DEMO_OUT"),
                    reason="set SPLATCORE_DEMO_OUT to a `splatcore demo` output folder")
@pytest.mark.parametrize("method", ["tsdf", "opacity"])
def test_demo_scene_chamfer(method):
    from splatcore.datasets.synthetic import make_scene

    out = os.environ["SPLATCORE_DEMO_OUT"]
    scene = make_scene(int(os.environ.get("SPLATCORE_DEMO_SEED", "0")))
    t0 = time.perf_counter()
    mesh, info = M.export_mesh(os.path.join(out, "scene.ply"),
                               os.path.join(out, f"mesh_{method}.ply"), method=method,
                               progress=False)
    dt = time.perf_counter() - t0
    acc, comp, ch = chamfer(mesh, scene, *CROP)
    print(f"\ndemo scene ({out}), {method}: {info['gaussians']} Gaussians, grid "
          f"{'x'.join(map(str, info['grid']))}, voxel {info['voxel_size']:.4f}, "
          f"{mesh.num_faces} faces in {dt:.1f} s; inside {CROP[0].tolist()}..{CROP[1].tolist()}: "
          f"accuracy {acc:.4f}, completeness {comp:.4f}, Chamfer {ch:.4f} (scene units; the "
          f"objects are ~0.3-0.5 across)")
    assert ch < 0.1

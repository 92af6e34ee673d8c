"""The meshing fields on GPU devices against the CPU: TSDF fusion (the per-voxel
integration on the same depth views: the same body, so the grids agree to
rounding; the whole tsdf_fusion, renders on the device too, on Gaussians placed
on the demo scene's surfaces) and the opacity field (the same binned Gaussians
summed in the same order)."""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore import mesh as M
from test_mesh_scene import CROP, surface_gaussians
from splatcore.datasets.synthetic import make_cameras, make_scene


def random_view(rng, H=23, W=31):
    depth = rng.uniform(1.5, 3.0, (H, W)).astype(np.float32)
    depth[rng.random((H, W)) < 0.15] = 0.0  # holes: no surface
    rgb = rng.random((H, W, 3)).astype(np.float32)
    a = rng.normal(0, 0.2, 3)
    c, s = np.cos(a), np.sin(a)
    R = np.array([[1, 0, 0], [0, c[0], -s[0]], [0, s[0], c[0]]]) @ np.array([[c[1], 0, s[1]], [0, 1, 0], [-s[1], 0, c[1]]])
    view = np.eye(4, dtype=np.float32)
    view[:3, :3], view[:3, 3] = R, [0.1, -0.05, 2.2]
    K = np.array([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]], np.float32)
    return depth, rgb, view, K


@pytest.mark.parametrize("carve", [True, False])
def test_integrate_matches_cpu(gpu_device, rng, carve):
    dims = (13, 11, 9)
    grids = {"cpu": [np.ones(dims, np.float32), np.zeros(dims, np.float32),
                     np.zeros(dims + (3,), np.float32), np.zeros(dims, np.float32)]}
    grids["dev"] = [sc.tensor(g, device=gpu_device) for g in grids["cpu"]]
    for _ in range(3):  # several views accumulate
        depth, rgb, view, K = random_view(rng)
        args = (view, K, (-0.6, -0.5, -0.4), 0.1, 0.3, 0.01, 64.0, carve)
        _core._tsdf_integrate(*grids["cpu"], depth, rgb, *args)
        _core._tsdf_integrate_device(*grids["dev"], sc.tensor(depth, device=gpu_device),
                                     sc.tensor(rgb, device=gpu_device), *args)
    for want, got in zip(grids["cpu"], grids["dev"]):
        assert np.abs(want).max() > 0.1  # the views reach the grid
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-5, atol=1e-6)


def test_integrate_argument_errors(gpu_device):
    t = sc.ones((4, 4, 4), device=gpu_device)
    w = sc.zeros((4, 4, 4), device=gpu_device)
    d = sc.zeros((5, 6), device=gpu_device)
    v, K = np.eye(4, dtype=np.float32), np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="weight must have shape \\(4, 4, 4\\), got \\(4, 4\\)"):
        _core._tsdf_integrate_device(t, sc.zeros((4, 4), device=gpu_device), None, None, d, None, v, K,
                                     (0, 0, 0), 0.1, 0.3, 0.01, 64.0, True)
    with pytest.raises(ValueError, match="depth is on cpu but tsdf is on"):
        _core._tsdf_integrate_device(t, w, None, None, sc.zeros((5, 6)), None, v, K, (0, 0, 0), 0.1, 0.3,
                                     0.01, 64.0, True)
    with pytest.raises(ValueError, match="trunc must be positive"):
        _core._tsdf_integrate_device(t, w, None, None, d, None, v, K, (0, 0, 0), 0.1, 0.0, 0.01, 64.0, True)


def test_tsdf_fusion_on_device(gpu_device):
    scene = make_scene(0)
    data = surface_gaussians(scene, 1500)
    cams = make_cameras(n_views=3, width=40, height=30, seed=0, target=scene.center)
    bounds = (CROP[0] - 0.1, CROP[1] + 0.1)
    kw = dict(resolution=16, bounds=bounds, render_scale=1.0, progress=False)
    cpu = M.tsdf_fusion(data, cams, **kw)
    dev = M.tsdf_fusion(data, cams, device=gpu_device, **kw)
    observed = cpu.weight > 0
    assert observed.mean() > 0.2
    # renders agree to float32 rounding; a pixel can still cross the alpha or depth-edge
    # thresholds, so compare voxel by voxel and allow a few to differ
    close = np.isclose(dev.values, cpu.values, rtol=1e-4, atol=1e-4) & np.isclose(dev.weight, cpu.weight, atol=1e-4)
    assert close.mean() > 0.995, f"{(~close).sum()} of {close.size} voxels differ"
    assert np.isclose(dev.colors, cpu.colors, atol=1e-3).all(-1).mean() > 0.995


def test_export_command_on_device(tmp_path, gpu_device):
    import json

    from splatcore.cli import main as cli_main
    from splatcore.io.ply import write_splat_ply
    from splatcore.trainer import cameras_json

    scene = make_scene(0)
    data = surface_gaussians(scene, 1500)
    cams = make_cameras(n_views=3, width=40, height=30, seed=0, target=scene.center)
    write_splat_ply(tmp_path / "scene.ply", data.means, data.scales_log, data.quats_wxyz, data.opacity_logits,
                    data.sh_dc)
    (tmp_path / "cameras.json").write_text(json.dumps({"train": cameras_json(cams), "test": []}))
    meshes = {}
    for dev in ("cpu", gpu_device):
        out = tmp_path / f"m_{dev}.ply"
        assert cli_main(["export", str(tmp_path / "scene.ply"), "-o", str(out), "--resolution", "20", "-q",
                         "--device", dev]) == 0
        meshes[dev] = M.read_mesh(out)
    a, b = meshes["cpu"], meshes[gpu_device]
    assert a.num_faces > 200
    assert abs(b.num_faces - a.num_faces) <= 0.02 * a.num_faces
    np.testing.assert_allclose(b.vertices.mean(0), a.vertices.mean(0), atol=0.02)


@pytest.mark.parametrize("colors", [True, False])
def test_opacity_field_matches_cpu(gpu_device, colors):
    scene = make_scene(0)
    data = surface_gaussians(scene, 2000)
    bounds = (CROP[0] - 0.1, CROP[1] + 0.1)
    kw = dict(bounds=bounds, resolution=21, colors=colors)  # 21: blocks cut at the grid's edge
    cpu = M.opacity_field(data, **kw)
    dev = M.opacity_field(data, device=gpu_device, **kw)
    assert cpu.values.max() > 0.5
    np.testing.assert_allclose(dev.values, cpu.values, rtol=1e-5, atol=1e-6)
    if colors:
        np.testing.assert_allclose(dev.colors, cpu.colors, rtol=1e-4, atol=1e-5)
    else:
        assert dev.colors is None
    with pytest.raises(ValueError, match="device must be a GPU device, got cpu"):
        _core._opacity_field_device(np.zeros((1, 3), np.float32), np.ones((1, 4), np.float32),
                                    np.ones((1, 3), np.float32), np.ones(1, np.float32), None, (4, 4, 4),
                                    (0.0, 0.0, 0.0), 0.1, 0.05, 3.0, "cpu")

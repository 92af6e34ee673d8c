"""The rasterizer on every GPU device against the CPU backend (an independent
implementation of the same stages: row-list compositing, a per-tile backward
and per-row SIMD): images, alpha, every gradient, every render mode, the
antialiased mode, absgrad and the viewmat gradient, rasterize and
rasterize_params; the goldens when ../shared is present."""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from test_rasterize import GOLDEN_FILES, GRAD_ARGS, golden_scene, needs_golden, random_scene

MODES = ["RGB", "D", "ED", "RGB+D", "RGB+ED"]


@pytest.fixture
def device(gpu_device):
    return gpu_device


def render(scene, device, dtype, weights_seed=1, **kw):
    """Renders `scene` on `device` in `dtype`, backpropagates random weights
    of image and alpha, and returns every output and gradient as NumPy."""
    ts = {}
    for name in GRAD_ARGS:
        x = scene.get(name)
        ts[name] = None if x is None else sc.tensor(np.ascontiguousarray(x, dtype=dtype), device=device,
                                                    requires_grad=True)
    K = sc.tensor(np.ascontiguousarray(scene["K"], dtype=dtype))
    img, alpha, info = sc.splat.rasterize(
        ts["means"], ts["quats"], ts["scales"], ts["opacities"], ts["colors_or_sh"], ts["viewmat"], K,
        scene["width"], scene["height"], sh_degree=scene["sh_degree"], background=ts["background"], **kw)
    assert img.device.split(":")[0] == device and alpha.device.split(":")[0] == device
    r = np.random.default_rng(weights_seed)
    w_img = sc.tensor(r.standard_normal(img.shape).astype(dtype), device=device)
    w_alpha = sc.tensor(r.standard_normal(alpha.shape).astype(dtype), device=device)
    ((img * w_img).sum() + (alpha * w_alpha).sum()).backward()
    out = {"image": img.cpu().numpy(), "alpha": alpha.cpu().numpy(), "radii": info["radii"].cpu().numpy(),
           "depths": info["depths"].cpu().numpy(), "n_isects": int(info["n_isects"]),
           "v_means2d": info["means2d"].grad.cpu().numpy(),
           "v_absgrad": info["means2d_absgrad"].grad.cpu().numpy()}
    for name, t in ts.items():
        if t is None:
            continue
        if t.grad is None:  # only the background of depth-only modes, on every device
            assert name == "background" and kw.get("render_mode") in ("D", "ED"), f"{name}: no gradient"
            continue
        out["v_" + name] = t.grad.cpu().numpy()
    return out


def assert_match(got, want, rtol, atol_rel, label=""):
    """Same keys; integers equal; floats within rtol of the CPU's, with an
    absolute floor of atol_rel times the array's largest magnitude."""
    assert got.keys() == want.keys()
    for k in want:
        g, w = got[k], want[k]
        if isinstance(w, int) or np.asarray(w).dtype.kind == "i":
            np.testing.assert_array_equal(g, w, err_msg=f"{label} {k}")
            continue
        scale = max(float(np.abs(w).max()), 1e-30)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol_rel * scale, err_msg=f"{label} {k}")


@pytest.mark.needs_float64
@pytest.mark.parametrize("antialiased", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_random_scene_float64(device, mode, antialiased):
    scene = random_scene(11, n=120, width=37, height=29, sh_degree=2)
    kw = dict(render_mode=mode, antialiased=antialiased)
    want = render(scene, "cpu", np.float64, **kw)
    got = render(scene, device, np.float64, **kw)
    assert want["n_isects"] > 100  # the scene covers the image
    assert_match(got, want, 1e-10, 1e-12, f"{mode} aa={antialiased}")


@pytest.mark.parametrize("sh_degree", [None, 0, 3])
def test_random_scene_float32(device, sh_degree):
    """The issue's bar in float32: image within 1e-5, gradients within 1e-4 (relative)."""
    scene = random_scene(5, n=150, width=40, height=30, sh_degree=sh_degree, n_colors=5)
    want = render(scene, "cpu", np.float32)
    got = render(scene, device, np.float32)
    for k in ("image", "alpha"):
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-5 * np.abs(want[k]).max())
    assert_match(got, want, 1e-4, 1e-4, f"sh={sh_degree}")


@pytest.mark.needs_float64
@pytest.mark.parametrize("pixels", [1, 2])
@pytest.mark.parametrize("tile_size", [8, 16])
def test_backward_pixels_per_thread(device, pixels, tile_size):
    """The backward tile kernel taking 1 or 2 pixels a thread (the thread sums its
    pixels' terms before the SIMD-group reduction) gives the CPU's gradients; a dense
    scene, so that several batches and the early stop are walked."""
    scene = random_scene(4, n=900, width=45, height=35, sh_degree=1, n_culled=3)
    scene["scales"] = scene["scales"] * 3
    want = render(scene, "cpu", np.float64, tile_size=tile_size)
    before = _core._gpu_raster_backward_pixels(pixels)
    try:
        got = render(scene, device, np.float64, tile_size=tile_size)
    finally:
        _core._gpu_raster_backward_pixels(before)
    assert want["n_isects"] > 2000
    assert_match(got, want, 1e-10, 1e-12, f"pixels={pixels} tile={tile_size}")


@pytest.mark.needs_float64
def test_no_camera_or_background_gradient_when_not_wanted(device):
    """A training step's viewmat and background take no gradient: the GPU backward then
    skips their per-Gaussian rows and sums, and every other gradient is the CPU's."""
    scene = random_scene(8, n=200, width=33, height=27, sh_degree=2)
    want = render(scene, "cpu", np.float64)
    fixed = {k: scene[k] for k in ("viewmat", "background")}
    ts = {name: sc.tensor(np.ascontiguousarray(scene[name], dtype=np.float64), device=device,
                          requires_grad=name not in fixed) for name in GRAD_ARGS}
    K = sc.tensor(np.ascontiguousarray(scene["K"], dtype=np.float64))
    img, alpha, info = sc.splat.rasterize(
        ts["means"], ts["quats"], ts["scales"], ts["opacities"], ts["colors_or_sh"], ts["viewmat"], K,
        scene["width"], scene["height"], sh_degree=scene["sh_degree"], background=ts["background"])
    r = np.random.default_rng(1)  # render()'s weights
    w_img = sc.tensor(r.standard_normal(img.shape), device=device)
    w_alpha = sc.tensor(r.standard_normal(alpha.shape), device=device)
    ((img * w_img).sum() + (alpha * w_alpha).sum()).backward()
    for name in fixed:
        assert ts[name].grad is None, name
    for name in GRAD_ARGS:
        if name not in fixed:
            np.testing.assert_allclose(ts[name].grad.cpu().numpy(), want["v_" + name], rtol=1e-10,
                                       atol=1e-12 * np.abs(want["v_" + name]).max(), err_msg=name)


def test_backward_pixels_setting_checked():
    with pytest.raises(ValueError, match="expected 0 \\(automatic\\), 1 or 2, got 4"):
        _core._gpu_raster_backward_pixels(4)


@needs_golden
@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_golden_scenes_float32(device, name):
    scene, kw, d = golden_scene(name)
    want = render(scene, "cpu", np.float32, **kw)
    got = render(scene, device, np.float32, **kw)
    for k in ("image", "alpha"):
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-5 * np.abs(want[k]).max())
    assert_match(got, want, 1e-4, 1e-4, name)


@pytest.mark.needs_float64
def test_dense_scene_early_stop_and_batches(device):
    """Thousands of Gaussians per tile: several shared-memory batches per tile,
    and pixels that reach T < 1e-4 (the early stop) in front of others."""
    scene = random_scene(3, n=1500, width=24, height=20, sh_degree=1, n_culled=0)
    scene["opacities"] = np.full_like(scene["opacities"], 0.9)
    scene["scales"] = scene["scales"] * 5
    want = render(scene, "cpu", np.float64)
    got = render(scene, device, np.float64)
    assert want["n_isects"] > 3000 and want["alpha"].min() > 0.999  # T stops near 1e-4
    assert_match(got, want, 1e-9, 1e-12, "dense")


@pytest.mark.needs_float64
@pytest.mark.parametrize("tile_size", [1, 7, 16])
def test_tile_sizes(device, tile_size):
    scene = random_scene(8, n=60, width=33, height=21, sh_degree=1)
    want = render(scene, "cpu", np.float64, tile_size=tile_size)
    got = render(scene, device, np.float64, tile_size=tile_size)
    assert_match(got, want, 1e-10, 1e-12, f"tile {tile_size}")


def test_tile_size_above_16_refused(device):
    scene = random_scene(8, n=20, width=33, height=21, sh_degree=1)
    with pytest.raises(ValueError, match="tile_size must be at most 16 on a GPU device.*got 32"):
        render(scene, device, np.float32, tile_size=32)


def params_render(scene, device, dtype):
    """rasterize_params (training's form) on `device`; returns outputs and gradients."""
    n = scene["means"].shape[0]
    sh = np.asarray(scene["colors_or_sh"])
    r = np.random.default_rng(4)
    arrays = dict(means=scene["means"], quats=scene["quats"], log_scales=np.log(scene["scales"]),
                  logits=r.normal(0, 1.5, n), sh0=sh[:, :1], shN=sh[:, 1:])
    ts = {k: sc.tensor(np.ascontiguousarray(v, dtype=dtype), device=device, requires_grad=True)
          for k, v in arrays.items()}
    view = sc.tensor(np.ascontiguousarray(scene["viewmat"], dtype=dtype), device=device, requires_grad=True)
    bg = sc.tensor(np.ascontiguousarray(scene["background"], dtype=dtype), device=device, requires_grad=True)
    img, alpha, info = _core.rasterize_params(
        ts["means"], ts["quats"], ts["log_scales"], ts["logits"], ts["sh0"], ts["shN"], view,
        sc.tensor(np.ascontiguousarray(scene["K"], dtype=dtype)), scene["width"], scene["height"],
        scene["sh_degree"], bg)
    w = sc.tensor(r.standard_normal(img.shape).astype(dtype), device=device)
    ((img * w).sum() + alpha.sum()).backward()
    out = {"image": img.cpu().numpy(), "alpha": alpha.cpu().numpy(), "viewmat": view.grad.cpu().numpy(),
           "background": bg.grad.cpu().numpy(), "absgrad": info["means2d_absgrad"].grad.cpu().numpy()}
    out.update({k: t.grad.cpu().numpy() for k, t in ts.items()})
    return out


@pytest.mark.needs_float64
def test_rasterize_params_matches_cpu(device):
    scene = random_scene(21, n=100, width=30, height=26, sh_degree=3)
    want = params_render(scene, "cpu", np.float64)
    got = params_render(scene, device, np.float64)
    assert_match(got, want, 1e-10, 1e-12, "params")


@pytest.mark.needs_float64
def test_no_gaussian_visible(device):
    scene = random_scene(2, n=10, width=16, height=12, sh_degree=0)
    scene["means"] = scene["means"] * 0 + np.linalg.inv(scene["viewmat"])[:3, 3] - 5.0 * \
        np.linalg.inv(scene["viewmat"])[:3, 2]  # all behind the camera
    want = render(scene, "cpu", np.float64)
    got = render(scene, device, np.float64)
    assert got["n_isects"] == 0
    assert_match(got, want, 0, 0, "none visible")
    np.testing.assert_array_equal(got["image"], np.broadcast_to(scene["background"], got["image"].shape))


@pytest.mark.needs_float64
def test_deterministic(device):
    """No float atomics: two runs give the same bits."""
    scene = random_scene(13, n=200, width=40, height=30, sh_degree=3)
    a = render(scene, device, np.float32)
    b = render(scene, device, np.float32)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("bad", ["means", "quats", "scales", "opacities", "colors_or_sh"])
def test_non_finite_input_named(device, bad):
    scene = random_scene(6, n=30, width=16, height=12, sh_degree=1, n_culled=0)
    x = np.array(scene[bad], dtype=np.float32)
    x.reshape(-1)[x.size // 2] = np.nan
    scene[bad] = x
    with pytest.raises(ValueError, match=f"{bad} contains NaN"):
        render(scene, device, np.float32)


def test_inputs_on_two_devices(device):
    scene = random_scene(6, n=10, width=16, height=12, sh_degree=0, n_culled=0)
    t = {k: sc.tensor(np.ascontiguousarray(scene[k], dtype=np.float32), device=device)
         for k in ("means", "quats", "scales", "opacities", "colors_or_sh")}
    t["quats"] = t["quats"].cpu()
    with pytest.raises(ValueError, match="quats is on cpu but means is on"):
        sc.splat.rasterize(t["means"], t["quats"], t["scales"], t["opacities"], t["colors_or_sh"],
                           scene["viewmat"].astype(np.float32), scene["K"].astype(np.float32), 16, 12,
                           sh_degree=0)

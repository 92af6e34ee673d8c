"""The Gaussian rasterizer (splatcore.splat.rasterize) against the dense
float64 NumPy reference (tests/raster_reference.py) and gsplat 1.5.3 goldens.

Tolerances (relative L2, ||out - ref|| / ||ref||):
* reference vs gsplat goldens: render/alpha < 1e-4, max abs < 1e-3 (README).
* C++ float32 vs reference: render/alpha < 1e-4;  C++ float64: < 1e-9.
* C++ float64 backward vs central finite differences of the C++ float64
  forward: < 1e-4 per input (scenes screened to stay away from the
  α = 1/255, T = 1e-4, α_max and colour-clamp discontinuities).
* C++ vs gsplat goldens: render/alpha < 1e-4 (max abs < 1e-3), gradients < 1e-3.
"""
import json
import os
import re
import resource
import time

import numpy as np
import pytest

import raster_reference as ref
from helpers import rel_err

import splatcore as sc  # a broken build fails here, loudly

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN_DIR = os.environ.get("SPLATCORE_GOLDEN_GSPLAT",
                            os.path.join(ROOT, "..", "shared", "golden", "gsplat"))
GOLDEN_INDEX = os.path.join(GOLDEN_DIR, "index.json")
GOLDEN_FILES = []
if os.path.exists(GOLDEN_INDEX):
    with open(GOLDEN_INDEX) as _f:
        GOLDEN_FILES = [e["file"] for e in json.load(_f)]
needs_golden = pytest.mark.skipif(not GOLDEN_FILES, reason=f"no goldens in {GOLDEN_DIR}")

GRAD_ARGS = ("means", "quats", "scales", "opacities", "colors_or_sh", "viewmat", "background")
F32_TOL, F64_TOL = 1e-4, 1e-9




# ------------------------------------------------------------------ scenes

def look_at(campos, target, rng):
    """World-to-camera 4x4 (x right, y down, +z forward) with a random roll."""
    z = target - campos
    z = z / np.linalg.norm(z)
    a = rng.standard_normal(3)
    x = a - (a @ z) * z
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    V = np.eye(4)
    V[:3, :3] = np.stack([x, y, z])
    V[:3, 3] = -V[:3, :3] @ campos
    return V


def intrinsics(rng, width, height, focal=1.0):
    fx = focal * width * rng.uniform(0.9, 1.1)
    fy = fx * rng.uniform(0.95, 1.05)
    cx = width / 2 + rng.uniform(-2, 2)
    cy = height / 2 + rng.uniform(-2, 2)
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])


def to_world(pc, viewmat):
    """Camera-space points (M,3) -> world."""
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    return (pc - t) @ R


def random_colors(rng, n, sh_degree, n_colors=3):
    if sh_degree is None:
        return rng.uniform(0, 1, (n, n_colors))
    k = (sh_degree + 1) ** 2
    sh = rng.normal(0, 0.3, (n, k, 3))
    sh[:, 0] = rng.uniform(-1.5, 1.5, (n, 3))  # some colours clamp at 0
    return sh


def random_scene(seed, n=200, width=64, height=48, sh_degree=3, n_colors=3,
                 background=True, n_culled=4, K=None):
    """A cloud in a unit ball seen from a random camera at distance 2.5-4,
    plus `n_culled` Gaussians behind the camera / before the near plane.
    Depths are kept 1e-5 apart: the C++ sort key holds float32 depths, so
    closer pairs could be ordered differently from the float64 reference."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        d = rng.standard_normal((n, 3))
        means = d / np.linalg.norm(d, axis=1, keepdims=True) * rng.uniform(0, 1, (n, 1)) ** (1 / 3)
        campos = rng.standard_normal(3)
        campos *= rng.uniform(2.5, 4.0) / np.linalg.norm(campos)
        viewmat = look_at(campos, rng.normal(0, 0.1, 3), rng)
        z = np.sort(means @ viewmat[2, :3] + viewmat[2, 3])
        if n < 2 or np.diff(z).min() > 1e-5:
            break
    K = intrinsics(rng, width, height) if K is None else np.asarray(K, dtype=np.float64)
    if n_culled:
        pc = np.column_stack([rng.uniform(-0.5, 0.5, (n_culled, 2)),
                              np.linspace(-1.0, 0.005, n_culled)])  # z < near = 0.01
        means = np.concatenate([means, to_world(pc, viewmat)])
    m = means.shape[0]
    return dict(
        means=means,
        quats=rng.standard_normal((m, 4)) * rng.uniform(0.5, 2.0, (m, 1)),
        scales=np.exp(rng.uniform(np.log(0.02), np.log(0.2), (m, 3))),
        opacities=rng.uniform(0.05, 0.98, m),  # alpha_max: see test_alpha_max_clamp
        colors_or_sh=random_colors(rng, m, sh_degree, n_colors),
        viewmat=viewmat, K=K, width=width, height=height, sh_degree=sh_degree,
        background=rng.uniform(0, 1, n_colors if sh_degree is None else 3) if background else None,
    )


def _fd_scene_try(seed, n, width, height, sh_degree, n_colors, background, dense=False):
    rng = np.random.default_rng(seed)
    K = intrinsics(rng, width, height)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    campos = rng.standard_normal(3)
    campos *= 3.0 / np.linalg.norm(campos)
    viewmat = look_at(campos, rng.normal(0, 0.1, 3), rng)
    if dense:  # a stack in the middle: pixels reach the T <= 1e-4 stop
        u = rng.uniform(0.4 * width, 0.6 * width, n)
        v = rng.uniform(0.4 * height, 0.6 * height, n)
    else:
        u = rng.uniform(5, width - 5, n)
        v = rng.uniform(4, height - 4, n)
    z = rng.uniform(2.5, 3.5, n)
    pc = np.column_stack([(u - cx) / fx * z, (v - cy) / fy * z, z])
    # one behind the camera, one far off screen: both must get zero gradients
    pc = np.concatenate([pc, [[0.1, -0.2, -1.0], [(-40 - cx) / fx * 3.0, 0.0, 3.0]]])
    m = pc.shape[0]
    s_px = rng.uniform(1.2, 2.5, (m, 1)) * rng.uniform(0.6, 1.5, (m, 3)) * (1.5 if dense else 1)
    if sh_degree is None:
        colors = rng.uniform(0.1, 0.9, (m, n_colors))
    else:
        colors = rng.normal(0, 0.06, (m, (sh_degree + 1) ** 2, 3))
        colors[:, 0] = (rng.uniform(0.3, 0.9, (m, 3)) - 0.5) / ref.SH_C0
    return dict(
        means=to_world(pc, viewmat),
        quats=rng.standard_normal((m, 4)) * rng.uniform(0.5, 2.0, (m, 1)),
        scales=s_px * np.abs(pc[:, 2:3]) / fx,
        opacities=rng.uniform(0.7, 0.95, m) if dense else rng.uniform(0.3, 0.85, m),
        colors_or_sh=colors, viewmat=viewmat, K=K, width=width, height=height,
        sh_degree=sh_degree,
        background=rng.uniform(0, 1, colors.shape[-1]) if background else None,
    )


def fd_scene(seed, n=12, width=24, height=20, sh_degree=3, n_colors=3, background=True,
             render_mode="RGB", antialiased=False, margin=1e-3, dense=False):
    """A small scene whose finite differences are clean: every (Gaussian,
    pixel) pair is at least `margin` (in ln α / ln T) away from the 1/255,
    alpha_max and T = 1e-4 thresholds, colours are well above the clamp at 0,
    all visible means are inside the image and far from the near plane."""
    for s in range(seed, seed + 500):
        scene = _fd_scene_try(s, n, width, height, sh_degree, n_colors, background, dense)
        _, _, ex = ref.render_reference(**scene_args(scene), render_mode=render_mode,
                                        antialiased=antialiased, stats=True)
        used = ex["n_pixels"] > 0
        ok = (ex["alpha_min_margin"] > margin and ex["alpha_max_margin"] > margin
              and ex["t_min_margin"] > margin and used[:n].all())
        if sh_degree is not None and render_mode.startswith("RGB"):
            ok = ok and ex["colors_raw"][:n].min() > 0.05
        if dense:
            ok = ok and ex["n_stopped"] >= 10
        if ok:
            return scene
    raise AssertionError("no finite-difference-safe scene found")


def scene_args(scene):
    return {k: scene[k] for k in ("means", "quats", "scales", "opacities", "colors_or_sh",
                                  "viewmat", "K", "width", "height", "sh_degree", "background")}


def screened(make, seed, kws=({},), min_margin=5e-5):
    """make(seed') for seed' = seed, seed + 7919, ... until every (Gaussian,
    pixel) pair is at least `min_margin` (in ln α, ln T) away from the 1/255
    and 1e-4 thresholds under each render option set in `kws`: float32
    rounding cannot flip a threshold then (one flip can cost ~1e-4 relative
    error on a 64x48 image)."""
    for k in range(100):
        scene = make(seed + 7919 * k)
        ok = True
        for kw in kws:
            _, _, ex = ref.render_reference(**scene_args(scene), stats=True, **kw)
            ok = ok and ex["alpha_min_margin"] > min_margin and ex["t_min_margin"] > min_margin
        if ok:
            return scene
    raise AssertionError("no scene away from the thresholds found")


def golden_scene(name):
    d = np.load(os.path.join(GOLDEN_DIR, name))
    scene = dict(means=d["means"], quats=d["quats"], scales=d["scales"],
                 opacities=d["opacities"], colors_or_sh=d["sh"], viewmat=d["viewmat"],
                 K=d["K"], width=int(d["width"]), height=int(d["height"]),
                 sh_degree=int(d["sh_degree"]), background=None)
    kw = dict(render_mode=str(d["render_mode"]),
              antialiased=str(d["rasterize_mode"]) == "antialiased")
    return scene, kw, d


# ------------------------------------------------------------------ C++ calls

def _np(x):
    if x is None:
        return None
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _int(x):
    return x if isinstance(x, int) else int(_np(x))


def cpp_render(scene, dtype=np.float64, requires_grad=False, **kw):
    """splatcore.splat.rasterize on a scene dict. Returns (image, alpha, info,
    input tensors by name)."""
    ts = {}
    for name in GRAD_ARGS:
        x = scene.get(name)
        ts[name] = None if x is None else sc.tensor(
            np.ascontiguousarray(x, dtype=dtype), requires_grad=requires_grad)
    K = sc.tensor(np.ascontiguousarray(scene["K"], dtype=dtype))
    img, alpha, info = sc.splat.rasterize(
        ts["means"], ts["quats"], ts["scales"], ts["opacities"], ts["colors_or_sh"],
        ts["viewmat"], K, scene["width"], scene["height"], sh_degree=scene["sh_degree"],
        background=ts["background"], **kw)
    return img, alpha, info, ts


def cpp_forward(scene, dtype=np.float64, **kw):
    with sc.no_grad():
        img, alpha, info, _ = cpp_render(scene, dtype=dtype, **kw)
    return _np(img), _np(alpha), info


def cpp_backward(scene, w_img, w_alpha, dtype=np.float64, **kw):
    """Analytic gradients of sum(image*w_img) + sum(alpha*w_alpha).
    Returns ({name: grad or None}, image, alpha, info)."""
    img, alpha, info, ts = cpp_render(scene, dtype=dtype, requires_grad=True, **kw)
    loss = ((img * sc.tensor(w_img.astype(dtype))).sum()
            + (alpha * sc.tensor(w_alpha.astype(dtype))).sum())
    loss.backward()
    grads = {k: (None if t is None or t.grad is None else t.grad.numpy()) for k, t in ts.items()
             if t is not None}
    return grads, _np(img), _np(alpha), info


def cpp_fd(scene, w_img, w_alpha, names, eps, **kw):
    """Central finite differences of the C++ float64 forward."""
    def loss(s):
        img, alpha, _ = cpp_forward(s, **kw)
        return float(np.sum(img * w_img) + np.sum(alpha * w_alpha))
    out = {}
    for name in names:
        if scene.get(name) is None:
            continue
        x0 = np.array(scene[name], dtype=np.float64)
        g = np.zeros(x0.size)
        for i in range(x0.size):
            vals = []
            for sgn in (1.0, -1.0):
                x = x0.copy().reshape(-1)
                x[i] += sgn * eps
                vals.append(loss(dict(scene, **{name: x.reshape(x0.shape)})))
            g[i] = (vals[0] - vals[1]) / (2 * eps)
        out[name] = g.reshape(x0.shape)
    return out


def upstream(rng, img_shape, h, w):
    return rng.standard_normal(img_shape), rng.standard_normal((h, w, 1))


def compare_to_reference(scene, dtype, tol, stats=False, **kw):
    want_img, want_alpha, ex = ref.render_reference(**scene_args(scene), stats=stats, **kw)
    img, alpha, info = cpp_forward(scene, dtype=dtype, **kw)
    assert img.dtype == dtype and alpha.dtype == dtype
    assert np.isfinite(img).all() and np.isfinite(alpha).all()
    e_img, e_alpha = rel_err(img, want_img), rel_err(alpha, want_alpha)
    assert e_img < tol, f"{np.dtype(dtype).name} image relative error {e_img:.3e} >= {tol:.0e}"
    assert e_alpha < tol, f"{np.dtype(dtype).name} alpha relative error {e_alpha:.3e} >= {tol:.0e}"
    return img, alpha, info, ex


# =================================================================== reference

@needs_golden
@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_reference_matches_golden(name):
    """The dense float64 reference reproduces gsplat 1.5.3 (renders, alphas and
    its radii rule)."""
    scene, kw, d = golden_scene(name)
    img, alpha, ex = ref.render_reference(**scene_args(scene), **kw)
    assert img.shape == d["render"].shape and alpha.shape == d["alpha"].shape
    assert rel_err(img, d["render"]) < 1e-4
    assert rel_err(alpha, d["alpha"]) < 1e-4
    assert np.abs(img - d["render"]).max() < 1e-3
    assert np.abs(alpha - d["alpha"]).max() < 1e-3
    np.testing.assert_array_equal(ex["radii"], d["radii"])


@needs_golden
@pytest.mark.parametrize("name, n_gauss, with_sh", [("scene_001.npz", 4, True),
                                                    ("scene_004.npz", 0, False)])
def test_reference_fd_matches_golden_grads(name, n_gauss, with_sh):
    """Finite differences of the reference reproduce gsplat's gradients (on a
    subset, to stay cheap): w.r.t. unnormalised quats, and w.r.t. the full 4x4
    viewmat with the camera centre taken from inverse(viewmat) (scene_004:
    SH degree 3, antialiased, RGB+D -> non-zero bottom row)."""
    if name not in GOLDEN_FILES:
        pytest.skip(f"{name} not in the goldens")
    scene, kw, d = golden_scene(name)
    args = scene_args(scene)
    rng = np.random.default_rng(1)
    vis = np.flatnonzero(d["radii"][:, 0] > 0)
    gs = rng.choice(vis, n_gauss, replace=False)
    only = {}
    for nm, w in (("means", 3), ("quats", 4), ("scales", 3), ("opacities", 1)):
        only[nm] = [g * w + j for g in gs for j in range(w)]
    k = d["sh"].shape[1] * 3
    only["colors_or_sh"] = [g * k + j for g in gs for j in range(k)] if with_sh else []
    names = ("means", "quats", "scales", "opacities", "colors_or_sh", "viewmat")
    g = ref.reference_grads_fd(args, d["grad_render"], d["grad_alpha"], names=names,
                               only=only, eps=1e-6, **kw)
    for nm, key in zip(names, ("dL_dmeans", "dL_dquats", "dL_dscales", "dL_dopacities",
                               "dL_dsh", "dL_dviewmat")):
        idx = only.get(nm, np.arange(d[key].size))
        if len(idx) == 0:
            continue
        err = rel_err(g[nm].reshape(-1)[idx], d[key].reshape(-1)[idx])
        assert err < 1e-3, f"{name} {key}: relative error {err:.3e}"


def test_reference_mode_identities():
    """RGB+D = [RGB, D]; ED = D / alpha; background only on colour channels."""
    scene = random_scene(5, n=80, width=40, height=30, sh_degree=2)
    a = scene_args(scene)
    rgb, al, _ = ref.render_reference(**a, render_mode="RGB")
    dep, al2, _ = ref.render_reference(**a, render_mode="D")
    rgbd, _, _ = ref.render_reference(**a, render_mode="RGB+D")
    ed, _, _ = ref.render_reference(**a, render_mode="ED")
    rgbed, _, _ = ref.render_reference(**a, render_mode="RGB+ED")
    np.testing.assert_allclose(rgbd, np.concatenate([rgb, dep], -1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(al, al2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ed, dep / np.maximum(al, 1e-10), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rgbed[..., 3:], ed, rtol=1e-12, atol=1e-12)
    nobg, _, _ = ref.render_reference(**dict(a, background=None), render_mode="RGB")
    np.testing.assert_allclose(rgb, nobg + (1 - al) * a["background"], atol=1e-12)


def test_reference_alpha_max_is_a_clamp():
    """alpha_max only matters where o·exp(-σ) exceeds it."""
    scene = random_scene(6, n=60, width=32, height=24, sh_degree=None)
    a = scene_args(scene)
    lo = dict(a, opacities=np.minimum(a["opacities"], 0.98))
    i1, _, _ = ref.render_reference(**lo, alpha_max=0.99)
    i2, _, _ = ref.render_reference(**lo, alpha_max=0.999)
    np.testing.assert_array_equal(i1, i2)
    hi = dict(a, opacities=np.full_like(a["opacities"], 0.998))
    i1, _, _ = ref.render_reference(**hi, alpha_max=0.99)
    i2, _, _ = ref.render_reference(**hi, alpha_max=0.999)
    assert np.abs(i1 - i2).max() > 1e-3


def test_reference_means2d_offset_fd_consistent():
    """FD w.r.t. the 2D-mean offset is linear in the upstream weights and zero
    for culled Gaussians (sanity of the tool used by the means2d test)."""
    scene = fd_scene(40, n=5, sh_degree=None)
    a = scene_args(scene)
    n = a["means"].shape[0]
    rng = np.random.default_rng(0)
    w, wa = upstream(rng, (20, 24, 3), 20, 24)
    g = ref.reference_grads_fd(dict(a, means2d_offset=np.zeros((n, 2))), w, wa,
                               names=("means2d_offset",), eps=1e-7)["means2d_offset"]
    assert np.all(g[-2:] == 0) and np.all(np.abs(g[:-2]).sum(1) > 0)


# =================================================================== C++ forward

_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")
_SH = (None, 0, 1, 2, 3)


@pytest.mark.parametrize("antialiased", [False, True])
@pytest.mark.parametrize("render_mode", _MODES)
@pytest.mark.parametrize("sh_degree", _SH)
def test_random_scene_matches_reference(sh_degree, render_mode, antialiased):
    seed = 100 + 10 * _SH.index(sh_degree) + 2 * _MODES.index(render_mode) + antialiased
    n = 50 + (seed * 37) % 250
    kw = dict(render_mode=render_mode, antialiased=antialiased)
    scene = screened(lambda s: random_scene(s, n=n, sh_degree=sh_degree,
                                            background=render_mode.startswith("RGB")),
                     seed, [kw])
    compare_to_reference(scene, np.float32, F32_TOL, **kw)
    compare_to_reference(scene, np.float64, F64_TOL, **kw)


def test_alpha_max_clamp():
    """Opacities near 1: the per-pixel clamp alpha <= ref.ALPHA_MAX decides the
    image (the goldens cannot tell 0.99 from 0.999; see raster_reference)."""
    def make(seed):
        scene = random_scene(seed, n=150, sh_degree=1)
        op = scene["opacities"]
        op[::2] = np.random.default_rng(seed).uniform(0.995, 0.9999, op[::2].shape)
        return scene
    kw = dict(render_mode="RGB")
    scene = screened(make, 19, [kw])
    img, alpha, _ = cpp_forward(scene, **kw)
    errs = {}
    for am in (0.99, 0.999):
        want_img, want_alpha, _ = ref.render_reference(**scene_args(scene), alpha_max=am, **kw)
        errs[am] = max(rel_err(img, want_img), rel_err(alpha, want_alpha))
    assert max(errs.values()) > 1e-6, "the scene does not engage the clamp"
    assert errs[ref.ALPHA_MAX] < F64_TOL, (
        f"alpha_max: the reference uses {ref.ALPHA_MAX}; relative error of the C++ float64 "
        f"image against alpha_max=0.99: {errs[0.99]:.1e}, 0.999: {errs[0.999]:.1e}")
    compare_to_reference(scene, np.float32, F32_TOL, **kw)


def test_direct_colors_any_channel_count():
    scene = screened(lambda s: random_scene(s, n=120, sh_degree=None, n_colors=5), 7,
                     [dict(render_mode="RGB+D")])
    for dtype, tol in ((np.float32, F32_TOL), (np.float64, F64_TOL)):
        img, _, _, _ = compare_to_reference(scene, dtype, tol, render_mode="RGB+D")
        assert img.shape == (48, 64, 6)


def test_info_fields():
    scene = screened(lambda s: random_scene(s, n=200, sh_degree=3), 8)
    n = scene["means"].shape[0]
    img, alpha, info, ex = compare_to_reference(scene, np.float32, F32_TOL,
                                                render_mode="RGB", stats=True)
    for key in ("radii", "means2d", "means2d_absgrad", "depths", "n_isects"):
        assert key in info, f"info lacks {key!r}"
    radii = _np(info["radii"])
    assert radii.shape == (n, 2) and radii.dtype == np.int32
    assert np.all(radii >= 0)
    assert np.all(radii[~ex["visible"]] == 0), "Gaussians outside [near, far] must be culled"
    used = ex["n_pixels"] > 0
    assert np.all(radii[used].max(1) > 0), "a Gaussian that colours pixels has radii 0"
    vis = ex["visible"]  # culled Gaussians may hold anything below
    depths = _np(info["depths"])
    assert depths.shape == (n,)
    np.testing.assert_allclose(depths[vis], ex["depths"][vis], rtol=1e-5, atol=1e-6)
    m2d = _np(info["means2d"])
    assert m2d.shape == (n, 2)
    np.testing.assert_allclose(m2d[vis], ex["means2d"][vis], rtol=1e-5, atol=1e-3,
                               err_msg="info['means2d'] must hold the projected 2D means")
    n_isects = _int(info["n_isects"])
    # every (Gaussian, 16x16 tile) pair that colours a pixel must be binned
    assert n_isects >= int(ex["n_tiles16"].sum()), (n_isects, int(ex["n_tiles16"].sum()))


@pytest.mark.parametrize("tile_size", [8])
def test_tile_size_gives_same_image(tile_size):
    scene = random_scene(9, n=250, width=37, height=23, sh_degree=2)
    kw = dict(render_mode="RGB+ED", antialiased=True)
    for dtype in (np.float32, np.float64):
        a_img, a_alpha, _ = cpp_forward(scene, dtype=dtype, tile_size=16, **kw)
        b_img, b_alpha, _ = cpp_forward(scene, dtype=dtype, tile_size=tile_size, **kw)
        assert rel_err(b_img, a_img) < 1e-6 and rel_err(b_alpha, a_alpha) < 1e-6
    rng = np.random.default_rng(0)
    w, wa = upstream(rng, a_img.shape, 23, 37)
    ga, *_ = cpp_backward(scene, w, wa, tile_size=16, **kw)
    gb, *_ = cpp_backward(scene, w, wa, tile_size=tile_size, **kw)
    for k in ga:
        assert ga[k] is not None and gb[k] is not None, f"{k} received no gradient"
        assert rel_err(gb[k], ga[k]) < 1e-9, k


# =================================================================== C++ backward

_FD_CASES = [  # sh_degree, render_mode, antialiased, background, dense
    (None, "RGB+D", False, True, False),
    (3, "RGB+ED", True, True, False),
    (1, "RGB", False, True, False),
    (2, "D", True, False, False),
    (0, "ED", False, False, False),
    (3, "RGB", True, False, False),
    (2, "RGB+ED", False, True, True),   # pixels stop at T <= 1e-4
    (None, "RGB", True, True, True),
]


@pytest.mark.parametrize("sh_degree, render_mode, antialiased, background, dense", _FD_CASES)
def test_backward_vs_finite_differences(sh_degree, render_mode, antialiased, background, dense):
    kw = dict(render_mode=render_mode, antialiased=antialiased)
    case = (sh_degree, render_mode, antialiased, background, dense)
    scene = fd_scene(200 + 7 * _FD_CASES.index(case), n=20 if dense else 12,
                     sh_degree=sh_degree, background=background, dense=dense, **kw)
    img, _, _ = cpp_forward(scene, **kw)
    rng = np.random.default_rng(3)
    w, wa = upstream(rng, img.shape, scene["height"], scene["width"])
    grads, *_ = cpp_backward(scene, w, wa, **kw)
    num = cpp_fd(scene, w, wa, GRAD_ARGS, eps=1e-7, **kw)
    for name, fd in num.items():
        g = grads.get(name)
        if np.all(fd == 0) and g is None:
            continue  # e.g. colours in a depth-only mode
        assert g is not None, f"{name} received no gradient"
        assert np.isfinite(g).all(), f"{name}: non-finite gradient"
        if np.linalg.norm(fd) == 0:
            assert np.abs(g).max() < 1e-10, f"{name}: gradient should be zero"
            continue
        err = rel_err(g, fd)
        hint = ("" if name != "viewmat" else " (the forward must take the camera centre from "
                "the full 4x4 inverse(viewmat), as the backward / gsplat do)")
        assert err < 1e-4, f"{name}: gradient relative error {err:.3e} vs finite differences{hint}"
    n = scene["means"].shape[0]
    for name in ("means", "scales", "opacities"):
        assert np.all(grads[name][n - 2:] == 0), f"culled Gaussians got a {name} gradient"


@pytest.mark.parametrize("render_mode, antialiased", [("RGB+ED", True), ("RGB", False)])
def test_means2d_grad(render_mode, antialiased):
    """info['means2d'].grad = FD of the reference w.r.t. an offset of the 2D
    means; zero for culled Gaussians; absgrad >= |grad|."""
    kw = dict(render_mode=render_mode, antialiased=antialiased)
    scene = fd_scene(300 + antialiased, sh_degree=3, **kw)
    n = scene["means"].shape[0]
    img, _, _ = cpp_forward(scene, **kw)
    rng = np.random.default_rng(4)
    w, wa = upstream(rng, img.shape, scene["height"], scene["width"])
    _, _, _, info = cpp_backward(scene, w, wa, **kw)
    g = info["means2d"].grad
    assert g is not None, "info['means2d'] received no gradient"
    g = g.numpy()
    num = ref.reference_grads_fd(dict(scene_args(scene), means2d_offset=np.zeros((n, 2))),
                                 w, wa, names=("means2d_offset",), eps=1e-7,
                                 **kw)["means2d_offset"]
    err = rel_err(g, num)
    assert err < 1e-4, f"means2d grad relative error {err:.3e}"
    a = info["means2d_absgrad"]
    absg = a.grad.numpy() if getattr(a, "grad", None) is not None else _np(a)
    assert absg.shape == (n, 2)
    assert np.all(absg >= np.abs(g) * (1 - 1e-12) - 1e-12)
    radii = _np(info["radii"])
    # the last two: one behind the camera (culled: radii 0), one far off screen
    assert np.all(g[-2:] == 0) and np.all(absg[-2:] == 0) and np.all(radii[-2] == 0)
    assert np.all(np.abs(g[:-2]).sum(1) > 0)


def test_means2d_grad_random_scene_float32():
    scene = random_scene(11, n=250, sh_degree=3)
    img, alpha, ex = ref.render_reference(**scene_args(scene), render_mode="RGB", stats=True)
    rng = np.random.default_rng(5)
    w, wa = upstream(rng, img.shape, 48, 64)
    grads, *_, info = cpp_backward(scene, w, wa, dtype=np.float32)
    g = info["means2d"].grad.numpy()
    a = info["means2d_absgrad"]
    absg = a.grad.numpy() if getattr(a, "grad", None) is not None else _np(a)
    radii = _np(info["radii"])
    assert np.isfinite(g).all() and np.isfinite(absg).all()
    culled = np.all(radii == 0, axis=1)
    assert np.all(g[culled] == 0) and np.all(absg[culled] == 0)
    assert np.all(absg >= np.abs(g) * (1 - 1e-5) - 1e-7)
    used = ex["n_pixels"] > 0
    assert np.all(absg[used].sum(1) > 0)
    for k, v in grads.items():
        assert np.isfinite(v).all(), k


def test_float32_grads_match_float64():
    kw = dict(render_mode="RGB+ED", antialiased=True)
    scene = screened(lambda s: random_scene(s, n=150, sh_degree=3), 12, [kw])
    img, _, _ = cpp_forward(scene, **kw)
    rng = np.random.default_rng(6)
    w, wa = upstream(rng, img.shape, 48, 64)
    g64, *_ = cpp_backward(scene, w, wa, dtype=np.float64, **kw)
    g32, *_ = cpp_backward(scene, w, wa, dtype=np.float32, **kw)
    for k in g64:
        assert g64[k] is not None and g32[k] is not None, f"{k} received no gradient"
        assert g32[k].dtype == np.float32
        assert rel_err(g32[k], g64[k]) < 1e-3, k


# =================================================================== golden

@needs_golden
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_golden(name, dtype):
    scene, kw, d = golden_scene(name)
    grads, img, alpha, info = cpp_backward(scene, d["grad_render"].astype(np.float64),
                                           d["grad_alpha"].astype(np.float64), dtype=dtype, **kw)
    assert img.shape == d["render"].shape and alpha.shape == d["alpha"].shape
    assert rel_err(img, d["render"]) < 1e-4 and np.abs(img - d["render"]).max() < 1e-3
    assert rel_err(alpha, d["alpha"]) < 1e-4 and np.abs(alpha - d["alpha"]).max() < 1e-3
    for nm, key in (("means", "dL_dmeans"), ("scales", "dL_dscales"), ("quats", "dL_dquats"),
                    ("opacities", "dL_dopacities"), ("colors_or_sh", "dL_dsh"),
                    ("viewmat", "dL_dviewmat")):
        assert grads[nm] is not None, f"{nm} received no gradient"
        err = rel_err(grads[nm], d[key])
        assert err < 1e-3, f"{name} {key} ({np.dtype(dtype).name}): relative error {err:.3e}"


# =================================================================== edge cases

def _edge_check(scene, kw=None, f32_tol=F32_TOL):
    kw = kw or {}
    compare_to_reference(scene, np.float64, F64_TOL, **kw)
    img, _, _, _ = compare_to_reference(scene, np.float32, f32_tol, **kw)
    rng = np.random.default_rng(0)
    w, wa = upstream(rng, img.shape, scene["height"], scene["width"])
    for dtype in (np.float32, np.float64):
        grads, *_ = cpp_backward(scene, w, wa, dtype=dtype, **kw)
        for k, v in grads.items():
            assert v is None or np.isfinite(v).all(), \
                f"{k}: non-finite gradient ({np.dtype(dtype).name})"
    return grads


def _camera_scene(pc, scales, width=32, height=24, sh_degree=3, seed=0):
    """Gaussians placed in camera space (identity-free random camera)."""
    rng = np.random.default_rng(seed)
    viewmat = look_at(np.array([0.3, -0.2, -3.0]), np.zeros(3), rng)
    K = intrinsics(rng, width, height)
    n = len(pc)
    return dict(means=to_world(np.asarray(pc, float), viewmat),
                quats=rng.standard_normal((n, 4)), scales=np.asarray(scales, float),
                opacities=rng.uniform(0.3, 0.9, n),
                colors_or_sh=random_colors(rng, n, sh_degree), viewmat=viewmat, K=K,
                width=width, height=height, sh_degree=sh_degree,
                background=np.array([0.1, 0.2, 0.3]))


def test_behind_camera_and_near_plane():
    pc = [[0.0, 0.0, -1.0],     # behind
          [0.0, 0.0, 0.0],      # at the camera centre (SH direction 0/0)
          [0.01, 0.0, 0.005],   # in front of the camera, before near
          [0.0, 0.0, 0.03],     # just past near, straddling it (large)
          [0.1, 0.05, 0.5],     # large, close
          [0.2, 0.1, 3.0], [-0.3, 0.0, 2.5], [0.0, -0.2, 3.5]]
    scales = [[0.3, 0.3, 0.3], [0.2, 0.2, 0.2], [0.1, 0.1, 0.1], [0.05, 0.05, 0.05],
              [0.2, 0.1, 0.3], [0.2, 0.1, 0.15], [0.1, 0.2, 0.1], [0.3, 0.1, 0.2]]
    scene = _camera_scene(pc, scales)
    for kw in (dict(render_mode="RGB+ED"), dict(render_mode="RGB+D", antialiased=True)):
        _edge_check(scene, kw, f32_tol=1e-3)
        _, _, info = cpp_forward(scene, **kw)
        assert np.all(_np(info["radii"])[:3] == 0)


def test_gaussians_on_the_border():
    rng = np.random.default_rng(2)
    W, H = 32, 24
    K = intrinsics(rng, W, H)
    uv = [[0, 12], [W, 12], [16, 0], [16, H], [0, 0], [W, H], [-2, 5], [W + 2, 20],
          [5, -2], [20, H + 2], [-0.5, -0.5], [W + 0.5, H + 0.5]]
    zs = 2.5 + 0.1 * np.arange(len(uv))  # distinct depths: no ordering ties
    pc = [[(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z]
          for (u, v), z in zip(uv, zs)]
    scene = _camera_scene(pc, np.full((len(pc), 3), 0.15), width=W, height=H)
    scene["K"] = K  # the camera-space positions above were made with this K
    _edge_check(scene, dict(render_mode="RGB+D"))


def test_degenerate_scales():
    def make(seed):
        scene = random_scene(seed, n=60, width=32, height=24, sh_degree=1, n_culled=0)
        scene["scales"][:20, 0] = 1e-8
        scene["scales"][20:30] = 1e-8       # a point: only the 0.3 px low-pass is left
        scene["scales"][30:35, 1:] = 1e-8   # a needle
        return scene
    scene = screened(make, 13, [dict(render_mode="RGB"),
                                dict(render_mode="RGB+ED", antialiased=True)])
    _edge_check(scene, dict(render_mode="RGB"))
    _edge_check(scene, dict(render_mode="RGB+ED", antialiased=True))


@pytest.mark.parametrize("render_mode", ["RGB", "RGB+D", "D"])
def test_zero_gaussians(render_mode):
    bg = np.array([0.2, 0.4, 0.6]) if render_mode != "D" else None
    scene = dict(means=np.zeros((0, 3)), quats=np.zeros((0, 4)), scales=np.zeros((0, 3)),
                 opacities=np.zeros(0), colors_or_sh=np.zeros((0, 16, 3)),
                 viewmat=np.eye(4), K=np.array([[20.0, 0, 8], [0, 20.0, 6], [0, 0, 1]]),
                 width=16, height=12, sh_degree=3, background=bg)
    for dtype in (np.float32, np.float64):
        img, alpha, info = cpp_forward(scene, dtype=dtype, render_mode=render_mode)
        want = np.zeros((12, 16, {"RGB": 3, "RGB+D": 4, "D": 1}[render_mode]))
        if bg is not None:
            want[..., :3] = bg
        np.testing.assert_array_equal(img, want.astype(dtype))
        np.testing.assert_array_equal(alpha, np.zeros((12, 16, 1), dtype))
        assert _int(info["n_isects"]) == 0
    if bg is not None:
        w = np.random.default_rng(0).standard_normal(want.shape)
        grads, *_ = cpp_backward(scene, w, np.zeros((12, 16, 1)), render_mode=render_mode)
        np.testing.assert_allclose(grads["background"], w[..., :3].sum((0, 1)), rtol=1e-10,
                                   atol=1e-10)


def test_one_pixel_image():
    K = np.array([[1.2, 0, 0.5], [0, 1.2, 0.5], [0, 0, 1]])
    kw = dict(render_mode="RGB+ED")
    scene = screened(lambda s: random_scene(s, n=50, width=1, height=1, sh_degree=2, K=K), 14,
                     [kw])
    _edge_check(scene, kw)


def test_size_not_multiple_of_tile():
    kw = dict(render_mode="RGB+D", antialiased=True)
    scene = screened(lambda s: random_scene(s, n=200, width=37, height=23, sh_degree=3), 15,
                     [kw])
    _edge_check(scene, kw)
    for ts in (8, 16):
        img, _, _ = cpp_forward(scene, tile_size=ts)
        assert img.shape == (23, 37, 3)


@pytest.mark.parametrize("arg", ["means", "scales", "opacities"])
def test_nan_input_raises(arg):
    scene = random_scene(16, n=10, width=16, height=12, sh_degree=0, n_culled=0)
    scene[arg] = scene[arg].copy()
    scene[arg].reshape(-1)[4] = np.nan
    with pytest.raises(ValueError, match=arg):
        cpp_forward(scene, dtype=np.float32)


def _shape_re(shape):
    return r"\D{1,4}".join(str(s) for s in shape)


_BAD_SHAPES = [  # argument, replacement shape, sh_degree
    ("means", (10, 2), 0), ("quats", (10, 3), 0), ("scales", (9, 3), 0),
    ("opacities", (11,), 0), ("colors_or_sh", (12, 3), None),
    ("colors_or_sh", (10, 3, 3), 2), ("viewmat", (3, 4), 0), ("K", (2, 3), 0),
    ("background", (2,), 0),
]


@pytest.mark.parametrize("arg, shape, sh_degree", _BAD_SHAPES)
def test_wrong_shape_raises(arg, shape, sh_degree):
    scene = random_scene(17, n=10, width=16, height=12, sh_degree=sh_degree, n_culled=0)
    scene[arg] = np.full(shape, 0.5)
    with pytest.raises(ValueError) as e:
        cpp_forward(scene, dtype=np.float32)
    msg = str(e.value)
    name = "colors" if arg == "colors_or_sh" else arg
    assert name in msg, f"message does not name {arg!r}: {msg}"
    assert re.search(_shape_re(shape), msg), f"message does not show the shape {shape}: {msg}"


def test_million_gaussians():
    """1M tiny Gaussians at 256x256: forward + backward without blowing up
    memory (each touches a few pixels: the 0.3 px low-pass dominates)."""
    n, W, H = 1_000_000, 256, 256
    rng = np.random.default_rng(18)
    K = np.array([[256.0, 0, 128], [0, 256.0, 128], [0, 0, 1]])
    z = rng.uniform(2, 6, n)
    pc = np.column_stack([(rng.uniform(-8, W + 8, n) - 128) / 256 * z,
                          (rng.uniform(-8, H + 8, n) - 128) / 256 * z, z])
    pc[: n // 100, 2] *= -1  # 1% behind the camera
    scene = dict(means=pc, quats=rng.standard_normal((n, 4)),
                 scales=rng.uniform(1e-4, 3e-3, (n, 3)), opacities=rng.uniform(0.05, 0.9, n),
                 colors_or_sh=rng.uniform(0, 1, (n, 3)), viewmat=np.eye(4), K=K,
                 width=W, height=H, sh_degree=None, background=None)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    w = rng.standard_normal((H, W, 3)).astype(np.float32)
    grads, img, alpha, info = cpp_backward(scene, w, np.zeros((H, W, 1), np.float32),
                                           dtype=np.float32)
    dt = time.perf_counter() - t0
    grow_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # Linux: KiB
    assert np.isfinite(img).all() and np.isfinite(alpha).all()
    assert 0.5 < float(alpha.mean()) <= 1.0
    for k, v in grads.items():
        assert np.isfinite(v).all(), k
    assert _int(info["n_isects"]) >= n // 2
    assert grow_mb < 3000, f"peak memory grew by {grow_mb:.0f} MB"
    assert dt < 60, f"1M Gaussians forward+backward took {dt:.1f} s"


def edge_scene(seed, n=300):
    """Gaussians around and beyond the image borders, some large and elongated,
    so that many are culled as off screen and many just reach in from outside
    (the early off-screen test must never drop one of those)."""
    scene = random_scene(seed, n=n, sh_degree=1, n_culled=0)
    rng = np.random.default_rng(seed + 1)
    vm, K = scene["viewmat"], scene["K"]
    w, h = scene["width"], scene["height"]
    z = rng.uniform(1.0, 4.0, n)
    u = rng.uniform(-0.6 * w, 1.6 * w, n)  # pixels, well past both edges
    v = rng.uniform(-0.6 * h, 1.6 * h, n)
    pc = np.column_stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z])
    scene["means"] = to_world(pc, vm)
    scene["scales"] = np.exp(rng.uniform(np.log(0.01), np.log(0.6), (n, 3)))
    return scene


@pytest.mark.parametrize("antialiased", [False, True])
def test_gaussians_reaching_in_from_off_screen(antialiased):
    kw = dict(antialiased=antialiased)
    scene = screened(edge_scene, 900 + antialiased, [kw])
    _, _, info = cpp_forward(scene, **kw)
    p = ref.project(**{k: scene[k] for k in ("means", "quats", "scales", "opacities", "viewmat", "K",
                                             "width", "height")}, antialiased=antialiased)
    off = (p["means2d"] < 0).any(1) | (p["means2d"][:, 0] >= scene["width"]) | (
        p["means2d"][:, 1] >= scene["height"])
    reaching = off & (_np(info["radii"]) > 0).any(1)
    assert off.sum() > 100 and reaching.sum() > 20, (off.sum(), reaching.sum())
    compare_to_reference(scene, np.float64, F64_TOL, **kw)
    compare_to_reference(scene, np.float32, F32_TOL, **kw)


@pytest.mark.parametrize("name", ["means", "quats", "scales", "opacities", "colors_or_sh"])
def test_non_finite_input_is_an_error(name):
    scene = random_scene(41, n=60, sh_degree=2, n_culled=0)
    _, _, info = cpp_forward(scene)
    i = int(np.nonzero((_np(info["radii"]) > 0).any(1))[0][0])  # a visible Gaussian
    bad = np.array(scene[name], dtype=np.float64, copy=True)
    bad[i] = np.nan if name != "scales" else np.inf
    scene[name] = bad
    with pytest.raises(ValueError, match=f"rasterize: {name} contains NaN or infinite values"):
        cpp_forward(scene)


@pytest.mark.parametrize("sh_degree,antialiased", [(0, False), (1, True), (2, False), (3, True)])
def test_parameter_form_matches_activated_form(sh_degree, antialiased):
    """rasterize_params(log-scales, logits, sh0, shN) against rasterize on exp,
    sigmoid and concat of the same tensors through autograd: image, alpha and
    the gradient of every parameter."""
    scene = random_scene(77 + sh_degree, n=120, sh_degree=3, n_culled=3)
    rng = np.random.default_rng(sh_degree)
    sh = np.asarray(scene["colors_or_sh"], np.float64)
    raw = dict(means=scene["means"], quats=scene["quats"], scales=np.log(scene["scales"]),
               opacities=np.log(scene["opacities"] / (1 - scene["opacities"])),
               sh0=sh[:, :1].copy(), shN=sh[:, 1:].copy())
    w_img = rng.standard_normal((scene["height"], scene["width"], 3))
    w_alpha = rng.standard_normal((scene["height"], scene["width"], 1))
    outs = []
    for fused in (True, False):
        t = {k: sc.tensor(np.ascontiguousarray(v, np.float64)) for k, v in raw.items()}
        for v in t.values():
            v.requires_grad = True
        cam = dict(viewmat=scene["viewmat"], K=scene["K"], width=scene["width"], height=scene["height"],
                   sh_degree=sh_degree, background=scene["background"], antialiased=antialiased)
        if fused:
            img, alpha, info = sc._core.rasterize_params(t["means"], t["quats"], t["scales"],
                                                         t["opacities"], t["sh0"], t["shN"], **cam)
        else:
            img, alpha, info = sc.splat.rasterize(
                t["means"], t["quats"], sc._core.exp(t["scales"]), sc._core.sigmoid(t["opacities"]),
                sc._core.concat([t["sh0"], t["shN"]], 1), **cam)
        loss = (img * sc.tensor(w_img)).sum() + (alpha * sc.tensor(w_alpha)).sum()
        loss.backward()
        outs.append((_np(img), _np(alpha), _np(info["radii"]), {k: _np(v.grad) for k, v in t.items()}))
    (i1, a1, r1, g1), (i2, a2, r2, g2) = outs
    assert (r1 > 0).any(1).sum() > 50
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_allclose(i1, i2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a1, a2, rtol=1e-12, atol=1e-12)
    for k in g1:
        scale = np.abs(g2[k]).max() + 1e-30
        assert np.abs(g1[k] - g2[k]).max() <= 1e-10 * scale, k
    assert np.abs(g1["shN"]).max() > 0 or sh_degree == 0
    if sh_degree < 3:  # bands above the degree get exact zeros
        assert not g1["shN"][:, (sh_degree + 1) ** 2 - 1:].any()


def test_parameter_form_errors():
    scene = random_scene(5, n=10, sh_degree=1, n_culled=0)
    n = len(scene["means"])
    args = [scene["means"], scene["quats"], np.log(scene["scales"]), np.zeros(n), np.zeros((n, 1, 3)),
            np.zeros((n, 3, 3)), scene["viewmat"], scene["K"], scene["width"], scene["height"]]
    with pytest.raises(ValueError, match=r"shN must have shape \(N, K-1, 3\) with K >= 9"):
        sc._core.rasterize_params(*args, 2)
    bad = list(args)
    bad[4] = np.zeros((n, 3))
    with pytest.raises(ValueError, match="sh0 must have shape"):
        sc._core.rasterize_params(*bad, 1)
    bad = list(args)
    bad[5] = np.full((n, 3, 3), np.nan)
    with pytest.raises(ValueError, match="sh0 or shN contains NaN"):
        sc._core.rasterize_params(*bad, 1)

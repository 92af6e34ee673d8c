"""The embedded synthetic demo scene: cameras, ray tracing against the analytic SDF,
depth maps, splits, initial points, determinism and a timing print."""
import time

import numpy as np
import pytest

from splatcore.datasets import synthetic as S
from splatcore.datasets import make_cameras, make_dataset, make_scene, render


@pytest.fixture(scope="module")
def scene():
    return make_scene(seed=0)


@pytest.fixture(scope="module")
def default_dataset():
    t0 = time.perf_counter()
    ds = make_dataset()
    dt = time.perf_counter() - t0
    ds._build_seconds = dt
    return ds


def _unproject(depth, K, viewmat, mask):
    K = K.astype(np.float64)
    M = viewmat.astype(np.float64)
    ys, xs = np.nonzero(mask)
    z = depth[ys, xs].astype(np.float64)
    pc = np.stack([(xs + 0.5 - K[0, 2]) / K[0, 0] * z, (ys + 0.5 - K[1, 2]) / K[1, 1] * z, z], axis=1)
    return (pc - M[:3, 3]) @ M[:3, :3]


def _random_rays(rng, n, target, spread=0.9, dist=3.0):
    """Rays from a sphere of radius ``dist`` around ``target`` towards jittered targets."""
    o = rng.normal(size=(n, 3))
    o[:, 2] = np.abs(o[:, 2])  # from above the ground
    o = target + dist * o / np.linalg.norm(o, axis=1, keepdims=True)
    aim = target + rng.uniform(-spread, spread, size=(n, 3))
    d = aim - o
    return o, d / np.linalg.norm(d, axis=1, keepdims=True)


# ---------------------------------------------------------------- cameras


def test_cameras_look_at_centre_and_are_upright():
    W, H = 128, 96
    cams = make_cameras(n_views=60, width=W, height=H, fov_deg=50, seed=0)
    assert len(cams) == 60
    c = np.array(S.SCENE_CENTER)
    for i, cam in enumerate(cams):
        assert cam["name"] == f"view_{i:03d}.png"
        assert cam["viewmat"].shape == (4, 4) and cam["viewmat"].dtype == np.float32
        assert cam["K"].shape == (3, 3) and cam["K"].dtype == np.float32
        assert (cam["width"], cam["height"]) == (W, H)
        M = cam["viewmat"].astype(np.float64)
        R, t = M[:3, :3], M[:3, 3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(M[3], [0, 0, 0, 1])
        xc = R @ c + t
        assert xc[2] > 0  # in front (camera looks down +z)
        uv = (cam["K"].astype(np.float64) @ (xc / xc[2]))[:2]
        np.testing.assert_allclose(uv, [W / 2, H / 2], atol=1e-3)
        # not upside down: image y (row 1 of R) points down in the world (+z is up)
        assert R[1] @ np.array([0.0, 0.0, 1.0]) < -0.5
        # image x is horizontal (no roll)
        assert abs(R[0, 2]) < 1e-6
        eye = -R.T @ t
        assert eye[2] > c[2]  # upper hemisphere
    fx = cams[0]["K"][0, 0]
    assert fx == pytest.approx(0.5 * W / np.tan(np.deg2rad(25.0)), rel=1e-6)


def test_cameras_deterministic_with_seed():
    a = make_cameras(n_views=12, seed=5)
    b = make_cameras(n_views=12, seed=5)
    c = make_cameras(n_views=12, seed=6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["viewmat"], y["viewmat"])
        np.testing.assert_array_equal(x["K"], y["K"])
    assert any(not np.array_equal(x["viewmat"], y["viewmat"]) for x, y in zip(a, c))


def test_camera_argument_errors():
    with pytest.raises(ValueError, match="n_views"):
        make_cameras(n_views=0)
    with pytest.raises(ValueError, match="fov_deg"):
        make_cameras(fov_deg=180)


def test_scene_deterministic_with_seed():
    a, b, c = make_scene(3), make_scene(3), make_scene(4)
    p = np.random.default_rng(0).uniform(-1, 1, size=(500, 3))
    np.testing.assert_array_equal(a.sdf(p), b.sdf(p))
    assert not np.array_equal(a.sdf(p), c.sdf(p))


# ---------------------------------------------------------------- geometry


def test_scene_layout(scene):
    lo, hi = scene.object_bounds()
    assert lo[2] > -0.05 and hi[2] < 1.0  # above the ground
    assert np.hypot(lo[:2], hi[:2]).max() < 1.5
    # the objects fit in about a unit radius around the vertical axis
    pts = scene.sample_surface(4000, seed=1)
    above = pts[pts[:, 2] > 1e-6]
    assert np.hypot(above[:, 0], above[:, 1]).max() < 1.1
    blo, bhi = scene.bounds()
    assert np.all(pts >= blo - 1e-9) and np.all(pts <= bhi + 1e-9)
    # inside / outside signs
    sph = scene["sphere"]
    assert scene.sdf(sph.center[None])[0] < 0
    # outside, the SDF is the distance to the surface: compare with dense surface samples
    rng = np.random.default_rng(0)
    q = np.column_stack([rng.uniform(-1.2, 1.2, (30, 2)), rng.uniform(0.05, 1.5, 30)])
    q = q[scene.sdf(q) > 0]
    dense = scene.sample_surface(100000, seed=2)
    brute = np.array([np.linalg.norm(dense - x, axis=1).min() for x in q])
    sd = scene.sdf(q)
    assert np.all(sd <= brute + 1e-9) and np.all(brute - sd < 0.02)
    assert scene.sdf(np.array([[0.0, 0.0, -0.05]]))[0] < 0  # inside the ground slab


def test_every_intersection_is_on_the_surface(scene, rng):
    o, d = _random_rays(rng, 8000, scene.center)
    n_hits = 0
    for ob in scene.objects:
        t = ob.intersect(o, d)
        hit = np.isfinite(t)
        n_hits += hit.sum()
        p = o[hit] + t[hit, None] * d[hit]
        assert np.abs(ob.sdf(p)).max() < 1e-5, ob.name
        # first hit: the ray is outside the object before t
        for f in (0.0, 0.25, 0.5, 0.9, 0.999):
            q = o[hit] + (f * t[hit])[:, None] * d[hit]
            assert ob.sdf(q).min() > -1e-9, ob.name
        # normals are unit and agree with the SDF gradient
        nrm = ob.normal(p)
        h = 1e-5
        g = np.stack([(ob.sdf(p + h * e) - ob.sdf(p - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
        ok = np.linalg.norm(g, axis=1) > 0.999  # away from box edges, where the gradient is undefined
        np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1.0, atol=1e-9)
        assert (np.einsum("ij,ij->i", nrm[ok], g[ok]) > 0.999).mean() > 0.99, ob.name
    assert n_hits > 4000
    # the scene's nearest hit is on the union's surface
    t, k = scene.trace(o, d)
    hit = k >= 0
    assert 0.3 < hit.mean() <= 1.0
    p = o[hit] + t[hit, None] * d[hit]
    assert np.abs(scene.sdf(p)).max() < 1e-3
    # misses: marching along the ray never enters the union
    miss = np.nonzero(~hit)[0][:100]
    ts = np.linspace(0.0, 8.0, 4001)
    q = o[miss, None, :] + ts[None, :, None] * d[miss, None, :]
    assert scene.sdf(q.reshape(-1, 3)).min() > -1e-9


def test_torus_matches_brute_force_ray_marching(scene, rng):
    tor = scene["torus"]
    # rays aimed at random points near the torus (many hits, some misses, a few grazing)
    n = 64
    o, d = _random_rays(rng, n, tor.center, spread=0.45, dist=2.5)
    t = tor.intersect(o, d)
    assert 10 < np.isfinite(t).sum() < n
    step = 1e-4
    ts = np.arange(0.0, 5.0, step)
    checked = 0
    for i in range(n):
        s = tor.sdf(o[i] + ts[:, None] * d[i])
        if np.abs(s).min() > 0 and (s.min() > 1e-3):  # clear miss
            assert not np.isfinite(t[i])
            checked += 1
            continue
        inside = np.nonzero(s < 0)[0]
        if len(inside) == 0:
            continue  # grazing within 1e-3: ambiguous at this resolution
        j = inside[0]
        a, b = ts[j - 1], ts[j]  # bracket, refined by bisection
        for _ in range(40):
            m = 0.5 * (a + b)
            if tor.sdf((o[i] + m * d[i])[None])[0] < 0:
                b = m
            else:
                a = m
        assert np.isfinite(t[i]), i
        assert abs(t[i] - 0.5 * (a + b)) < 1e-4, (i, t[i], a)  # grazing rays: t early by <1e-4
        checked += 1
    assert checked > 50


def test_sample_surface(scene):
    p, n = scene.sample_surface(5000, seed=3, return_normals=True)
    assert p.shape == (5000, 3) and p.dtype == np.float64
    assert np.abs(scene.sdf(p)).max() < 1e-6
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(p, scene.sample_surface(5000, seed=3))
    assert not np.array_equal(p, scene.sample_surface(5000, seed=4))
    # ground samples are on the top face, inside its square, nowhere under the box
    g = scene["ground"]
    on_ground = np.abs(p[:, 2]) < 1e-12
    assert np.all(np.abs(p[on_ground, :2]) <= g.half[:2] + 1e-12)
    assert np.all(scene["box"].sdf(p[on_ground]) > 0)
    # roughly uniform by area: the share of each object follows its visible area
    areas = np.array([o.area() for o in scene.objects])
    share = np.array([(np.abs(o.sdf(p)) < 1e-6).mean() for o in scene.objects])
    np.testing.assert_allclose(share, areas / areas.sum(), atol=0.03)


# ---------------------------------------------------------------- rendering


def test_render_depth_consistent_with_surface(scene):
    cams = make_cameras(n_views=5, width=96, height=72, seed=2)
    for cam in cams:
        out = render(scene, cam, spp=2)
        img, depth, mask = out["image"], out["depth"], out["mask"]
        assert img.shape == (72, 96, 3) and img.dtype == np.float32
        assert depth.shape == (72, 96) and mask.dtype == np.bool_
        assert 0.2 < mask.mean() < 1.0
        assert np.all(depth[~mask] == 0) and np.all(depth[mask] > 0)
        pts = _unproject(depth, cam["K"], cam["viewmat"], mask)
        assert np.abs(scene.sdf(pts)).max() < 1e-3
        # each pixel's object id matches the object whose surface the point is on
        obj = out["object"][mask]
        per = scene.sdf_objects(pts)
        assert np.all(np.abs(per[np.arange(len(pts)), obj]) < 1e-3)
        # normals face the camera
        eye = S.camera_center(cam["viewmat"])
        nrm = out["normal"][mask].astype(np.float64)
        assert np.all(np.einsum("ij,ij->i", nrm, eye - pts) > -1e-3)


def test_render_values_and_background(scene):
    cam = make_cameras(n_views=3, width=64, height=48, seed=0)[1]
    out = render(scene, cam, spp=1)
    img, mask = out["image"], out["mask"]
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert (~mask).any()
    np.testing.assert_allclose(img[~mask], np.broadcast_to(scene.background, img[~mask].shape), atol=1e-6)
    assert img[mask].std() > 0.1  # textured
    # anti-aliased render: the centre-sample outputs are identical, colours close
    aa = render(scene, cam, spp=4)
    np.testing.assert_array_equal(aa["depth"], out["depth"])
    np.testing.assert_array_equal(aa["mask"], out["mask"])
    assert np.abs(aa["image"] - img).mean() < 0.05
    np.testing.assert_array_equal(render(scene, cam, spp=4)["image"], aa["image"])  # deterministic
    # coverage: 1 inside objects, 0 in the open, fractional only along silhouettes
    alpha = aa["alpha"]
    assert alpha.dtype == np.float32 and alpha.min() >= 0 and alpha.max() <= 1
    assert np.all(alpha[aa["mask"]] > 0) and np.all(alpha[~aa["mask"]] < 1)
    assert ((alpha > 0) & (alpha < 1)).mean() < 0.1
    # a coloured background shows where every sample misses
    sky = make_scene(seed=0, background=(0.6, 0.7, 0.8))
    out = render(sky, cam, spp=4)
    open_ = out["alpha"] == 0
    assert open_.any()
    np.testing.assert_allclose(out["image"][open_], np.broadcast_to([0.6, 0.7, 0.8], out["image"][open_].shape),
                               atol=1e-6)


def test_shadows_darken(scene):
    cam = make_cameras(n_views=1, width=64, height=48, seed=0)[0]
    lit = render(scene, cam, spp=1)["image"]
    scene_ns = make_scene(seed=0, shadows=False)
    ns = render(scene_ns, cam, spp=1)["image"]
    assert np.all(lit <= ns + 1e-6)
    assert (lit < ns - 1e-3).any()


# ---------------------------------------------------------------- dataset


def test_dataset_splits_and_items():
    ds = make_dataset(n_views=20, width=32, height=24, seed=1, n_points=500)
    assert len(ds) == 20
    assert ds.test_indices == [0, 8, 16]
    assert ds.train_indices == [i for i in range(20) if i not in (0, 8, 16)]
    assert [v.name for v in ds.test] == ["view_000.png", "view_008.png", "view_016.png"]
    assert len(ds.train) == 17
    v = ds[3]
    assert v is list(ds)[3]
    assert v["image"] is v.image and v.image.shape == (24, 32, 3)
    assert "mask" in v and "alpha" in v and "nope" not in v
    assert v["mask"].dtype == np.bool_ and v["alpha"].shape == (24, 32)
    with pytest.raises(KeyError):
        v["nope"]
    assert set(v.keys()) >= {"name", "image", "viewmat", "K", "width", "height"}
    assert (v.width, v.height) == (32, 24)
    xyz, rgb = ds.points
    assert xyz.shape == (500, 3) and xyz.dtype == np.float64
    assert rgb.shape == (500, 3) and rgb.dtype == np.uint8
    ds2 = make_dataset(n_views=10, width=16, height=12, holdout_every=0, n_points=50)
    assert ds2.test_indices == [] and len(ds2.train) == 10


def test_dataset_deterministic():
    a = make_dataset(n_views=6, width=32, height=24, seed=2, n_points=200)
    b = make_dataset(n_views=6, width=32, height=24, seed=2, n_points=200)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.viewmat, y.viewmat)
    np.testing.assert_array_equal(a.points.xyz, b.points.xyz)
    np.testing.assert_array_equal(a.points.rgb, b.points.rgb)


def test_default_dataset(default_dataset, capsys):
    ds = default_dataset
    with capsys.disabled():
        print(f"\n[synthetic] make_dataset() (60 views 128x96, 4 spp + 3000 points): "
              f"{ds._build_seconds:.2f} s")
    assert len(ds) == 60 and len(ds.test) == 8 and len(ds.train) == 52
    assert ds.test_indices == list(range(0, 60, 8))
    for v in ds:
        assert v.image.shape == (96, 128, 3) and v.image.dtype == np.float32
        assert v.image.min() >= 0.0 and v.image.max() <= 1.0
    # scene extent: 3DGS convention
    c = ds.camera_centers()
    expect = 1.1 * np.linalg.norm(c - c.mean(axis=0), axis=1).max()
    assert ds.scene_extent() == pytest.approx(expect)
    assert 2.0 < ds.scene_extent() < 5.0
    # initial points: COLMAP-like, near the surfaces, coloured
    xyz, rgb = ds.points
    assert 2000 <= len(xyz) <= 5000
    d = np.abs(ds.scene.sdf(xyz))
    assert np.median(d) < 0.01 and d.max() < 0.05
    assert rgb.std() > 20
    assert ds.background.shape == (3,)

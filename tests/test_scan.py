"""`splatcore scan` (splatcore.scan): the co-visibility test against a brute-force
reference, point fusion, the COLMAP export read back, joint pose refinement
(gradient against finite differences, recovery of perturbed poses), the whole
command end to end on the small random-weight MASt3R of ../shared/golden/mast3r
(plumbing only: it completes, outputs are finite, the files exist), the pipeline on
MASt3R-like pointmaps made from known cameras (recovered cameras checked against
the truth), and bad input (empty folder, one photo, unreadable files, photos that
do not overlap, missing weights)."""
import json
import os
import time

import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore.align import synthetic as synth
from splatcore.datasets import synthetic as scene_mod
from splatcore.io.colmap import read_model
from splatcore.io.ply import read_point_ply
from splatcore.scan import (
    MissingWeightsError, candidate_masks, covisibility_mask, fuse_points, image_names,
    list_photos, scan, scan_train_config, split_views,
)
from splatcore.scan.poses import PoseRefiner, PoseRefiningTrainer, se3_exp, twist_gradient

GOLDEN = os.environ.get(
    "SPLATCORE_GOLDEN_MAST3R",
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "golden", "mast3r"))
if not os.path.isdir(GOLDEN) and os.path.isdir("/work/shared/golden/mast3r"):
    GOLDEN = "/work/shared/golden/mast3r"
GOLDEN_WEIGHTS = os.path.join(GOLDEN, "weights.safetensors")
needs_golden = pytest.mark.skipif(not os.path.isfile(GOLDEN_WEIGHTS),
                                  reason="../shared/golden/mast3r (random-weight MASt3R) not available")

TRAIN_FILES = ("scene.ply", "cameras.json", "checkpoint.safetensors", "curve.csv", "metrics.json")
SCAN_FILES = ("points.ply", "scan.json", "sparse/0/cameras.bin", "sparse/0/images.bin",
              "sparse/0/points3D.bin")


# ---- helpers ------------------------------------------------------------------------

def _save(path, img01):
    from PIL import Image
    Image.fromarray(np.clip(np.round(img01 * 255), 0, 255).astype(np.uint8)).save(path)


def _photos(folder, sizes=((64, 48), (64, 48), (64, 48), (40, 60)), seed=0):
    """Small renders of the demo scene round a ring, the last one portrait and of
    another size; PNG and JPEG mixed."""
    os.makedirs(folder, exist_ok=True)
    scene = scene_mod.make_scene(seed)
    n = len(sizes)
    paths = []
    for k, (w, h) in enumerate(sizes):
        cam = scene_mod.make_cameras(n_views=n, width=w, height=h, seed=seed)[k]
        img = scene_mod.render(scene, cam, spp=1)["image"]
        p = os.path.join(folder, f"photo_{k}.{'png' if k % 2 == 0 else 'jpg'}")
        _save(p, img)
        paths.append(p)
    return paths


def _assert_outputs(out, n_views):
    for f in TRAIN_FILES + SCAN_FILES:
        assert os.path.isfile(os.path.join(out, f)), f
    assert not [f for f in os.listdir(out) if ".tmp" in f]
    from splatcore.gaussians import Gaussians
    g = Gaussians.load_ply(os.path.join(out, "scene.ply"))
    assert len(g) > 0
    for name in Gaussians.NAMES:
        assert np.isfinite(getattr(g, name).numpy()).all(), name
    pc = read_point_ply(os.path.join(out, "points.ply"))
    assert len(pc.xyz) > 0 and np.isfinite(pc.xyz).all() and pc.rgb is not None
    model = read_model(os.path.join(out, "sparse", "0"))
    assert len(model.images) == len(model.cameras) == n_views
    assert len(model.points) == len(pc.xyz)
    for im in model.images.values():
        assert np.isfinite(im.viewmat).all()
        assert os.path.isfile(os.path.join(out, "images", im.name))
    cams = json.load(open(os.path.join(out, "cameras.json")))
    assert np.isfinite(np.array([c["viewmat"] for c in cams["train"] + cams["test"]])).all()
    rep = json.load(open(os.path.join(out, "scan.json")))  # strict JSON: no NaN
    return model, rep


def _check_colmap_matches(model, res):
    """sparse/0 holds the alignment's cameras: PINHOLE K and world-to-camera poses."""
    by_name = {im.name: im for im in model.images.values()}
    for k, name in enumerate(res.names):
        if not res.alignment.aligned[k]:
            assert name not in by_name
            continue
        im = by_name[name]
        cam = model.cameras[im.camera_id]
        assert cam.model == "PINHOLE"
        h, w = res.alignment.image_shapes[k]
        assert (cam.width, cam.height) == (w, h)
        np.testing.assert_allclose(cam.K, res.alignment.K[k], rtol=1e-6, atol=1e-6)
        if not res.report["refine_poses"]:
            np.testing.assert_allclose(im.viewmat, res.alignment.world_to_cam[k], atol=1e-5)


# ---- co-visibility ------------------------------------------------------------------

def covisibility_bruteforce(pts3d, conf, depths, K, w2c, cand, neighbours, tol):
    """The rule of splatcore.scan.points, one point and one other image at a time."""
    keep = [c.copy() for c in cand]
    for i in range(len(pts3d)):
        H, W = cand[i].shape
        for y in range(H):
            for x in range(W):
                if not cand[i][y, x]:
                    continue
                X = np.asarray(pts3d[i][y, x], np.float64)
                for j in neighbours[i]:
                    if j == i:
                        continue
                    Xc = w2c[j][:3, :3] @ X + w2c[j][:3, 3]
                    z = Xc[2]
                    if not z > 0:
                        continue
                    u = K[j][0, 0] * (Xc[0] / z) + K[j][0, 2]
                    v = K[j][1, 1] * (Xc[1] / z) + K[j][1, 2]
                    hj, wj = cand[j].shape
                    if not (0 <= u < wj and 0 <= v < hj):
                        continue
                    qx, qy = min(int(np.floor(u)), wj - 1), min(int(np.floor(v)), hj - 1)
                    if not cand[j][qy, qx]:
                        continue
                    dj = float(depths[j][qy, qx])
                    if abs(z - dj) > tol * dj:
                        continue
                    ci, cj = float(conf[i][y, x]), float(conf[j][qy, qx])
                    if cj > ci or (cj == ci and j < i):
                        keep[i][y, x] = False
                        break
    return keep


def _scene_maps(n=4, w=24, h=16, seed=0, depth_noise=0.06):
    """World points, depths and confidences of n cameras round the demo scene, with
    per-pixel relative depth noise (so the depth test goes both ways) and
    confidences on a coarse grid (so ties happen)."""
    rng = np.random.default_rng(seed)
    K, c2w = synth.make_cameras(n, w, h, seed=seed)
    objs = synth.scene_objects(seed)
    pts, depths, confs = [], [], []
    for k in range(n):
        d = synth.render_depth(objs, K[k], c2w[k], w, h)
        d = d * (1 + rng.uniform(-depth_noise, depth_noise, d.shape))
        u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        cam = np.stack([(u - K[k][0, 2]) / K[k][0, 0], (v - K[k][1, 2]) / K[k][1, 1],
                        np.ones_like(u)], -1) * d[..., None]
        pts.append((cam @ c2w[k][:3, :3].T + c2w[k][:3, 3]).astype(np.float32))
        depths.append(d.astype(np.float32))
        confs.append(np.round(rng.uniform(1.0, 6.0, (h, w)) * 2) / 2)  # ties on a 0.5 grid
    return pts, depths, confs, K, np.linalg.inv(c2w)


def test_covisibility_matches_bruteforce():
    pts, depths, confs, K, w2c = _scene_maps()
    n = len(pts)
    cand = candidate_masks(pts, confs, depths, 2.0)
    # one pixel with a non-finite point is never a candidate
    pts[1][3, 4] = np.nan
    cand = candidate_masks(pts, confs, depths, 2.0)
    assert not cand[1][3, 4]
    neighbours = [[j for j in range(n) if j != i] for i in range(n)]
    for tol in (0.02, 0.1):
        fast = covisibility_mask(pts, confs, depths, K, w2c, cand, neighbours, tol)
        ref = covisibility_bruteforce(pts, confs, depths, K, w2c, cand, neighbours, tol)
        for k in range(n):
            np.testing.assert_array_equal(fast[k], ref[k])
            assert not (fast[k] & ~cand[k]).any()
        removed = sum(int(c.sum() - f.sum()) for c, f in zip(cand, fast))
        assert 0 < removed < sum(int(c.sum()) for c in cand)
    # a looser depth tolerance removes more; restricting the neighbours removes less
    loose = covisibility_mask(pts, confs, depths, K, w2c, cand, neighbours, 0.2)
    tight = covisibility_mask(pts, confs, depths, K, w2c, cand, neighbours, 0.01)
    assert sum(int(m.sum()) for m in loose) < sum(int(m.sum()) for m in tight)
    chain = [[j for j in (i - 1, i + 1) if 0 <= j < n] for i in range(n)]
    fewer = covisibility_mask(pts, confs, depths, K, w2c, cand, chain, 0.1)
    ref = covisibility_bruteforce(pts, confs, depths, K, w2c, cand, chain, 0.1)
    for k in range(n):
        np.testing.assert_array_equal(fewer[k], ref[k])


def test_covisibility_rule_cases():
    """Each condition of the rule on one point seen by two cameras."""
    K = np.array([[10.0, 0, 2.0], [0, 10.0, 2.0], [0, 0, 1]])
    w2c = [np.eye(4), np.eye(4)]
    w2c[1][:3, 3] = [0.05, 0, 0]  # camera 1 a little to the left

    def run(conf0, conf1, depth1=None, point=(0.0, 0.0, 2.0), w2c1=None, tol=0.05):
        p0 = np.zeros((4, 4, 3), np.float32)
        p0[2, 2] = point
        d0 = np.full((4, 4), 2.0, np.float32)
        c0 = np.full((4, 4), conf0, np.float32)
        c1 = np.full((4, 4), conf1, np.float32)
        d1 = np.full((4, 4), 2.0 if depth1 is None else depth1, np.float32)
        p1 = np.zeros((4, 4, 3), np.float32)  # image 1's own points do not matter here
        cand = [np.zeros((4, 4), bool), np.ones((4, 4), bool)]
        cand[0][2, 2] = True
        m = [w2c[0], w2c[1] if w2c1 is None else w2c1]
        return bool(covisibility_mask([p0, p1], [c0, c1], [d0, d1], [K, K], m, cand,
                                      None, tol)[0][2, 2])

    assert run(3.0, 4.0) is False           # seen, consistent, more confident: redundant
    assert run(4.0, 3.0) is True            # image 1 less confident: kept
    assert run(3.0, 3.0) is True            # tie: the lower index (image 0) keeps it
    assert run(3.0, 4.0, depth1=2.3) is True    # depth disagrees (occlusion): kept
    assert run(3.0, 4.0, depth1=2.08) is False  # within 5 %
    assert run(3.0, 4.0, point=(1.0, 0.0, 2.0)) is True  # outside image 1 (u = 7.5 > 4)
    behind = np.diag([-1.0, 1.0, -1.0, 1.0])  # camera 1 turned round: the point is behind
    assert run(3.0, 4.0, w2c1=behind) is True
    # (with positive depths a point behind can only agree in depth when tol >= 1)
    assert run(3.0, 4.0, w2c1=behind, tol=3.0) is True
    assert run(3.0, 4.0, tol=3.0) is False


def _alignment_like(pts, depths, confs, K, w2c, pairs):
    """An object with the AlignmentResult fields fuse_points reads."""
    class R:
        pass
    r = R()
    r.n_images = len(pts)
    r.pts3d, r.depths, r.conf, r.K = pts, depths, confs, np.asarray(K)
    r.world_to_cam = np.asarray(w2c)
    r.aligned = np.ones(len(pts), bool)
    r.pairs = pairs
    return r


def test_fuse_points_colours_cap_and_fallback():
    pts, depths, confs, K, w2c = _scene_maps(n=3, seed=2)
    n = len(pts)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    res = _alignment_like(pts, depths, confs, K, w2c, pairs)
    rng = np.random.default_rng(0)
    images = [rng.random(p.shape).astype(np.float32) for p in pts]
    f = fuse_points(res, images, min_conf_thr=2.0, min_points=0)
    assert f.counts["candidates"] > f.counts["after_covisibility"] == f.counts["kept"] == len(f)
    # colours and points come from the pixel they name
    for q in range(0, len(f), 37):
        k, (x, y) = f.image[q], f.pixel[q]
        np.testing.assert_array_equal(f.xyz[q], pts[k][y, x].astype(np.float64))
        assert np.all(np.abs(f.rgb[q] / 255.0 - images[k][y, x]) <= 0.5 / 255 + 1e-6)
        assert f.conf[q] > 2.0
    # only the images in `use` contribute
    g = fuse_points(res, images, min_conf_thr=2.0, use=[1], min_points=0)
    assert set(np.unique(g.image)) == {1}
    assert len(g) == int(candidate_masks(pts, confs, depths, 2.0)[1].sum())
    # a cap keeps a seeded subset
    c1 = fuse_points(res, images, min_conf_thr=2.0, max_points=100, seed=3, min_points=0)
    c2 = fuse_points(res, images, min_conf_thr=2.0, max_points=100, seed=3, min_points=0)
    assert len(c1) == 100 and c1.counts["after_covisibility"] == len(f)
    np.testing.assert_array_equal(c1.xyz, c2.xyz)
    # nothing above the threshold: each image's upper half of confidences, with a warning
    msgs = []
    h = fuse_points(res, images, min_conf_thr=100.0, dedup=False, log=msgs.append)
    assert msgs and "median" in msgs[0]
    assert len(h) >= sum(c.size for c in confs) // 2 * 0.9 and np.isnan(h.threshold)


# ---- pose refinement ----------------------------------------------------------------

def test_twist_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    n = 150
    means = rng.normal(size=(n, 3)) * 0.6 + np.array([0, 0, 4.0])
    quats, scales = rng.normal(size=(n, 4)), np.exp(rng.normal(-2.0, 0.3, (n, 3)))
    op, col = rng.uniform(0.3, 0.9, n), rng.random((n, 3))
    K = np.array([[40.0, 0, 24], [0, 40, 16], [0, 0, 1]])
    V = se3_exp(rng.normal(size=6) * 0.05)
    Wt = sc.tensor(rng.random((32, 48, 3)))

    def loss(vm, grad=False):
        t = sc.tensor(np.array(vm), requires_grad=grad)
        img, _, _ = _core.rasterize(means, quats, scales, op, col, t, K, 48, 32, None, None)
        L = (img * Wt).sum()
        if grad:
            L.backward()
            return t.grad.numpy()
        return float(L.item())

    g = twist_gradient(loss(V, True), V)
    fd = np.zeros(6)
    for k in range(6):
        e = np.zeros(6)
        e[k] = 1e-6
        fd[k] = (loss(se3_exp(e) @ V) - loss(se3_exp(-e) @ V)) / 2e-6
    assert np.linalg.norm(g - fd) / np.linalg.norm(fd) < 1e-5, (g, fd)
    # se3_exp: a rotation about z by pi/2 and a translation
    T = se3_exp([0, 0, np.pi / 2, 1.0, 0, 0])
    np.testing.assert_allclose(T[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(T @ np.linalg.inv(T), np.eye(4), atol=1e-12)


def test_pose_refinement_recovers_perturbed_poses():
    """Targets rendered from fixed Gaussians at the true poses; poses perturbed by
    1-3 degrees and ~3 % of the distance; Gaussians frozen (lr 0): refining must
    bring every pose back, the first (fixed) view untouched."""
    from splatcore.gaussians import Gaussians
    from splatcore.trainer import TrainConfig

    ds = scene_mod.make_dataset(n_views=5, width=48, height=36, seed=1, n_points=2500)
    xyz, rgb = ds.points
    g = Gaussians.from_points(xyz, rgb, sh_degree=0, init_opacity=0.8)
    views = []
    with sc.no_grad():
        for v in ds.views:
            img, _, _ = g.render(v, 0)
            views.append({"name": v.name, "image": np.array(img.numpy()), "viewmat": np.array(v.viewmat),
                          "K": v.K, "width": v.width, "height": v.height})
    true = [v["viewmat"].astype(np.float64) for v in views]
    rng = np.random.default_rng(3)
    for k in range(1, len(views)):
        xi = np.concatenate([rng.normal(size=3) * np.radians(1.2), rng.normal(size=3) * 0.03])
        views[k]["viewmat"] = (se3_exp(xi) @ true[k]).astype(np.float32)

    def errors():
        out = []
        for v, T in zip(views, true):
            D = v["viewmat"].astype(np.float64) @ np.linalg.inv(T)
            out.append((np.degrees(np.arccos(np.clip((np.trace(D[:3, :3]) - 1) / 2, -1, 1))),
                        np.linalg.norm(D[:3, 3])))
        return np.array(out)

    e0 = errors()
    iters = 700
    cfg = TrainConfig(iters=iters, sh_degree=0, lr_means=0, lr_means_final=0, lr_scales=0,
                      lr_quats=0, lr_opacities=0, lr_sh0=0, lr_shN=0)
    cfg.densify.refine_start, cfg.densify.refine_stop = iters + 1, iters + 2
    cfg.densify.reset_every = 10 ** 9
    ext = ds.scene_extent()
    t = PoseRefiningTrainer(views, g, ext, cfg, refiner=PoseRefiner(views, 2e-3, 2e-3 * ext))
    t.train(progress=False)
    e1 = errors()
    assert e1[0, 0] == 0 and e1[0, 1] < 1e-6  # the anchor view did not move
    assert e0[1:, 0].min() > 0.5
    assert e1[1:, 0].max() < 0.25, e1
    assert e1[1:, 1].max() < 0.3 * e0[1:, 1].max(), (e0, e1)
    assert t.history[-1][1] < 0.1 * t.history[0][1]
    ch = t.refiner.changes()
    assert ch[0][0] < 1e-4 and ch[0][1] < 1e-6 and max(a for a, _ in ch) > 0.5


# ---- small pieces -------------------------------------------------------------------

def test_image_names_split_and_schedule():
    assert image_names(["a/x.jpg", "b/x.png", "c/x_2.jpg", "y.JPG"]) == \
        ["x.png", "x_2.png", "x_2_2.png", "y.png"]
    assert split_views(10, 8) == ([1, 2, 3, 4, 5, 6, 7, 9], [0, 8])
    assert split_views(1, 8) == ([0], []) and split_views(5, None) == ([0, 1, 2, 3, 4], [])
    cfg = scan_train_config(None)
    assert cfg.iters == 30000 and cfg.densify.refine_every == 100
    short = scan_train_config(2000)
    d = short.densify
    assert (short.iters, d.refine_start, d.refine_stop, d.refine_every) == (2000, 200, 1000, 100)
    assert d.reset_every > 2000 and short.sh_degree_interval <= 2000 // 6
    with pytest.raises(ValueError):
        scan_train_config(-1)


def test_list_photos(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        list_photos(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no photos"):
        list_photos(str(tmp_path / "empty"))
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="readme.txt"):
        list_photos(str(tmp_path / "empty"))
    d = tmp_path / "p"
    d.mkdir()
    for nm in ("b.JPG", "a.png", "c.txt", ".hidden.png"):
        (d / nm).write_bytes(b"x")
    paths, ignored = list_photos(str(d))
    assert [os.path.basename(p) for p in paths] == ["a.png", "b.JPG"] and ignored == ["c.txt"]


# ---- weights ------------------------------------------------------------------------

def _no_weights_env(monkeypatch, tmp_path):
    monkeypatch.delenv("SPLATCORE_MAST3R_WEIGHTS", raising=False)
    for var in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "empty_cache"))
    import splatcore.mast3r.weights as W
    monkeypatch.setattr(W, "_cached_download", lambda cache_dir=None: None)


def test_missing_weights_stops_at_once(tmp_path, monkeypatch, capsys):
    from splatcore.cli import main

    _no_weights_env(monkeypatch, tmp_path)
    photos = tmp_path / "photos"
    _photos(str(photos), sizes=((32, 32),))
    out = tmp_path / "out"
    t0 = time.perf_counter()
    with pytest.raises(MissingWeightsError) as e:
        scan(str(photos), str(out), progress=False, log=lambda s: None)
    msg = str(e.value)
    assert 'python -c "import splatcore.mast3r as m; m.download()"' in msg
    assert "--weights" in msg and "naver/MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric" in msg
    assert "huggingface_hub" in msg
    rc = main(["scan", str(photos), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "m.download()" in err and "--weights" in err
    assert time.perf_counter() - t0 < 5.0
    assert not out.exists()  # stopped before writing anything
    # an explicit path that does not exist names it
    with pytest.raises(MissingWeightsError, match="nothere.safetensors"):
        scan(str(photos), str(out), weights=str(tmp_path / "nothere.safetensors"), progress=False)


# ---- end to end on the random-weight golden model -----------------------------------

@needs_golden
def test_scan_cli_end_to_end_golden(tmp_path):
    """The command as a user runs it. With random weights no confidence reaches the
    default threshold 3, so no pair is usable: the alignment keeps one photo and
    reports the others (the no-overlap path), and the scan goes on with that one."""
    from splatcore.cli import main

    photos = tmp_path / "photos"
    _photos(str(photos))
    (photos / "notes.txt").write_text("not a photo")
    out = tmp_path / "out"
    rc = main(["scan", str(photos), "-o", str(out), "--weights", GOLDEN_WEIGHTS, "--iters", "10",
               "--image-size", "64", "-q"])
    assert rc == 0
    model, rep = _assert_outputs(str(out), 1)
    assert rep["aligned"] == 1 and len(rep["dropped"]) == 3
    assert rep["ignored"] == ["notes.txt"]
    assert rep["training"]["steps"] == 10


@needs_golden
def test_scan_api_end_to_end_golden(tmp_path):
    """Every photo aligned (threshold lowered so the random model's pairs count),
    mixed sizes and a portrait photo, a held-out view, joint pose refinement; the
    COLMAP model written holds the alignment's cameras and OUT reads back as a
    COLMAP dataset."""
    from splatcore.io.dataset import ColmapDataset

    photos = tmp_path / "photos"
    _photos(str(photos), sizes=((64, 48), (64, 48), (48, 64), (64, 48), (80, 48),
                                (64, 48), (64, 48), (64, 48), (64, 48)))
    out = tmp_path / "out"
    logs = []
    res = scan(str(photos), str(out), weights=GOLDEN_WEIGHTS, iters=12, image_size=64,
               min_conf_thr=1.0, eval=True, refine_poses=True, align_iters=50, progress=False,
               log=logs.append)
    assert not res.dropped and not res.skipped and not res.interrupted
    a = res.alignment
    assert a.aligned.all() and np.isfinite(a.K).all() and np.isfinite(a.cam_to_world).all()
    # landscape, portrait (kept as is, no transposition) and a wider photo cropped to 64x32
    assert sorted({s for s in a.image_shapes}) == [(32, 64), (48, 64), (64, 48)]
    for p in a.pts3d:
        assert np.isfinite(p).all()
    model, rep = _assert_outputs(str(out), 9)
    assert len(res.test_views) == 2 and len(res.train_views) == 7
    assert np.isfinite(rep["training"]["test"]["psnr"])
    assert len(rep["pose_refinement"]) == 7
    # the fused cloud only uses the training photos
    assert set(np.unique(res.points.image)) <= {v["index"] for v in res.train_views}
    # sparse/0 holds the cameras: the alignment's K, the (refined) training poses
    _check_colmap_matches(model, res)
    by_name = {im.name: im for im in model.images.values()}
    for v in res.train_views + res.test_views:
        np.testing.assert_allclose(by_name[v["name"]].viewmat, v["viewmat"], atol=1e-5)
    for v in res.test_views:  # held-out views keep the alignment's pose
        np.testing.assert_allclose(v["viewmat"], a.world_to_cam[v["index"]], atol=1e-5)
    ds = ColmapDataset(str(out), split="all")
    assert len(ds) == 9
    for item in ds:
        v = next(v for v in res.train_views + res.test_views if v["name"] == item.name)
        np.testing.assert_allclose(item.image, v["image"], atol=0.5 / 255 + 1e-6)
        np.testing.assert_allclose(item.K, v["K"], rtol=1e-6)
    text = "\n".join(logs)
    assert "focal lengths" in text and "reprojection residual" in text


@needs_golden
def test_scan_one_photo_and_unreadable_files(tmp_path):
    photos = tmp_path / "photos"
    _photos(str(photos), sizes=((48, 64),))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (photos / "empty.png").write_bytes(b"")
    logs = []
    res = scan(str(photos), str(tmp_path / "out"), weights=GOLDEN_WEIGHTS, iters=5,
               image_size=64, progress=False, log=logs.append)
    assert [os.path.basename(p) for p, _ in res.skipped] == ["broken.jpg", "empty.png"]
    assert any("warning: skipping" in s and "broken.jpg" in s for s in logs)
    model, rep = _assert_outputs(str(tmp_path / "out"), 1)
    assert [os.path.basename(s["photo"]) for s in rep["skipped"]] == ["broken.jpg", "empty.png"]
    assert rep["aligned"] == 1 and rep["alignment"]["reprojection_px"] is None
    # only unreadable files: an error naming them
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="a.png"):
        scan(str(bad), str(tmp_path / "out2"), weights=GOLDEN_WEIGHTS, progress=False,
             log=lambda s: None)
    # an empty folder
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="no photos"):
        scan(str(tmp_path / "none"), str(tmp_path / "out3"), weights=GOLDEN_WEIGHTS,
             progress=False)


# ---- the pipeline on MASt3R-like pointmaps of known cameras --------------------------

class _KnownCamerasModel:
    """Stands in for MASt3R: pointmaps made from known cameras (with noise, per-pair
    scale and rigid errors, outliers), as splatcore.align.synthetic makes them."""

    def __init__(self, sp):
        self.sp = sp
        self.index = {tuple(p): e for e, p in enumerate(sp.pairs)}

    def iter_pairs(self, images, pairs, progress=True):
        for p in pairs:
            v1, v2 = self.sp.outputs[self.index[tuple(p)]]
            yield {"view1": dict(v1), "view2": dict(v2)}


def _known_camera_photos(tmp_path, n, w, h):
    """Synthetic pairs of n known cameras, and the demo scene rendered from them as photos."""
    sp = synth.make_synthetic_pairs(n, w, h, scene_graph="complete", seed=4)
    scene = scene_mod.make_scene(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(n):
        cam = {"viewmat": np.linalg.inv(sp.cam_to_world[k]), "K": sp.K[k], "width": w, "height": h}
        _save(str(photos / f"v{k}.png"), scene_mod.render(scene, cam, spp=1)["image"])
    return sp, photos


def test_scan_recovers_known_cameras(tmp_path):
    n = 5
    sp, photos = _known_camera_photos(tmp_path, n, 64, 48)
    out = tmp_path / "out"
    res = scan(str(photos), str(out), model=_KnownCamerasModel(sp), iters=20, image_size=64,
               progress=False, log=lambda s: None)
    a = res.alignment
    assert a.aligned.all()
    err = synth.pose_errors(a.cam_to_world, sp.cam_to_world)
    assert err["rot_deg"].max() < 2.0 and err["center_err"].max() < 0.1, err
    np.testing.assert_allclose(a.focals, sp.focals, rtol=0.1)
    # overlapping photos: the co-visibility test removes many repeats
    c = res.points.counts
    assert c["after_covisibility"] < 0.75 * c["candidates"]
    assert res.report["alignment"]["reprojection_px"] < 3.0
    model, rep = _assert_outputs(str(out), n)
    _check_colmap_matches(model, res)


def test_scan_on_a_gpu_device(tmp_path, gpu_device):
    """Alignment and training on the device (the stand-in model has no device:
    it runs as given); scan.json records the device and its peak memory."""
    from splatcore.scan import scan_train_config

    sp, photos = _known_camera_photos(tmp_path, 4, 48, 32)
    cfg = scan_train_config(3)
    cfg.device = gpu_device
    res = scan(str(photos), str(tmp_path / "out"), model=_KnownCamerasModel(sp), image_size=48, align_iters=20,
               config=cfg, progress=False, log=lambda s: None)
    assert res.alignment.aligned.all()
    assert res.report["device"]["name"].split(":")[0] == gpu_device
    assert res.report["device"]["peak_memory_bytes"] > 0
    assert res.trainer.g.device.split(":")[0] == gpu_device


def test_scan_photo_without_overlap_is_reported(tmp_path):
    """A photo whose pairs have no confident pixels (no overlap) is left out and
    reported; the others are aligned and trained on, nothing is NaN."""
    n, w, h = 4, 48, 32
    sp = synth.make_synthetic_pairs(n, w, h, scene_graph="complete", seed=5)
    for e, (i, j) in enumerate(sp.pairs):
        if 3 in (i, j):
            v1, v2 = sp.outputs[e]
            v1 = dict(v1, conf=np.ones_like(v1["conf"]))
            v2 = dict(v2, conf=np.ones_like(v2["conf"]))
            if 3 == i:  # its own pointmap garbage too
                v1["pts3d"] = np.full_like(v1["pts3d"], np.nan)
            sp.outputs[e] = (v1, v2)
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        _save(str(photos / f"v{k}.png"), rng.random((h, w, 3)))
    logs = []
    res = scan(str(photos), str(tmp_path / "out"), model=_KnownCamerasModel(sp), iters=5,
               image_size=48, progress=False, log=logs.append)
    assert res.dropped == ["v3.png"]
    assert any("could not be connected" in s and "v3.png" in s for s in logs)
    assert list(res.alignment.aligned) == [True, True, True, False]
    model, rep = _assert_outputs(str(tmp_path / "out"), 3)
    assert rep["dropped"] == ["v3.png"] and rep["aligned"] == 3
    assert np.isfinite(rep["alignment"]["reprojection_px"])
    assert 3 not in set(np.unique(res.points.image))


def test_bad_arguments_and_interrupted_alignment(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for k in range(3):
        _save(str(photos / f"v{k}.png"), rng.random((32, 48, 3)))
    sp = synth.make_synthetic_pairs(3, 48, 32, scene_graph="complete", seed=6)
    model = _KnownCamerasModel(sp)
    with pytest.raises(ValueError, match="scene_graph"):
        scan(str(photos), str(tmp_path / "o1"), model=model, scene_graph="completely", progress=False)
    with pytest.raises(ValueError, match="image_size"):
        scan(str(photos), str(tmp_path / "o1"), model=model, image_size=8, progress=False)
    assert not (tmp_path / "o1").exists()

    # Ctrl-C during the alignment: its result so far is written, training is skipped
    import splatcore.align as align_pkg
    real = align_pkg.global_alignment

    def interrupted(*a, **k):
        r = real(*a, **k)
        r.interrupted = True
        return r

    monkeypatch.setattr(align_pkg, "global_alignment", interrupted)
    res = scan(str(photos), str(tmp_path / "o2"), model=model, iters=5, image_size=48,
               progress=False, log=lambda s: None)
    assert res.interrupted and res.trainer is None
    for f in SCAN_FILES:
        assert os.path.isfile(tmp_path / "o2" / f)
    assert not (tmp_path / "o2" / "scene.ply").exists()
    assert json.load(open(tmp_path / "o2" / "scan.json"))["interrupted"] is True

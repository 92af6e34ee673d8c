"""Global alignment (splatcore.align): scene graphs, the similarity and focal fits,
the fused loss/gradient against an independent float64 NumPy reference and finite
differences, the dense depth, and end-to-end accuracy on synthetic pairwise
pointmaps made from known cameras (noise, per-pair scale and rigid error,
low-confidence outliers), plus the bad-input cases (no overlap, disconnected
sets, one image, NaN)."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import splatcore as sc
from splatcore import _core
from splatcore.align import (
    conf_weight, connected_components, default_scene_graph, dlt_camera, estimate_focal,
    focal_base, global_alignment, make_pairs, max_spanning_tree, weighted_procrustes,
)
from splatcore.align import synthetic as synth
from splatcore.align.pairs import COMPLETE_UP_TO


# ---- scene graphs -------------------------------------------------------------------

def _undirected(pairs):
    return {(min(i, j), max(i, j)) for i, j in pairs}


@pytest.mark.parametrize("n", [2, 3, 7, 12, 30])
def test_complete_graph(n):
    p = make_pairs(n, "complete")
    assert len(p) == n * (n - 1) == len(set(p))
    assert all(i != j for i, j in p)
    assert set(p) == {(j, i) for i, j in p}  # symmetric
    assert len(make_pairs(n, "complete", symmetrize=False)) == n * (n - 1) // 2


@pytest.mark.parametrize("n,w", [(10, 1), (10, 3), (30, 3), (9, 4)])
def test_swin_counts(n, w):
    cyc = _undirected(make_pairs(n, f"swin-{w}"))
    non = _undirected(make_pairs(n, f"swin-{w}-noncyclic"))
    assert len(cyc) == n * w  # n > 2w: every image with the next w, round the loop
    assert len(non) == n * w - w * (w + 1) // 2
    assert non < cyc
    assert all(0 < j - i <= w for i, j in non)
    assert all(min(j - i, n - (j - i)) <= w for i, j in cyc)
    assert (0, n - 1) in cyc and (0, n - 1) not in non  # the loop closure
    assert len(connected_components(n, non)) == 1


@pytest.mark.parametrize("n", [20, 100])
def test_logwin_counts(n):
    p = make_pairs(n, "logwin-3")
    und = _undirected(p)
    assert len(und) == 3 * n  # offsets 1, 2, 4 on a cycle longer than 8
    gaps = {min(j - i, n - (j - i)) for i, j in und}
    assert gaps == {1, 2, 4}
    assert set(p) == {(j, i) for i, j in p}
    non = _undirected(make_pairs(n, "logwin-3-noncyclic"))
    assert len(non) == sum(n - o for o in (1, 2, 4))
    assert len(connected_components(n, non)) == 1


def test_oneref_and_defaults():
    p = make_pairs(6, "oneref-2", symmetrize=False)
    assert p == [(2, 0), (2, 1), (2, 3), (2, 4), (2, 5)]
    assert len(make_pairs(6, "oneref")) == 10
    assert make_pairs(1) == [(0, 0)] == make_pairs(1, "swin-3")
    assert default_scene_graph(COMPLETE_UP_TO) == "complete"
    assert default_scene_graph(COMPLETE_UP_TO + 1) == "logwin-3"
    for n in (2, 5, 12, 13, 30, 100):
        p = make_pairs(n, default_scene_graph(n))
        assert len(connected_components(n, p)) == 1
        assert len(p) <= 6 * n or n <= COMPLETE_UP_TO
        assert {i for i, _ in p} == set(range(n))  # every image is a first view somewhere
    assert len(make_pairs(100, default_scene_graph(100))) == 600
    for bad in ("swin-0", "full", "oneref-9", "complete-3", "logwin-x"):
        with pytest.raises(ValueError):
            make_pairs(6, bad)
    with pytest.raises(ValueError):
        make_pairs(0)


def test_graph_helpers():
    comps = connected_components(6, [(0, 1), (1, 2), (4, 5)])
    assert comps == [[0, 1, 2], [4, 5], [3]]
    edges = [(0, 1), (1, 2), (0, 2), (2, 3)]
    tree = max_spanning_tree(4, edges, [1.0, 5.0, 3.0, 2.0])
    assert tree == [1, 2, 3]


# ---- similarity (Procrustes + scale) ------------------------------------------------------

def _umeyama_ref(src, dst, w):
    """Weighted Umeyama in float64 NumPy, written out independently."""
    w = w / w.sum()
    ms, md = w @ src, w @ dst
    a, b = src - ms, dst - md
    cov = (b * w[:, None]).T @ a
    U, S, Vt = np.linalg.svd(cov)
    d = np.array([1.0, 1.0, np.linalg.det(U @ Vt)])
    R = U @ np.diag(d) @ Vt
    s = (S * d).sum() / (w @ (a * a).sum(1))
    return s, R, md - s * R @ ms


def test_procrustes_exact_and_vs_numpy(rng):
    R0 = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
    s0, t0 = float(rng.uniform(0.2, 5.0)), rng.normal(size=3) * 3
    src = rng.normal(size=(40, 30, 3)) * [2.0, 1.0, 0.5] + [0, 0, 4]
    dst = s0 * src @ R0.T + t0
    w = rng.uniform(0.1, 3.0, size=(40, 30))
    s, R, t = weighted_procrustes(src, dst, w)
    assert abs(s - s0) < 1e-9 * s0
    assert np.abs(R - R0).max() < 1e-9 and np.abs(t - t0).max() < 1e-8
    # noisy points and weights (some zero, some NaN points): the same as the reference
    noisy = dst + rng.normal(size=dst.shape) * 0.1
    w2 = w * (rng.random(w.shape) > 0.2)
    noisy[3, 4] = np.nan
    s, R, t = weighted_procrustes(src.astype(np.float32), noisy, w2)
    keep = (w2 > 0) & np.isfinite(noisy).all(-1)
    sr, Rr, tr = _umeyama_ref(src.astype(np.float32).astype(np.float64)[keep], noisy[keep], w2[keep])
    assert abs(s - sr) < 1e-9 * sr and np.abs(R - Rr).max() < 1e-9 and np.abs(t - tr).max() < 1e-8
    assert abs(np.linalg.det(R) - 1) < 1e-12


# ---- focal --------------------------------------------------------------------------

def _pointmap(rng, H, W, f, cx, cy):
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    z = rng.uniform(1.0, 6.0, size=(H, W))
    return np.stack([(u - cx) / f * z, (v - cy) / f * z, z], axis=-1)


def _weiszfeld_ref(pts, w, cx, cy, iters=10):
    H, W = pts.shape[:2]
    u, v = np.meshgrid(np.arange(W) + 0.5 - cx, np.arange(H) + 0.5 - cy)
    a, b = pts[..., 0] / pts[..., 2], pts[..., 1] / pts[..., 2]
    votes = np.concatenate([(u / a)[np.abs(u) >= 1], (v / b)[np.abs(v) >= 1]])
    f = np.sort(votes)[len(votes) // 2]  # the upper median, as the C++ start
    for _ in range(iters):
        r = w / np.maximum(np.hypot(u - f * a, v - f * b), 1e-8)
        f = (r * (a * u + b * v)).sum() / (r * (a * a + b * b)).sum()
    return f


@pytest.mark.parametrize("H,W", [(48, 64), (384, 512), (33, 20)])
def test_focal_exact_pointmap(rng, H, W):
    f0 = float(rng.uniform(0.6, 2.5)) * focal_base(H, W)
    pts = _pointmap(rng, H, W, f0, W / 2, H / 2)
    f = estimate_focal(pts.astype(np.float32))
    assert abs(f / f0 - 1) < 1e-3  # the bar: 0.1 %
    assert abs(estimate_focal(pts) / f0 - 1) < 1e-9


def test_focal_robust_and_vs_reference(rng):
    H, W = 48, 64
    f0 = 1.3 * focal_base(H, W)
    pts = _pointmap(rng, H, W, f0, W / 2, H / 2)
    out = rng.random((H, W)) < 0.15
    pts[out] *= rng.uniform(0.5, 2.0, size=(out.sum(), 3))  # 15 % gross outliers
    w = rng.uniform(0.5, 2.0, size=(H, W))
    f = estimate_focal(pts, w, min_focal=0.0, max_focal=1e9)
    assert abs(f - _weiszfeld_ref(pts, w, W / 2, H / 2)) < 1e-9 * f
    assert abs(f / f0 - 1) < 0.01  # the reweighting shrugs off the outliers
    # points near z = 0 (wild outliers of a network) must not drag the fit to 0
    pts2 = _pointmap(rng, H, W, f0, W / 2, H / 2)
    bad = rng.random((H, W)) < 0.05
    pts2[bad, 2] = rng.uniform(1e-5, 1e-3, size=bad.sum())
    assert abs(estimate_focal(pts2, np.where(bad, 0.1, 1.0)) / f0 - 1) < 0.01
    # clamping, and no usable point -> NaN
    assert estimate_focal(pts, max_focal=0.5) == pytest.approx(0.5 * focal_base(H, W))
    assert math.isnan(estimate_focal(-pts))


def test_dlt_camera_recovers_pose(rng):
    H, W = 48, 64
    f0 = 70.0
    R0 = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
    c2w = np.eye(4)
    c2w[:3, :3], c2w[:3, 3] = R0, rng.normal(size=3)
    pts = _pointmap(rng, H, W, f0, W / 2, H / 2)
    world = pts @ R0.T + c2w[:3, 3]
    u, v = np.meshgrid(np.arange(W) + 0.5 - W / 2, np.arange(H) + 0.5 - H / 2)
    f, est = dlt_camera(world.reshape(-1, 3), np.stack([u, v], -1).reshape(-1, 2))
    assert abs(f / f0 - 1) < 1e-6
    assert np.abs(est - c2w).max() < 1e-6


# ---- the fused loss and its gradient -------------------------------------------------------

def _rand_problem(rng, shapes, edges, stride, dtype="float64"):
    views = []
    for i, j in edges:
        p1 = rng.normal(size=shapes[i] + (3,)) + [0, 0, 3]
        p2 = rng.normal(size=shapes[j] + (3,)) + [0, 0, 3]
        c1 = rng.uniform(1.0, 6.0, size=shapes[i])
        c2 = rng.uniform(1.0, 6.0, size=shapes[j])
        views.append((p1, c1, p2, c2))
    pp = [(w / 2.0, h / 2.0) for h, w in shapes]
    fr = [(0.5 * focal_base(h, w), 3.5 * focal_base(h, w)) for h, w in shapes]
    prob = _core._align_Problem(shapes, pp, fr, edges, [v[0] for v in views], [v[1] for v in views],
                                [v[2] for v in views], [v[3] for v in views], stride=stride,
                                dtype=dtype)
    n, E = len(shapes), len(edges)
    params = [
        rng.normal(scale=0.3, size=prob.n_pixels),
        rng.normal(size=(n, 4)),
        rng.normal(scale=0.5, size=(n, 3)),
        20.0 * np.log([rng.uniform(0.8, 2.5) * focal_base(h, w) for h, w in shapes]),
        rng.normal(size=(E, 4)),
        rng.normal(scale=0.5, size=(E, 3)),
        rng.normal(scale=0.3, size=E),
    ]
    return prob, views, pp, params


def _ref_loss(views, shapes, edges, pp, stride, params, base_scale=0.5, focal_break=20.0):
    """The alignment loss written directly in float64 NumPy (rotations from SciPy)."""
    ld, q, tr, lf, pq, pt, ps = params
    off = (stride - 1) // 2
    sexpm1 = lambda x: np.sign(x) * np.expm1(np.abs(x))  # noqa: E731
    rot = lambda qq: Rotation.from_quat(np.asarray(qq)[..., [1, 2, 3, 0]]).as_matrix()  # noqa: E731
    X, o = [], 0
    for k, (H, W) in enumerate(shapes):
        v, u = np.meshgrid(np.arange(off, H, stride), np.arange(off, W, stride), indexing="ij")
        f = np.exp(lf[k] / focal_break)
        d = np.exp(ld[o:o + u.size]).reshape(u.shape)
        o += u.size
        cam = np.stack([(u + 0.5 - pp[k][0]) / f * d, (v + 0.5 - pp[k][1]) / f * d, d], -1)
        X.append(cam @ rot(q[k]).T + sexpm1(tr[k]))
    s = base_scale * np.exp(ps - ps.mean())
    sub = lambda a: a[off::stride, off::stride]  # noqa: E731
    a1 = sum(X[i].shape[0] * X[i].shape[1] for i, _ in edges)
    a2 = sum(X[j].shape[0] * X[j].shape[1] for _, j in edges)
    loss = 0.0
    for e, (i, j) in enumerate(edges):
        Re, te = rot(pq[e]), sexpm1(pt[e])
        p1, c1, p2, c2 = views[e]
        z1 = s[e] * (sub(p1) @ Re.T + te)
        z2 = s[e] * (sub(p2) @ Re.T + te)
        loss += (np.log(sub(c1)) * np.linalg.norm(X[i] - z1, axis=-1)).sum() / a1
        loss += (np.log(sub(c2)) * np.linalg.norm(X[j] - z2, axis=-1)).sum() / a2
    return loss


def _cpp_loss_grad(prob, params, dtype=np.float64):
    ts = [sc.tensor(np.ascontiguousarray(p, dtype=dtype), requires_grad=True) for p in params]
    loss = prob.loss(*ts)
    loss.backward()
    return float(loss.item()), [t.grad.numpy().astype(np.float64) for t in ts]


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_fused_gradient_vs_reference_and_fd(rng, stride):
    shapes = [(7, 6), (6, 8), (5, 7)]
    edges = [(0, 1), (1, 0), (1, 2), (2, 0)]
    prob, views, pp, params = _rand_problem(rng, shapes, edges, stride)
    loss, grads = _cpp_loss_grad(prob, params)
    ref = _ref_loss(views, shapes, edges, pp, stride, params)
    assert abs(loss - ref) < 1e-12 * abs(ref)
    h = 1e-6
    for a, (p, g) in enumerate(zip(params, grads)):
        fd = np.zeros(p.size)
        for x in range(p.size):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[a].reshape(-1)[x] += h
            minus[a].reshape(-1)[x] -= h
            fd[x] = (_ref_loss(views, shapes, edges, pp, stride, plus) -
                     _ref_loss(views, shapes, edges, pp, stride, minus)) / (2 * h)
        err = np.linalg.norm(g.ravel() - fd) / np.linalg.norm(fd)
        assert err < 1e-6, f"parameter {a}: relative gradient error {err:.2e}"


def test_fused_float32_vs_float64(rng):
    shapes = [(24, 32)] * 4
    edges = make_pairs(4, "complete")
    prob64, views, pp, params = _rand_problem(rng, shapes, edges, 2)
    prob32 = _core._align_Problem(shapes, pp, [(1.0, 1e4)] * 4, edges, [v[0] for v in views],
                                  [v[1] for v in views], [v[2] for v in views], [v[3] for v in views],
                                  stride=2, dtype="float32")
    l64, g64 = _cpp_loss_grad(prob64, params)
    l32, g32 = _cpp_loss_grad(prob32, params, np.float32)
    assert abs(l32 - l64) < 1e-5 * l64
    for a, (x, y) in enumerate(zip(g32, g64)):
        assert np.linalg.norm(x - y) / np.linalg.norm(y) < 1e-4, a
    # the op composes with the rest of the autograd (the incoming gradient scales)
    ts = [sc.tensor(np.ascontiguousarray(p), requires_grad=(a == 2)) for a, p in enumerate(params)]
    (prob64.loss(*ts) * 3.0).backward()
    assert ts[0].grad is None and np.allclose(ts[2].grad.numpy(), 3.0 * g64[2], rtol=1e-12)
    # residual statistics: sum of w|r| over both views reproduces the loss
    st = prob64.residual_stats(*[sc.tensor(p) for p in params])
    a1, a2 = prob64.areas
    assert abs(st[:, 0, 0].sum() / a1 + st[:, 1, 0].sum() / a2 - l64) < 1e-12 * l64


def test_problem_argument_errors(rng):
    shapes = [(6, 8), (6, 8)]
    prob, views, pp, params = _rand_problem(rng, shapes, [(0, 1)], 1)
    ts = [sc.tensor(p) for p in params]
    bad = list(ts)
    bad[1] = sc.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="quat"):
        prob.loss(*bad)
    bad[1] = sc.tensor(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="quat"):
        prob.loss(*bad)
    with pytest.raises(ValueError, match=r"pair 0 \(0, 1\).*view2"):
        _core._align_Problem(shapes, pp, [(1, 100)] * 2, [(0, 1)], [views[0][0]], [views[0][1]],
                             [views[0][0][:5]], [views[0][1]])
    with pytest.raises(ValueError, match="two different images"):
        _core._align_Problem(shapes, pp, [(1, 100)] * 2, [(1, 1)], [views[0][0]], [views[0][1]],
                             [views[0][0]], [views[0][1]])


# ---- dense depth -----------------------------------------------------------------------

def test_dense_depth_recovers_truth(rng):
    H, W, f = 20, 30, 25.0
    cx, cy = W / 2, H / 2
    R = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
    T = rng.normal(size=3)
    cam = _pointmap(rng, H, W, f, cx, cy)
    world = cam @ R.T + T
    pts, confs, A, b = [], [], [], []
    for q in range(4):  # each view: the world points seen through its own similarity
        Rq = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
        sq, tq = rng.uniform(0.5, 2), rng.normal(size=3)
        y = ((world - tq) / sq) @ Rq  # so that sq Rq y + tq = world
        c = rng.uniform(2.0, 6.0, size=(H, W))
        if q == 3:  # a wrong view with low confidence: the robust fit ignores it
            y = y + rng.normal(size=y.shape)
            c = np.full((H, W), 1.2)
        pts.append(y.astype(np.float32))
        confs.append(c.astype(np.float32))
        A.append(sq * Rq)
        b.append(tq)
    init = (cam[..., 2] * rng.uniform(0.7, 1.3, size=(H, W))).astype(np.float32)
    d, wsum = _core._align_dense_depth(pts, confs, np.array(A), np.array(b), R, T, f, cx, cy, init,
                                       30, "log")
    assert np.median(np.abs(d / cam[..., 2] - 1)) < 1e-4
    assert np.allclose(wsum, sum(conf_weight(c) for c in confs), rtol=1e-5)


# ---- end to end on synthetic pairwise pointmaps ------------------------------------------

@pytest.fixture(scope="module")
def scene8():
    return synth.make_synthetic_pairs(8, 64, 48, seed=3)


def _check_accuracy(res, data, rot=1.0, tdir=2.0, focal=0.02, mask=None):
    err = synth.pose_errors(res.cam_to_world, data.cam_to_world, mask)
    ferr = np.abs(res.focals / data.focals - 1)
    if mask is not None:
        ferr = ferr[mask]
    assert err["rot_deg"].max() < rot, err["rot_deg"]
    assert err["trans_dir_deg"].max() < tdir, err["trans_dir_deg"]
    assert ferr.max() < focal, ferr
    return err, ferr


def test_end_to_end_accuracy(scene8):
    data = scene8
    res = global_alignment(data.outputs, data.pairs, progress=False)
    assert res.dropped == [] and res.aligned.all() and not res.interrupted
    _check_accuracy(res, data)
    assert res.loss < 0.7 * res.init_loss
    assert len(res.loss_history) == 300
    # dense points at full resolution, close to the truth after a similarity alignment
    H, W = data.image_shapes[0]
    assert all(p.shape == (H, W, 3) and np.isfinite(p).all() for p in res.pts3d)
    gt = [data.depths[k][..., None] * synth._rays(data.K[k], H, W) @ data.cam_to_world[k][:3, :3].T
          + data.cam_to_world[k][:3, 3] for k in range(8)]
    src = np.concatenate([p.reshape(-1, 3) for p in res.pts3d])
    dst = np.concatenate([g.reshape(-1, 3) for g in gt])
    s, R, t = weighted_procrustes(src, dst)
    dist = np.linalg.norm(s * src.astype(np.float64) @ R.T + t - dst, axis=1)
    depth = np.concatenate([d.ravel() for d in data.depths])
    assert np.median(dist / depth) < 0.01
    # K and poses are consistent with the points: reprojection of image 0's points
    P = np.linalg.inv(res.cam_to_world[0])
    cam = res.pts3d[0].reshape(-1, 3) @ P[:3, :3].T + P[:3, 3]
    uv = cam @ res.K[0].T
    uv = uv[:, :2] / uv[:, 2:]
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    assert np.abs(uv - np.stack([u.ravel(), v.ravel()], 1)).max() < 1e-2
    assert res.conf[0].shape == (H, W) and res.conf[0].min() >= 1.0
    assert 0 < res.residuals["relative"] < 0.05


def test_optimisation_improves_on_init(scene8):
    data = scene8
    r0 = global_alignment(data.outputs, data.pairs, niter=0, progress=False)
    r1 = global_alignment(data.outputs, data.pairs, niter=300, progress=True)
    e0 = synth.pose_errors(r0.cam_to_world, data.cam_to_world)
    e1 = synth.pose_errors(r1.cam_to_world, data.cam_to_world)
    assert e1["rot_deg"].mean() < e0["rot_deg"].mean()
    assert e1["center_err"].mean() < e0["center_err"].mean()


def test_global_init():
    exact = synth.make_synthetic_pairs(12, 48, 36, seed=6, scene_graph="logwin-2", noise=0,
                                       smooth_noise=0, rot_noise_deg=0, trans_noise=0, outlier_frac=0)
    res = global_alignment(exact.outputs, exact.pairs, init="global", niter=0, progress=False)
    err = synth.pose_errors(res.cam_to_world, exact.cam_to_world)
    assert err["rot_deg"].max() < 1e-3 and err["center_err"].max() < 1e-5
    assert np.abs(res.focals / exact.focals - 1).max() < 1e-5
    # a long ring with noise: averaging all pairs drifts less than chaining a tree
    ring = synth.make_synthetic_pairs(40, 32, 24, seed=7, scene_graph="logwin-3")
    e = {}
    for init in ("mst", "global"):
        r = global_alignment(ring.outputs, ring.pairs, init=init, niter=0, progress=False)
        e[init] = synth.pose_errors(r.cam_to_world, ring.cam_to_world)
    assert e["global"]["rot_deg"].max() < 0.7 * e["mst"]["rot_deg"].max()
    assert e["global"]["center_err"].mean() < 0.5 * e["mst"]["center_err"].mean()
    res = global_alignment(ring.outputs, ring.pairs, init="global", progress=False)
    err = synth.pose_errors(res.cam_to_world, ring.cam_to_world)
    assert err["rot_deg"].max() < 1.0 and np.median(err["trans_dir_deg"]) < 1.0


def test_non_symmetric_graph_uses_dlt():
    data = synth.make_synthetic_pairs(6, 64, 48, seed=5, pairs=make_pairs(6, "oneref-0", symmetrize=False))
    res = global_alignment(data.outputs, data.pairs, progress=False)
    assert res.dropped == []
    _check_accuracy(res, data, rot=1.5, tdir=3.0, focal=0.03)


# ---- bad input -------------------------------------------------------------------------

def test_unconnected_image_is_dropped(scene8):
    data = scene8
    outs = []
    rng = np.random.default_rng(0)
    for (i, j), (v1, v2) in zip(data.pairs, data.outputs):
        if 5 in (i, j):  # image 5 overlaps nothing: MASt3R's confidence stays near 1
            v1 = {"pts3d": v1["pts3d"] + rng.normal(size=v1["pts3d"].shape).astype(np.float32),
                  "conf": np.full_like(v1["conf"], 1.05)}
            v2 = {"pts3d_in_other_view": rng.normal(size=v2["pts3d_in_other_view"].shape).astype(np.float32),
                  "conf": np.full_like(v2["conf"], 1.05)}
        outs.append((v1, v2))
    res = global_alignment(outs, data.pairs, progress=False)
    assert res.dropped == [5]
    assert not res.aligned[5] and res.aligned.sum() == 7
    assert np.array_equal(res.cam_to_world[5], np.eye(4)) and not res.pts3d[5].any()
    assert all(5 not in p for p in res.pairs)
    for a in (res.focals, res.cam_to_world, res.K, *res.pts3d, *res.conf):
        assert np.isfinite(a).all()
    _check_accuracy(res, data, mask=res.aligned)


def test_image_in_no_pair_is_dropped(scene8):
    data = scene8
    keep = [e for e, (i, j) in enumerate(data.pairs) if 7 not in (i, j)]
    res = global_alignment([data.outputs[e] for e in keep], [data.pairs[e] for e in keep],
                           image_shapes=data.image_shapes, progress=False, niter=50)
    assert res.dropped == [7] and res.n_images == 8 and res.pts3d[7].shape == (48, 64, 3)
    with pytest.raises(ValueError, match="appear in no pair"):
        global_alignment([data.outputs[e] for e in keep if 3 not in data.pairs[e]],
                         [p for p in (data.pairs[e] for e in keep) if 3 not in p], progress=False)


def test_disconnected_groups_keep_largest():
    data = synth.make_synthetic_pairs(7, 48, 36, seed=2, pairs=make_pairs(7, "complete"))
    group = {0, 1, 2, 3}
    keep = [e for e, (i, j) in enumerate(data.pairs) if (i in group) == (j in group)]
    res = global_alignment([data.outputs[e] for e in keep], [data.pairs[e] for e in keep],
                           progress=False)
    assert res.dropped == [4, 5, 6]
    _check_accuracy(res, data, mask=res.aligned)


def test_single_image():
    data = synth.make_synthetic_pairs(2, 64, 48, seed=4, pairs=[(0, 1)])
    v1 = data.outputs[0][0]
    res = global_alignment([(v1, {"pts3d_in_other_view": v1["pts3d"], "conf": v1["conf"]})], [(0, 0)],
                           progress=False)
    assert res.dropped == [] and res.n_images == 1
    assert np.array_equal(res.cam_to_world[0], np.eye(4))
    assert abs(res.focals[0] / data.focals[0] - 1) < 0.02
    assert np.isfinite(res.pts3d[0]).all() and res.pts3d[0].shape == (48, 64, 3)


def test_nan_input_gives_finite_output(scene8):
    data = scene8
    outs = []
    for e, (v1, v2) in enumerate(data.outputs):
        v1 = {k: a.copy() for k, a in v1.items()}
        v2 = {k: a.copy() for k, a in v2.items()}
        v1["pts3d"][:3, :5] = np.nan
        v2["conf"][10:12] = np.nan
        v2["pts3d_in_other_view"][20, :] = np.inf
        outs.append((v1, v2))
    res = global_alignment(outs, data.pairs, progress=False, niter=100)
    for a in (res.focals, res.cam_to_world, *res.pts3d, *res.conf, res.loss_history):
        assert np.isfinite(a).all()


def test_input_errors(scene8):
    data = scene8
    with pytest.raises(ValueError, match="one output per pair"):
        global_alignment(data.outputs[:-1], data.pairs, progress=False)
    with pytest.raises(TypeError, match="pair_outputs\\[0\\]"):
        global_alignment([{"pts3d": 1}] + data.outputs[1:], data.pairs, progress=False)
    v1, v2 = data.outputs[0]
    bad = [({"pts3d": v1["pts3d"][:10], "conf": v1["conf"][:10]}, v2)] + data.outputs[1:]
    with pytest.raises(ValueError, match="image 0"):
        global_alignment(bad, data.pairs, progress=False)
    with pytest.raises(ValueError, match="out of range"):
        global_alignment(data.outputs, data.pairs, image_shapes=[(48, 64)] * 3, progress=False)

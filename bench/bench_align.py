"""Global alignment of synthetic MASt3R-like pairwise pointmaps at 512x384.

Run: SPLATCORE_BUILD_DIR=build/align PYTHONPATH=python python -m pytest bench/bench_align.py -q -s
(SPLATCORE_BENCH_ALIGN_VIEWS=10,30 to pick the sizes; the default is 10, 30 and 100;
SPLATCORE_BENCH_ALIGN_DEVICE=cuda to optimise on a GPU device.)

test_alignment: the whole `global_alignment` (initialisation, 300 Adam
iterations on the fused loss at stride 2, full-resolution dense points) on
pointmaps made from known cameras by splatcore.align.synthetic (noise, smooth
depth distortion, per-pair scale and relative-pose error, 5 % low-confidence
outliers), with the default scene graph (complete up to 12 images, logwin-3
above: 90, 180 and 600 ordered pairs) and the default 'mst' initialisation;
100 views also with init='global' (similarity averaging, which drifts less on
long sequences). Timed once with pytest-benchmark (one round: the 100-view
cases take minutes); prints the time per stage and the accuracy against the
true cameras (rotation after a global rotation alignment, translation
directions between all camera pairs after a similarity alignment, focal
lengths), and checks the issue's bars (rotation < 1 deg, translation direction
< 2 deg, focal < 2 %) up to 30 views, where the issue states them. The 60 s bar
for 30 views is stated for 2 CPU cores: the printed line says how many threads
ran and whether it was met.

test_fused_iteration: one loss + gradient evaluation of the 30-view problem
(the body of each Adam iteration) beside its anchor, a vectorised NumPy
evaluation of the same loss (float32, forward only: NumPy has no backward)
on the same parameters in the same run; prints NumPy time / splatcore time.
"""
import os
import time

import numpy as np
import pytest

import splatcore as sc
from anchor import best_seconds, report_ratio
from splatcore import _core
from splatcore.align import global_alignment
from splatcore.align import synthetic as synth
from splatcore.align.alignment import _initialise, conf_weight
from splatcore.align.geometry import focal_base, quat_to_rotmat, signed_expm1

H, W = 384, 512
VIEWS = [int(v) for v in os.environ.get("SPLATCORE_BENCH_ALIGN_VIEWS", "10,30,100").split(",")]
# SPLATCORE_BENCH_ALIGN_DEVICE=cuda: the optimisation on that device (issue 16's
# bar: 30 views at 512x384 in under 3 s on the H200); timings["optimize"] is printed
DEVICE = os.environ.get("SPLATCORE_BENCH_ALIGN_DEVICE", "cpu")
_cache = {}


def scene(n):
    if n not in _cache:
        _cache.clear()  # the 100-view set holds ~4 GB; keep one at a time
        t = time.perf_counter()
        _cache[n] = synth.make_synthetic_pairs(n, W, H, seed=0)
        print(f"\n[{n} views: {len(_cache[n].pairs)} pairs generated in {time.perf_counter() - t:.1f} s]")
    return _cache[n]


CASES = [(n, "mst") for n in VIEWS] + [(n, "global") for n in VIEWS if n >= 100]


@pytest.mark.parametrize("n,init", CASES, ids=[f"{n}views-{i}" for n, i in CASES])
def test_alignment(benchmark, n, init):
    data = scene(n)
    out = {}

    def run():
        out["res"] = global_alignment(data.outputs, data.pairs, init=init, progress=False, device=DEVICE)

    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    res = out["res"]
    err = synth.pose_errors(res.cam_to_world, data.cam_to_world)
    ferr = np.abs(res.focals / data.focals - 1)
    secs = benchmark.stats.stats.min
    t = res.timings
    benchmark.extra_info.update(
        views=n, pairs=len(data.pairs), seconds=secs, threads=sc.num_threads(),
        rot_max_deg=float(err["rot_deg"].max()), trans_dir_max_deg=float(err["trans_dir_deg"].max()),
        focal_max_rel=float(ferr.max()), timings={k: float(v) for k, v in t.items()})
    print(f"\nalignment {n} views {W}x{H}, {len(data.pairs)} pairs, init {init}: {secs:.1f} s "
          f"[{sc.num_threads()} threads] (pack {t['pack']:.1f}, init {t['init']:.1f}, "
          f"300 iterations {t['optimize']:.1f}, dense {t['dense']:.1f})"
          + (f"; 30-view bar (60 s on 2 cores): {'met' if secs < 60 else 'NOT met'}" if n == 30 else ""))
    print(f"  rotation error max {err['rot_deg'].max():.3f} deg (mean {err['rot_deg'].mean():.3f}); "
          f"translation direction max {err['trans_dir_deg'].max():.3f} deg "
          f"(median {np.median(err['trans_dir_deg']):.3f}); focal error max {100 * ferr.max():.3f} % "
          f"(mean {100 * ferr.mean():.3f} %); loss {res.init_loss:.4f} -> {res.loss:.4f}")
    assert res.dropped == []
    if n <= 30:  # the bars (stated for 30 views)
        assert err["rot_deg"].max() < 1.0
        assert err["trans_dir_deg"].max() < 2.0
        assert ferr.max() < 0.02


def numpy_loss(views, pairs, shapes, pp, stride, params, base_scale=0.5, focal_break=20.0):
    """The alignment loss in vectorised NumPy float32 (forward only)."""
    ld, q, tr, lf, pq, pt, ps = [np.asarray(p, dtype=np.float32) for p in params]
    off = (stride - 1) // 2
    R = quat_to_rotmat(q).astype(np.float32)
    T = signed_expm1(tr).astype(np.float32)
    X, o = [], 0
    for k, (h, w) in enumerate(shapes):
        u = (np.arange(off, w, stride, dtype=np.float32) + 0.5 - pp[k][0])
        v = (np.arange(off, h, stride, dtype=np.float32) + 0.5 - pp[k][1])
        f = np.float32(np.exp(lf[k] / focal_break))
        d = np.exp(ld[o:o + len(u) * len(v)]).reshape(len(v), len(u))
        o += d.size
        cam = np.stack([d * (u[None, :] / f), d * (v[:, None] / f), d], axis=-1)
        X.append(cam @ R[k].T + T[k])
    s = (base_scale * np.exp(ps - ps.mean())).astype(np.float32)
    A = s[:, None, None] * quat_to_rotmat(pq).astype(np.float32)
    b = s[:, None] * signed_expm1(pt).astype(np.float32)
    a1 = sum(X[i].shape[0] * X[i].shape[1] for i, _ in pairs)
    a2 = sum(X[j].shape[0] * X[j].shape[1] for _, j in pairs)
    loss = 0.0
    for e, (i, j) in enumerate(pairs):
        y1, w1, y2, w2 = views[e]
        loss += float((w1 * np.linalg.norm(X[i] - (y1 @ A[e].T + b[e]), axis=-1)).sum()) / a1
        loss += float((w2 * np.linalg.norm(X[j] - (y2 @ A[e].T + b[e]), axis=-1)).sum()) / a2
    return loss


def test_fused_iteration(benchmark):
    n, stride = 30, 2
    data = scene(n)
    shapes = data.image_shapes
    pp = [(w / 2.0, h / 2.0) for h, w in shapes]
    fr = [(0.5 * focal_base(h, w), 3.5 * focal_base(h, w)) for h, w in shapes]
    outs = [(v1["pts3d"], v1["conf"], v2["pts3d_in_other_view"], v2["conf"]) for v1, v2 in data.outputs]
    prob = _core._align_Problem(shapes, pp, fr, data.pairs, *[[o[a] for o in outs] for a in range(4)],
                                stride=stride)
    scores = np.array([float(np.mean(o[1]) * np.mean(o[3])) for o in outs])
    own = {k: sorted([(float(np.mean(outs[e][1])), e) for e, (i, _) in enumerate(data.pairs) if i == k],
                     key=lambda t: (-t[0], t[1])) for k in range(n)}
    views = [(o[0], o[1], o[2], o[3]) for o in outs]
    params = _initialise(prob, list(range(n)), list(range(len(outs))), data.pairs, views, scores, own,
                       shapes, pp, fr, stride, "log", 0.5, 20.0, (0.5, 3.5))
    ts = [sc.tensor(np.ascontiguousarray(p, dtype=np.float32), requires_grad=True) for p in params]

    def ours():
        for t in ts:
            t.grad = None
        loss = prob.loss(*ts)
        loss.backward()
        return float(loss.item())

    sub = lambda a: np.ascontiguousarray(a[(stride - 1) // 2::stride, (stride - 1) // 2::stride])  # noqa: E731
    npviews = [(sub(o[0]), conf_weight(sub(o[1])), sub(o[2]), conf_weight(sub(o[3]))) for o in outs]

    def theirs():
        return numpy_loss(npviews, data.pairs, shapes, pp, stride, params)

    assert abs(ours() - theirs()) < 1e-4 * theirs()
    benchmark.pedantic(ours, rounds=5, iterations=1, warmup_rounds=1)
    report_ratio(benchmark, f"fused loss+gradient, {n} views, {len(data.pairs)} pairs, stride {stride}",
                 "NumPy loss (forward only)", best_seconds(theirs, repeat=3))

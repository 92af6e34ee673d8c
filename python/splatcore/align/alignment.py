"""Global alignment of MASt3R's pairwise pointmaps (DUSt3R's dense point-cloud
optimisation): cameras, focals and dense world points for a set of photos.

    pairs = make_pairs(len(images), default_scene_graph(len(images)))
    outputs = [model.infer_pair(images[i], images[j]) for i, j in pairs]
    res = global_alignment(outputs, pairs)
    res.K, res.cam_to_world, res.pts3d, res.conf, res.dropped

Model (Wang et al., DUSt3R, CVPR 2024, sec. 3.4; ``PointCloudOptimizer``): per image
k a log-depth map, a camera-to-world pose (quaternion + translation through
signed_expm1) and a focal (``exp(p / focal_break)``, principal point at the image
centre); per pair e a similarity (quaternion, translation, log-scale; the scales
are normalised so that their geometric mean is ``base_scale``, DUSt3R's
``norm_pw_scale``). Loss: the confidence-weighted Euclidean distances (not
squared) between each image's world points and the pairs' pointmaps mapped by
their similarity, divided by the pixel counts (``total_area_i/j``); weights are
``log(conf)`` (DUSt3R's default ``conf='log'``). Initialisation: a maximum
spanning tree over the pair scores ``mean(conf1) * mean(conf2)`` chained by
weighted Procrustes + scale, focals by a Weiszfeld fit of each image's own
pointmap to its pixel rays. Optimiser: Adam (betas 0.9, 0.9), lr 0.01 with a
cosine decay to 1e-6 over 300 iterations (DUSt3R's defaults).

What differs from DUSt3R, and why:

* the loss and all its gradients are one fused multithreaded C++ pass
  (``_core._align_Problem``, per-pixel math in ``cpp/kernels/align.h``), registered
  with the autograd as one op; the driver here runs splatcore's Adam on it;
* the optimisation uses every ``stride``-th pixel per axis (default 2). Once the
  cameras and pair similarities are fixed, the loss separates into independent
  1-D problems, one per pixel depth; the dense output solves them exactly at full
  resolution (reweighted least squares on the same robust loss), so the output
  points are what a full-resolution optimisation would give for those cameras;
* pixel centres are at ``u + 0.5`` (COLMAP / OpenCV, ``cx = W / 2`` the image
  centre); DUSt3R's pixel grid uses integer coordinates with ``pp = (W/2, H/2)``,
  half a pixel off;
* each image's camera is initialised by registering its own pointmap (a pair in
  which it is the first view) to the spanning-tree points, which gives the pose
  and the scale of its depth at once; DUSt3R's RANSAC-PnP is replaced by a
  weighted DLT with outlier trimming for images that are never a first view
  (non-symmetric graphs); each pair's initial similarity is fitted to both of
  its views (DUSt3R: view 1 only); Procrustes weights are the loss weights
  log(conf) (DUSt3R: conf);
* the Weiszfeld focal fit starts from the median of the per-pixel focal votes
  (DUSt3R: the least-squares value) and leaves out points that would project
  far outside the image for any admissible focal: a few points near z = 0 (a
  network's outliers) otherwise drive DUSt3R's start, and with it the fit, to 0;
* ``init='global'`` (not in DUSt3R) replaces the chaining along the tree by an
  averaging of all pairs' relative similarities, which does not accumulate drift
  along long sequences (see the benchmark: 100 views);
* pairs whose confident pixels (conf > ``min_conf_thr``) cover less than
  ``min_pair_overlap`` of either view are left out; images that are then not
  connected to the largest connected set are reported in ``dropped`` and not
  aligned (DUSt3R would fail or return garbage for them).
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import _core
from .geometry import (
    combine_moments, connected_components, dlt_camera, estimate_focal, focal_base,
    max_spanning_tree, pixel_rays, quat_to_rotmat, rotmat_to_quat, signed_expm1, signed_log1p,
    similarity_from_moments, weighted_moments,
)

__all__ = ["AlignmentResult", "global_alignment", "conf_weight"]


@dataclass
class AlignmentResult:
    """Cameras and dense points of a global alignment (world frame: that of the
    alignment, arbitrary up to a similarity; cameras in the OpenCV convention).

    ``focals``, ``principal_points`` (pixels, centres at u + 0.5), ``K`` (n, 3, 3),
    ``cam_to_world`` (n, 4, 4), ``pts3d`` (list of (H, W, 3) float32 world points,
    one per image, at the pointmaps' full resolution), ``depths`` (list of (H, W)
    camera z), ``conf`` (list of (H, W): per pixel the highest confidence any pair
    gave it, as DUSt3R's ``im_conf``). Images in ``dropped`` could not be connected
    to the aligned set: their pose is the identity, their points and confidences
    zero, ``aligned[k]`` False. ``loss`` is the final loss, ``residuals`` holds
    confidence-weighted mean distances between the aligned pairwise pointmaps and
    the world points (overall, per pair and view, and relative to the median depth)."""

    focals: np.ndarray
    principal_points: np.ndarray
    K: np.ndarray
    cam_to_world: np.ndarray
    pts3d: List[np.ndarray]
    depths: List[np.ndarray]
    conf: List[np.ndarray]
    dropped: List[int]
    aligned: np.ndarray
    loss: float
    init_loss: float
    loss_history: np.ndarray
    residuals: Dict[str, Any]
    pairs: List[Tuple[int, int]]
    image_shapes: List[Tuple[int, int]]
    interrupted: bool = False
    timings: Dict[str, float] = field(default_factory=dict)

    @property
    def world_to_cam(self) -> np.ndarray:
        """(n, 4, 4) world-to-camera matrices (the ``viewmat`` of splatcore.splat)."""
        return np.linalg.inv(self.cam_to_world)

    @property
    def n_images(self) -> int:
        return len(self.focals)

    def masks(self, min_conf_thr: float = 3.0) -> List[np.ndarray]:
        """Per image, the pixels whose confidence exceeds ``min_conf_thr`` (DUSt3R's
        default 3); all False for dropped images."""
        return [c > min_conf_thr for c in self.conf]

    def __repr__(self) -> str:
        return (f"AlignmentResult({self.n_images} images, {int(self.aligned.sum())} aligned, "
                f"dropped={self.dropped}, loss={self.loss:.6g})")


_CONF_MODES = {"log": np.log, "sqrt": np.sqrt, "m1": lambda c: c - 1.0, "id": lambda c: c,
               "none": lambda c: c}


def conf_weight(conf, mode: str = "log") -> np.ndarray:
    """Loss weight of MASt3R confidences (DUSt3R's conf_trf), clamped at 0; NaN,
    infinite or non-positive confidences give 0."""
    c = np.asarray(conf, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(c) & (c > 0)
        w = _CONF_MODES[mode](np.where(ok, c, 1.0))
    return np.where(ok & (w > 0), w, 0.0).astype(np.float32)


# ---- input ----------------------------------------------------------------------------

def _views(item, index):
    """(pts1, conf1, pts2, conf2) of one pair output: a (view1, view2) tuple of dicts as
    MASt3R returns them (view1['pts3d'], view1['conf'], view2['pts3d_in_other_view'],
    view2['conf'])."""
    if isinstance(item, Mapping) and "view1" in item and "view2" in item:
        item = (item["view1"], item["view2"])
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and
            all(isinstance(v, Mapping) for v in item)):
        raise TypeError(f"pair_outputs[{index}]: expected a (view1, view2) pair of dicts as "
                        f"Model.infer_pair returns, got {type(item).__name__}")
    v1, v2 = item
    try:
        p1, c1 = v1["pts3d"], v1["conf"]
        p2 = v2["pts3d_in_other_view"] if "pts3d_in_other_view" in v2 else v2["pts3d"]
        c2 = v2["conf"]
    except KeyError as err:
        raise ValueError(f"pair_outputs[{index}]: missing key {err} (view1 needs 'pts3d' and "
                         f"'conf', view2 'pts3d_in_other_view' and 'conf')") from None
    out = []
    for name, a, nd in (("view1 pts3d", p1, 3), ("view1 conf", c1, 2),
                        ("view2 pts3d_in_other_view", p2, 3), ("view2 conf", c2, 2)):
        a = np.asarray(a)
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float32)
        if a.ndim == nd + 1 and a.shape[0] == 1:  # a batch of one
            a = a[0]
        if a.ndim != nd or (nd == 3 and a.shape[2] != 3):
            raise ValueError(f"pair_outputs[{index}]: {name} must be "
                             f"{'(H, W, 3)' if nd == 3 else '(H, W)'}, got shape {a.shape}")
        out.append(a)
    if out[0].shape[:2] != out[1].shape or out[2].shape[:2] != out[3].shape:
        raise ValueError(f"pair_outputs[{index}]: pts3d and conf shapes differ: "
                         f"{out[0].shape} / {out[1].shape}, {out[2].shape} / {out[3].shape}")
    return out


# ---- the driver -------------------------------------------------------------------------

def global_alignment(pair_outputs: Sequence[Any], pairs: Sequence[Tuple[int, int]],
                     image_shapes: Optional[Sequence[Tuple[int, int]]] = None, *,
                     niter: int = 300, lr: float = 0.01, lr_min: float = 1e-6,
                     schedule: str = "cosine", betas=(0.9, 0.9), stride: int = 2,
                     conf_mode: str = "log", min_conf_thr: float = 3.0,
                     min_pair_overlap: float = 0.02, base_scale: float = 0.5,
                     focal_break: float = 20.0, focal_range=(0.5, 3.5), init: str = "mst",
                     dense_iters: int = 8, dtype: str = "float32",
                     progress: bool = True, device: Optional[str] = None) -> AlignmentResult:
    """Align MASt3R's pairwise outputs into one scene.

    pair_outputs[e] is the output for ``pairs[e] = (i, j)``: ``(view1, view2)`` with
    view1 = {'pts3d': (H_i, W_i, 3) in camera i's frame, 'conf': (H_i, W_i)} and
    view2 = {'pts3d_in_other_view': (H_j, W_j, 3) image j's points in camera i's
    frame, 'conf': (H_j, W_j)}; confidences >= 1 as MASt3R gives them. A pair
    (i, i) (one image paired with itself) only provides image i's own pointmap.
    image_shapes: (H, W) per image (default: read from the outputs; images that
    appear in no pair are then dropped).

    Options: ``niter``, ``lr``, ``lr_min``, ``schedule`` ('cosine' or 'linear'),
    ``betas``: the optimiser (DUSt3R's defaults). ``stride``: pixel sub-sampling per
    axis during the optimisation (the output stays at full resolution).
    ``conf_mode``: 'log', 'sqrt', 'm1' or 'id' (weight = transform of conf).
    ``min_conf_thr``, ``min_pair_overlap``: a pair is used when at least that
    fraction of both views' pixels has conf > min_conf_thr. ``focal_range``: focal
    bounds as multiples of DUSt3R's focal_base (60 degrees on the longer side).
    ``init``: 'mst' (DUSt3R's: chain the pairs of a maximum spanning tree) or
    'global' (average the relative similarities of all pairs at once: rotations,
    then log-scales, then translations by weighted least squares, so errors do
    not pile up along a chain; better for long sequences; falls back on 'mst'
    when an image is never a first view). ``progress``: a tqdm bar with the loss. Ctrl-C stops the optimisation early and
    still returns a valid result (``interrupted`` True). ``device``: where the
    optimisation runs ("cpu", "cuda", "metal", "sim", "auto"; None: the default
    device): the parameters, the fused loss and its gradient, and Adam live
    there, and the loss is read every 10 iterations; initialisation and the
    dense output run on the CPU."""
    from .._device import resolve_device

    t_start = time.perf_counter()
    timings: Dict[str, float] = {}
    device = resolve_device(device)
    pairs = [(int(i), int(j)) for i, j in pairs]
    if len(pair_outputs) != len(pairs):
        raise ValueError(f"pair_outputs: expected one output per pair ({len(pairs)}), got "
                         f"{len(pair_outputs)}")
    if not pairs:
        raise ValueError("pairs: expected at least one pair (one image: the pair (0, 0))")
    if init not in ("mst", "global"):
        raise ValueError(f"init: expected 'mst' or 'global', got {init!r}")
    if schedule not in ("cosine", "linear"):
        raise ValueError(f"schedule: expected 'cosine' or 'linear', got {schedule!r}")
    if conf_mode not in _CONF_MODES:
        raise ValueError(f"conf_mode: expected one of {sorted(_CONF_MODES)}, got {conf_mode!r}")
    if int(stride) < 1:
        raise ValueError(f"stride: expected an integer >= 1, got {stride}")
    if int(niter) < 0:
        raise ValueError(f"niter: expected >= 0, got {niter}")
    stride, niter = int(stride), int(niter)
    views = [_views(item, e) for e, item in enumerate(pair_outputs)]

    # image count and shapes
    n = (max(max(p) for p in pairs) + 1) if image_shapes is None else len(image_shapes)
    for e, (i, j) in enumerate(pairs):
        if min(i, j) < 0 or max(i, j) >= n:
            raise ValueError(f"pairs[{e}] = ({i}, {j}): image index out of range for {n} images")
    shapes: List[Optional[Tuple[int, int]]] = (
        [None] * n if image_shapes is None else [(int(h), int(w)) for h, w in image_shapes])
    for e, (i, j) in enumerate(pairs):
        for k, a, which in ((i, views[e][0], "view1"), (j, views[e][2], "view2")):
            hw = tuple(a.shape[:2])
            if shapes[k] is None:
                shapes[k] = hw
            elif shapes[k] != hw:
                raise ValueError(f"pairs[{e}] = ({i}, {j}): {which} of image {k} has shape {hw}, "
                                 f"expected {shapes[k]}")
    missing = [k for k in range(n) if shapes[k] is None]
    if missing:  # in no pair and no shape given: nothing to report them with
        raise ValueError(f"pairs: images {missing} appear in no pair; pass image_shapes (they "
                         f"are then reported as dropped) or renumber the images")
    pp = np.array([(w / 2.0, h / 2.0) for h, w in shapes])
    frange = [(focal_range[0] * focal_base(h, w), focal_range[1] * focal_base(h, w))
              for h, w in shapes]

    # own pointmaps (pairs where the image is view 1), usable pairs, connectivity
    own: Dict[int, List[Tuple[float, int]]] = {k: [] for k in range(n)}
    scores = np.zeros(len(pairs))
    usable = []
    for e, (i, j) in enumerate(pairs):
        p1, c1, p2, c2 = views[e]
        m1 = float(np.nan_to_num(np.mean(c1, dtype=np.float64), nan=0.0))
        m2 = float(np.nan_to_num(np.mean(c2, dtype=np.float64), nan=0.0))
        scores[e] = m1 * m2
        own[i].append((m1, e))
        if i == j:
            continue
        with np.errstate(invalid="ignore"):
            ov = min(float(np.mean(c1 > min_conf_thr)), float(np.mean(c2 > min_conf_thr)))
        if ov >= min_pair_overlap:
            usable.append(e)
    for k in own:
        own[k].sort(key=lambda t: (-t[0], t[1]))
    comps = connected_components(n, [pairs[e] for e in usable])
    comp = comps[0]
    if len(comp) == 1:  # nothing connected: keep one image that has its own pointmap
        with_own = [k for k in range(n) if own[k]]
        if not with_own:
            raise ValueError("global_alignment: no pair connects two images and no image has its "
                             "own pointmap (a pair where it is view 1); nothing to align")
        comp = [with_own[0]]
    in_comp = set(comp)
    dropped = [k for k in range(n) if k not in in_comp]
    used = [e for e in usable if pairs[e][0] in in_comp]
    timings["prepare"] = time.perf_counter() - t_start

    # outputs for every image (dropped ones keep these defaults)
    focals = np.array([focal_base(h, w) for h, w in shapes])
    for k in dropped:  # a focal from its own pointmap when there is one
        if own[k]:
            f = estimate_focal(views[own[k][0][1]][0], conf_weight(views[own[k][0][1]][1], conf_mode),
                               pp[k], min_focal=focal_range[0], max_focal=focal_range[1])
            if np.isfinite(f):
                focals[k] = f
    c2w = np.tile(np.eye(4), (n, 1, 1))
    pts3d = [np.zeros((h, w, 3), np.float32) for h, w in shapes]
    depths = [np.zeros((h, w), np.float32) for h, w in shapes]
    confs = [np.zeros((h, w), np.float32) for h, w in shapes]

    if len(comp) == 1:
        k = comp[0]
        p, c = views[own[k][0][1]][0], views[own[k][0][1]][1]
        w = conf_weight(c, conf_mode)
        f = estimate_focal(p, w, pp[k], min_focal=focal_range[0], max_focal=focal_range[1])
        focals[k] = f if np.isfinite(f) else focals[k]
        d = _positive_depth(np.asarray(p[..., 2], dtype=np.float64))
        h, wd = shapes[k]
        depths[k] = d.astype(np.float32)
        pts3d[k] = (d[..., None] * pixel_rays(h, wd, focals[k], pp[k][0], pp[k][1])).astype(np.float32)
        confs[k] = np.maximum(confs[k], np.nan_to_num(np.asarray(c, np.float32), nan=0.0))
        res = _result(focals, pp, c2w, pts3d, depths, confs, dropped, n, 0.0, 0.0, np.zeros(0),
                      {"weighted_mean": 0.0, "relative": 0.0, "per_pair": np.zeros((0, 2)),
                       "mean_abs": np.zeros((0, 2))}, [], shapes, False, timings)
        timings["total"] = time.perf_counter() - t_start
        return res

    # ---- the problem over the connected set (local indices) ----------------------------
    loc = {k: a for a, k in enumerate(comp)}
    ledges = [(loc[pairs[e][0]], loc[pairs[e][1]]) for e in used]
    m = len(comp)
    t0 = time.perf_counter()
    problem = _core._align_Problem(
        [shapes[k] for k in comp], [tuple(pp[k]) for k in comp], [frange[k] for k in comp],
        ledges, [views[e][0] for e in used], [views[e][1] for e in used],
        [views[e][2] for e in used], [views[e][3] for e in used],
        stride=stride, dtype=dtype, conf_mode=conf_mode, base_scale=base_scale,
        focal_break=focal_break)
    timings["pack"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    init = _initialise(problem, comp, used, ledges, views, scores, own, shapes, pp, frange,
                       stride, conf_mode, base_scale, focal_break, focal_range, init)
    timings["init"] = time.perf_counter() - t0

    np_dtype = np.float32 if dtype == "float32" else np.float64
    import splatcore as sc  # the package (optimizer, Tensor); imported here to avoid a cycle
    params = [sc.tensor(np.ascontiguousarray(a, dtype=np_dtype), requires_grad=True, device=device)
              for a in init]
    with sc.no_grad():
        init_loss = float(problem.loss(*params).item())

    t0 = time.perf_counter()
    losses = []  # the loss of each iteration, on the device (read every 10 iterations)
    interrupted = False
    done_iters = 0
    if niter > 0:
        opt = sc.optim.Adam(params, lr=lr, betas=tuple(betas))
        group = opt.param_groups[0]
        bar = _progress(niter, progress)
        try:
            for it in range(niter):
                if schedule == "cosine":
                    cur = sc.optim.cosine(it, lr, lr_min, niter)
                else:
                    cur = lr + (lr_min - lr) * it / niter
                group.lr = cur
                opt.zero_grad()
                loss = problem.loss(*params)
                loss.backward()
                opt.step()
                losses.append(loss.detach())
                done_iters = it + 1
                if bar is not None:
                    if it % 10 == 0 or it == niter - 1:
                        bar.set_postfix_str(f"lr={cur:.3g} loss={float(loss.item()):.6g}", refresh=False)
                    bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
    history = (sc.stack(losses).cpu().numpy().astype(np.float64) if losses else np.zeros(0))
    timings["optimize"] = time.perf_counter() - t0
    timings["iterations"] = done_iters

    values = [np.array(p.numpy(), dtype=np.float64, copy=True) for p in params]
    with sc.no_grad():
        final_loss = float(problem.loss(*params).item())
    stats = problem.residual_stats(*params)

    # ---- dense output --------------------------------------------------------------------
    t0 = time.perf_counter()
    ld, q, tr, lf, pq, pt, ps = values
    R = quat_to_rotmat(q)
    T = signed_expm1(tr)
    f = np.clip(np.exp(lf / focal_break), [fr[0] for fr in (frange[k] for k in comp)],
                [fr[1] for fr in (frange[k] for k in comp)])
    s_pw = base_scale * np.exp(ps - ps.mean())
    A_pw = s_pw[:, None, None] * quat_to_rotmat(pq)
    b_pw = s_pw[:, None] * signed_expm1(pt)
    off = problem.sample_offset
    views_of: List[List[Tuple[int, int]]] = [[] for _ in range(m)]
    for le, (i, j) in enumerate(ledges):
        views_of[i].append((le, 0))
        views_of[j].append((le, 1))
    for a, k in enumerate(comp):
        h, w = shapes[k]
        gh, gw = problem.grid(a)
        o = problem.pixel_offset(a)
        low = np.exp(ld[o:o + gh * gw]).reshape(gh, gw)
        iv = np.clip(np.rint((np.arange(h) - off) / stride).astype(np.int64), 0, gh - 1)
        iu = np.clip(np.rint((np.arange(w) - off) / stride).astype(np.int64), 0, gw - 1)
        start = low[iv][:, iu].astype(np.float32)
        vp = [views[used[le]][2 * slot] for le, slot in views_of[a]]
        vc = [views[used[le]][2 * slot + 1] for le, slot in views_of[a]]
        idx = [le for le, _ in views_of[a]]
        d, _ = _core._align_dense_depth(vp, vc, A_pw[idx], b_pw[idx], R[a], T[a], float(f[a]),
                                        float(pp[k][0]), float(pp[k][1]), start, int(dense_iters),
                                        conf_mode)
        d = np.asarray(d, dtype=np.float64)
        cam = d[..., None] * pixel_rays(h, w, f[a], pp[k][0], pp[k][1])
        pts3d[k] = (cam @ R[a].T + T[a]).astype(np.float32)
        depths[k] = d.astype(np.float32)
        cm = np.zeros((h, w), np.float32)
        for c in vc:
            np.maximum(cm, np.nan_to_num(np.asarray(c, dtype=np.float32), nan=0.0), out=cm)
        confs[k] = cm
        focals[k] = f[a]
        c2w[k, :3, :3] = R[a]
        c2w[k, :3, 3] = T[a]
    timings["dense"] = time.perf_counter() - t0

    # residuals: confidence-weighted mean distance per pair and view, and overall
    swr, sw, sr, cnt = stats[..., 0], stats[..., 1], stats[..., 2], stats[..., 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_pair = np.where(sw > 0, swr / np.maximum(sw, 1e-300), 0.0)
        mean_abs = np.where(cnt > 0, sr / np.maximum(cnt, 1.0), 0.0)
    overall = float(swr.sum() / sw.sum()) if sw.sum() > 0 else 0.0
    med_depth = float(np.median(np.concatenate([depths[k][::4, ::4].ravel() for k in comp])))
    residuals = {"weighted_mean": overall, "relative": overall / med_depth if med_depth > 0 else 0.0,
                 "per_pair": per_pair, "mean_abs": mean_abs, "median_depth": med_depth}
    timings["total"] = time.perf_counter() - t_start
    return _result(focals, pp, c2w, pts3d, depths, confs, dropped, n, final_loss, init_loss,
                   history, residuals, [pairs[e] for e in used], shapes, interrupted, timings)


def _result(focals, pp, c2w, pts3d, depths, confs, dropped, n, loss, init_loss, history,
            residuals, pairs, shapes, interrupted, timings) -> AlignmentResult:
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = focals
    K[:, :2, 2] = pp
    K[:, 2, 2] = 1.0
    aligned = np.ones(n, dtype=bool)
    aligned[list(dropped)] = False
    return AlignmentResult(
        focals=np.asarray(focals, dtype=np.float64), principal_points=np.asarray(pp, np.float64),
        K=K, cam_to_world=c2w, pts3d=pts3d, depths=depths, conf=confs, dropped=list(dropped),
        aligned=aligned, loss=float(loss), init_loss=float(init_loss),
        loss_history=np.asarray(history), residuals=residuals, pairs=list(pairs),
        image_shapes=list(shapes), interrupted=bool(interrupted), timings=timings)


def _progress(total, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency; stay quiet without it
        return None
    return tqdm(total=total, desc="global alignment", unit="it", leave=False)


def _positive_depth(d: np.ndarray) -> np.ndarray:
    """Depths with non-positive or non-finite values replaced by a small positive
    value (a fraction of the median of the valid ones), so log-depth is finite."""
    d = np.asarray(d, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    med = float(np.median(d[ok])) if ok.any() else 1.0
    floor = 1e-3 * med
    return np.where(ok, np.maximum(d, floor), med)


def _sub(a, off, s):
    return a[off::s, off::s]


def _parallel_map(fn, items):
    """[fn(x) for x in items] on the core's thread count: the per-pair and per-camera
    NumPy and C++ work of the initialisation releases the GIL."""
    items = list(items)
    workers = min(len(items), max(1, _core.num_threads()))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))


def _initialise(problem, comp, used, ledges, views, scores, own, shapes, pp, frange, stride,
                conf_mode, base_scale, focal_break, focal_range, method="mst"):
    """Initial parameters (the seven arrays of the problem): cameras by DUSt3R's
    spanning-tree chaining ('mst') or by similarity averaging ('global'), then each
    pair's similarity and DUSt3R's scale normalisation."""
    off = problem.sample_offset
    escores = [scores[e] for e in used]

    def sub(a):  # the optimisation grid; non-finite points become 0 (their weight is 0)
        a = _sub(a, off, stride)
        return np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0) if a.ndim == 3 else a

    def wsub(p, c):
        w = conf_weight(_sub(c, off, stride), conf_mode)
        return np.where(np.isfinite(_sub(p, off, stride)).all(-1), w, np.float32(0))

    w1 = _parallel_map(lambda e: wsub(views[e][0], views[e][1]), used)
    w2 = _parallel_map(lambda e: wsub(views[e][2], views[e][3]), used)
    if method == "global" and all(own[k] for k in comp):
        Rc, Tc, fc, depth = _global_cameras(comp, used, ledges, views, escores, own, shapes, pp,
                                            sub, wsub, w1, w2, conf_mode, focal_range)
    else:
        Rc, Tc, fc, depth = _mst_cameras(problem, comp, used, ledges, views, escores, own, shapes,
                                         pp, frange, stride, off, sub, wsub, w1, w2, conf_mode,
                                         focal_range)
    return _pair_similarities(problem, comp, used, ledges, views, shapes, pp, stride, off, sub,
                              w1, w2, Rc, Tc, fc, depth, base_scale, focal_break)


def _mst_cameras(problem, comp, used, ledges, views, escores, own, shapes, pp, frange, stride,
                 off, sub, wsub, w1, w2, conf_mode, focal_range):
    """DUSt3R's 'mst' initialisation of the cameras: (R, T, focal, depth) per image."""
    m = len(comp)

    def raw(a):  # the optimisation grid as a view: weighted_moments skips non-finite points itself
        return _sub(a, off, stride)

    tree = max_spanning_tree(m, ledges, escores)

    # 1. chain the pairs of the spanning tree into one frame (that of the best pair's view 1)
    world: List[Optional[np.ndarray]] = [None] * m
    wworld: List[Optional[np.ndarray]] = [None] * m
    first = tree[0]
    i, j = ledges[first]
    world[i], wworld[i] = sub(views[used[first]][0]).astype(np.float64), w1[first]
    world[j], wworld[j] = sub(views[used[first]][2]).astype(np.float64), w2[first]
    todo = list(tree[1:])
    while todo:
        for t, le in enumerate(todo):
            i, j = ledges[le]
            e = used[le]
            if world[i] is not None and world[j] is None:
                s, R, tt = similarity_from_moments(weighted_moments(
                    raw(views[e][0]), world[i], np.minimum(w1[le], wworld[i])))
                world[j] = s * sub(views[e][2]).astype(np.float64) @ R.T + tt
                wworld[j] = w2[le]
            elif world[j] is not None and world[i] is None:
                s, R, tt = similarity_from_moments(weighted_moments(
                    raw(views[e][2]), world[j], np.minimum(w2[le], wworld[j])))
                world[i] = s * sub(views[e][0]).astype(np.float64) @ R.T + tt
                wworld[i] = w1[le]
            else:
                continue
            del todo[t]
            break
        else:  # cannot happen for a spanning tree of a connected set
            raise RuntimeError("global_alignment: the spanning tree does not connect the images")

    # 2. each camera: its own pointmap registered to the chained points
    def own_focal(k):  # the focal of image k's own pointmap (the most expensive part: in parallel)
        if not own[k]:
            return None
        e = own[k][0][1]
        return estimate_focal(views[e][0], conf_weight(views[e][1], conf_mode), pp[k],
                              min_focal=focal_range[0], max_focal=focal_range[1])

    focals = _parallel_map(own_focal, comp)
    Rc, Tc, fc, depth = [None] * m, [None] * m, np.zeros(m), [None] * m
    for a, k in enumerate(comp):
        h, w = shapes[k]
        gh, gw = problem.grid(a)
        cands = [e for _, e in own[k]]
        if cands:
            e = cands[0]
            y = views[e][0]
            f = focals[a]
            fc[a] = f if np.isfinite(f) else focal_base(h, w)
            s, R, tt = similarity_from_moments(weighted_moments(
                raw(y), world[a], np.minimum(wsub(y, views[e][1]), wworld[a])))
            Rc[a], Tc[a] = R, tt
            depth[a] = _positive_depth(s * sub(y)[..., 2].astype(np.float64))
        else:  # never a first view: a DLT camera from the chained world points
            u = (np.arange(off, w, stride) + 0.5 - pp[k][0])
            v = (np.arange(off, h, stride) + 0.5 - pp[k][1])
            pix = np.stack(np.broadcast_arrays(u[None, :], v[:, None]), axis=-1).reshape(-1, 2)
            cam = dlt_camera(world[a].reshape(-1, 3), pix, wworld[a].ravel())
            if cam is None:
                fc[a], c2w = focal_base(h, w), np.eye(4)
            else:
                fc[a], c2w = cam
            fc[a] = float(np.clip(fc[a], frange[k][0], frange[k][1]))
            Rc[a], Tc[a] = c2w[:3, :3], c2w[:3, 3]
            depth[a] = _positive_depth((world[a] - Tc[a]) @ Rc[a][:, 2])
        assert depth[a].shape == (gh, gw)
    return Rc, Tc, fc, depth


def _similarity_compose_inv(si, sj):
    """S_i^-1 o S_j for similarities S(x) = s R x + t given as (s, R, t)."""
    (s1, R1, t1), (s2, R2, t2) = si, sj
    return s2 / s1, R1.T @ R2, R1.T @ (t2 - t1) / s1


def _project_so3(M):
    U, _, Vt = np.linalg.svd(M)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return U @ D @ Vt


def _global_cameras(comp, used, ledges, views, escores, own, shapes, pp, sub, wsub, w1, w2,
                    conf_mode, focal_range):
    """Cameras by similarity averaging over all pairs ('global' init).

    Image k's own pointmap (its best first-view map) is mapped to the world by an
    unknown similarity W_k. Pair e = (i, j) relates them: registering the own maps
    of i and j to the pair's two views gives S_ei, S_ej (own map -> pair frame),
    hence W_j = W_i o S_ei^-1 o S_ej. Rotations are solved first (chordal least
    squares, linear, then projected on SO(3); three reweighting rounds damp bad
    pairs), then log-scales, then translations, each by weighted least squares
    with the best-connected image fixed."""
    m = len(comp)
    own_e = [own[k][0][1] for k in comp]
    own_y = [sub(views[e][0]).astype(np.float64) for e in own_e]
    own_w = [wsub(views[e][0], views[e][1]) for e in own_e]
    meas = []
    for le, (i, j) in enumerate(ledges):
        e = used[le]
        si = (1.0, np.eye(3), np.zeros(3)) if own_e[i] == e else similarity_from_moments(
            weighted_moments(own_y[i], sub(views[e][0]), np.minimum(own_w[i], w1[le])))
        sj = similarity_from_moments(weighted_moments(own_y[j], sub(views[e][2]),
                                                      np.minimum(own_w[j], w2[le])))
        meas.append((i, j) + _similarity_compose_inv(si, sj))
    omega = np.array([max(float(sc_), 1e-12) for sc_ in escores])
    strength = np.zeros(m)
    for (i, j, *_), wgt in zip(meas, omega):
        strength[i] += wgt
        strength[j] += wgt
    a0 = int(np.argmax(strength))
    free = [k for k in range(m) if k != a0]
    col = {k: c for c, k in enumerate(free)}
    E = len(meas)

    # rotations: z_j - mR^T z_i = 0 for each row of the rotation matrices
    rob = np.ones(E)
    for _ in range(4):
        A = np.zeros((3 * E, 3 * len(free)))
        B = np.zeros((3 * E, 3))
        for q, (i, j, ms, mR, mt) in enumerate(meas):
            wq = math.sqrt(omega[q] * rob[q])
            rows = slice(3 * q, 3 * q + 3)
            for k, blk in ((j, np.eye(3)), (i, -mR.T)):
                if k == a0:
                    B[rows] -= wq * blk  # z_a0 = row r of I: the r-th column of B
                else:
                    A[rows, 3 * col[k]:3 * col[k] + 3] += wq * blk
        Z = np.linalg.lstsq(A, B, rcond=None)[0]  # (3 (m-1), 3): column r = rows r of Q_k
        Q = [np.eye(3)] * m
        for k in free:
            Q[k] = _project_so3(Z[3 * col[k]:3 * col[k] + 3].T)
        res = np.array([np.linalg.norm(Q[j] - Q[i] @ mR) for i, j, _, mR, _ in meas])
        scale = max(1.4826 * float(np.median(res)), 1e-9)
        rob = 1.0 / (1.0 + (res / (3.0 * scale)) ** 2)  # Cauchy weights

    # log-scales and translations
    omega = omega * rob
    A = np.zeros((E, len(free)))
    for q, (i, j, *_r) in enumerate(meas):
        if j != a0:
            A[q, col[j]] += 1.0
        if i != a0:
            A[q, col[i]] -= 1.0
    sw = np.sqrt(omega)[:, None]
    logs = np.zeros(m)
    sol = np.linalg.lstsq(A * sw, sw[:, 0] * np.log([ms for _, _, ms, _, _ in meas]), rcond=None)[0]
    for k in free:
        logs[k] = sol[col[k]]
    sig = np.exp(logs)
    rhs = np.stack([sig[i] * Q[i] @ mt for i, _, _, _, mt in meas])
    sol = np.linalg.lstsq(A * sw, rhs * sw, rcond=None)[0]
    tau = np.zeros((m, 3))
    for k in free:
        tau[k] = sol[col[k]]

    Rc, Tc, fc, depth = [None] * m, [None] * m, np.zeros(m), [None] * m
    for a, k in enumerate(comp):
        h, w = shapes[k]
        e = own_e[a]
        f = estimate_focal(views[e][0], conf_weight(views[e][1], conf_mode), pp[k],
                           min_focal=focal_range[0], max_focal=focal_range[1])
        fc[a] = f if np.isfinite(f) else focal_base(h, w)
        Rc[a], Tc[a] = Q[a], tau[a]
        depth[a] = _positive_depth(sig[a] * own_y[a][..., 2])
    return Rc, Tc, fc, depth


def _pair_similarities(problem, comp, used, ledges, views, shapes, pp, stride, off, sub, w1, w2,
                       Rc, Tc, fc, depth, base_scale, focal_break):
    """Each pair's similarity against the initial cameras, DUSt3R's scale
    normalisation, and the seven parameter arrays."""
    m = len(comp)

    def raw(a):  # the optimisation grid as a view: weighted_moments skips non-finite points itself
        return _sub(a, off, stride)

    # 3. every pair's similarity from both of its views against the camera model
    X = []
    for a, k in enumerate(comp):
        gh, gw = problem.grid(a)
        rays = pixel_rays(shapes[k][0], shapes[k][1], fc[a], pp[k][0], pp[k][1], stride, off)
        X.append((depth[a][..., None] * rays) @ Rc[a].T + Tc[a])
    E = len(used)
    pw_R, pw_t, pw_s = np.zeros((E, 3, 3)), np.zeros((E, 3)), np.zeros(E)

    def pair_similarity(le):
        (i, j), e = ledges[le], used[le]
        return similarity_from_moments(combine_moments([weighted_moments(raw(views[e][0]), X[i], w1[le]),
                                                        weighted_moments(raw(views[e][2]), X[j], w2[le])]))

    for le in range(E):
        s, R, tt = pair_similarity(le)
        pw_R[le], pw_t[le], pw_s[le] = R, tt, s

    # 4. DUSt3R's scale normalisation: scale the world so that the normalised pair
    #    scales (geometric mean base_scale) reproduce it
    log_s = np.log(pw_s)
    sf = math.exp(math.log(base_scale) - float(log_s.mean()))
    log_depth = np.concatenate([np.log(depth[a] * sf).ravel() for a in range(m)])
    quat = rotmat_to_quat(np.stack(Rc))
    trans = signed_log1p(np.stack(Tc) * sf)
    log_focal = focal_break * np.log(fc)
    pw_quat = rotmat_to_quat(pw_R)
    pw_trans = signed_log1p(pw_t / pw_s[:, None])
    return [log_depth, quat, trans, log_focal, pw_quat, pw_trans, log_s]

"""Pointmaps -> one point cloud: confidence threshold, co-visibility test, colours.

After the global alignment every image ``i`` has a dense map of world points
(``pts3d[i]``, one per pixel), its camera depth (``depths[i]``) and a confidence
(``conf[i]``). Neighbouring photos see the same surfaces, so keeping every
confident pixel of every image would put several Gaussians on each patch. The
co-visibility test drops those repeats.

**The rule.** A *candidate* is a pixel of a contributing image whose confidence
exceeds ``min_conf_thr`` and whose point and depth are finite (depth > 0). The
candidate point ``X`` of pixel ``p`` of image ``i`` is *redundant* when there is
another contributing image ``j`` (a neighbour of ``i`` in the alignment's pair
graph) such that

1. ``X`` is in front of camera ``j`` (camera z > 0),
2. it projects inside image ``j``: ``(u, v) = K_j x_cam / z`` with
   ``0 <= u < W_j``, ``0 <= v < H_j`` (pixel centres at ``+0.5``), pixel
   ``q = (floor(v), floor(u))``,
3. its depth agrees with ``j``'s depth map there:
   ``|z - depth_j[q]| <= depth_tol * depth_j[q]``,
4. ``q`` is a candidate of ``j`` and ranks higher: ``conf_j[q] > conf_i[p]``, or
   equal confidences and ``j < i``.

The ranking ``(confidence, -image index)`` is a strict total order, so every
chain of "redundant because of" ends at a pixel that is kept: of the
observations of a surface patch, the most confident one stays. The rule does not
depend on the order in which images are processed. Only neighbours in the pair
graph are tested (all pairs up to 12 photos with the default graph), which keeps
the cost linear in the number of pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

__all__ = ["FusedPoints", "candidate_masks", "covisibility_mask", "fuse_points", "neighbours_from_pairs"]


@dataclass
class FusedPoints:
    """A fused point cloud: ``xyz`` (N, 3) float64 world points, ``rgb`` (N, 3)
    uint8 colours, and per point its source ``image`` index, ``pixel`` (x, y)
    and confidence ``conf``. ``counts`` records the sizes after each stage
    (candidates, after the co-visibility test, kept)."""

    xyz: np.ndarray
    rgb: np.ndarray
    image: np.ndarray
    pixel: np.ndarray
    conf: np.ndarray
    counts: Dict[str, int]
    threshold: float

    def __len__(self) -> int:
        return len(self.xyz)

    def __iter__(self):  # xyz, rgb = fused
        return iter((self.xyz, self.rgb))


def neighbours_from_pairs(n: int, pairs: Iterable[Tuple[int, int]]) -> List[Set[int]]:
    """Undirected adjacency of ``n`` images from ordered pairs (self pairs ignored)."""
    nb: List[Set[int]] = [set() for _ in range(n)]
    for i, j in pairs:
        i, j = int(i), int(j)
        if i != j:
            nb[i].add(j)
            nb[j].add(i)
    return nb


def candidate_masks(pts3d: Sequence[np.ndarray], conf: Sequence[np.ndarray],
                    depths: Sequence[np.ndarray], min_conf_thr: float,
                    use: Optional[Iterable[int]] = None) -> List[np.ndarray]:
    """Per image, the pixels that may become points: ``conf > min_conf_thr``, finite
    point and depth, depth > 0; all False for images not in ``use``."""
    n = len(pts3d)
    use_set = set(range(n)) if use is None else {int(k) for k in use}
    out = []
    for k in range(n):
        c = np.asarray(conf[k])
        if k not in use_set:
            out.append(np.zeros(c.shape, bool))
            continue
        p = np.asarray(pts3d[k])
        d = np.asarray(depths[k])
        with np.errstate(invalid="ignore"):
            m = (np.isfinite(c) & (c > min_conf_thr) & np.isfinite(p).all(-1) & np.isfinite(d)
                 & (d > 0))
        out.append(m)
    return out


def covisibility_mask(pts3d: Sequence[np.ndarray], conf: Sequence[np.ndarray],
                      depths: Sequence[np.ndarray], K: Sequence[np.ndarray],
                      world_to_cam: Sequence[np.ndarray], candidates: Sequence[np.ndarray],
                      neighbours: Optional[Sequence[Iterable[int]]] = None,
                      depth_tol: float = 0.05) -> List[np.ndarray]:
    """Per image, the candidates that survive the co-visibility test (the module
    docstring states the rule). ``neighbours[i]``: the images ``i`` is tested
    against (default: all others). Arrays: ``pts3d[i]`` (H, W, 3) world points,
    ``conf[i]`` / ``depths[i]`` (H, W), ``K[i]`` (3, 3), ``world_to_cam[i]`` (4, 4),
    ``candidates[i]`` (H, W) bool."""
    n = len(pts3d)
    if not (len(conf) == len(depths) == len(K) == len(world_to_cam) == len(candidates) == n):
        raise ValueError("covisibility_mask: pts3d, conf, depths, K, world_to_cam and candidates "
                         "must have one entry per image")
    if not depth_tol >= 0:
        raise ValueError(f"covisibility_mask: depth_tol must be >= 0, got {depth_tol}")
    keep = [np.array(c, dtype=bool, copy=True) for c in candidates]
    for i in range(n):
        ys, xs = np.nonzero(candidates[i])
        if len(ys) == 0:
            continue
        X = np.asarray(pts3d[i], dtype=np.float64)[ys, xs]
        ci = np.asarray(conf[i], dtype=np.float64)[ys, xs]
        redundant = np.zeros(len(ys), dtype=bool)
        others = range(n) if neighbours is None else sorted(int(j) for j in neighbours[i])
        for j in others:
            if j == i or not candidates[j].any():
                continue
            M = np.asarray(world_to_cam[j], dtype=np.float64)
            Kj = np.asarray(K[j], dtype=np.float64)
            hj, wj = candidates[j].shape
            Xc = X @ M[:3, :3].T + M[:3, 3]
            z = Xc[:, 2]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                u = Kj[0, 0] * (Xc[:, 0] / z) + Kj[0, 2]
                v = Kj[1, 1] * (Xc[:, 1] / z) + Kj[1, 2]
                ok = (z > 0) & (u >= 0) & (u < wj) & (v >= 0) & (v < hj)
            idx = np.nonzero(ok)[0]
            if len(idx) == 0:
                continue
            qx = np.minimum(np.floor(u[idx]).astype(np.int64), wj - 1)
            qy = np.minimum(np.floor(v[idx]).astype(np.int64), hj - 1)
            dj = np.asarray(depths[j], dtype=np.float64)[qy, qx]
            cj = np.asarray(conf[j], dtype=np.float64)[qy, qx]
            cand = candidates[j][qy, qx]
            agree = np.abs(z[idx] - dj) <= depth_tol * dj
            better = (cj > ci[idx]) | ((cj == ci[idx]) & (j < i))
            redundant[idx[cand & agree & better]] = True
        keep[i][ys[redundant], xs[redundant]] = False
    return keep


def _colour_u8(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    return np.clip(np.round(np.nan_to_num(a.astype(np.float64)) * 255.0), 0, 255).astype(np.uint8)


def fuse_points(result, images: Sequence[np.ndarray], min_conf_thr: float = 3.0,
                use: Optional[Iterable[int]] = None, dedup: bool = True, depth_tol: float = 0.05,
                max_points: Optional[int] = None, min_points: int = 1000, seed: int = 0,
                log=None) -> FusedPoints:
    """The fused, coloured point cloud of an :class:`~splatcore.align.AlignmentResult`.

    images: per image (H, W, 3) colours (uint8, or float in [0, 1]) at the
        resolution of the pointmaps. use: the images that contribute points
        (default: all aligned images). The co-visibility test (``dedup``) runs over
        the alignment's pair graph. When fewer than ``min_points`` pixels pass
        ``min_conf_thr`` (e.g. a model with untrained weights), each contributing
        image's pixels above its own median confidence are used instead (a
        warning goes to ``log``). ``max_points``: a seeded random subset of at most
        that many points is kept (the initial Gaussians; training cost grows with
        their number)."""
    n = result.n_images
    if len(images) != n:
        raise ValueError(f"fuse_points: expected {n} images (one per aligned image), got {len(images)}")
    aligned = np.asarray(result.aligned, dtype=bool)
    use_idx = [k for k in (range(n) if use is None else use) if aligned[int(k)]]
    for k in use_idx:
        if tuple(np.asarray(images[k]).shape[:2]) != tuple(result.conf[k].shape):
            raise ValueError(f"fuse_points: image {k} has shape {np.asarray(images[k]).shape[:2]}, "
                             f"its pointmap {result.conf[k].shape}")
    cand = candidate_masks(result.pts3d, result.conf, result.depths, min_conf_thr, use_idx)
    threshold = float(min_conf_thr)
    total = sum(int(m.sum()) for m in cand)
    if total < min_points:
        valid = candidate_masks(result.pts3d, result.conf, result.depths, -np.inf, use_idx)
        n_valid = sum(int(m.sum()) for m in valid)
        if n_valid > total:
            cand = []
            for k, m in enumerate(valid):
                if m.any():
                    med = float(np.median(result.conf[k][m]))
                    m = m & (result.conf[k] >= med)
                cand.append(m)
            threshold = float("nan")
            if log is not None:
                log(f"warning: only {total} pixels have a confidence above {min_conf_thr:g}; "
                    f"using each image's pixels above its median confidence instead "
                    f"({sum(int(m.sum()) for m in cand)} points)")
    n_cand = sum(int(m.sum()) for m in cand)
    if dedup and len(use_idx) > 1:
        keep = covisibility_mask(result.pts3d, result.conf, result.depths, result.K,
                                 result.world_to_cam, cand,
                                 neighbours_from_pairs(n, result.pairs), depth_tol)
    else:
        keep = cand
    xyz, rgb, src, pix, cf = [], [], [], [], []
    for k in range(n):
        ys, xs = np.nonzero(keep[k])
        if len(ys) == 0:
            continue
        xyz.append(np.asarray(result.pts3d[k], dtype=np.float64)[ys, xs])
        rgb.append(_colour_u8(images[k])[ys, xs, :3])
        src.append(np.full(len(ys), k, np.int32))
        pix.append(np.stack([xs, ys], axis=1).astype(np.int32))
        cf.append(np.asarray(result.conf[k], dtype=np.float32)[ys, xs])
    if xyz:
        out = [np.concatenate(a) for a in (xyz, rgb, src, pix, cf)]
    else:
        out = [np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0, np.int32),
               np.zeros((0, 2), np.int32), np.zeros(0, np.float32)]
    n_dedup = len(out[0])
    if max_points is not None and n_dedup > int(max_points):
        sel = np.sort(np.random.default_rng(seed).choice(n_dedup, size=int(max_points), replace=False))
        out = [a[sel] for a in out]
    return FusedPoints(*out, counts={"candidates": n_cand, "after_covisibility": n_dedup,
                                     "kept": len(out[0])}, threshold=threshold)

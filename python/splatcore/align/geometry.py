"""Small geometry for the global alignment: rotations, the weighted similarity
(Procrustes + scale) fit, the Weiszfeld focal fit, a DLT camera fallback, graphs.

Rotation matrices act on column vectors; quaternions are ``w x y z``.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .. import _core

__all__ = [
    "quat_to_rotmat", "rotmat_to_quat", "signed_expm1", "signed_log1p", "focal_base",
    "weighted_moments", "combine_moments", "similarity_from_moments", "weighted_procrustes",
    "estimate_focal", "pixel_rays", "dlt_camera", "connected_components", "max_spanning_tree",
    "rotation_angle_deg",
]


def quat_to_rotmat(q) -> np.ndarray:
    """(..., 4) quaternions w x y z (any norm) -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q / np.maximum(n, 1e-12), -1, 0)
    R = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return R.reshape(q.shape[:-1] + (3, 3))


def rotmat_to_quat(R) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions w x y z with w >= 0
    (Shepperd's method: the largest of the four squared components first)."""
    R = np.asarray(R, dtype=np.float64)
    shape = R.shape[:-2]
    R = R.reshape(-1, 3, 3)
    out = np.empty((len(R), 4))
    for k, m in enumerate(R):
        t = np.trace(m)
        cand = np.array([t, m[0, 0], m[1, 1], m[2, 2]])
        i = int(np.argmax(cand))
        if i == 0:
            s = np.sqrt(max(1.0 + t, 1e-300)) * 2
            q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
        elif i == 1:
            s = np.sqrt(max(1.0 + m[0, 0] - m[1, 1] - m[2, 2], 1e-300)) * 2
            q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
        elif i == 2:
            s = np.sqrt(max(1.0 + m[1, 1] - m[0, 0] - m[2, 2], 1e-300)) * 2
            q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
        else:
            s = np.sqrt(max(1.0 + m[2, 2] - m[0, 0] - m[1, 1], 1e-300)) * 2
            q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
        q = np.asarray(q)
        q /= np.linalg.norm(q)
        out[k] = -q if q[0] < 0 else q
    return out.reshape(shape + (4,))


def rotation_angle_deg(R) -> np.ndarray:
    """Rotation angle(s) in degrees of (..., 3, 3) rotation matrices."""
    R = np.asarray(R, dtype=np.float64)
    c = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def signed_expm1(x):
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.expm1(np.abs(x))


def signed_log1p(x):
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def focal_base(H: int, W: int) -> float:
    """DUSt3R's reference focal: a 60-degree field of view on the longer side."""
    return max(H, W) / (2.0 * np.tan(np.deg2rad(60.0) / 2.0))


# ---- similarity fits ------------------------------------------------------------

def weighted_moments(src, dst, weights=None) -> np.ndarray:
    """17 float64 sums of a weighted point set (C++): [sum w, mean src, mean dst,
    sum w (dst - md)(src - ms)^T (row-major), sum w |src - ms|^2]. Points with a
    non-finite coordinate or w <= 0 are left out."""
    return _core._align_weighted_moments(np.asarray(src), np.asarray(dst),
                                         None if weights is None else np.asarray(weights))


def combine_moments(parts: Iterable[np.ndarray]) -> np.ndarray:
    """Moments of the union of point sets from the moments of each set."""
    parts = [np.asarray(p, dtype=np.float64) for p in parts]
    sw = sum(p[0] for p in parts)
    out = np.zeros(17)
    out[0] = sw
    if sw <= 0:
        return out
    ms = sum(p[0] * p[1:4] for p in parts) / sw
    md = sum(p[0] * p[4:7] for p in parts) / sw
    cov = np.zeros((3, 3))
    var = 0.0
    for p in parts:
        if p[0] <= 0:
            continue
        dms, dmd = p[1:4] - ms, p[4:7] - md
        cov += p[7:16].reshape(3, 3) + p[0] * np.outer(dmd, dms)
        var += p[16] + p[0] * float(dms @ dms)
    out[1:4], out[4:7], out[7:16], out[16] = ms, md, cov.ravel(), var
    return out


def similarity_from_moments(m: np.ndarray, with_scale: bool = True) -> Tuple[float, np.ndarray, np.ndarray]:
    """(s, R, t) minimising sum w |dst - (s R src + t)|^2 (Umeyama 1991) from the
    moments; the identity when the moments hold no weight or are degenerate."""
    m = np.asarray(m, dtype=np.float64)
    if not m[0] > 0 or not np.all(np.isfinite(m)):
        return 1.0, np.eye(3), np.zeros(3)
    ms, md = m[1:4], m[4:7]
    cov = m[7:16].reshape(3, 3) / m[0]
    U, S, Vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        d[2] = -1.0
    R = (U * d) @ Vt
    var = m[16] / m[0]
    s = float((S * d).sum() / var) if (with_scale and var > 0) else 1.0
    if not np.isfinite(s) or s <= 0:
        s = 1.0
    t = md - s * R @ ms
    return s, R, t


def weighted_procrustes(src, dst, weights=None, with_scale: bool = True):
    """Similarity (s, R, t) with dst ≈ s R src + t in weighted least squares.
    src, dst: (..., 3) arrays of the same shape; weights: (...) or None."""
    return similarity_from_moments(weighted_moments(src, dst, weights), with_scale)


# ---- focal -------------------------------------------------------------------------

def estimate_focal(pts3d, weights=None, pp=None, iters: int = 10, min_focal: float = 0.5,
                   max_focal: float = 3.5) -> float:
    """Focal (pixels) of a camera-frame pointmap (H, W, 3), as DUSt3R's
    ``estimate_focal_knowing_depth(..., focal_mode='weiszfeld')``: the f that
    minimises sum w |p - f (x/z, y/z)| over the pixels p (relative to the principal
    point, pixel centres at u + 0.5), from the least-squares value refined by
    ``iters`` reweighting steps; clamped to [min_focal, max_focal] x focal_base
    (a 60-degree view on the longer side). NaN when no point is usable."""
    pts3d = np.asarray(pts3d)
    if pts3d.ndim != 3 or pts3d.shape[2] != 3:
        raise ValueError(f"pts3d: expected an (H, W, 3) pointmap, got shape {pts3d.shape}")
    H, W = pts3d.shape[:2]
    cx, cy = (W / 2.0, H / 2.0) if pp is None else (float(pp[0]), float(pp[1]))
    fb = focal_base(H, W)
    return float(_core._align_estimate_focal(pts3d, None if weights is None else np.asarray(weights),
                                             cx, cy, int(iters), min_focal * fb, max_focal * fb))


def pixel_rays(H: int, W: int, focal: float, cx: float, cy: float, stride: int = 1,
               offset: int = 0) -> np.ndarray:
    """(h, w, 3) camera rays with z = 1 through the pixel centres of the grid
    rows/columns offset + stride * k (COLMAP convention: centres at u + 0.5)."""
    u = (np.arange(offset, W, stride, dtype=np.float64) + 0.5 - cx) / focal
    v = (np.arange(offset, H, stride, dtype=np.float64) + 0.5 - cy) / focal
    rays = np.empty((len(v), len(u), 3))
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    rays[..., 2] = 1.0
    return rays


def _dlt_once(X, x, w):
    """One weighted DLT solve; (K, R, t) of x ~ K (R X + t), or None."""
    mX = X.mean(axis=0)
    sX = np.sqrt(3.0) / max(np.sqrt(((X - mX) ** 2).sum(axis=1)).mean(), 1e-12)
    sx = np.sqrt(2.0) / max(np.sqrt((x ** 2).sum(axis=1)).mean(), 1e-12)
    Xn = np.hstack([(X - mX) * sX, np.ones((len(X), 1))])
    xn = x * sx
    rows = np.zeros((2 * len(X), 12))
    rows[0::2, 0:4] = Xn
    rows[0::2, 8:12] = -xn[:, :1] * Xn
    rows[1::2, 4:8] = Xn
    rows[1::2, 8:12] = -xn[:, 1:] * Xn
    rows *= np.repeat(np.sqrt(w), 2)[:, None]
    _, vecs = np.linalg.eigh(rows.T @ rows)
    Pn = vecs[:, 0].reshape(3, 4)
    TX = np.eye(4)
    TX[:3, :3] *= sX
    TX[:3, 3] = -sX * mX
    P = np.diag([1.0 / sx, 1.0 / sx, 1.0]) @ Pn @ TX
    if np.linalg.det(P[:, :3]) < 0:
        P = -P
    M = P[:, :3]
    # RQ decomposition M = K R through a QR of the flipped transpose
    Q, Rq = np.linalg.qr(np.flipud(M).T)
    K = np.flipud(np.fliplr(Rq.T))
    R = np.flipud(Q.T)
    D = np.diag(np.sign(np.diag(K)))
    K, R = K @ D, D @ R
    if not np.all(np.isfinite(K)) or abs(K[2, 2]) < 1e-300 or np.linalg.det(R) < 0:
        return None
    t = np.linalg.solve(K, P[:, 3])
    K = K / K[2, 2]
    if not np.all(np.isfinite(K)) or not np.all(np.isfinite(t)):
        return None
    return K, R, t


def dlt_camera(world, pixels, weights=None, max_points: int = 20000, rounds: int = 4,
               seed: int = 0) -> Optional[Tuple[float, np.ndarray]]:
    """Camera from 3-D points and their pixels by a weighted DLT (Hartley
    normalisation, RQ split of the 3x4 projection), refitted ``rounds`` times on the
    points whose reprojection error is below max(3 x median, 1 px) (outliers of the
    pointmaps would otherwise pull the linear solution away). The fallback for
    images that are never the first view of a pair, for which no camera-frame
    pointmap exists.

    world: (N, 3) points; pixels: (N, 2) coordinates relative to the principal
    point; weights: (N,) or None. Returns (focal, cam_to_world 4x4) with square
    pixels assumed (the mean of the two focal lengths), or None when degenerate."""
    X = np.asarray(world, dtype=np.float64).reshape(-1, 3)
    x = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    ok = (w > 0) & np.all(np.isfinite(X), axis=1) & np.all(np.isfinite(x), axis=1)
    X, x, w = X[ok], x[ok], w[ok]
    if len(X) > max_points:
        sel = np.random.default_rng(seed).choice(len(X), max_points, replace=False)
        X, x, w = X[sel], x[sel], w[sel]
    keep = np.ones(len(X), dtype=bool)
    sol = None
    for _ in range(max(1, rounds)):
        if keep.sum() < 12:
            break
        cand = _dlt_once(X[keep], x[keep], w[keep])
        if cand is None:
            break
        sol = cand
        K, R, t = sol
        cam = X @ R.T + t
        with np.errstate(divide="ignore", invalid="ignore"):
            proj = (cam @ K.T)[:, :2] / cam[:, 2:]
        err = np.linalg.norm(proj - x, axis=1)
        err = np.where(np.isfinite(err) & (cam[:, 2] > 0), err, np.inf)
        thr = max(3.0 * float(np.median(err[keep])), 1.0)
        keep = err < thr
    if sol is None:
        return None
    K, R, t = sol
    f = 0.5 * (abs(K[0, 0]) + abs(K[1, 1]))
    if not np.isfinite(f) or f <= 0:
        return None
    c2w = np.eye(4)
    c2w[:3, :3] = R.T
    c2w[:3, 3] = -R.T @ t
    return float(f), c2w


# ---- graphs ------------------------------------------------------------------------

class _UnionFind:
    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, a):
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def connected_components(n: int, edges: Sequence[Tuple[int, int]]) -> List[List[int]]:
    """Components of the undirected graph on n nodes, largest first (ties: the one
    holding the smallest index first); each sorted."""
    uf = _UnionFind(n)
    for i, j in edges:
        uf.union(int(i), int(j))
    comps = {}
    for k in range(n):
        comps.setdefault(uf.find(k), []).append(k)
    return sorted(comps.values(), key=lambda c: (-len(c), c[0]))


def max_spanning_tree(n: int, edges: Sequence[Tuple[int, int]], scores: Sequence[float]) -> List[int]:
    """Indices of the edges of a maximum spanning forest (Kruskal on scores,
    highest first; ties by edge index), in the order they were taken."""
    order = sorted(range(len(edges)), key=lambda e: (-float(scores[e]), e))
    uf = _UnionFind(n)
    return [e for e in order if uf.union(int(edges[e][0]), int(edges[e][1]))]

"""Pairwise pointmaps from known cameras, made to look like MASt3R's output, so the
global alignment can be checked against ground truth without network weights.

Geometry: the demo scene of :mod:`splatcore.datasets.synthetic` (ground slab,
sphere and box; the torus is left out because ray tracing it is slow at 512x384)
inside a large dome (a sphere seen from inside), so that every pixel has a depth
as it has in MASt3R's output. Depths are ray-cast analytically at the pixel
centres (u + 0.5, v + 0.5).

Each pair (i, j) gets what MASt3R would give: view 1 = image i's points in camera
i's frame, view 2 = image j's points in camera i's frame, then the errors of a real
network (all seeded):

* per-point noise: Gaussian, ``noise`` x depth per coordinate;
* a smooth per-view depth distortion (a random low-order polynomial over the
  image, amplitude ``smooth_noise``), the low-frequency error of real predictions;
* a per-pair rigid error of view 2 relative to view 1 (rotation of
  ``rot_noise_deg`` degrees rms about a random axis, translation of ``trans_noise``
  x the baseline), i.e. an error in the relative pose;
* a per-pair scale (log-uniform in ``scale_range``): MASt3R's pairs disagree in scale;
* outliers: a fraction ``outlier_frac`` of the pixels of each view is replaced by
  random points with low confidence (1 to 1.3);
* confidences 1 + exp(N(1.2, 0.4)) (about 3 to 8), halved (at least 1) for view-2
  pixels that camera i does not see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..datasets import synthetic as _scene
from .geometry import rotation_angle_deg
from .pairs import default_scene_graph, make_pairs

__all__ = ["SyntheticPairs", "make_cameras", "render_depth", "make_synthetic_pairs",
           "pose_errors", "scene_objects"]


@dataclass
class SyntheticPairs:
    """Pairwise outputs in MASt3R's format plus the ground truth."""

    outputs: List[Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray]]]
    pairs: List[Tuple[int, int]]
    K: np.ndarray             # (n, 3, 3) true intrinsics
    cam_to_world: np.ndarray  # (n, 4, 4) true poses
    depths: List[np.ndarray]  # true camera-z depth maps
    image_shapes: List[Tuple[int, int]]

    @property
    def focals(self) -> np.ndarray:
        return self.K[:, 0, 0].copy()


def scene_objects(seed: int = 0, dome_radius: float = 8.0):
    """The demo scene's objects without the torus, plus the enclosing dome."""
    sc = _scene.make_scene(seed, shadows=False)
    objs = [o for o in sc.objects if not isinstance(o, _scene.Torus)]
    objs.append(_scene.Sphere(center=np.array(_scene.SCENE_CENTER), radius=dome_radius, name="dome"))
    return objs


def make_cameras(n: int, width: int, height: int, seed: int = 0, fov_range=(45.0, 65.0),
                 radius: float = 3.2, radius_jitter: float = 0.1,
                 elevation_deg=(15.0, 50.0)) -> Tuple[np.ndarray, np.ndarray]:
    """n cameras in order round the scene (so sliding-window graphs make sense), each
    with its own horizontal field of view in ``fov_range``; returns (K (n,3,3),
    cam_to_world (n,4,4))."""
    rng = np.random.default_rng([seed, 7])
    target = np.asarray(_scene.SCENE_CENTER, dtype=np.float64)
    az0 = rng.uniform(0, 2 * np.pi)
    K = np.zeros((n, 3, 3))
    c2w = np.zeros((n, 4, 4))
    for i in range(n):
        az = az0 + 2 * np.pi * i / n + rng.uniform(-0.2, 0.2) * 2 * np.pi / n
        el = np.deg2rad(rng.uniform(*elevation_deg))
        rad = radius * (1.0 + radius_jitter * rng.uniform(-1, 1))
        eye = target + rad * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az),
                                       math.sin(el)])
        look = target + rng.normal(scale=0.1, size=3)
        w2c = _scene.look_at(eye, look)
        c2w[i] = np.linalg.inv(w2c)
        K[i] = _scene.intrinsics(width, height, rng.uniform(*fov_range))
    return K, c2w


def render_depth(objects, K: np.ndarray, cam_to_world: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) float64 camera-z depth at the pixel centres (inf where nothing is hit)."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    dcam = pix @ np.linalg.inv(K).T  # z = 1
    dn = np.linalg.norm(dcam, axis=1)
    d = (dcam / dn[:, None]) @ cam_to_world[:3, :3].T
    o = np.broadcast_to(cam_to_world[:3, 3], d.shape).copy()
    t = np.full(len(d), np.inf)
    for obj in objects:
        np.minimum(t, obj.intersect(o, d), out=t)
    return (t / dn).reshape(height, width)


def _rays(K, H, W):
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    return np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)


def _rotvec(axis_angle):
    a = np.asarray(axis_angle, dtype=np.float64)
    th = np.linalg.norm(a)
    if th < 1e-15:
        return np.eye(3)
    k = a / th
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * Kx + (1 - math.cos(th)) * Kx @ Kx


def _smooth_field(rng, H, W, amp):
    if amp <= 0:
        return np.ones((H, W))
    y, x = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    basis = [x, y, x * y, x * x - 1 / 3, y * y - 1 / 3]
    c = rng.normal(scale=0.5, size=len(basis))
    return 1.0 + amp * sum(ci * b for ci, b in zip(c, basis))


def make_synthetic_pairs(n_views: int = 8, width: int = 64, height: int = 48,
                         scene_graph: Optional[str] = None, pairs=None, seed: int = 0,
                         noise: float = 0.005, smooth_noise: float = 0.01,
                         rot_noise_deg: float = 0.5, trans_noise: float = 0.01,
                         scale_range=(0.5, 2.0), outlier_frac: float = 0.05,
                         fov_range=(45.0, 65.0), dtype=np.float32) -> SyntheticPairs:
    """Pairwise pointmaps of ``n_views`` known cameras (see the module docstring)."""
    K, c2w = make_cameras(n_views, width, height, seed=seed, fov_range=fov_range)
    objs = scene_objects(seed)
    H, W = height, width
    depths = [render_depth(objs, K[k], c2w[k], W, H) for k in range(n_views)]
    cam_pts = [depths[k][..., None] * _rays(K[k], H, W) for k in range(n_views)]
    world = [cam_pts[k] @ c2w[k][:3, :3].T + c2w[k][:3, 3] for k in range(n_views)]
    if pairs is None:
        pairs = make_pairs(n_views, scene_graph or default_scene_graph(n_views))
    pairs = [(int(i), int(j)) for i, j in pairs]
    outputs = []
    for e, (i, j) in enumerate(pairs):
        rng = np.random.default_rng([seed, 11, e])
        Ri, ti = c2w[i][:3, :3], c2w[i][:3, 3]
        p1 = cam_pts[i].copy()
        p2 = (world[j] - ti) @ Ri  # image j's points in camera i's frame
        # which of image j's points camera i sees (for view 2's confidence)
        zi = p2[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            ui = K[i][0, 0] * p2[..., 0] / zi + K[i][0, 2]
            vi = K[i][1, 1] * p2[..., 1] / zi + K[i][1, 2]
        seen = (zi > 0) & (ui >= 0) & (ui < W) & (vi >= 0) & (vi < H)
        confs = []
        pts = []
        for view, p in ((0, p1), (1, p2)):
            d = np.linalg.norm(p, axis=-1, keepdims=True)
            p = p * _smooth_field(rng, H, W, smooth_noise)[..., None]
            p = p + rng.normal(size=p.shape) * noise * d
            c = 1.0 + np.exp(rng.normal(1.2, 0.4, size=(H, W)))
            if view == 1:
                c = np.where(seen, c, np.maximum(1.0, 0.5 * c))
            out = rng.random((H, W)) < outlier_frac
            k_out = int(out.sum())
            if k_out:
                p[out] = p[out] * rng.uniform(0.3, 2.0, size=(k_out, 1)) + \
                    rng.normal(scale=0.5, size=(k_out, 3)) * d[out]
                c[out] = 1.0 + rng.uniform(0.0, 0.3, size=k_out)
            pts.append(p)
            confs.append(c)
        # relative-pose error of view 2, then the pair's scale
        baseline = float(np.linalg.norm(c2w[j][:3, 3] - ti))
        dR = _rotvec(rng.normal(size=3) / math.sqrt(3) * math.radians(rot_noise_deg))
        dt = rng.normal(size=3) / math.sqrt(3) * trans_noise * baseline
        pts[1] = pts[1] @ dR.T + dt
        s = math.exp(rng.uniform(math.log(scale_range[0]), math.log(scale_range[1])))
        v1 = {"pts3d": (s * pts[0]).astype(dtype), "conf": confs[0].astype(dtype)}
        v2 = {"pts3d_in_other_view": (s * pts[1]).astype(dtype), "conf": confs[1].astype(dtype)}
        outputs.append((v1, v2))
    return SyntheticPairs(outputs=outputs, pairs=pairs, K=K, cam_to_world=c2w, depths=depths,
                          image_shapes=[(H, W)] * n_views)


def pose_errors(est_c2w, gt_c2w, mask=None) -> Dict[str, Any]:
    """Camera errors of an alignment against the truth, free of the gauge.

    ``rot_deg``: per camera, the angle between the true rotation and the estimated
    one after the best global rotation (chordal least squares); ``rel_rot_deg``: for
    all pairs i < j, the error of the relative rotation (no alignment needed);
    ``trans_dir_deg``: for all pairs i < j, the angle between the true and the
    estimated directions c_j - c_i after a similarity alignment of the camera
    centres (Umeyama); ``center_err``: aligned centre errors relative to the mean
    distance of the true centres from their centroid."""
    est = np.asarray(est_c2w, dtype=np.float64)
    gt = np.asarray(gt_c2w, dtype=np.float64)
    if mask is not None:
        est, gt = est[mask], gt[mask]
    Re, Rg = est[:, :3, :3], gt[:, :3, :3]
    M = sum(Rg[k] @ Re[k].T for k in range(len(Re)))
    U, _, Vt = np.linalg.svd(M)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    Ra = U @ D @ Vt
    rot = rotation_angle_deg(np.einsum("ij,njk,nlk->nil", Ra, Re, Rg))
    iu, ju = np.triu_indices(len(Re), 1)
    rel_e = np.einsum("nji,njk->nik", Re[iu], Re[ju])
    rel_g = np.einsum("nji,njk->nik", Rg[iu], Rg[ju])
    rel_rot = rotation_angle_deg(np.einsum("nij,nkj->nik", rel_e, rel_g))
    ce, cg = est[:, :3, 3], gt[:, :3, 3]
    me, mg = ce.mean(0), cg.mean(0)
    A, B = ce - me, cg - mg
    U, S, Vt = np.linalg.svd(B.T @ A)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    Rs = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / max((A ** 2).sum(), 1e-300))
    ca = s * A @ Rs.T + mg
    de, dg = ca[ju] - ca[iu], cg[ju] - cg[iu]
    cosang = np.sum(de * dg, 1) / np.maximum(np.linalg.norm(de, axis=1) * np.linalg.norm(dg, axis=1), 1e-300)
    tdir = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
    spread = float(np.linalg.norm(B, axis=1).mean())
    return {"rot_deg": rot, "rel_rot_deg": rel_rot, "trans_dir_deg": tdir,
            "center_err": np.linalg.norm(ca - cg, axis=1) / max(spread, 1e-300)}

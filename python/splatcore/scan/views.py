"""Training views and a COLMAP model from the alignment's cameras.

The views are what :class:`splatcore.io.ColmapDataset` yields, as plain dicts:
``image`` (H, W, 3) float32 in [0, 1], ``viewmat`` (4, 4) float32 world-to-camera
(OpenCV axes), ``K`` (3, 3) float32, ``width``, ``height``, ``name``, plus ``index``
(the photo's position in the scan). The images are the ones MASt3R saw (resized so
the long side is 512 and centre-cropped to multiples of 16), so the recovered
intrinsics hold for them as they are.
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..io.colmap import Camera, ColmapModel, Image, Points, rotmat_to_qvec, write_model

__all__ = ["make_views", "split_views", "scene_extent", "write_colmap", "image_names"]


def image_names(paths: Sequence[str]) -> List[str]:
    """File names for the images written beside the COLMAP model: each photo's
    base name with the extension ``.png``; repeated stems get ``_2``, ``_3``, ..."""
    used = set()
    out = []
    for p in paths:
        stem = os.path.splitext(os.path.basename(os.fspath(p)))[0] or "image"
        name, k = f"{stem}.png", 2
        while name.lower() in used:
            name, k = f"{stem}_{k}.png", k + 1
        used.add(name.lower())
        out.append(name)
    return out


def make_views(K: np.ndarray, world_to_cam: np.ndarray, images: Sequence[np.ndarray],
               names: Sequence[str], indices: Optional[Sequence[int]] = None) -> List[dict]:
    """Training views (dicts, see the module docstring) of the images ``indices``
    (default: all), with ``K[k]`` and ``world_to_cam[k]`` from the alignment."""
    idx = range(len(images)) if indices is None else indices
    views = []
    for k in idx:
        img = np.ascontiguousarray(np.asarray(images[k], dtype=np.float32))
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"make_views: image {k} must be (H, W, 3), got {img.shape}")
        vm = np.asarray(world_to_cam[k], dtype=np.float64)
        Kk = np.asarray(K[k], dtype=np.float64)
        if not (np.isfinite(vm).all() and np.isfinite(Kk).all()):
            raise ValueError(f"make_views: camera of image {k} ({names[k]!r}) is not finite")
        views.append({"name": names[k], "image": img, "viewmat": vm.astype(np.float32),
                      "K": Kk.astype(np.float32), "width": int(img.shape[1]),
                      "height": int(img.shape[0]), "index": int(k)})
    return views


def split_views(n: int, holdout_every: Optional[int] = None) -> Tuple[List[int], List[int]]:
    """(train, test) positions of ``n`` views: every ``holdout_every``-th view from
    0 is held out (the ``--eval`` split of ``splatcore train``); None or 0, or
    fewer than two views: nothing is held out."""
    if not holdout_every or n < 2:
        return list(range(n)), []
    test = list(range(0, n, int(holdout_every)))
    return [i for i in range(n) if i % int(holdout_every)], test


def _camera_centres(views: Sequence[dict]) -> np.ndarray:
    out = []
    for v in views:
        M = np.asarray(v["viewmat"], dtype=np.float64)
        out.append(-M[:3, :3].T @ M[:3, 3])
    return np.asarray(out).reshape(-1, 3)


def scene_extent(views: Sequence[dict], xyz: Optional[np.ndarray] = None) -> float:
    """The 3DGS "cameras extent" (1.1 x the largest distance of a camera centre from
    their mean), but at least a tenth of the point cloud's radius (the 90th
    percentile distance of the points from their median): photos taken from
    nearly one spot, or a single photo, would otherwise give ~0."""
    c = _camera_centres(views)
    cam = float(1.1 * np.max(np.linalg.norm(c - c.mean(0), axis=1))) if len(c) else 0.0
    pts = 0.0
    if xyz is not None and len(xyz):
        x = np.asarray(xyz, dtype=np.float64)
        pts = float(np.percentile(np.linalg.norm(x - np.median(x, axis=0), axis=1), 90))
    ext = max(cam, 0.1 * pts) if len(c) > 1 else max(pts, cam)
    return ext if np.isfinite(ext) and ext > 0 else 1.0


def write_colmap(path: str, views: Sequence[dict], xyz: np.ndarray, rgb: np.ndarray,
                 ext: str = ".bin") -> ColmapModel:
    """Write the cameras of ``views`` (one PINHOLE camera per image, at the view's
    resolution), their poses and the point cloud (no tracks) as a COLMAP model
    into folder ``path`` (``cameras``, ``images``, ``points3D`` + ``ext``). Image
    and camera ids are 1, 2, ... in the order of ``views``. Returns the model."""
    cameras, imgs = {}, {}
    for k, v in enumerate(views, start=1):
        K = np.asarray(v["K"], dtype=np.float64)
        cameras[k] = Camera(k, "PINHOLE", int(v["width"]), int(v["height"]), float(K[0, 0]),
                            float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
        M = np.asarray(v["viewmat"], dtype=np.float64)
        R = M[:3, :3]
        U, _, Vt = np.linalg.svd(R)  # float32 round-off: the nearest rotation
        R = U @ Vt
        imgs[k] = Image(k, str(v["name"]), k, rotmat_to_qvec(R), M[:3, 3])
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    pts = Points(xyz, np.asarray(rgb).reshape(-1, 3), np.zeros(len(xyz)))
    model = ColmapModel(cameras, imgs, pts)
    write_model(path, model, ext=ext)
    return model

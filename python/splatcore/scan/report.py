"""Numbers that say how well the photos were aligned.

* **alignment residual**: the alignment's own confidence-weighted mean distance
  between the aligned pairwise pointmaps and the world points
  (``AlignmentResult.residuals['weighted_mean']``, in scene units, and relative to
  the median depth);
* **reprojection residual** (pixels): for each used pair (i, j), MASt3R's
  prediction of image j's points in camera i's frame, projected with camera i's
  recovered intrinsics, against image j's aligned world points projected with
  camera i's recovered pose and intrinsics. The projection through camera i
  does not depend on the pair's unknown scale, so this is a scale-free check of
  the recovered poses and focals against what the network saw. Averaged over the
  confident pixels (conf > threshold) in front of camera i, on a grid of every
  ``stride``-th pixel.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Sequence

import numpy as np

__all__ = ["reprojection_residual", "focal_report"]


def _project(K, X):
    z = X[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([K[0, 0] * X[:, 0] / z + K[0, 2], K[1, 1] * X[:, 1] / z + K[1, 2]], 1), z


def reprojection_residual(result, pair_outputs: Sequence[Any], pairs: Sequence, min_conf_thr: float = 3.0,
                          stride: int = 4) -> Dict[str, Any]:
    """``{"mean_px", "median_px", "pixels", "per_pair"}`` of the reprojection residual
    (see the module docstring) over the pairs of ``pairs`` (the list the outputs were
    made for) that the alignment used. NaN-free: pairs without usable pixels are
    left out; ``mean_px`` is NaN only when no pair has any."""
    used = {tuple(p) for p in result.pairs}
    per_pair = []
    errs = []
    w2c = result.world_to_cam
    for e, (i, j) in enumerate(pairs):
        i, j = int(i), int(j)
        if i == j or (i, j) not in used or not (result.aligned[i] and result.aligned[j]):
            continue
        v2 = pair_outputs[e]["view2"]
        P = np.asarray(v2["pts3d_in_other_view"] if "pts3d_in_other_view" in v2 else v2["pts3d"],
                       dtype=np.float64)[::stride, ::stride].reshape(-1, 3)
        c = np.asarray(v2["conf"], dtype=np.float64)[::stride, ::stride].reshape(-1)
        X = np.asarray(result.pts3d[j], dtype=np.float64)[::stride, ::stride].reshape(-1, 3)
        Xc = X @ w2c[i][:3, :3].T + w2c[i][:3, 3]
        K = result.K[i]
        u1, z1 = _project(K, P)
        u2, z2 = _project(K, Xc)
        ok = (c > min_conf_thr) & (z1 > 0) & (z2 > 0) & np.isfinite(u1).all(1) & np.isfinite(u2).all(1)
        if not ok.any():
            continue
        d = np.linalg.norm(u1[ok] - u2[ok], axis=1)
        errs.append(d)
        per_pair.append((i, j, float(d.mean())))
    if not errs:
        return {"mean_px": float("nan"), "median_px": float("nan"), "pixels": 0, "per_pair": []}
    allr = np.concatenate(errs)
    return {"mean_px": float(allr.mean()), "median_px": float(np.median(allr)),
            "pixels": int(len(allr)), "per_pair": per_pair}


def focal_report(K: np.ndarray, width: int, height: int) -> Dict[str, float]:
    """Focal length in pixels and the horizontal / vertical fields of view in degrees."""
    f = float(K[0, 0])
    return {"focal_px": f, "fov_x_deg": math.degrees(2 * math.atan(width / (2 * f))),
            "fov_y_deg": math.degrees(2 * math.atan(height / (2 * float(K[1, 1]))))}

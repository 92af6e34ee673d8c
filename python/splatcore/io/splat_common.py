"""What the compact splat formats (SPZ, .splat) share: checking the scene handed
to a writer, reading a whole file with a size bound, and the activations."""
from __future__ import annotations

import os

import numpy as np

from .ply import SplatData

__all__ = ["as_splat_data", "read_bounded", "sigmoid", "logit", "SH_C0"]

SH_C0 = 0.28209479177387814  # degree-0 SH basis: colour = SH_C0 * dc + 0.5


def as_splat_data(scene, fn: str) -> SplatData:
    """A checked float32 :class:`SplatData` from a SplatData, a
    :class:`splatcore.Gaussians` or a mapping with the SplatData field names."""
    if hasattr(scene, "NAMES") and hasattr(scene, "numpy"):  # Gaussians
        a = scene.numpy()
        scene = SplatData(a["means"], a["scales"], a["quats"], a["opacities"], a["sh0"][:, 0, :],
                          a["shN"])
    elif isinstance(scene, dict):
        missing = [k for k in SplatData._fields if k not in scene]
        if missing:
            raise ValueError(f"{fn}: scene mapping lacks {missing}")
        scene = SplatData(*(scene[k] for k in SplatData._fields))
    elif not isinstance(scene, SplatData):
        raise TypeError(f"{fn}: expected a SplatData, Gaussians or dict of arrays, got "
                        f"{type(scene).__name__}")
    n = len(np.asarray(scene.means))
    shapes = dict(means=(n, 3), scales_log=(n, 3), quats_wxyz=(n, 4), opacity_logits=(n,),
                  sh_dc=(n, 3))
    out = {}
    for name in SplatData._fields:
        a = np.asarray(getattr(scene, name), dtype=np.float32)
        want = shapes.get(name)
        if name == "sh_rest":
            ok = a.ndim == 3 and a.shape[0] == n and a.shape[2] == 3 and a.shape[1] in (0, 3, 8, 15)
            want_s = "(N, K-1, 3) with K-1 in 0, 3, 8, 15"
        else:
            ok = a.shape == want
            want_s = str(want)
        if not ok:
            raise ValueError(f"{fn}: {name} must have shape {want_s}, got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{fn}: {name} must be finite, got NaN/inf in "
                             f"{int((~np.isfinite(a)).reshape(n, -1).any(axis=1).sum())} rows")
        out[name] = np.ascontiguousarray(a)
    if n and (np.linalg.norm(out["quats_wxyz"], axis=1) == 0).any():
        raise ValueError(f"{fn}: quats_wxyz has zero-length quaternions")
    return SplatData(**out)


def read_bounded(path, what: str, limit: int) -> bytes:
    """The bytes of `path` (at most `limit`), with clear errors."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"{what} file not found: {p!r}")
    size = os.path.getsize(p)
    if size > limit:
        raise ValueError(f"{p}: {what} file of {size} bytes is over the {limit}-byte limit")
    with open(p, "rb") as f:
        return f.read()


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def logit(p, eps):
    """Inverse sigmoid with p clipped to [eps, 1 - eps] (finite logits)."""
    p = np.clip(np.asarray(p, np.float64), eps, 1.0 - eps)
    return np.log(p / (1.0 - p))

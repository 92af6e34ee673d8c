"""The antimatter15 ``.splat`` layout that many WebGL splat viewers load.

No header: 32 bytes per Gaussian, little-endian::

    position  3 x float32
    scale     3 x float32   (linear: exp of the log-scales)
    colour    4 x uint8     (r, g, b = round((0.5 + SH_C0 * dc) * 255), a = round(sigmoid(opacity) * 255))
    rotation  4 x uint8     (w, x, y, z of the unit quaternion, round(q * 128 + 128))

Only the SH DC term survives (higher bands are dropped). The writer orders the
Gaussians largest-and-most-opaque first (exp(sum of log-scales) * opacity,
descending), as the format's viewers expect for progressive loading.
"""
from __future__ import annotations

import os

import numpy as np

from .atomic import atomic_write
from .ply import SplatData
from .splat_common import SH_C0, as_splat_data, logit, read_bounded, sigmoid

__all__ = ["write_splat", "read_splat", "encode_splat", "decode_splat", "RECORD_BYTES"]

RECORD_BYTES = 32
MAX_FILE_BYTES = 1 << 32
_RECORD = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4),
                    ("rot", "u1", 4)])
assert _RECORD.itemsize == RECORD_BYTES


def _u8(x):
    return np.clip(np.floor(np.asarray(x, np.float64) + 0.5), 0, 255).astype(np.uint8)


def encode_splat(scene, sort: bool = True) -> bytes:
    """The ``.splat`` bytes of a scene (see :func:`write_splat`)."""
    s = as_splat_data(scene, "write_splat")
    n = len(s.means)
    opacity = sigmoid(s.opacity_logits)
    order = np.arange(n)
    if sort:
        order = np.argsort(-(np.exp(s.scales_log.astype(np.float64).sum(axis=1)) * opacity),
                           kind="stable")
    scales = np.exp(s.scales_log.astype(np.float64))
    if not np.isfinite(scales.astype(np.float32)).all():
        raise ValueError("write_splat: scales_log over 88 overflow float32 after exp")
    q = s.quats_wxyz.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    rec = np.empty(n, _RECORD)
    rec["position"] = s.means
    rec["scale"] = scales.astype(np.float32)
    rec["rgba"][:, :3] = _u8((0.5 + SH_C0 * s.sh_dc.astype(np.float64)) * 255.0)
    rec["rgba"][:, 3] = _u8(opacity * 255.0)
    rec["rot"] = _u8(q * 128.0 + 128.0)
    return rec[order].tobytes()


def write_splat(path, scene, sort: bool = True) -> int:
    """Write `scene` (:class:`SplatData`, :class:`splatcore.Gaussians` or a dict of
    SplatData arrays) as ``.splat``, atomically; returns the file size in bytes.
    ``sort=False`` keeps the scene's order."""
    data = encode_splat(scene, sort)
    with atomic_write(path, "wb") as f:
        f.write(data)
    return len(data)


def decode_splat(data: bytes, name: str = "<bytes>") -> SplatData:
    """SplatData (SH degree 0) from ``.splat`` bytes; see :func:`read_splat`."""
    if len(data) % RECORD_BYTES:
        raise ValueError(f"{name}: not a .splat file: {len(data)} bytes is not a multiple of the "
                         f"{RECORD_BYTES}-byte record (truncated or another format)")
    rec = np.frombuffer(data, _RECORD)
    n = len(rec)
    pos = rec["position"].astype(np.float32)
    scale = rec["scale"].astype(np.float32)
    bad = ~np.isfinite(pos).all(axis=1) | ~(np.isfinite(scale) & (scale > 0)).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: corrupt .splat: record {i} (of {n}) has a non-finite position "
                         f"or a scale that is not positive and finite: {pos[i]}, {scale[i]}")
    q = (rec["rot"].astype(np.float64) - 128.0) / 128.0
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(norm > 0, q / np.maximum(norm, 1e-12), np.array([1.0, 0, 0, 0]))
    rgba = rec["rgba"].astype(np.float64) / 255.0
    return SplatData(
        means=pos,
        scales_log=np.log(scale.astype(np.float64)).astype(np.float32),
        quats_wxyz=q.astype(np.float32),
        opacity_logits=logit(rgba[:, 3], 0.25 / 255.0).astype(np.float32),
        sh_dc=((rgba[:, :3] - 0.5) / SH_C0).astype(np.float32),
        sh_rest=np.zeros((n, 0, 3), np.float32),
    )


def read_splat(path) -> SplatData:
    """Read a ``.splat`` file into :class:`SplatData` (float32, SH degree 0,
    quaternions wxyz; opacities 0 and 255 decode to finite logits)."""
    data = read_bounded(path, ".splat", MAX_FILE_BYTES)
    return decode_splat(data, os.fspath(path))

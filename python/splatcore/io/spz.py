"""Niantic's SPZ (``.spz``): gzip-compressed, quantised 3D Gaussian splats, the
compact format Spark and SuperSplat load.

Layout (all little-endian), after gunzip: a 16-byte header ``magic 0x5053474e,
version (2 or 3), num_points (u32), sh_degree, fractional_bits, flags,
reserved (u8 each)``, then arrays over all points in this order:

* positions: 3 x 24-bit signed fixed point, ``fractional_bits`` fraction bits
  (step 2^-fractional_bits; 12 written unless the scene needs a wider range)
* alphas: u8, ``round(sigmoid(opacity) * 255)``
* colors: 3 x u8, ``round(dc * 0.15 * 255 + 127.5)`` (SH DC, not final colour)
* scales: 3 x u8, ``round((log_scale + 10) * 16)`` (step 1/16 in log scale)
* rotations: v3: the unit quaternion (xyzw order) as the index of its largest
  component (2 bits) and the other three as sign + 9-bit magnitude in units of
  sqrt(1/2) / 511, packed into a u32; v2: x, y, z as u8 (w >= 0 derived)
* spherical harmonics: ``sh_dim x 3`` u8 per point, coefficient-major with the
  channel fastest, ``round(x * 128) + 128`` rounded to a multiple of 8
  (degree 1, 5 bits) or 16 (higher degrees, 4 bits), clamped to 0..255.

Flag 0x1 marks antialiased training; flag 0x2 says extension records follow
the header (skipped here). SPZ stores right-up-back (RUB) axes; splatcore, COLMAP
and 3DGS PLY files use right-down-front (RDF), so by default the writer turns
y and z around (a 180-degree rotation about x, SH signs included) and the
reader turns them back (``coordinates=None`` stores the axes unchanged).
"""
from __future__ import annotations

import gzip
import zlib
from typing import NamedTuple, Optional

import numpy as np

from .atomic import atomic_write
from .ply import SplatData
from .splat_common import as_splat_data, logit, read_bounded, sigmoid

__all__ = ["write_spz", "read_spz", "encode_spz", "decode_spz", "SpzInfo", "MAGIC",
           "COLOR_SCALE", "MAX_POINTS"]

MAGIC = 0x5053474E
COLOR_SCALE = 0.15
MAX_POINTS = 1 << 26            # reader bound (64M Gaussians)
MAX_FILE_BYTES = 1 << 32        # compressed file size bound
MAX_EXTENSION_BYTES = 1 << 24   # bound on skipped extension records
_HEADER = np.dtype([("magic", "<u4"), ("version", "<u4"), ("num_points", "<u4"),
                    ("sh_degree", "u1"), ("fractional_bits", "u1"), ("flags", "u1"),
                    ("reserved", "u1")])
_SH_DIM = {0: 0, 1: 3, 2: 8, 3: 15}
_SQRT1_2 = np.float64(np.sqrt(0.5))

# Signs of the real SH basis functions (degree 1..3, gsplat / 3DGS order) under
# (x, y, z) -> (x, -y, -z): parity of the powers of y and z in each one.
_RDF_RUB_SH_SIGN = np.array([-1, -1, 1,                     # y, z, x
                             -1, 1, 1, -1, 1,               # xy, yz, 3z^2-1, xz, x^2-y^2
                             -1, 1, -1, -1, 1, -1, 1],      # degree 3
                            np.float32)


class SpzInfo(NamedTuple):
    version: int
    num_points: int
    sh_degree: int
    fractional_bits: int
    antialiased: bool


def _round(x):
    """Round half away from zero (as the C++ reference's std::round)."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _u8(x):
    return np.clip(_round(x), 0, 255).astype(np.uint8)


def _turn_axes(s: SplatData) -> SplatData:
    """RDF <-> RUB (its own inverse): negate y and z of positions, the quaternion's
    y and z, and the SH coefficients whose basis function is odd in (y, z)."""
    flip = np.array([1, -1, -1], np.float32)
    q = s.quats_wxyz * np.array([1, 1, -1, -1], np.float32)
    rest = s.sh_rest * _RDF_RUB_SH_SIGN[:s.sh_rest.shape[1], None]
    return SplatData(s.means * flip, s.scales_log, q, s.opacity_logits, s.sh_dc, rest)


def _check_coordinates(coordinates, fn):
    if coordinates not in ("rdf", None):
        raise ValueError(f"{fn}: coordinates must be 'rdf' (the scene's axes, turned to SPZ's RUB) "
                         f"or None (stored unchanged), got {coordinates!r}")


def _fractional_bits(means: np.ndarray) -> int:
    """12 (0.24 mm steps per metre unit) unless |x| needs more integer bits."""
    m = float(np.abs(means).max()) if means.size else 0.0
    bits = 12
    while bits > 0 and _round(m * (1 << bits)) > (1 << 23) - 1:
        bits -= 1
    if _round(m * (1 << bits)) > (1 << 23) - 1:
        raise ValueError(f"write_spz: positions up to {m:.4g} do not fit SPZ's 24-bit fixed point "
                         f"(|x| < {(1 << 23) - 1})")
    return bits


def _pack_positions(means, bits):
    fixed = _round(means.astype(np.float64) * (1 << bits)).astype(np.int64).reshape(-1)
    b = np.empty((fixed.size, 3), np.uint8)
    for k in range(3):
        b[:, k] = (fixed >> (8 * k)) & 0xFF
    return b.reshape(-1)


def _unpack_positions(raw, n, bits):
    b = raw.reshape(n * 3, 3).astype(np.int32)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    v = np.where(v & 0x800000, v - (1 << 24), v)
    return (v.astype(np.float64) / (1 << bits)).astype(np.float32).reshape(n, 3)


def _pack_rot_v3(q_wxyz):
    q = q_wxyz[:, [1, 2, 3, 0]].astype(np.float64)         # xyzw, as SPZ orders it
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    n = len(q)
    big = np.argmax(np.abs(q), axis=1)
    negate = q[np.arange(n), big] < 0
    comp = big.astype(np.uint32)
    for i in range(4):
        keep = big != i
        neg = ((q[:, i] < 0) ^ negate).astype(np.uint32)
        mag = np.minimum(np.floor(511.0 * np.abs(q[:, i]) / _SQRT1_2 + 0.5), 511).astype(np.uint32)
        comp = np.where(keep, (comp << np.uint32(10)) | (neg << np.uint32(9)) | mag, comp)
    return comp.astype("<u4").view(np.uint8)


def _unpack_rot_v3(raw, n):
    comp = raw.view("<u4").astype(np.uint32)
    big = (comp >> np.uint32(30)).astype(np.int64)
    q = np.zeros((n, 4), np.float64)
    for i in range(3, -1, -1):
        here = big != i
        mag = (comp & np.uint32(511)).astype(np.float64)
        neg = ((comp >> np.uint32(9)) & np.uint32(1)).astype(bool)
        val = _SQRT1_2 * mag / 511.0
        q[:, i] = np.where(here, np.where(neg, -val, val), 0.0)
        comp = np.where(here, comp >> np.uint32(10), comp)
    rows = np.arange(n)
    q[rows, big] = np.sqrt(np.maximum(0.0, 1.0 - (q * q).sum(axis=1)))
    return q[:, [3, 0, 1, 2]].astype(np.float32)


def _pack_rot_v2(q_wxyz):
    q = q_wxyz[:, [1, 2, 3, 0]].astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.where(q[:, 3:] < 0, -1.0, 1.0)
    return _u8(q[:, :3] * 127.5 + 127.5).reshape(-1)


def _unpack_rot_v2(raw, n):
    xyz = raw.reshape(n, 3).astype(np.float64) / 127.5 - 1.0
    w = np.sqrt(np.maximum(0.0, 1.0 - (xyz * xyz).sum(axis=1)))
    return np.concatenate([w[:, None], xyz], axis=1).astype(np.float32)


def _pack_sh(rest):
    if rest.shape[1] == 0:
        return np.zeros(0, np.uint8)
    q = _round(rest.astype(np.float64) * 128.0) + 128.0
    bucket = np.full(rest.shape[1], 16.0)
    bucket[:3] = 8.0                                        # degree 1: 5 bits, higher: 4
    b = bucket[None, :, None]
    q = np.floor((q + b / 2) / b) * b
    return np.clip(q, 0, 255).astype(np.uint8).reshape(-1)


def encode_spz(scene, version: int = 3, coordinates: Optional[str] = "rdf",
               antialiased: bool = False) -> bytes:
    """The SPZ bytes (gzip-compressed) of a scene (see :func:`write_spz`)."""
    fn = "write_spz"
    if version not in (2, 3):
        raise ValueError(f"{fn}: version must be 2 or 3, got {version!r}")
    _check_coordinates(coordinates, fn)
    s = as_splat_data(scene, fn)
    if coordinates == "rdf":
        s = _turn_axes(s)
    n = len(s.means)
    bits = _fractional_bits(s.means)
    hdr = np.zeros(1, _HEADER)
    hdr[0] = (MAGIC, version, n, {0: 0, 3: 1, 8: 2, 15: 3}[s.sh_rest.shape[1]], bits,
              1 if antialiased else 0, 0)
    parts = [hdr.tobytes(), _pack_positions(s.means, bits),
             _u8(sigmoid(s.opacity_logits) * 255.0),
             _u8(s.sh_dc.astype(np.float64) * (COLOR_SCALE * 255.0) + 127.5).reshape(-1),
             _u8((s.scales_log.astype(np.float64) + 10.0) * 16.0).reshape(-1),
             (_pack_rot_v3 if version == 3 else _pack_rot_v2)(s.quats_wxyz),
             _pack_sh(s.sh_rest)]
    return gzip.compress(b"".join(p if isinstance(p, bytes) else p.tobytes() for p in parts),
                         compresslevel=6, mtime=0)


def write_spz(path, scene, version: int = 3, coordinates: Optional[str] = "rdf",
              antialiased: bool = False) -> int:
    """Write `scene` (:class:`SplatData`, :class:`splatcore.Gaussians` or a dict of
    SplatData arrays) as SPZ, atomically; returns the file size in bytes.

    ``version`` 3 (smallest-three rotations, the current one) or 2.
    ``coordinates="rdf"``: the scene has splatcore's / COLMAP's axes, stored as
    SPZ's RUB; None stores them unchanged. Log-scales are clamped to
    [-10, 5.94], DC to about +-3.33 and SH coefficients to [-1, 1]."""
    data = encode_spz(scene, version, coordinates, antialiased)
    with atomic_write(path, "wb") as f:
        f.write(data)
    return len(data)


def _gunzip_bounded(data: bytes, p: str, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise ValueError(f"{p}: corrupt SPZ: gzip stream does not decompress ({e})") from None
    if len(out) > limit:
        raise ValueError(f"{p}: corrupt SPZ: it decompresses to more than the {limit} bytes its "
                         f"header allows (trailing data, or a decompression bomb)")
    if not d.eof:
        raise ValueError(f"{p}: truncated SPZ: the gzip stream ends early "
                         f"({len(out)} bytes decompressed)")
    return out


def decode_spz(data: bytes, name: str = "<bytes>", coordinates: Optional[str] = "rdf"):
    """(SplatData, SpzInfo) from SPZ bytes; see :func:`read_spz`."""
    _check_coordinates(coordinates, "read_spz")
    p = name
    if data[:2] != b"\x1f\x8b":
        if data[:4] == MAGIC.to_bytes(4, "little"):
            raise ValueError(f"{p}: an uncompressed SPZ container (version 4 or later layout) is "
                             f"not supported; expected a gzip-compressed SPZ (version 2 or 3)")
        raise ValueError(f"{p}: not an SPZ file: expected gzip data (1f 8b), got {data[:4]!r}")
    head = _gunzip_head(data, p)
    h = np.frombuffer(head, _HEADER, count=1)[0]
    if int(h["magic"]) != MAGIC:
        raise ValueError(f"{p}: not an SPZ file: magic 0x{int(h['magic']):08x}, expected "
                         f"0x{MAGIC:08x} ('NGSP')")
    version, n, deg = int(h["version"]), int(h["num_points"]), int(h["sh_degree"])
    bits, flags = int(h["fractional_bits"]), int(h["flags"])
    if version not in (2, 3):
        raise ValueError(f"{p}: SPZ version {version} is not supported (expected 2 or 3)")
    if deg not in _SH_DIM:
        raise ValueError(f"{p}: SPZ SH degree {deg} is not supported (expected 0..3)")
    if n > MAX_POINTS:
        raise ValueError(f"{p}: SPZ header says {n} points, over the {MAX_POINTS} limit")
    if bits > 23:
        raise ValueError(f"{p}: SPZ fractional_bits {bits} is over 23 (24-bit positions)")
    dim = _SH_DIM[deg]
    rot = 4 if version == 3 else 3
    sizes = [9 * n, n, 3 * n, 3 * n, rot * n, 3 * dim * n]
    body = sum(sizes)
    ext_room = MAX_EXTENSION_BYTES if flags & 0x2 else 0
    raw = _gunzip_bounded(data, p, 16 + body + ext_room)
    ext = len(raw) - 16 - body
    if ext < 0:
        raise ValueError(f"{p}: truncated SPZ: header says {n} points of SH degree {deg} "
                         f"({16 + body} bytes), the data holds {len(raw)}")
    buf = np.frombuffer(raw, np.uint8, offset=16 + ext)
    arrays, off = [], 0
    for size in sizes:
        arrays.append(buf[off:off + size])
        off += size
    pos, alpha, color, scale, rot_raw, sh = arrays
    means = _unpack_positions(pos, n, bits)
    quats = (_unpack_rot_v3 if version == 3 else _unpack_rot_v2)(rot_raw.copy(), n)
    s = SplatData(
        means=means,
        scales_log=(scale.reshape(n, 3).astype(np.float32) / 16.0 - 10.0),
        quats_wxyz=quats,
        # 0 and 255 decode to finite logits (opacity 0.25/255 from either end)
        opacity_logits=logit(alpha.astype(np.float64) / 255.0, 0.25 / 255.0).astype(np.float32),
        sh_dc=((color.reshape(n, 3).astype(np.float32) / 255.0 - 0.5) / COLOR_SCALE),
        sh_rest=((sh.reshape(n, dim, 3).astype(np.float32) - 128.0) / 128.0),
    )
    if coordinates == "rdf":
        s = _turn_axes(s)
    return s, SpzInfo(version, n, deg, bits, bool(flags & 0x1))


def _gunzip_head(data: bytes, p: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        head = d.decompress(data, 16)
    except zlib.error as e:
        raise ValueError(f"{p}: corrupt SPZ: gzip stream does not decompress ({e})") from None
    if len(head) < 16:
        raise ValueError(f"{p}: truncated SPZ: {len(head)} bytes after gunzip, the header "
                         f"alone is 16")
    return head


def read_spz(path, coordinates: Optional[str] = "rdf", with_info: bool = False):
    """Read an SPZ file (version 2 or 3, SH degree 0..3) into :class:`SplatData`
    (float32; quaternions wxyz). ``coordinates`` as in :func:`write_spz`.
    With ``with_info``, returns (SplatData, :class:`SpzInfo`)."""
    data = read_bounded(path, "SPZ", MAX_FILE_BYTES)
    s, info = decode_spz(data, str(path), coordinates)
    return (s, info) if with_info else s

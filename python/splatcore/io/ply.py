"""PLY files: 3D Gaussian Splatting scenes and plain point clouds.

3DGS scene layout written by :func:`write_splat_ply` (the one the original 3DGS
code, gsplat and viewers such as SuperSplat use): binary little-endian, one
``vertex`` element with float properties, in this order::

    x y z  nx ny nz  f_dc_0 f_dc_1 f_dc_2  f_rest_0 ... f_rest_{3(K-1)-1}
    opacity  scale_0 scale_1 scale_2  rot_0 rot_1 rot_2 rot_3

normals are zero, opacity is a logit, scales are logs, ``rot`` is a wxyz quaternion,
and ``f_rest`` is channel-major: ``f_rest[c*(K-1) + k] = sh_rest[:, k, c]`` (all red
coefficients k = 1..K-1, then all green, then all blue).

The reader (:func:`read_ply_vertices`) understands ASCII and binary (either
endianness) PLY, looks properties up by name, and checks everything it reads: the
header is limited to ``MAX_HEADER_BYTES``, the vertex count is checked against the
file size before anything is allocated, missing properties are named.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from .atomic import atomic_write

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["SplatData", "PointCloud", "write_splat_ply", "read_splat_ply", "write_point_ply",
           "read_point_ply", "read_ply_vertices", "read_ply_header", "PlyHeader",
           "splat_property_names", "MAX_HEADER_BYTES", "MAX_PROPERTIES", "MAX_ELEMENTS"]

MAX_HEADER_BYTES = 1 << 20
MAX_PROPERTIES = 1024  # per element (a degree-3 splat has 62; meshes a handful)
MAX_ELEMENTS = 64

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
_SH_REST_SIZES = {0: 1, 3: 2, 8: 3, 15: 4}  # K-1 -> number of SH bands (degree + 1)


class SplatData(NamedTuple):
    """Arrays of a 3DGS scene, float32: means (N,3), scales_log (N,3), quats_wxyz
    (N,4), opacity_logits (N,), sh_dc (N,3), sh_rest (N,K-1,3)."""
    means: np.ndarray
    scales_log: np.ndarray
    quats_wxyz: np.ndarray
    opacity_logits: np.ndarray
    sh_dc: np.ndarray
    sh_rest: np.ndarray

    @property
    def sh_degree(self) -> int:
        return _SH_REST_SIZES[self.sh_rest.shape[1]] - 1


class PointCloud(NamedTuple):
    """xyz (P,3), rgb (P,3) uint8 or None, normals (P,3) or None."""
    xyz: np.ndarray
    rgb: Optional[np.ndarray]
    normals: Optional[np.ndarray]


class _Element(NamedTuple):
    name: str
    count: int
    properties: List[Tuple[str, str, Optional[str]]]  # (name, dtype, list count dtype or None)


class PlyHeader(NamedTuple):
    format: str                 # "ascii", "binary_little_endian", "binary_big_endian"
    elements: List[_Element]
    header_bytes: int           # offset of the data
    comments: List[str]


def splat_property_names(sh_degree: int) -> List[str]:
    """Property names of a 3DGS PLY with SH degree 0..3, in file order."""
    if sh_degree not in (0, 1, 2, 3):
        raise ValueError(f"sh_degree must be 0..3, got {sh_degree!r}")
    n_rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + [f"f_rest_{i}" for i in range(n_rest)]
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


# --------------------------------------------------------------------------- reading

def read_ply_header(path: PathLike) -> PlyHeader:
    """Parse and validate the header of a PLY file."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"PLY file not found: {p!r}")
    with open(p, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    if not head.startswith(b"ply\n") and not head.startswith(b"ply\r\n"):
        raise ValueError(f"{p}: not a PLY file: expected it to start with 'ply', got {head[:16]!r}")
    m = re.search(rb"(^|\n)end_header[ \t]*\r?\n", head)
    if m is None:
        raise ValueError(f"{p}: PLY header has no 'end_header' line within the first "
                         f"{min(len(head), MAX_HEADER_BYTES)} bytes (truncated file, or a header "
                         f"over the {MAX_HEADER_BYTES}-byte limit)")
    try:
        text = head[:m.start()].decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{p}: PLY header contains non-ASCII bytes") from None
    fmt = None
    elements: List[_Element] = []
    comments: List[str] = []
    seen: set = set()  # property names of the current element (linear-time duplicate check)
    for lineno, raw in enumerate(text.splitlines()[1:], 2):
        tok = raw.split()
        if not tok:
            continue
        kw = tok[0]
        if kw in ("comment", "obj_info"):
            comments.append(raw.strip()[len(kw):].strip())
        elif kw == "format":
            if len(tok) != 3 or tok[1] not in _FORMATS or tok[2] != "1.0":
                raise ValueError(f"{p}: header line {lineno}: expected 'format ascii|"
                                 f"binary_little_endian|binary_big_endian 1.0', got {raw!r}")
            fmt = tok[1]
        elif kw == "element":
            if len(tok) != 3 or not tok[2].isdigit():
                raise ValueError(f"{p}: header line {lineno}: expected 'element NAME COUNT', "
                                 f"got {raw!r}")
            if len(elements) >= MAX_ELEMENTS:
                raise ValueError(f"{p}: header line {lineno}: more than {MAX_ELEMENTS} elements")
            elements.append(_Element(tok[1], int(tok[2]), []))
            seen = set()
        elif kw == "property":
            if not elements:
                raise ValueError(f"{p}: header line {lineno}: property before any element")
            props = elements[-1].properties
            if len(tok) == 3 and tok[1] in _TYPES:
                prop = (tok[2], _TYPES[tok[1]], None)
            elif len(tok) == 5 and tok[1] == "list" and tok[2] in _TYPES and tok[3] in _TYPES:
                prop = (tok[4], _TYPES[tok[3]], _TYPES[tok[2]])
            else:
                raise ValueError(f"{p}: header line {lineno}: expected 'property TYPE NAME' or "
                                 f"'property list COUNT_TYPE TYPE NAME' with PLY types "
                                 f"({', '.join(sorted(set(_TYPES)))}), got {raw!r}")
            if prop[0] in seen:
                raise ValueError(f"{p}: header line {lineno}: property {prop[0]!r} appears twice "
                                 f"in element {elements[-1].name!r}")
            if len(props) >= MAX_PROPERTIES:
                raise ValueError(f"{p}: header line {lineno}: element {elements[-1].name!r} has "
                                 f"more than {MAX_PROPERTIES} properties")
            seen.add(prop[0])
            props.append(prop)
        else:
            raise ValueError(f"{p}: header line {lineno}: unknown keyword {kw!r} in {raw!r}")
    if fmt is None:
        raise ValueError(f"{p}: PLY header has no 'format' line")
    return PlyHeader(fmt, elements, m.end(), comments)


def read_ply_vertices(path: PathLike) -> Dict[str, np.ndarray]:
    """Read the ``vertex`` element of a PLY file: ``{property name: (N,) array}``
    in file order and in the file's types (native byte order)."""
    p = os.fspath(path)
    hdr = read_ply_header(p)
    names = [e.name for e in hdr.elements]
    if "vertex" not in names:
        raise ValueError(f"{p}: PLY file has no 'vertex' element (elements: {names})")
    vi = names.index("vertex")
    vertex = hdr.elements[vi]
    if not vertex.properties:
        raise ValueError(f"{p}: the PLY 'vertex' element has no properties")
    lists = [q[0] for q in vertex.properties if q[2] is not None]
    if lists:
        raise ValueError(f"{p}: unsupported PLY: vertex element has list properties {lists}")
    file_size = os.path.getsize(p)
    n = vertex.count
    if hdr.format == "ascii":
        return _read_ascii_vertices(p, hdr, vi, file_size)
    order = _FORMATS[hdr.format]
    offset = hdr.header_bytes
    for e in hdr.elements[:vi]:
        if any(q[2] is not None for q in e.properties):
            raise ValueError(f"{p}: unsupported PLY: element {e.name!r} with list properties comes "
                             f"before 'vertex' in a binary file")
        row = sum(np.dtype(q[1]).itemsize for q in e.properties)
        offset += e.count * row
    dt = np.dtype([(q[0], order + q[1]) for q in vertex.properties])
    need = n * dt.itemsize
    avail = file_size - offset
    if need > avail:
        raise ValueError(f"{p}: truncated or corrupt PLY: header says {n} vertices of "
                         f"{dt.itemsize} bytes ({need} bytes) starting at offset {offset}, but only "
                         f"{max(avail, 0)} bytes follow (file size {file_size})")
    with open(p, "rb") as f:
        f.seek(offset)
        data = np.fromfile(f, dtype=dt, count=n)
    if len(data) != n:  # file shrank under us
        raise ValueError(f"{p}: truncated PLY: expected {n} vertices, read {len(data)}")
    return {q[0]: data[q[0]].astype(np.dtype(q[1]), copy=True) for q in vertex.properties}


def _read_ascii_vertices(p: str, hdr: PlyHeader, vi: int, file_size: int) -> Dict[str, np.ndarray]:
    vertex = hdr.elements[vi]
    n, nprops = vertex.count, len(vertex.properties)
    skip = sum(e.count for e in hdr.elements[:vi])
    avail = file_size - hdr.header_bytes
    # Each value needs at least one character and one separator.
    if (skip + n * nprops) * 2 > avail + 1:
        raise ValueError(f"{p}: truncated or corrupt ASCII PLY: header says {n} vertices with "
                         f"{nprops} values each, which cannot fit in the {avail} bytes that follow")
    out = np.empty((n, nprops), np.float64)
    chunk = 65536
    with open(p, "rb") as f:
        f.seek(hdr.header_bytes)

        def data_lines():
            for raw in f:
                s = raw.strip()
                if s:
                    yield s
        lines = data_lines()
        for k in range(skip):
            if next(lines, None) is None:
                raise ValueError(f"{p}: truncated ASCII PLY: ended inside the elements before "
                                 f"'vertex' ({k} of {skip} lines)")
        row = 0
        while row < n:
            take = min(chunk, n - row)
            block = []
            for _ in range(take):
                s = next(lines, None)
                if s is None:
                    raise ValueError(f"{p}: truncated ASCII PLY: expected {n} vertex lines, the "
                                     f"file ends after {row + len(block)}")
                block.append(s)
            tokens = b" ".join(block).split()
            if len(tokens) != take * nprops:
                bad = next(i for i, s in enumerate(block) if len(s.split()) != nprops)
                raise ValueError(f"{p}: ASCII PLY vertex {row + bad}: expected {nprops} values, "
                                 f"got {block[bad][:120]!r}")
            try:
                out[row:row + take] = np.array(tokens, dtype=np.float64).reshape(take, nprops)
            except ValueError:
                raise ValueError(f"{p}: ASCII PLY vertices {row}..{row + take - 1}: expected "
                                 f"numbers, got a non-numeric value") from None
            row += take
    res = {}
    for j, (name, dt, _) in enumerate(vertex.properties):
        col = out[:, j]
        if np.dtype(dt).kind in "iu":
            info = np.iinfo(dt)
            if np.any(col != np.round(col)) or np.any(col < info.min) or np.any(col > info.max):
                raise ValueError(f"{p}: ASCII PLY property {name!r} ({dt}) has values that are "
                                 f"not integers in range")
        res[name] = col.astype(dt)
    return res


def read_splat_ply(path: PathLike) -> SplatData:
    """Read a 3DGS scene PLY (any SH degree 0..3, binary or ASCII). Returns
    :class:`SplatData` with float32 arrays (bit-exact for float32 files)."""
    p = os.fspath(path)
    v = read_ply_vertices(p)
    required = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    missing = [r for r in required if r not in v]
    if missing:
        raise ValueError(f"{p}: not a 3D Gaussian Splatting PLY: vertex properties {missing} are "
                         f"missing (found: {list(v)[:20]})")
    rest_idx = sorted(int(k[7:]) for k in v if re.fullmatch(r"f_rest_\d+", k))
    m = len(rest_idx)
    if rest_idx != list(range(m)) or m % 3 or m // 3 not in _SH_REST_SIZES:
        raise ValueError(f"{p}: expected f_rest_0..f_rest_{{M-1}} with M in (0, 9, 24, 45) "
                         f"(SH degree 0..3), got {m} f_rest properties "
                         f"{'numbered ' + str(rest_idx[:5]) + '...' if m else ''}".rstrip())

    used = required + [f"f_rest_{i}" for i in range(m)]
    for k in used:  # NaN/inf would only fail later, in the rasterizer, with no file name
        bad = ~np.isfinite(np.asarray(v[k], dtype=np.float32))
        if bad.any():
            r = int(np.argmax(bad))
            raise ValueError(f"{p}: vertex {r}: property {k!r} is {v[k][r]}; expected finite "
                             f"values ({int(bad.sum())} such vertices)")

    def stack(names):
        return np.stack([np.asarray(v[k], dtype=np.float32) for k in names], axis=1) \
            if names else np.zeros((len(v["x"]), 0), np.float32)

    n = len(v["x"])
    km1 = m // 3
    rest = stack([f"f_rest_{i}" for i in range(m)]).reshape(n, 3, km1).transpose(0, 2, 1)
    return SplatData(
        means=stack(["x", "y", "z"]),
        scales_log=stack(["scale_0", "scale_1", "scale_2"]),
        quats_wxyz=stack(["rot_0", "rot_1", "rot_2", "rot_3"]),
        opacity_logits=np.asarray(v["opacity"], dtype=np.float32).copy(),
        sh_dc=stack(["f_dc_0", "f_dc_1", "f_dc_2"]),
        sh_rest=np.ascontiguousarray(rest),
    )


def read_point_ply(path: PathLike) -> PointCloud:
    """Read a point-cloud PLY: ``x y z`` (float64), optional ``red green blue``
    (uint8; float colours in [0,1] are converted) and ``nx ny nz`` (float32)."""
    p = os.fspath(path)
    v = read_ply_vertices(p)
    missing = [k for k in ("x", "y", "z") if k not in v]
    if missing:
        raise ValueError(f"{p}: point PLY is missing vertex properties {missing}")
    xyz = np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float64)
    rgb = normals = None
    if all(k in v for k in ("red", "green", "blue")):
        c = np.stack([v["red"], v["green"], v["blue"]], axis=1)
        if c.dtype.kind == "f":
            c = np.round(np.clip(c, 0.0, 1.0) * 255.0)
        rgb = np.clip(c, 0, 255).astype(np.uint8)
    if all(k in v for k in ("nx", "ny", "nz")):
        normals = np.stack([v["nx"], v["ny"], v["nz"]], axis=1).astype(np.float32)
    return PointCloud(xyz, rgb, normals)


# --------------------------------------------------------------------------- writing

def _as_float(name: str, a, shape: Tuple[int, ...]) -> np.ndarray:
    """Validate shape (``-1`` = any) and finiteness; return float32."""
    try:
        arr = np.asarray(a, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a numeric array, got {type(a).__name__}") from None
    if arr.ndim != len(shape) or any(s != -1 and s != d for s, d in zip(shape, arr.shape)):
        want = "(" + ", ".join("N" if s == -1 else str(s) for s in shape) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = int(bad.reshape(len(arr), -1).any(axis=1).sum()) if arr.ndim else 1
        raise ValueError(f"{name}: expected finite values, got NaN/inf in {rows} rows")
    return arr


def _header(n: int, props: List[Tuple[str, str]]) -> bytes:
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    lines += [f"property {t} {name}" for name, t in props]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def write_splat_ply(path: PathLike, means, scales_log, quats_wxyz, opacity_logits, sh_dc,
                    sh_rest=None) -> None:
    """Write a 3DGS scene PLY (binary little-endian float32, atomically).

    means (N,3); scales_log (N,3) log-scales; quats_wxyz (N,4); opacity_logits (N,)
    or (N,1); sh_dc (N,3) or (N,1,3); sh_rest (N,K-1,3) with K-1 in {0,3,8,15}
    (SH degree 0..3) or None for degree 0. Values must be finite.
    """
    means = _as_float("means", means, (-1, 3))
    n = len(means)
    scales = _as_float("scales_log", scales_log, (n, 3))
    quats = _as_float("quats_wxyz", quats_wxyz, (n, 4))
    op = np.asarray(opacity_logits)
    op = _as_float("opacity_logits", op.reshape(-1) if op.shape == (n, 1) else op, (n,))
    dc = np.asarray(sh_dc)
    dc = _as_float("sh_dc", dc.reshape(n, 3) if dc.shape == (n, 1, 3) else dc, (n, 3))
    if sh_rest is None:
        rest = np.zeros((n, 0, 3), np.float32)
    else:
        rest = _as_float("sh_rest", sh_rest, (n, -1, 3))
        if rest.shape[1] not in _SH_REST_SIZES:
            raise ValueError(f"sh_rest: expected shape (N, K-1, 3) with K-1 in (0, 3, 8, 15) "
                             f"(SH degree 0..3), got {rest.shape}")
    km1 = rest.shape[1]
    cols = [means, np.zeros((n, 3), np.float32), dc,
            rest.transpose(0, 2, 1).reshape(n, 3 * km1),  # channel-major
            op[:, None], scales, quats]
    table = np.ascontiguousarray(np.concatenate(cols, axis=1), dtype="<f4")
    names = splat_property_names(_SH_REST_SIZES[km1] - 1)
    assert table.shape[1] == len(names)
    header = _header(n, [(nm, "float") for nm in names])
    with atomic_write(path, "wb") as f:
        f.write(header)
        f.write(table.tobytes())


def write_point_ply(path: PathLike, xyz, rgb=None, normals=None) -> None:
    """Write a point cloud as binary little-endian PLY, atomically: ``x y z`` float,
    then ``red green blue`` uchar if ``rgb`` is given (uint8 0..255, or floats in
    [0,1] which are scaled and rounded), then ``nx ny nz`` float if ``normals``."""
    xyz = _as_float("xyz", xyz, (-1, 3))
    n = len(xyz)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    props = [("x", "float"), ("y", "float"), ("z", "float")]
    if rgb is not None:
        c = np.asarray(rgb)
        if c.shape != (n, 3):
            raise ValueError(f"rgb: expected shape ({n}, 3), got {c.shape}")
        if c.dtype.kind == "f":
            c = _as_float("rgb", c, (n, 3))
            c = np.round(np.clip(c, 0.0, 1.0) * 255.0)
        elif c.dtype.kind in "iu":
            if c.size and (c.min() < 0 or c.max() > 255):
                raise ValueError(f"rgb: expected integer values 0..255, got range "
                                 f"{c.min()}..{c.max()}")
        else:
            raise TypeError(f"rgb: expected uint8 or float colours, got dtype {c.dtype}")
        rgb = c.astype(np.uint8)
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        props += [("red", "uchar"), ("green", "uchar"), ("blue", "uchar")]
    if normals is not None:
        normals = _as_float("normals", normals, (n, 3))
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
        props += [("nx", "float"), ("ny", "float"), ("nz", "float")]
    rec = np.empty(n, np.dtype(fields))
    for j, k in enumerate("xyz"):
        rec[k] = xyz[:, j]
    if rgb is not None:
        for j, k in enumerate(("red", "green", "blue")):
            rec[k] = rgb[:, j]
    if normals is not None:
        for j, k in enumerate(("nx", "ny", "nz")):
            rec[k] = normals[:, j]
    with atomic_write(path, "wb") as f:
        f.write(_header(n, props))
        f.write(rec.tobytes())

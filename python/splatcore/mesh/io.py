"""Mesh files: binary STL, ASCII / binary PLY (vertex colours and normals), OBJ.

Every writer goes through :func:`splatcore.io.atomic.atomic_write` (temporary
file in the target's directory, renamed on success). The readers are strict
enough for round trips and hostile input: sizes are checked against the file
before anything is allocated, indices are range-checked, and errors name the
file and what was expected.

* STL: binary (80-byte header, uint32 count, 50 bytes per triangle: facet
  normal, 3 vertices, uint16 attribute). :func:`read_stl` also reads ASCII STL
  and welds identical corners back into shared vertices (``weld=True``).
* PLY: ``vertex`` with ``x y z`` float, optional ``nx ny nz`` float and
  ``red green blue`` uchar; ``face`` with ``property list uchar int
  vertex_indices``. Binary little-endian or ASCII.
* OBJ: ``v x y z [r g b]`` (the common vertex-colour extension, floats in
  [0, 1], no MTL), ``vn``, ``f a//a b//b c//c`` (1-based). The reader takes
  ``f`` in any of the ``a``, ``a/t``, ``a/t/n``, ``a//n`` forms, negative
  (relative) indices, and fans polygons into triangles.
"""
from __future__ import annotations

import io as _io
import os
import struct
from typing import Optional, Union

import numpy as np

from ..io.atomic import atomic_write
from ..io.ply import read_ply_header
from .mc import Mesh, face_normals

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["write_mesh", "read_mesh", "write_stl", "read_stl", "write_ply", "read_ply",
           "write_obj", "read_obj"]

_FORMATS = {".stl": "stl", ".ply": "ply", ".obj": "obj"}


# --------------------------------------------------------------------------- checks

def _check_mesh(mesh: Mesh, fn: str) -> Mesh:
    if not isinstance(mesh, Mesh):
        if isinstance(mesh, (tuple, list)) and len(mesh) in (2, 3, 4):
            mesh = Mesh(*mesh)
        else:
            raise TypeError(f"{fn}: mesh must be a splatcore.mesh.Mesh or (vertices, faces[, "
                            f"normals[, colors]]), got {type(mesh).__name__}")
    v = np.asarray(mesh.vertices)
    f = np.asarray(mesh.faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{fn}: vertices must have shape (V, 3), got {v.shape}")
    if f.size == 0:
        f = f.reshape(0, 3)
    if f.ndim != 2 or f.shape[1] != 3 or f.dtype.kind not in "iu":
        raise ValueError(f"{fn}: faces must be integer (F, 3), got {f.dtype} {f.shape}")
    v = v.astype(np.float32)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{fn}: vertices hold NaN or inf")
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"{fn}: faces refer to vertices outside [0, {len(v)}): range "
                         f"{f.min()}..{f.max()}")
    n = c = None
    if mesh.normals is not None:
        n = np.asarray(mesh.normals, np.float32)
        if n.shape != v.shape:
            raise ValueError(f"{fn}: normals must have shape {v.shape}, got {n.shape}")
    if mesh.colors is not None:
        c = np.asarray(mesh.colors)
        if c.ndim != 2 or len(c) != len(v) or c.shape[1] not in (3, 4):
            raise ValueError(f"{fn}: colors must have shape (V, 3) (RGB in [0, 1] or uint8), "
                             f"got {c.shape}")
        c = c[:, :3]
    return Mesh(v, f.astype(np.int32), n, c)


def _colors_u8(c: np.ndarray) -> np.ndarray:
    if c.dtype == np.uint8:
        return c
    c = np.nan_to_num(np.asarray(c, np.float64), nan=0.0)
    return np.clip(np.round(c * 255.0), 0, 255).astype(np.uint8)


def _colors_float(c: np.ndarray) -> np.ndarray:
    if c.dtype == np.uint8:
        return c.astype(np.float32) / 255.0
    return np.clip(np.nan_to_num(np.asarray(c, np.float32), nan=0.0), 0.0, 1.0)


def _check_finite_rows(p: str, a: np.ndarray, what: str) -> None:
    """ValueError naming the file and the first row of `a` holding NaN/inf."""
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        r = int(np.argmax(bad))
        raise ValueError(f"{p}: {what} {r} is {a[r].tolist()}; expected finite values "
                         f"({int(bad.sum())} such rows)")


def _check_file(path: PathLike, kind: str) -> str:
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"{kind} file not found: {p!r}")
    return p


# --------------------------------------------------------------------------- STL

_STL_DTYPE = np.dtype([("normal", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])


def write_stl(path: PathLike, mesh: Mesh, header: str = "splatcore mesh") -> None:
    """Binary STL (triangles with unit facet normals from the winding)."""
    m = _check_mesh(mesh, "write_stl")
    rec = np.zeros(len(m.faces), _STL_DTYPE)
    if len(m.faces):
        rec["v"] = m.vertices[m.faces]
        rec["normal"] = face_normals(m.vertices, m.faces).astype(np.float32)
    head = header.encode("ascii", "replace")[:80]
    if head.lower().startswith(b"solid"):  # would make readers take it for ASCII
        head = b"binary " + head
    head = head[:80].ljust(80, b" ")
    with atomic_write(path, "wb") as f:
        f.write(head)
        f.write(struct.pack("<I", len(rec)))
        f.write(rec.tobytes())


def _weld(tri: np.ndarray) -> Mesh:
    """(F, 3, 3) corners -> shared vertices (exactly equal coordinates merged)."""
    pts = np.ascontiguousarray(tri.reshape(-1, 3), dtype=np.float32)
    if len(pts) == 0:
        return Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32))
    key = pts.view(np.dtype((np.void, 12))).reshape(-1)
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first)  # vertices in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return Mesh(pts[first[order]], rank[inv.reshape(-1)].reshape(-1, 3).astype(np.int32))


def read_stl(path: PathLike, weld: bool = True) -> Mesh:
    """Read a binary or ASCII STL. ``weld``: merge identical corners into shared
    vertices (else 3 vertices per triangle). Normals are not returned (STL
    stores per-facet normals only)."""
    p = _check_file(path, "STL")
    size = os.path.getsize(p)
    with open(p, "rb") as f:
        head = f.read(84)
        if len(head) < 84 and not head.lstrip().lower().startswith(b"solid"):
            raise ValueError(f"{p}: not an STL file: {size} bytes is shorter than a binary "
                             f"STL header (84 bytes)")
        n = struct.unpack("<I", head[80:84])[0] if len(head) >= 84 else -1
        if n >= 0 and 84 + 50 * n == size:
            rec = np.fromfile(f, dtype=_STL_DTYPE, count=n)
            if len(rec) != n:
                raise ValueError(f"{p}: truncated binary STL: expected {n} triangles")
            tri = rec["v"].astype(np.float32)
        elif head.lstrip().lower().startswith(b"solid"):
            f.seek(0)
            tri = _read_ascii_stl(p, f.read())
        else:
            raise ValueError(f"{p}: not a valid STL file: binary header says {n} triangles "
                             f"({84 + 50 * n} bytes) but the file has {size} bytes, and it does "
                             f"not start with 'solid'")
    _check_finite_rows(p, tri.reshape(len(tri), 9), "triangle")
    if weld:
        return _weld(tri)
    return Mesh(tri.reshape(-1, 3).copy(), np.arange(3 * len(tri), dtype=np.int32).reshape(-1, 3))


def _read_ascii_stl(p: str, data: bytes) -> np.ndarray:
    toks = data.split()
    out = []
    i = 0
    nt = len(toks)
    while i < nt:
        if toks[i].lower() == b"vertex":
            if i + 3 >= nt:
                raise ValueError(f"{p}: truncated ASCII STL: 'vertex' without 3 numbers")
            try:
                out.append((float(toks[i + 1]), float(toks[i + 2]), float(toks[i + 3])))
            except ValueError:
                raise ValueError(f"{p}: ASCII STL: expected 3 numbers after 'vertex'") from None
            i += 4
        else:
            i += 1
    if len(out) % 3:
        raise ValueError(f"{p}: ASCII STL has {len(out)} vertices, not a multiple of 3")
    return np.asarray(out, np.float32).reshape(-1, 3, 3)


# --------------------------------------------------------------------------- PLY

def write_ply(path: PathLike, mesh: Mesh, binary: bool = True, normals: bool = True,
              colors: bool = True) -> None:
    """PLY with ``x y z`` [``nx ny nz``] [``red green blue`` uchar] vertices and
    triangle faces; binary little-endian (default) or ASCII."""
    m = _check_mesh(mesh, "write_ply")
    nv, nf = len(m.vertices), len(m.faces)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    props = ["property float x", "property float y", "property float z"]
    use_n = normals and m.normals is not None
    use_c = colors and m.colors is not None
    if use_n:
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
        props += ["property float nx", "property float ny", "property float nz"]
    if use_c:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        props += ["property uchar red", "property uchar green", "property uchar blue"]
    rec = np.empty(nv, np.dtype(fields))
    for j, k in enumerate("xyz"):
        rec[k] = m.vertices[:, j]
    if use_n:
        for j, k in enumerate(("nx", "ny", "nz")):
            rec[k] = m.normals[:, j]
    if use_c:
        c8 = _colors_u8(m.colors)
        for j, k in enumerate(("red", "green", "blue")):
            rec[k] = c8[:, j]
    fmt = "binary_little_endian" if binary else "ascii"
    header = "\n".join(["ply", f"format {fmt} 1.0", "comment splatcore mesh",
                        f"element vertex {nv}", *props, f"element face {nf}",
                        "property list uchar int vertex_indices", "end_header"]) + "\n"
    with atomic_write(path, "wb") as f:
        f.write(header.encode("ascii"))
        if binary:
            f.write(rec.tobytes())
            frec = np.empty(nf, np.dtype([("n", "u1"), ("i", "<i4", (3,))]))
            frec["n"] = 3
            frec["i"] = m.faces
            f.write(frec.tobytes())
        else:
            buf = _io.StringIO()
            cols = [rec[name] for name, _ in fields]
            fmts = ["%.9g" if t == "<f4" else "%d" for _, t in fields]
            if nv:
                np.savetxt(buf, np.column_stack([c.astype(np.float64) for c in cols]),
                           fmt=" ".join(fmts))
            if nf:
                np.savetxt(buf, np.column_stack([np.full(nf, 3), m.faces]), fmt="%d")
            f.write(buf.getvalue().encode("ascii"))


def read_ply(path: PathLike) -> Mesh:
    """Read a triangle-mesh PLY (ASCII or binary, either endianness): vertices,
    faces (polygons fanned into triangles), normals and colours when present."""
    p = _check_file(path, "PLY")
    hdr = read_ply_header(p)
    names = [e.name for e in hdr.elements]
    if "vertex" not in names:
        raise ValueError(f"{p}: PLY file has no 'vertex' element (elements: {names})")
    size = os.path.getsize(p)
    with open(p, "rb") as f:
        f.seek(hdr.header_bytes)
        data = f.read()
    if hdr.format == "ascii":
        elems = _ply_ascii(p, hdr, data)
    else:
        elems = _ply_binary(p, hdr, data, "<" if hdr.format == "binary_little_endian" else ">",
                            size)
    vert = elems["vertex"]
    for k in "xyz":
        if k not in vert:
            raise ValueError(f"{p}: PLY vertex element lacks property {k!r}")
    v = np.stack([vert["x"], vert["y"], vert["z"]], axis=1).astype(np.float32)
    _check_finite_rows(p, v, "vertex")
    n = c = None
    if all(k in vert for k in ("nx", "ny", "nz")):
        n = np.stack([vert["nx"], vert["ny"], vert["nz"]], axis=1).astype(np.float32)
        _check_finite_rows(p, n, "normal of vertex")
    if all(k in vert for k in ("red", "green", "blue")):
        c = np.stack([vert["red"], vert["green"], vert["blue"]], axis=1)
        c = _colors_float(c.astype(np.uint8) if c.dtype.kind in "iu" else c)
    faces = elems.get("face", {}).get("__faces__", np.zeros((0, 3), np.int64))
    if len(faces) and (faces.min() < 0 or faces.max() >= len(v)):
        raise ValueError(f"{p}: PLY faces refer to vertices outside [0, {len(v)})")
    return Mesh(v, faces.astype(np.int32), n, c)


def _fan(polys) -> np.ndarray:
    tris = [(poly[0], poly[i], poly[i + 1]) for poly in polys for i in range(1, len(poly) - 1)]
    return np.asarray(tris, np.int64).reshape(-1, 3)


def _face_prop(p, e):
    lists = [q for q in e.properties if q[2] is not None]
    if len(lists) != 1 or lists[0][0] not in ("vertex_indices", "vertex_index"):
        raise ValueError(f"{p}: PLY face element must have one list property 'vertex_indices', "
                         f"got {[q[0] for q in e.properties]}")
    return lists[0]


def _ply_binary(p, hdr, data, order, size):
    out = {}
    off = 0
    for e in hdr.elements:
        if all(q[2] is None for q in e.properties):
            dt = np.dtype([(q[0], order + q[1]) for q in e.properties])
            need = e.count * dt.itemsize
            if off + need > len(data):
                raise ValueError(f"{p}: truncated PLY: element {e.name!r} needs {need} bytes at "
                                 f"offset {hdr.header_bytes + off}, file size {size}")
            arr = np.frombuffer(data, dtype=dt, count=e.count, offset=off)
            out[e.name] = {q[0]: arr[q[0]].astype(q[1]) for q in e.properties}
            off += need
            continue
        if e.name != "face" or len(e.properties) != 1:
            raise ValueError(f"{p}: unsupported PLY: element {e.name!r} with list properties")
        name, vt, ct = _face_prop(p, e)
        cdt, idt = np.dtype(order + ct), np.dtype(order + vt)
        # fast path: every face a triangle
        tri_dt = np.dtype([("n", cdt), ("i", idt, (3,))])
        need = e.count * tri_dt.itemsize
        if off + need <= len(data):
            arr = np.frombuffer(data, dtype=tri_dt, count=e.count, offset=off)
            if np.all(arr["n"] == 3):
                out["face"] = {"__faces__": arr["i"].astype(np.int64)}
                off += need
                continue
        polys = []
        for k in range(e.count):
            if off + cdt.itemsize > len(data):
                raise ValueError(f"{p}: truncated PLY: face {k} of {e.count}")
            cnt = int(np.frombuffer(data, cdt, 1, off)[0])
            off += cdt.itemsize
            if cnt < 3 or off + cnt * idt.itemsize > len(data):
                raise ValueError(f"{p}: corrupt or truncated PLY: face {k} has {cnt} indices")
            polys.append(np.frombuffer(data, idt, cnt, off).astype(np.int64))
            off += cnt * idt.itemsize
        out["face"] = {"__faces__": _fan(polys)}
    return out


def _ply_ascii(p, hdr, data):
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    out = {}
    pos = 0
    for e in hdr.elements:
        if pos + e.count > len(lines):
            raise ValueError(f"{p}: truncated ASCII PLY: element {e.name!r} expects {e.count} "
                             f"lines, {len(lines) - pos} remain")
        block = lines[pos:pos + e.count]
        pos += e.count
        if all(q[2] is None for q in e.properties):
            try:
                vals = np.array(b" ".join(block).split(), dtype=np.float64)
            except ValueError:
                raise ValueError(f"{p}: ASCII PLY element {e.name!r}: non-numeric value") from None
            if vals.size != e.count * len(e.properties):
                raise ValueError(f"{p}: ASCII PLY element {e.name!r}: expected "
                                 f"{len(e.properties)} values per line")
            vals = vals.reshape(e.count, len(e.properties))
            out[e.name] = {q[0]: vals[:, j].astype(q[1]) for j, q in enumerate(e.properties)}
            continue
        if e.name != "face" or len(e.properties) != 1:
            raise ValueError(f"{p}: unsupported PLY: element {e.name!r} with list properties")
        _face_prop(p, e)
        polys = []
        for k, ln in enumerate(block):
            try:
                t = [int(x) for x in ln.split()]
            except ValueError:
                raise ValueError(f"{p}: ASCII PLY face {k}: expected integers") from None
            if len(t) < 4 or t[0] != len(t) - 1:
                raise ValueError(f"{p}: ASCII PLY face {k}: bad vertex count in {ln[:80]!r}")
            if not all(0 <= x < 2**31 for x in t[1:]):  # before the int64 conversion
                raise ValueError(f"{p}: ASCII PLY face {k}: vertex index out of range in "
                                 f"{ln[:80]!r}")
            polys.append(t[1:])
        out["face"] = {"__faces__": _fan(polys)}
    return out


# --------------------------------------------------------------------------- OBJ

def write_obj(path: PathLike, mesh: Mesh, normals: bool = True, colors: bool = True) -> None:
    """Wavefront OBJ: ``v x y z [r g b]`` (vertex colours in [0, 1], no MTL),
    ``vn`` normals, ``f a//a b//b c//c`` (1-based)."""
    m = _check_mesh(mesh, "write_obj")
    use_n = normals and m.normals is not None
    use_c = colors and m.colors is not None
    buf = _io.StringIO()
    buf.write("# splatcore mesh\n")
    if len(m.vertices):
        if use_c:
            vc = np.column_stack([m.vertices.astype(np.float64), _colors_float(m.colors)])
            np.savetxt(buf, vc, fmt="v %.9g %.9g %.9g %.6g %.6g %.6g")
        else:
            np.savetxt(buf, m.vertices.astype(np.float64), fmt="v %.9g %.9g %.9g")
        if use_n:
            np.savetxt(buf, m.normals.astype(np.float64), fmt="vn %.7g %.7g %.7g")
    if len(m.faces):
        f1 = m.faces.astype(np.int64) + 1
        if use_n:
            np.savetxt(buf, np.repeat(f1, 2, axis=1), fmt="f %d//%d %d//%d %d//%d")
        else:
            np.savetxt(buf, f1, fmt="f %d %d %d")
    with atomic_write(path, "w") as f:
        f.write(buf.getvalue())


# Every statement of the OBJ format (Wavefront's specification); read_obj uses
# v, vn and f and skips the others, but a line starting with anything else means
# the file is not OBJ.
_OBJ_KEYWORDS = frozenset(x.encode() for x in (
    "v vt vn vp f l p g o s mg usemtl mtllib maplib usemap shadow_obj trace_obj call csh "
    "cstype deg bmat step curv curv2 surf parm trim hole scrv sp end con bevel c_interp "
    "d_interp lod ctech stech").split())


def read_obj(path: PathLike) -> Mesh:
    """Read an OBJ: ``v`` (with optional r g b), ``vn`` (returned as per-vertex
    normals when each vertex is given one consistent normal), ``f`` (any index
    form, polygons fanned). Other statements are ignored."""
    p = _check_file(path, "OBJ")
    verts, cols, vns, polys, pnorm = [], [], [], [], []
    with open(p, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            tok = raw.split()
            if not tok or tok[0].startswith(b"#"):
                continue
            kw = tok[0]
            if kw not in _OBJ_KEYWORDS:
                raise ValueError(f"{p}: line {lineno}: not an OBJ statement: {raw[:80]!r} "
                                 f"(expected v, vn, f, ... ; is this an OBJ file?)")
            try:
                if kw == b"v":
                    if len(tok) not in (4, 5, 7, 8):
                        raise ValueError
                    verts.append([float(x) for x in tok[1:4]])
                    if len(tok) >= 7:
                        cols.append([float(x) for x in tok[-3:]] if len(tok) == 7
                                    else [float(x) for x in tok[4:7]])
                elif kw == b"vn":
                    if len(tok) != 4:
                        raise ValueError
                    vns.append([float(x) for x in tok[1:4]])
                elif kw == b"f":
                    if len(tok) < 4:
                        raise ValueError
                    vi, ni = [], []
                    for t in tok[1:]:
                        parts = t.split(b"/")
                        vi.append(int(parts[0]))
                        ni.append(int(parts[2]) if len(parts) >= 3 and parts[2] else 0)
                    polys.append(vi)
                    pnorm.append(ni)
            except ValueError:
                raise ValueError(f"{p}: line {lineno}: malformed {kw.decode(errors='replace')!r} "
                                 f"statement: {raw[:80]!r}") from None
    nv = len(verts)
    v = np.asarray(verts, np.float32).reshape(-1, 3)
    _check_finite_rows(p, v, "vertex (0-based)")

    def resolve(idx, n, what):
        out = []
        for i in idx:
            j = i - 1 if i > 0 else n + i
            if not 0 <= j < n:
                raise ValueError(f"{p}: face refers to {what} {i}, outside 1..{n}")
            out.append(j)
        return out

    faces = _fan([resolve(pl, nv, "vertex") for pl in polys])
    normals = None
    if vns and pnorm and all(all(x != 0 for x in pn) for pn in pnorm):
        vn = np.asarray(vns, np.float32)
        nrm = np.zeros((nv, 3), np.float32)
        have = np.zeros(nv, bool)
        for pl, pn in zip(polys, pnorm):
            for a, b in zip(resolve(pl, nv, "vertex"), resolve(pn, len(vn), "normal")):
                nrm[a] = vn[b]
                have[a] = True
        normals = nrm if have.all() else None
    colors = None
    if cols and len(cols) == nv:
        colors = np.clip(np.asarray(cols, np.float32), 0.0, 1.0)
    return Mesh(v, faces.astype(np.int32), normals, colors)


# --------------------------------------------------------------------------- dispatch

def _format_of(path: PathLike, fmt: Optional[str], fn: str) -> str:
    if fmt is not None:
        if fmt not in ("stl", "ply", "obj"):
            raise ValueError(f"{fn}: format must be 'stl', 'ply' or 'obj', got {fmt!r}")
        return fmt
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in _FORMATS:
        raise ValueError(f"{fn}: cannot tell the mesh format from {os.fspath(path)!r}: use a "
                         f".stl, .ply or .obj name (or format=...)")
    return _FORMATS[ext]


def write_mesh(path: PathLike, mesh: Mesh, format: Optional[str] = None, binary: bool = True,
               normals: bool = True, colors: bool = True) -> None:
    """Write by extension: ``.stl`` (binary), ``.ply`` (binary unless
    ``binary=False``), ``.obj`` (vertex colours unless ``colors=False``)."""
    fmt = _format_of(path, format, "write_mesh")
    if fmt == "stl":
        write_stl(path, mesh)
    elif fmt == "ply":
        write_ply(path, mesh, binary=binary, normals=normals, colors=colors)
    else:
        write_obj(path, mesh, normals=normals, colors=colors)


def read_mesh(path: PathLike, format: Optional[str] = None) -> Mesh:
    """Read by extension (``.stl``, ``.ply``, ``.obj``)."""
    fmt = _format_of(path, format, "read_mesh")
    return {"stl": read_stl, "ply": read_ply, "obj": read_obj}[fmt](path)

"""Marching cubes (C++ core) and small mesh utilities."""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .. import _core

__all__ = ["Mesh", "marching_cubes", "largest_component", "connected_components",
           "remove_unreferenced", "face_normals", "surface_area", "edge_face_counts",
           "euler_characteristic", "is_watertight", "sample_surface"]


@dataclass
class Mesh:
    """A triangle mesh: ``vertices`` (V,3) float32, ``faces`` (F,3) int32 (counter-
    clockwise seen from outside: right-hand normals point outward), ``normals``
    (V,3) float32 unit outward normals or None, ``colors`` (V,C) float32 (RGB in
    [0, 1] for the scene pipeline) or None.

    Unpacks like scikit-image's result: ``verts, faces, normals = mesh``."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: Optional[np.ndarray] = None
    colors: Optional[np.ndarray] = None

    def __iter__(self):
        return iter((self.vertices, self.faces, self.normals))

    def __len__(self):
        return 3

    @property
    def num_vertices(self) -> int:
        return int(len(self.vertices))

    @property
    def num_faces(self) -> int:
        return int(len(self.faces))

    def is_empty(self) -> bool:
        return len(self.faces) == 0

    def __repr__(self) -> str:
        extra = []
        if self.normals is not None:
            extra.append("normals")
        if self.colors is not None:
            extra.append(f"colors[{self.colors.shape[1]}]")
        return (f"Mesh({self.num_vertices} vertices, {self.num_faces} faces"
                + (", " + ", ".join(extra) if extra else "") + ")")


def _triple(name: str, value, positive: bool) -> Tuple[float, float, float]:
    if isinstance(value, numbers.Real):
        value = (value, value, value)
    try:
        t = tuple(float(x) for x in value)
    except (TypeError, ValueError):
        raise TypeError(f"marching_cubes: {name} must be a number or 3 numbers, got "
                        f"{value!r}") from None
    if len(t) != 3:
        raise ValueError(f"marching_cubes: {name} must have 3 entries (one per axis), got {len(t)}")
    if not all(np.isfinite(t)) or (positive and not all(x > 0 for x in t)):
        what = "positive finite" if positive else "finite"
        raise ValueError(f"marching_cubes: {name} must be {what} numbers, got {t}")
    return t


def marching_cubes(volume, level: Optional[float] = None,
                   spacing: Union[float, Sequence[float]] = (1.0, 1.0, 1.0),
                   origin: Union[float, Sequence[float]] = (0.0, 0.0, 0.0), *,
                   inside: str = "above", mask=None, colors=None, pad: bool = False,
                   normals: bool = True) -> Mesh:
    """Iso-surface of a 3-D scalar field as a shared-vertex triangle mesh.

    Parameters
    ----------
    volume: (X, Y, Z) array of numbers (converted to float32). Vertex
        ``(i, j, k)`` of the grid sits at ``origin + (i, j, k) * spacing`` (the
        same axis order as ``volume``'s, like scikit-image).
    level: iso value; default the middle of the volume's range (within the mask).
        A level outside the field's range gives an empty mesh (no error), except
        with ``pad=True``, which then closes the grid's boundary if all inside.
    spacing, origin: voxel size and position of grid point (0, 0, 0), per axis.
    inside: ``"above"`` (default: values greater than ``level`` are inside, as
        for densities/opacity) or ``"below"`` (signed distances, TSDFs). Faces are
        wound and normals point from inside to outside, i.e. toward decreasing
        values for ``"above"``. (scikit-image winds the other way round.)
    mask: optional bool array like ``volume``: a cell is meshed only when its 8
        corners are set; values outside the mask are ignored (may be NaN).
    colors: optional (X, Y, Z) or (X, Y, Z, C) array sampled per vertex (linear
        interpolation along the crossed edge) into ``Mesh.colors`` (V, C).
    pad: surround the grid with one layer of outside values, so a surface that
        touches the grid's boundary is closed (by a flat cap half a voxel outside).
    normals: compute per-vertex normals from the field's gradient (central
        differences, interpolated along the edge); vertices where the gradient
        vanishes get the area-weighted mean of their faces' normals.

    Returns a :class:`Mesh` (``verts, faces, normals = mesh`` unpacks).

    The surface is watertight and manifold where it is closed: vertices belong to
    grid edges (shared, no welding), ambiguous faces are decided by the
    asymptotic decider identically from both sides, and triangulations never put
    a diagonal inside a cube face. Multithreaded (``splatcore.set_num_threads``).
    Raises ValueError for a volume that is not 3-D, NaN/inf values (inside the
    mask), bad spacing, or mismatched mask / colors.

    A ``volume`` Tensor on a GPU device (``"cuda"``, ``"metal"``, ``"sim"``) is
    meshed there: classify, prefix sums and emit on the device, with the CPU's
    tables, decider and vertex numbering, so the mesh is the CPU's exactly (same
    vertices in the same order, same faces). ``mask`` and ``colors`` may then be
    Tensors on that device or arrays (uploaded); the returned Mesh holds NumPy
    arrays, as on the CPU.
    """
    if isinstance(volume, _core.Tensor) and volume.device != "cpu":
        return _marching_cubes_device(volume, level, spacing, origin, inside, mask, colors,
                                      pad, normals)
    try:
        vol = np.asarray(volume)
    except Exception:
        raise TypeError(f"marching_cubes: volume must be an array, got {type(volume).__name__}") \
            from None
    if vol.dtype.kind not in "fiub":
        raise TypeError(f"marching_cubes: volume must hold numbers, got dtype {vol.dtype}")
    if vol.ndim != 3:
        raise ValueError(f"marching_cubes: volume must be a 3-D array, got shape {vol.shape}")
    vol = np.ascontiguousarray(vol, dtype=np.float32)
    if inside not in ("above", "below"):
        raise ValueError(f"marching_cubes: inside must be 'above' or 'below', got {inside!r}")
    sp = _triple("spacing", spacing, positive=True)
    org = _triple("origin", origin, positive=False)
    m = None
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != vol.shape:
            raise ValueError(f"marching_cubes: mask must have the volume's shape {vol.shape}, "
                             f"got {m.shape}")
        m = np.ascontiguousarray(m, dtype=bool).view(np.uint8)
    col = None
    if colors is not None:
        col = np.asarray(colors)
        if col.shape[:3] != vol.shape or col.ndim not in (3, 4):
            raise ValueError(f"marching_cubes: colors must have shape {vol.shape} or "
                             f"{vol.shape + ('C',)}, got {col.shape}")
        if col.ndim == 3:
            col = col[..., None]
        col = np.ascontiguousarray(col, dtype=np.float32)
    if level is None:
        vals = vol if m is None else vol[m.view(bool)]
        finite = vals[np.isfinite(vals)]
        if finite.size == 0:
            raise ValueError("marching_cubes: volume has no finite values"
                             + (" inside the mask" if m is not None else ""))
        if finite.size != vals.size:
            raise ValueError(f"marching_cubes: volume has {vals.size - finite.size} NaN or "
                             f"infinite values{' inside the mask' if m is not None else ''}; "
                             "mask them out (mask=...) or replace them before meshing")
        level = 0.5 * (float(finite.min()) + float(finite.max()))
    if not isinstance(level, numbers.Real) or not np.isfinite(float(level)):
        raise ValueError(f"marching_cubes: level must be a finite number, got {level!r}")
    sign = 1.0 if inside == "above" else -1.0
    return _mesh_from(_core._marching_cubes(vol, float(level), sign, sp, org, m, col, bool(pad),
                                            bool(normals)), m is not None, normals)


def _mesh_from(arrays, masked, normals):
    """The Mesh of the core's (vertices, faces, normals, colours): unreferenced
    vertices dropped after a mask, zero normals filled."""
    mesh = Mesh(*arrays)
    if masked:
        mesh = remove_unreferenced(mesh)
    if normals and len(mesh.vertices):
        _fill_zero_normals(mesh)
    return mesh


def _on_device(name: str, x, device: str):
    """x (a Tensor or an array) as a Tensor on `device`; a Tensor elsewhere raises."""
    if isinstance(x, _core.Tensor):
        if x.device != device:
            raise ValueError(f"marching_cubes: {name} is on {x.device}, the volume on {device}; "
                             "put both on one device")
        return x
    return _core.Tensor(np.ascontiguousarray(x), None).to(device=device)


def _marching_cubes_device(volume, level, spacing, origin, inside, mask, colors, pad,
                           normals) -> Mesh:
    dev = volume.device
    if volume.dtype not in ("float32", "float64", "float16", "bfloat16", "int32", "int64",
                            "uint8", "uint32", "bool"):
        raise TypeError(f"marching_cubes: volume must hold numbers, got dtype {volume.dtype}")
    if volume.ndim != 3:
        raise ValueError(f"marching_cubes: volume must be a 3-D array, got shape {volume.shape}")
    vol = volume.detach() if volume.requires_grad else volume
    if vol.dtype != "float32":
        vol = vol.astype("float32")
    if inside not in ("above", "below"):
        raise ValueError(f"marching_cubes: inside must be 'above' or 'below', got {inside!r}")
    sp = _triple("spacing", spacing, positive=True)
    org = _triple("origin", origin, positive=False)
    m = None
    if mask is not None:
        m = _on_device("mask", mask, dev)
        if tuple(m.shape) != tuple(vol.shape):
            raise ValueError(f"marching_cubes: mask must have the volume's shape {tuple(vol.shape)}, "
                             f"got {tuple(m.shape)}")
        if m.dtype not in ("bool", "uint8"):
            m = m != 0
    col = None
    if colors is not None:
        col = _on_device("colors", colors, dev)
        shape = tuple(col.shape)
        if shape[:3] != tuple(vol.shape) or col.ndim not in (3, 4):
            raise ValueError(f"marching_cubes: colors must have shape {tuple(vol.shape)} or "
                             f"{tuple(vol.shape) + ('C',)}, got {shape}")
        if col.ndim == 3:
            col = col.reshape(*shape, 1)
        if col.dtype != "float32":
            col = col.astype("float32")
    if level is None:
        any_finite, non_finite, lo, hi = _core._marching_cubes_device_range(vol, m)
        where = " inside the mask" if m is not None else ""
        if non_finite:
            raise ValueError(f"marching_cubes: volume has {non_finite} NaN or infinite "
                             f"values{where}; mask them out (mask=...) or replace them before meshing")
        if not any_finite:
            raise ValueError("marching_cubes: volume has no finite values" + where)
        level = 0.5 * (float(lo) + float(hi))
    if not isinstance(level, numbers.Real) or not np.isfinite(float(level)):
        raise ValueError(f"marching_cubes: level must be a finite number, got {level!r}")
    sign = 1.0 if inside == "above" else -1.0
    return _mesh_from(_core._marching_cubes_device(vol, float(level), sign, sp, org, m, col, bool(pad),
                                                   bool(normals)), m is not None, normals)


def face_normals(vertices, faces, unit: bool = True) -> np.ndarray:
    """(F,3) right-hand normals of the faces (unit, or with length 2 x area)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces)
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    if unit:
        ln = np.linalg.norm(n, axis=1, keepdims=True)
        n = np.divide(n, ln, out=np.zeros_like(n), where=ln > 0)
    return n


def _fill_zero_normals(mesh: Mesh) -> None:
    nrm = mesh.normals
    zero = ~np.any(nrm != 0, axis=1)
    if not zero.any() or not len(mesh.faces):
        return
    fn = face_normals(mesh.vertices, mesh.faces, unit=False)
    acc = np.zeros((len(mesh.vertices), 3))
    for k in range(3):
        for d in range(3):
            acc[:, d] += np.bincount(mesh.faces[:, k], weights=fn[:, d],
                                     minlength=len(mesh.vertices))
    a = acc[zero]
    ln = np.linalg.norm(a, axis=1, keepdims=True)
    nrm[zero] = np.divide(a, ln, out=np.zeros_like(a), where=ln > 0).astype(np.float32)


def surface_area(vertices, faces) -> float:
    """Total area of the triangles."""
    if len(faces) == 0:
        return 0.0
    return float(0.5 * np.linalg.norm(face_normals(vertices, faces, unit=False), axis=1).sum())


def remove_unreferenced(mesh: Mesh) -> Mesh:
    """The mesh without vertices that no face uses (indices remapped)."""
    nv = mesh.num_vertices
    used = np.zeros(nv, bool)
    used[mesh.faces.reshape(-1)] = True
    if used.all():
        return mesh
    remap = np.cumsum(used, dtype=np.int64) - 1
    faces = remap[mesh.faces].astype(np.int32)
    pick = lambda a: None if a is None else np.ascontiguousarray(a[used])  # noqa: E731
    return Mesh(np.ascontiguousarray(mesh.vertices[used]), faces, pick(mesh.normals),
                pick(mesh.colors))


def connected_components(mesh: Mesh) -> Tuple[np.ndarray, int]:
    """(labels per vertex (V,) int32, count): vertices joined by face edges."""
    faces = np.ascontiguousarray(mesh.faces, dtype=np.int32).reshape(-1, 3)
    labels, count = _core._mesh_components(faces, int(mesh.num_vertices))
    return labels, int(count)


def largest_component(mesh: Mesh, by: str = "faces") -> Mesh:
    """The connected component with the most faces (``by="faces"``) or the largest
    area (``by="area"``); an empty mesh is returned unchanged."""
    if by not in ("faces", "area"):
        raise ValueError(f"largest_component: by must be 'faces' or 'area', got {by!r}")
    if mesh.num_faces == 0:
        return mesh
    labels, count = connected_components(mesh)
    if count <= 1:
        return remove_unreferenced(mesh)
    flab = labels[mesh.faces[:, 0]]
    if by == "faces":
        score = np.bincount(flab, minlength=count).astype(np.float64)
    else:
        area = 0.5 * np.linalg.norm(face_normals(mesh.vertices, mesh.faces, unit=False), axis=1)
        score = np.bincount(flab, weights=area, minlength=count)
    keep = flab == int(np.argmax(score))
    return remove_unreferenced(Mesh(mesh.vertices, np.ascontiguousarray(mesh.faces[keep]),
                                    mesh.normals, mesh.colors))


def edge_face_counts(faces) -> np.ndarray:
    """For every undirected edge of the mesh, the number of faces that use it."""
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    if len(f) == 0:
        return np.zeros(0, np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    e.sort(axis=1)
    key = e[:, 0] * (int(f.max()) + 1) + e[:, 1]
    _, counts = np.unique(key, return_counts=True)
    return counts


def is_watertight(mesh: Mesh) -> bool:
    """Every edge is shared by exactly two faces (closed, edge-manifold), and the
    two faces use it in opposite directions (consistently oriented)."""
    f = np.asarray(mesh.faces, np.int64).reshape(-1, 3)
    if len(f) == 0:
        return False
    if not np.all(edge_face_counts(f) == 2):
        return False
    d = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = d[:, 0] * (int(f.max()) + 1) + d[:, 1]
    return len(np.unique(key)) == len(key)  # no directed edge twice


def euler_characteristic(mesh: Mesh) -> int:
    """V - E + F (2 for a sphere, 0 for a torus; one per closed component summed)."""
    return int(mesh.num_vertices - len(edge_face_counts(mesh.faces)) + mesh.num_faces)


def sample_surface(mesh: Mesh, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points spread uniformly by area over the triangles (float64)."""
    if mesh.num_faces == 0:
        return np.zeros((0, 3))
    rng = np.random.default_rng(seed)
    v = np.asarray(mesh.vertices, np.float64)
    f = mesh.faces
    area = 0.5 * np.linalg.norm(face_normals(v, f, unit=False), axis=1)
    tot = area.sum()
    p = area / tot if tot > 0 else np.full(len(f), 1.0 / len(f))
    idx = rng.choice(len(f), size=int(n), p=p)
    r1, r2 = rng.random(int(n)), rng.random(int(n))
    s = np.sqrt(r1)
    a, b, c = v[f[idx, 0]], v[f[idx, 1]], v[f[idx, 2]]
    return (1 - s)[:, None] * a + (s * (1 - r2))[:, None] * b + (s * r2)[:, None] * c

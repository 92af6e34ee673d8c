"""What `splatcore view PATH` shows, found from PATH: a scene file (.ply / .spz /
.splat), a mesh (.stl / .obj / mesh .ply), a training or scan output folder
(scene.ply, cameras.json, points.ply, images/) or a COLMAP dataset folder."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

__all__ = ["ViewContent", "load_content", "thumbnail", "MAX_THUMBNAILS"]

MAX_THUMBNAILS = 200     # camera images shown on frustums (the first ones)
THUMB_SIZE = 160         # long side of those images, pixels


@dataclass
class ViewContent:
    scene: Any = None                               # SplatData or None
    cameras: List[Dict[str, Any]] = field(default_factory=list)   # viewmat, K, width, height, name
    images: Dict[str, np.ndarray] = field(default_factory=dict)   # name -> (h, w, 3) uint8
    points: Optional[tuple] = None                  # (xyz (P,3), rgb (P,3) uint8)
    mesh: Any = None                                # splatcore.mesh.Mesh or None
    sources: List[str] = field(default_factory=list)

    def empty(self) -> bool:
        return self.scene is None and self.mesh is None and self.points is None \
            and not self.cameras


def thumbnail(image) -> np.ndarray:
    """(h, w, 3) uint8 at most THUMB_SIZE on the long side (float [0,1] or uint8 in)."""
    a = np.asarray(image)
    step = max(1, int(np.ceil(max(a.shape[:2]) / THUMB_SIZE)))
    a = a[::step, ::step, :3]
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def _ply_kind(path: str) -> str:
    from ..io.ply import read_ply_header

    hdr = read_ply_header(path)
    names = {e.name for e in hdr.elements}
    vertex = next((e for e in hdr.elements if e.name == "vertex"), None)
    props = {q[0] for q in vertex.properties} if vertex else set()
    if "f_dc_0" in props and "opacity" in props:
        return "scene"
    if "face" in names:
        return "mesh"
    return "points"


def _add_file(c: ViewContent, p: str) -> None:
    ext = os.path.splitext(p)[1].lower()
    kind = {".spz": "scene", ".splat": "scene", ".stl": "mesh", ".obj": "mesh"}.get(ext)
    if ext == ".ply":
        kind = _ply_kind(p)
    if kind is None:
        raise ValueError(f"view: cannot show {p!r}: expected a scene (.ply, .spz, .splat), a mesh "
                         f"(.stl, .obj, .ply) or a folder")
    if kind == "scene":
        from ..io.scene_file import read_scene

        c.scene = read_scene(p)
    elif kind == "mesh":
        from ..mesh.io import read_mesh

        c.mesh = read_mesh(p)
    else:
        from ..io.ply import read_point_ply

        pc = read_point_ply(p)
        rgb = pc.rgb if pc.rgb is not None else np.full((len(pc.xyz), 3), 200, np.uint8)
        c.points = (pc.xyz.astype(np.float32), rgb)
    c.sources.append(p)


def _add_cameras(c: ViewContent, folder: str) -> None:
    from ..mesh.fields import load_cameras

    has_json = os.path.isfile(os.path.join(folder, "cameras.json"))
    has_sparse = any(os.path.isdir(os.path.join(folder, d)) for d in ("sparse/0", "sparse"))
    if not (has_json or has_sparse):
        return
    c.cameras = load_cameras(folder)
    c.sources.append(os.path.join(folder, "cameras.json" if has_json else "sparse"))
    images = os.path.join(folder, "images")
    if os.path.isdir(images):
        from ..io.images import load_image

        for cam in c.cameras[:MAX_THUMBNAILS]:
            p = os.path.join(images, cam["name"])
            if cam["name"] and os.path.isfile(p):
                try:
                    c.images[cam["name"]] = thumbnail(load_image(p))
                except (OSError, ValueError):
                    pass  # a frustum without its picture
    if c.points is None and has_sparse and not has_json:
        from ..io.colmap import read_model

        pts = read_model(folder).points
        if pts is not None and len(pts.xyz):
            c.points = (np.asarray(pts.xyz, np.float32), np.asarray(pts.rgb, np.uint8))


def load_content(path, mesh=None) -> ViewContent:
    """Everything to show for `path` (and an optional extra mesh file)."""
    p = os.fspath(path)
    c = ViewContent()
    if os.path.isdir(p):
        for name in ("scene.ply", "scene.spz", "scene.splat", "points.ply"):
            f = os.path.join(p, name)
            if os.path.isfile(f) and (name != "points.ply" or c.points is None):
                _add_file(c, f)
        _add_cameras(c, p)
    elif os.path.isfile(p):
        _add_file(c, p)
        folder = os.path.dirname(os.path.abspath(p))
        if c.scene is not None:
            _add_cameras(c, folder)
    else:
        raise FileNotFoundError(f"view: {p!r} does not exist")
    if mesh is not None:
        if not os.path.isfile(os.fspath(mesh)):
            raise FileNotFoundError(f"view: mesh file {os.fspath(mesh)!r} does not exist")
        _add_file(c, os.fspath(mesh))
    if c.empty():
        raise ValueError(f"view: nothing to show in {p!r}: expected scene.ply (or .spz / .splat), "
                         f"cameras.json, points.ply or a COLMAP model (sparse/0)")
    return c

"""Scene -> mesh file: the pipeline behind ``splatcore export``."""
from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional, Tuple


from .fields import load_cameras, load_scene_arrays, opacity_field, scene_bounds, tsdf_fusion
from .io import _format_of, write_mesh
from .mc import Mesh, largest_component, marching_cubes

__all__ = ["export_mesh", "mesh_scene", "find_cameras"]


def find_cameras(scene_path) -> Optional[str]:
    """The ``cameras.json`` that training wrote next to ``scene.ply``, if any."""
    if not isinstance(scene_path, (str, os.PathLike)):
        return None
    p = os.path.join(os.path.dirname(os.path.abspath(os.fspath(scene_path))), "cameras.json")
    return p if os.path.isfile(p) else None


def mesh_scene(scene, method: str = "tsdf", cameras=None, resolution: int = 256,
               voxel_size: Optional[float] = None, bounds=None, level: Optional[float] = None,
               keep_largest: bool = False, colors: bool = True, progress: bool = True,
               tsdf_options: Optional[Dict[str, Any]] = None,
               opacity_options: Optional[Dict[str, Any]] = None) -> Tuple[Mesh, Dict[str, Any]]:
    """Mesh a Gaussian scene; returns (mesh, info).

    ``method``: ``"tsdf"`` (fuse the expected-depth renders of ``cameras``; the
    default and the better surface) or ``"opacity"`` (iso-surface of the
    Gaussians' opacity field at ``level``, default 0.5; cameras optional, only
    used for the bounds). ``cameras``: see :func:`splatcore.mesh.load_cameras`;
    for a scene path, the ``cameras.json`` next to it is used when not given.
    ``resolution`` voxels along the longest side of the bounds unless
    ``voxel_size``; ``bounds`` = (lo, hi) or automatic (:func:`scene_bounds`).
    ``keep_largest``: keep only the largest connected component."""
    if method not in ("tsdf", "opacity"):
        raise ValueError(f"method must be 'tsdf' or 'opacity', got {method!r}")
    if cameras is None:
        cameras = find_cameras(scene)
    info: Dict[str, Any] = {"method": method}
    t0 = time.perf_counter()
    s = load_scene_arrays(scene)
    cams = load_cameras(cameras) if cameras is not None else None
    if method == "tsdf" and cams is None:
        raise ValueError("method 'tsdf' needs cameras: pass cameras (--cameras DATA: a COLMAP "
                         "dataset, a cameras.json or a training output folder) or use method "
                         "'opacity'")
    if bounds is None:
        bounds = scene_bounds(s, cams)
    if method == "tsdf":
        timings: Dict[str, float] = {}
        vol = tsdf_fusion(s, cams, bounds, voxel_size, resolution, colors=colors,
                          progress=progress, timings=timings, **(tsdf_options or {}))
        info.update(timings)
        mask = vol.weight > 0
        lev = 0.0 if level is None else float(level)
    else:
        vol = opacity_field(s, bounds, voxel_size, resolution, colors=colors,
                            level=0.5 if level is None else float(level),
                            **(opacity_options or {}))
        mask = None
        lev = vol.level
    t1 = time.perf_counter()
    mesh = marching_cubes(vol.values, lev, vol.voxel_size, tuple(vol.origin), inside=vol.inside,
                          mask=mask, colors=vol.colors, pad=method == "opacity")
    t2 = time.perf_counter()
    if keep_largest:
        mesh = largest_component(mesh)
    info.update(gaussians=len(s), cameras=0 if cams is None else len(cams),
                grid=list(vol.shape), voxel_size=float(vol.voxel_size),
                bounds=[list(map(float, bounds[0])), list(map(float, bounds[1]))],
                field_s=t1 - t0, marching_cubes_s=t2 - t1, vertices=mesh.num_vertices,
                faces=mesh.num_faces)
    return mesh, info


def export_mesh(scene, output, method: str = "tsdf", cameras=None, resolution: int = 256,
                voxel_size: Optional[float] = None, bounds=None, level: Optional[float] = None,
                keep_largest: bool = False, binary: bool = True, colors: bool = True,
                progress: bool = True, **kw) -> Tuple[Mesh, Dict[str, Any]]:
    """Mesh a scene (:func:`mesh_scene`) and write it to ``output`` (.stl, .ply or
    .obj, atomically). Raises ValueError when no surface is found."""
    _format_of(output, None, "export_mesh")  # fail before the work on a bad name
    d = os.path.dirname(os.path.abspath(os.fspath(output)))
    if not os.path.isdir(d):
        raise FileNotFoundError(f"output directory does not exist: {d!r}")
    mesh, info = mesh_scene(scene, method, cameras, resolution, voxel_size, bounds, level,
                            keep_largest, colors, progress, **kw)
    if mesh.is_empty():
        raise ValueError(f"no surface found ({method} field, grid {info['grid']}): check the "
                         f"cameras / bounds, or try the other --method or another --level")
    write_mesh(output, mesh, binary=binary, colors=colors)
    info["output"] = os.fspath(output)
    return mesh, info

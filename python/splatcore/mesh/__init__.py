"""Meshes from volumes and Gaussian scenes.

* :func:`marching_cubes` — iso-surface of a 3-D array (C++ core, multithreaded):
  shared vertices, watertight where closed, outward winding and normals.
* fields of a scene — :func:`tsdf_fusion` (rendered expected depth fused into a
  TSDF with colours) and :func:`opacity_field` (sum of the Gaussians);
  :func:`scene_bounds`, :func:`load_cameras`.
* :func:`largest_component`, :func:`is_watertight`, :func:`euler_characteristic`,
  :func:`surface_area`, :func:`sample_surface`.
* files — :func:`write_mesh` / :func:`read_mesh` (binary STL, ASCII / binary PLY
  with colours and normals, OBJ with optional vertex colours), atomic writes.
* :func:`export_mesh` — scene to mesh file (``splatcore export``).
"""
from .export import export_mesh, find_cameras, mesh_scene
from .fields import (SceneArrays, VoxelVolume, auto_render_scale, load_cameras,
                     load_scene_arrays, make_grid, opacity_field, render_depth, scene_bounds,
                     tsdf_fusion)
from .io import read_mesh, read_obj, read_ply, read_stl, write_mesh, write_obj, write_ply, write_stl
from .mc import (Mesh, connected_components, edge_face_counts, euler_characteristic,
                 face_normals, is_watertight, largest_component, marching_cubes,
                 remove_unreferenced, sample_surface, surface_area)

__all__ = [
    "Mesh", "marching_cubes", "largest_component", "connected_components", "remove_unreferenced",
    "face_normals", "surface_area", "edge_face_counts", "euler_characteristic", "is_watertight",
    "sample_surface",
    "SceneArrays", "VoxelVolume", "load_scene_arrays", "load_cameras", "scene_bounds",
    "make_grid", "render_depth", "auto_render_scale", "tsdf_fusion", "opacity_field",
    "write_mesh", "read_mesh", "write_stl", "read_stl", "write_ply", "read_ply", "write_obj",
    "read_obj",
    "export_mesh", "mesh_scene", "find_cameras",
]

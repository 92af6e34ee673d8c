"""File input/output: COLMAP models, photos, 3DGS / point-cloud PLY, datasets.

Pure Python + NumPy (+ Pillow for photos, imported lazily). Readers bounds-check
everything they read and raise ValueError naming the file; writers write a
temporary file next to the target and rename it (:mod:`splatcore.io.atomic`).
"""
from .atomic import atomic_write, atomic_write_bytes, atomic_write_text
from .colmap import (
    CAMERA_MODELS, Camera, ColmapModel, Image, Points, find_sparse_dir, qvec_to_rotmat,
    read_cameras, read_images, read_model, read_points3D, rotmat_to_qvec, write_cameras,
    write_images, write_model, write_points3D,
)
from .dataset import ColmapDataset, DatasetItem, split_indices
from .images import (
    ImageSource, downscaled_size, image_size, load_image, load_image_for_camera, load_source,
    resize_image, resolve_image,
)
from .ply import (
    PlyHeader, PointCloud, SplatData, read_ply_header, read_ply_vertices, read_point_ply,
    read_splat_ply, splat_property_names, write_point_ply, write_splat_ply,
)

__all__ = [
    "atomic_write", "atomic_write_bytes", "atomic_write_text",
    "CAMERA_MODELS", "Camera", "ColmapModel", "Image", "Points", "find_sparse_dir",
    "qvec_to_rotmat", "rotmat_to_qvec", "read_cameras", "read_images", "read_model",
    "read_points3D", "write_cameras", "write_images", "write_model", "write_points3D",
    "ColmapDataset", "DatasetItem", "split_indices",
    "ImageSource", "downscaled_size", "image_size", "load_image", "load_image_for_camera",
    "load_source", "resize_image", "resolve_image",
    "PlyHeader", "PointCloud", "SplatData", "read_ply_header", "read_ply_vertices",
    "read_point_ply", "read_splat_ply", "splat_property_names", "write_point_ply",
    "write_splat_ply",
]

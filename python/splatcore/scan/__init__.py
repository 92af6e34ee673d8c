"""splatcore.scan: photos without poses -> cameras (MASt3R + global alignment),
a fused point cloud and trained 3D Gaussians (``splatcore scan``).

    from splatcore.scan import scan
    res = scan("photos/", "out/", weights="model.safetensors", iters=7000)
    res.alignment.K, res.alignment.cam_to_world, res.report["alignment"]

Modules: :mod:`.pipeline` (the command's stages), :mod:`.points` (pointmaps ->
points, the co-visibility test), :mod:`.views` (training views, COLMAP export),
:mod:`.poses` (joint pose refinement), :mod:`.report` (residuals).
"""
from .pipeline import (  # noqa: F401
    DEFAULT_MAX_POINTS, PHOTO_EXTENSIONS, MissingWeightsError, ScanResult, list_photos,
    load_photos, resolve_weights, run_mast3r, scan, scan_train_config,
)
from .points import (  # noqa: F401
    FusedPoints, candidate_masks, covisibility_mask, fuse_points, neighbours_from_pairs,
)
from .views import image_names, make_views, scene_extent, split_views, write_colmap  # noqa: F401

__all__ = [
    "scan", "ScanResult", "MissingWeightsError", "resolve_weights", "list_photos", "load_photos",
    "run_mast3r", "scan_train_config", "PHOTO_EXTENSIONS", "DEFAULT_MAX_POINTS", "FusedPoints",
    "candidate_masks", "covisibility_mask", "fuse_points", "neighbours_from_pairs",
    "image_names", "make_views", "scene_extent", "split_views", "write_colmap",
]

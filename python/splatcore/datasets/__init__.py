"""Datasets: the embedded synthetic demo scene (no download)."""
from .synthetic import (  # noqa: F401
    PointCloud,
    Scene,
    SyntheticDataset,
    View,
    make_cameras,
    make_dataset,
    make_scene,
    render,
)

__all__ = ["PointCloud", "Scene", "SyntheticDataset", "View", "make_cameras", "make_dataset",
           "make_scene", "render"]

"""splatcore.align: global alignment of pairwise pointmaps (photos without poses).

MASt3R predicts, for each image pair (i, j), both images' 3-D points in camera i's
frame. The global alignment (DUSt3R's dense point-cloud optimisation, in C++)
turns a graph of such pairs into one scene: per image the intrinsics, the
camera-to-world pose and dense world points with confidences.

    from splatcore.align import make_pairs, default_scene_graph, global_alignment
    pairs = make_pairs(n, default_scene_graph(n))
    outputs = [model.infer_pair(img[i], img[j]) for i, j in pairs]
    result = global_alignment(outputs, pairs)

``splatcore.align.synthetic`` makes pairwise pointmaps from known cameras (with
noise, per-pair scale and rigid errors, low-confidence outliers) to test it.
"""
from .alignment import AlignmentResult, conf_weight, global_alignment
from .geometry import (
    connected_components, dlt_camera, estimate_focal, focal_base, max_spanning_tree,
    quat_to_rotmat, rotmat_to_quat, weighted_procrustes,
)
from .pairs import SCENE_GRAPHS, default_scene_graph, make_pairs, parse_scene_graph

__all__ = [
    "AlignmentResult", "global_alignment", "conf_weight", "make_pairs", "default_scene_graph",
    "parse_scene_graph", "SCENE_GRAPHS", "estimate_focal", "weighted_procrustes", "focal_base",
    "dlt_camera", "connected_components", "max_spanning_tree", "quat_to_rotmat",
    "rotmat_to_quat",
]

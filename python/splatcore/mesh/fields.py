"""Scalar fields of a Gaussian scene for meshing: TSDF fusion of rendered depth,
and the Gaussians' opacity field.

* :func:`tsdf_fusion` renders the expected depth (``"RGB+ED"``: colour and
  depth / alpha) from each camera with the rasterizer and fuses it into a
  truncated signed distance volume with colours (C++ per-voxel kernel). Pixels
  whose alpha is below ``alpha_min`` show no surface; with ``carve`` the voxels
  seen through them are free space.
* :func:`opacity_field` sums ``opacity * exp(-1/2 d^T Sigma^-1 d)`` over the
  Gaussians on a grid, each voxel only over the Gaussians whose cut-off
  ellipsoid reaches its 8^3 block (spatial binning in C++), with the
  contribution-weighted DC colour. ``solid=True`` fills enclosed voids, so a
  hollow shell of Gaussians meshes as one outer surface.

Grids are ``(X, Y, Z)`` C-order volumes; voxel ``(i, j, k)`` is the world point
``origin + voxel_size * (i, j, k)``. Bounds come from the Gaussians (robust
percentiles of the opaque ones, restricted to what the cameras see) unless given.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import _core
from .._autograd import no_grad

__all__ = ["SceneArrays", "VoxelVolume", "load_scene_arrays", "load_cameras", "scene_bounds",
           "make_grid", "render_depth", "auto_render_scale", "tsdf_fusion", "opacity_field"]

SH_C0 = 0.28209479177387814
PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class SceneArrays:
    """Activated Gaussian parameters (float32): means (N,3), quats wxyz unit (N,4),
    scales (N,3), opacities (N,) in (0,1), colors (N,3) DC colour in [0,1]; plus
    the raw SH (N,K,3) and degree for rendering."""

    means: np.ndarray
    quats: np.ndarray
    scales: np.ndarray
    opacities: np.ndarray
    colors: np.ndarray
    sh: np.ndarray
    sh_degree: int

    def __len__(self):
        return len(self.means)


@dataclass
class VoxelVolume:
    """A field on a grid: ``values`` (X,Y,Z) float32, ``origin`` (3,), ``voxel_size``,
    ``colors`` (X,Y,Z,3) or None, ``weight`` (X,Y,Z) (TSDF: 0 = never observed) or
    None, ``level`` / ``inside`` for :func:`splatcore.mesh.marching_cubes`."""

    values: np.ndarray
    origin: np.ndarray
    voxel_size: float
    colors: Optional[np.ndarray] = None
    weight: Optional[np.ndarray] = None
    level: float = 0.0
    inside: str = "below"

    @property
    def shape(self):
        return self.values.shape


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def load_scene_arrays(scene) -> SceneArrays:
    """A scene as activated arrays: a path to a 3DGS ``.ply``, a
    :class:`splatcore.gaussians.Gaussians`, a :class:`splatcore.io.ply.SplatData`, or
    a SceneArrays (returned as is)."""
    if isinstance(scene, SceneArrays):
        return scene
    if isinstance(scene, (str, os.PathLike)):
        from ..io.ply import read_splat_ply

        p = os.fspath(scene)
        if not os.path.isfile(p):
            raise FileNotFoundError(f"scene file not found: {p!r}")
        d = read_splat_ply(p)
        means, logs, quats, logits = d.means, d.scales_log, d.quats_wxyz, d.opacity_logits
        sh = np.concatenate([d.sh_dc[:, None, :], d.sh_rest], axis=1)
    elif hasattr(scene, "means") and hasattr(scene, "shN"):  # Gaussians
        a = scene.numpy()
        means, logs, quats, logits = a["means"], a["scales"], a["quats"], a["opacities"]
        sh = np.concatenate([a["sh0"], a["shN"]], axis=1)
    elif hasattr(scene, "scales_log"):  # SplatData
        means, logs, quats, logits = scene.means, scene.scales_log, scene.quats_wxyz, \
            scene.opacity_logits
        sh = np.concatenate([scene.sh_dc[:, None, :], scene.sh_rest], axis=1)
    else:
        raise TypeError(f"scene must be a .ply path, Gaussians, SplatData or SceneArrays, got "
                        f"{type(scene).__name__}")
    means = np.asarray(means, np.float32).reshape(-1, 3)
    q = np.asarray(quats, np.float64).reshape(-1, 4)
    qn = np.linalg.norm(q, axis=1, keepdims=True)
    q = np.divide(q, qn, out=np.tile([1.0, 0, 0, 0], (len(q), 1)), where=qn > 0)
    sh = np.asarray(sh, np.float32)
    k = sh.shape[1]
    deg = int(round(np.sqrt(k))) - 1
    colors = np.clip(SH_C0 * sh[:, 0, :].astype(np.float64) + 0.5, 0.0, 1.0)
    arrays = SceneArrays(
        means=np.ascontiguousarray(means),
        quats=np.ascontiguousarray(q, dtype=np.float32),
        scales=np.ascontiguousarray(np.exp(np.asarray(logs, np.float64)), dtype=np.float32),
        opacities=np.ascontiguousarray(_sigmoid(logits).reshape(-1), dtype=np.float32),
        colors=np.ascontiguousarray(colors, dtype=np.float32),
        sh=np.ascontiguousarray(sh), sh_degree=deg)
    if len(arrays) == 0:
        raise ValueError("the scene has no Gaussians")
    finite = np.isfinite(arrays.means).all(1) & np.isfinite(arrays.scales).all(1)
    if not finite.all():
        raise ValueError(f"the scene has {int((~finite).sum())} Gaussians with NaN/inf means or "
                         f"scales")
    return arrays


def _camera_dict(viewmat, K, width, height, name=""):
    return {"viewmat": np.asarray(viewmat, np.float32).reshape(4, 4),
            "K": np.asarray(K, np.float32).reshape(3, 3), "width": int(width),
            "height": int(height), "name": name}


def load_cameras(source, split: str = "all") -> List[Dict[str, Any]]:
    """Cameras as dicts (viewmat (4,4) world-to-camera, K (3,3), width, height,
    name) from: a list of views (dicts or objects with those keys / attributes),
    a ``cameras.json`` written by training (or the training folder holding it;
    ``split`` "train", "test" or "all"), or a COLMAP dataset folder (``sparse/0``
    or ``sparse``; images are not needed)."""
    if isinstance(source, (str, os.PathLike)):
        p = os.fspath(source)
        if os.path.isdir(p) and os.path.isfile(os.path.join(p, "cameras.json")):
            p = os.path.join(p, "cameras.json")
        if os.path.isfile(p) and p.endswith(".json"):
            with open(p, encoding="utf-8") as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{p}: not valid JSON: {e}") from None
            if isinstance(data, dict):
                if split not in ("train", "test", "all"):
                    raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
                keys = ["train", "test"] if split == "all" else [split]
                entries = [c for k in keys for c in data.get(k, [])]
            else:
                entries = data
            try:
                cams = [_camera_dict(c["viewmat"], c["K"], c["width"], c["height"],
                                     c.get("name", "")) for c in entries]
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{p}: expected camera entries with viewmat, K, width, height "
                                 f"({e})") from None
        elif os.path.isdir(p):
            from ..io.colmap import read_model

            try:
                model = read_model(p)
            except FileNotFoundError as e:
                raise FileNotFoundError(f"--cameras {p!r}: no cameras.json and no COLMAP model "
                                        f"({e})") from None
            cams = []
            for im in model.sorted_images():
                c = model.cameras[im.camera_id]
                cams.append(_camera_dict(im.viewmat, c.K, c.width, c.height, im.name))
        else:
            raise FileNotFoundError(f"cameras not found: {p!r} (expected cameras.json, a training "
                                    f"output folder, or a COLMAP dataset folder)")
    else:
        cams = []
        for v in source:
            get = (lambda k: v[k]) if isinstance(v, dict) or hasattr(v, "__getitem__") \
                else (lambda k: getattr(v, k))
            cams.append(_camera_dict(get("viewmat"), get("K"), get("width"), get("height"),
                                     str(getattr(v, "name", "") if not isinstance(v, dict)
                                         else v.get("name", ""))))
    if not cams:
        raise ValueError("no cameras found")
    for c in cams:
        if not (np.all(np.isfinite(c["viewmat"])) and np.all(np.isfinite(c["K"]))):
            raise ValueError(f"camera {c['name']!r} has NaN/inf in viewmat or K")
    return cams


def _visible(points: np.ndarray, cams, chunk: int = 1 << 18) -> np.ndarray:
    """How many cameras see each point (in front, inside the image)."""
    count = np.zeros(len(points), np.int32)
    for c in cams:
        M = c["viewmat"].astype(np.float64)
        K = c["K"].astype(np.float64)
        for s in range(0, len(points), chunk):
            p = points[s:s + chunk].astype(np.float64) @ M[:3, :3].T + M[:3, 3]
            z = p[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                u = K[0, 0] * p[:, 0] / z + K[0, 2]
                v = K[1, 1] * p[:, 1] / z + K[1, 2]
            ok = (z > 1e-6) & (u >= 0) & (u < c["width"]) & (v >= 0) & (v < c["height"])
            count[s:s + chunk] += ok
    return count


def scene_bounds(scene, cameras=None, min_opacity: float = 0.2, percentile: float = 0.5,
                 margin: float = 0.05) -> Tuple[np.ndarray, np.ndarray]:
    """Axis-aligned (lo, hi) around the scene's opaque Gaussians: means with
    opacity >= min_opacity, seen by at least one camera when cameras are given,
    per-axis percentiles [percentile, 100 - percentile] (drops stray floaters),
    grown by ``margin`` x the extent on every side."""
    s = load_scene_arrays(scene)
    pts = s.means[s.opacities >= min_opacity]
    if len(pts) < 8:
        pts = s.means
    if cameras is not None:
        cams = load_cameras(cameras)
        seen = _visible(pts, cams) > 0
        if seen.sum() >= 8:
            pts = pts[seen]
    lo = np.percentile(pts, percentile, axis=0)
    hi = np.percentile(pts, 100.0 - percentile, axis=0)
    ext = np.maximum(hi - lo, 1e-6)
    big = float(ext.max())
    lo = lo - margin * big
    hi = hi + margin * big
    return lo.astype(np.float64), hi.astype(np.float64)


def make_grid(bounds, voxel_size: Optional[float] = None, resolution: int = 256,
              max_voxels: int = 1 << 28) -> Tuple[np.ndarray, float, Tuple[int, int, int]]:
    """(origin, voxel_size, dims) of a grid covering ``bounds`` = (lo, hi):
    ``voxel_size`` when given, else the longest side divided into ``resolution``."""
    lo, hi = (np.asarray(b, np.float64).reshape(3) for b in bounds)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
        raise ValueError(f"bounds must be finite (lo, hi) with hi > lo, got lo={lo}, hi={hi}")
    if voxel_size is None:
        if int(resolution) < 2:
            raise ValueError(f"resolution must be at least 2, got {resolution}")
        voxel_size = float((hi - lo).max()) / (int(resolution) - 1)
    voxel_size = float(voxel_size)
    if not (voxel_size > 0 and np.isfinite(voxel_size)):
        raise ValueError(f"voxel_size must be positive, got {voxel_size}")
    dims = tuple(int(np.ceil((hi[a] - lo[a]) / voxel_size)) + 1 for a in range(3))
    total = dims[0] * dims[1] * dims[2]
    if total > max_voxels:
        raise ValueError(f"the grid would have {dims[0]}x{dims[1]}x{dims[2]} = {total} voxels "
                         f"(limit {max_voxels}): use a larger voxel_size or a lower resolution")
    return lo, voxel_size, dims


def _progress(it, total, desc, progress):
    if not progress:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc=desc, unit="view")


def _render_camera(cam, render_scale: float):
    """(width, height, K float32) of a camera's image scaled by render_scale."""
    W = max(1, int(round(cam["width"] * render_scale)))
    H = max(1, int(round(cam["height"] * render_scale)))
    K = cam["K"].astype(np.float64).copy()
    K[0, :] *= W / cam["width"]
    K[1, :] *= H / cam["height"]
    K = K.astype(np.float32)
    return W, H, K


def render_depth(scene: SceneArrays, cam, render_scale: float = 1.0, alpha_min: float = 0.5):
    """(depth (H,W), rgb (H,W,3), K, width, height) of one camera: expected depth
    (``ED``), 0 where alpha < alpha_min or the depth is not finite."""
    depth, rgb, K, W, H = _render_depth(scene, cam, render_scale, alpha_min)
    return (np.ascontiguousarray(depth.numpy(), np.float32), np.ascontiguousarray(rgb.numpy(), np.float32),
            K, W, H)


def _render_depth(scene: SceneArrays, cam, render_scale: float, alpha_min: float):
    """render_depth as Tensors on the device of the scene's arrays (NumPy: the CPU)."""
    import splatcore as sc

    W, H, K = _render_camera(cam, render_scale)
    with no_grad():
        img, alpha, _ = _core.rasterize(scene.means, scene.quats, scene.scales, scene.opacities,
                                        scene.sh, np.ascontiguousarray(cam["viewmat"], np.float32), K, W, H,
                                        scene.sh_degree, None, 0.01, 1e10, "RGB+ED", False, 16)
        ed = img[..., 3]
        keep = sc.logical_and(alpha[..., 0] >= alpha_min, sc.abs(ed) < float("inf"))  # finite
        depth = sc.where(keep, ed, 0.0).contiguous()
        rgb = sc.clamp(img[..., :3], 0.0, 1.0).contiguous()
    return depth, rgb, K, W, H


def auto_render_scale(scene: SceneArrays, cams, voxel_size: float, lo: float = 0.125,
                      hi: float = 4.0) -> float:
    """Render scale at which a pixel covers about half a voxel at the median
    depth of the scene (clamped to [lo, hi], at most 4096 pixels wide).

    Expected depth is biased toward the camera by about one pixel's worth of
    depth change on slanted surfaces (each Gaussian's footprint is at least the
    rasterizer's 0.3 px low-pass), so renders coarser than the grid cost accuracy
    and much finer ones only cost time."""
    foot = []
    pts = scene.means[:: max(1, len(scene.means) // 20000)].astype(np.float64)
    for c in cams:
        M = c["viewmat"].astype(np.float64)
        z = pts @ M[2, :3] + M[2, 3]
        z = z[z > 1e-6]
        if len(z):
            foot.append(float(np.median(z)) / float(c["K"][0, 0]))
    if not foot:
        return 1.0
    scale = float(np.median(foot)) / (0.5 * voxel_size)
    width = max(c["width"] for c in cams)
    return float(np.clip(scale, lo, min(hi, 4096.0 / width)))


def tsdf_fusion(scene, cameras, bounds=None, voxel_size: Optional[float] = None,
                resolution: int = 256, trunc: Optional[float] = None, alpha_min: float = 0.5,
                carve: bool = True, colors: bool = True, render_scale: Optional[float] = None,
                max_weight: float = 128.0, progress: bool = True,
                timings: Optional[Dict[str, float]] = None, device: Optional[str] = None) -> VoxelVolume:
    """TSDF fusion of the scene's expected-depth renders from ``cameras``.

    ``trunc`` defaults to 4 voxels. ``render_scale`` multiplies the cameras'
    image size for the depth renders (default: :func:`auto_render_scale`, about
    two pixels per voxel). Returns a :class:`VoxelVolume` with the TSDF
    (positive outside, in units of trunc), its weight (0 = never observed: mask
    these out when meshing) and, with ``colors``, the fused colour.
    ``timings`` (a dict) receives ``render_s``, ``integrate_s`` (totals),
    ``views``, ``voxels`` and ``render_scale``. ``device`` (a GPU device, or
    None / "cpu"): the Gaussians are uploaded once, and every view is rendered
    and fused there; the grids come back to the host at the end."""
    import time

    s = load_scene_arrays(scene)
    cams = load_cameras(cameras)
    if bounds is None:
        bounds = scene_bounds(s, cams)
    origin, vs, dims = make_grid(bounds, voxel_size, resolution)
    trunc = 4.0 * vs if trunc is None else float(trunc)
    if not trunc > 0:
        raise ValueError(f"trunc must be positive, got {trunc}")
    if render_scale is None:
        render_scale = auto_render_scale(s, cams, vs)
    if not (float(render_scale) > 0):
        raise ValueError(f"render_scale must be positive, got {render_scale}")
    from .._device import resolve_device

    device = resolve_device(device if device is not None else "cpu")
    on_gpu = device != "cpu"
    grids = _TsdfGrids(dims, colors, device)
    scene_on = _scene_on_device(s, device) if on_gpu else s
    t_render = t_int = 0.0
    org = tuple(float(x) for x in origin)
    for cam in _progress(cams, len(cams), "tsdf", progress):
        t0 = time.perf_counter()
        depth, rgb, K, _, _ = _render_depth(scene_on, cam, render_scale, alpha_min)
        if not on_gpu:
            depth, rgb = depth.numpy(), rgb.numpy()
        t1 = time.perf_counter()
        integrate = _core._tsdf_integrate_device if on_gpu else _core._tsdf_integrate
        integrate(grids.tsdf, grids.weight, grids.color, grids.cweight, depth, rgb if colors else None,
                  np.ascontiguousarray(cam["viewmat"], np.float32), K, org, float(vs), float(trunc), 0.01,
                  float(max_weight), bool(carve))
        t2 = time.perf_counter()
        t_render += t1 - t0
        t_int += t2 - t1
    tsdf, weight, col = grids.host()
    if timings is not None:
        timings.update(render_s=t_render, integrate_s=t_int, views=len(cams),
                       voxels=int(np.prod(dims)), render_scale=float(render_scale))
    return VoxelVolume(tsdf, np.asarray(origin, np.float64), vs, col, weight, 0.0, "below")


class _TsdfGrids:
    """TSDF, weight and (with colours) colour grids of TSDF fusion, on the CPU
    (NumPy) or on a GPU device (Tensors)."""

    def __init__(self, dims, colors, device):
        import splatcore as sc

        if device == "cpu":
            self.tsdf, self.weight = np.ones(dims, np.float32), np.zeros(dims, np.float32)
            self.color = np.zeros(dims + (3,), np.float32) if colors else None
            self.cweight = np.zeros(dims, np.float32) if colors else None
        else:
            self.tsdf, self.weight = sc.ones(dims, device=device), sc.zeros(dims, device=device)
            self.color = sc.zeros(dims + (3,), device=device) if colors else None
            self.cweight = sc.zeros(dims, device=device) if colors else None

    def host(self):
        def h(x):
            return None if x is None else (x if isinstance(x, np.ndarray) else x.cpu().numpy())

        return h(self.tsdf), h(self.weight), h(self.color)


def _scene_on_device(s: SceneArrays, device):
    """The scene's rasterizer inputs as float32 Tensors on `device` (uploaded once)."""
    import splatcore as sc

    up = {k: sc.tensor(np.ascontiguousarray(getattr(s, k), np.float32), device=device)
          for k in ("means", "quats", "scales", "opacities", "sh")}
    return SceneArrays(**{**{f: getattr(s, f) for f in s.__dataclass_fields__}, **up})


def opacity_field(scene, bounds=None, voxel_size: Optional[float] = None, resolution: int = 256,
                  cameras=None, min_scale: Optional[float] = None, max_sigma: float = 3.0,
                  level: float = 0.5, solid: bool = True, colors: bool = True,
                  device: Optional[str] = None) -> VoxelVolume:
    """Sum of opacity-weighted Gaussians on a grid (see the module docs).

    ``min_scale`` (default half a voxel) floors the Gaussians' scales so thin
    ones are not lost between grid points; ``max_sigma`` cuts each Gaussian at
    that many standard deviations (and where it adds < 1/255). ``solid``: voids
    below ``level`` that do not reach the grid's boundary are filled (set to
    1 + level), so a hollow shell meshes as its outer surface only. ``device``
    (a GPU device, or None / "cpu"): the voxels are evaluated there (the
    Gaussians are binned into blocks on the host either way)."""
    s = load_scene_arrays(scene)
    if bounds is None:
        bounds = scene_bounds(s, cameras)
    origin, vs, dims = make_grid(bounds, voxel_size, resolution)
    ms = 0.5 * vs if min_scale is None else float(min_scale)
    from .._device import resolve_device

    device = resolve_device(device if device is not None else "cpu")
    args = (s.means, s.quats, s.scales, s.opacities, s.colors if colors else None, dims,
            tuple(float(x) for x in origin), float(vs), float(ms), float(max_sigma))
    if device == "cpu":
        field, col, _ = _core._opacity_field(*args)
    else:
        field, col, _ = _core._opacity_field_device(*args, device)
        field, col = field.cpu().numpy(), None if col is None else col.cpu().numpy()
    if solid:
        _core._fill_enclosed(field, float(level), 1.0, float(level) + 1.0)
    return VoxelVolume(field, np.asarray(origin, np.float64), vs, col, None, float(level), "above")

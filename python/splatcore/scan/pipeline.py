"""``splatcore scan``: a folder of photos without poses -> cameras, points, trained Gaussians.

Stages (each with a progress bar or a timed log line):

1. **weights**: ``--weights PATH``, else ``$SPLATCORE_MAST3R_WEIGHTS``, else a cached
   download; otherwise it stops at once (:class:`MissingWeightsError`, a
   FileNotFoundError, exit code 2 on the command line) saying how to get them.
2. **images**: the folder's photos (sorted by name), EXIF-rotated, resized so the
   long side is ``image_size`` (512) and centre-cropped to multiples of 16
   (dust3r's ``load_images``). Files that cannot be decoded are skipped with a
   warning (listed in ``scan.json``); no readable photo at all is an error.
3. **MASt3R** on the pairs of the scene graph (``complete`` up to 12 photos, else
   ``logwin-3``; one photo is paired with itself).
4. **global alignment** (:func:`splatcore.align.global_alignment`): intrinsics,
   poses, dense points. Photos it cannot connect to the largest connected set are
   reported and left out; the scan goes on with the rest.
5. **points** (:mod:`.points`): confident pixels, the co-visibility test, colours
   from the images, at most ``max_points`` points.
6. **outputs before training** (so that an interrupted training still leaves
   them): ``images/`` (the images the cameras belong to, PNG), ``sparse/0``
   (COLMAP binary model: PINHOLE cameras at the resolution of those images,
   world-to-camera poses, the fused points without tracks), ``points.ply`` (xyz +
   rgb, binary little-endian) and ``scan.json`` (focals, residuals, dropped and
   skipped photos, timings). ``OUT`` is thereby a COLMAP dataset that
   ``splatcore train OUT`` and other tools read.
7. **training** (:func:`splatcore.pipeline.train_scene`, or with ``refine_poses``
   a :class:`.poses.PoseRefiningTrainer`): ``scene.ply``, ``cameras.json``,
   ``checkpoint.safetensors``, ``curve.csv``, ``metrics.json``, ``renders/`` as
   ``splatcore train`` writes them. With ``refine_poses`` ``sparse/0`` is
   rewritten with the refined poses afterwards.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _core
from .._device import host_array
from .points import FusedPoints, fuse_points
from .report import focal_report, reprojection_residual
from .views import image_names, make_views, scene_extent, split_views, write_colmap

__all__ = ["scan", "ScanResult", "MissingWeightsError", "resolve_weights", "list_photos",
           "load_photos", "run_mast3r", "scan_train_config", "PHOTO_EXTENSIONS",
           "DEFAULT_MAX_POINTS"]

PathLike = Union[str, "os.PathLike[str]"]

#: Extensions read from a photo folder (case-insensitive); other files are ignored.
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif")
#: Default cap on the initial Gaussians (a seeded random subset of the fused points).
DEFAULT_MAX_POINTS = 300_000


class MissingWeightsError(FileNotFoundError):
    """No MASt3R checkpoint: the message says how to get one."""


def _how_to_get_weights() -> str:
    from ..mast3r.weights import FILENAME, HF_REPO
    return ("Download it once (2.75 GB; needs `pip install huggingface_hub`) with\n"
            "    python -c \"import splatcore.mast3r as m; m.download()\"\n"
            f"or pass --weights path/to/{FILENAME} (the {FILENAME} of the Hugging Face repo "
            f"{HF_REPO}, https://huggingface.co/{HF_REPO}).")


def resolve_weights(weights: Optional[PathLike] = None,
                    cache_dir: Optional[PathLike] = None) -> Path:
    """The checkpoint file: ``weights`` (a file or a folder holding
    model.safetensors), else ``$SPLATCORE_MAST3R_WEIGHTS``, else a cached download
    (in ``cache_dir``, default the Hugging Face cache). Raises
    :class:`MissingWeightsError` with instructions otherwise."""
    from ..mast3r.weights import ENV_VAR, find_weights
    try:
        return find_weights(weights, cache_dir=cache_dir)
    except FileNotFoundError:
        if weights is not None:
            head = f"MASt3R checkpoint not found: {os.fspath(weights)!r} does not exist."
        elif os.environ.get(ENV_VAR):
            head = f"MASt3R checkpoint not found: ${ENV_VAR} = {os.environ[ENV_VAR]!r} does not exist."
        else:
            head = ("no MASt3R checkpoint: no --weights given, $" + ENV_VAR + " not set and no "
                    "cached download found.")
        raise MissingWeightsError(head + "\n" + _how_to_get_weights()) from None


def list_photos(photos: Union[PathLike, Sequence[PathLike]]) -> Tuple[List[str], List[str]]:
    """(photo paths, ignored file names): a folder's files with a photo extension
    (:data:`PHOTO_EXTENSIONS`), sorted by name, or a single file, or a list of paths
    (kept as given). FileNotFoundError for a missing folder, ValueError when it holds
    no photo."""
    if isinstance(photos, (str, os.PathLike)):
        root = os.fspath(photos)
        if not os.path.exists(root):
            raise FileNotFoundError(f"photo folder not found: {root!r}")
        if os.path.isfile(root):
            return [root], []
        paths, ignored = [], []
        for name in sorted(os.listdir(root)):
            full = os.path.join(root, name)
            if not os.path.isfile(full) or name.startswith("."):
                continue
            (paths if name.lower().endswith(PHOTO_EXTENSIONS) else ignored).append(
                full if name.lower().endswith(PHOTO_EXTENSIONS) else name)
        if not paths:
            raise ValueError(f"no photos found in {root!r}: expected image files "
                             f"({', '.join(PHOTO_EXTENSIONS)})"
                             + (f"; it holds only {', '.join(ignored[:5])}"
                                + (" ..." if len(ignored) > 5 else "") if ignored else ""))
        return paths, ignored
    paths = [os.fspath(p) for p in photos]
    if not paths:
        raise ValueError("no photos given (an empty list)")
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"photo not found: {p!r}")
    return paths, []


def _bar(items, desc, enabled, unit="img"):
    if not enabled:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return items
    return tqdm(items, desc=desc, unit=unit, leave=False)


def load_photos(paths: Sequence[str], size: int = 512, progress: bool = True,
                log: Callable[[str], None] = print):
    """(preprocessed images, their paths, skipped [(path, reason)]): each photo as
    MASt3R takes it (:func:`splatcore.mast3r.preprocess`). Photos that cannot be
    read or are too small are skipped with a warning."""
    from ..mast3r.preprocess import preprocess
    images, kept, skipped = [], [], []
    for p in _bar(paths, "images", progress):
        try:
            im = preprocess(p, size=size)
        except (ValueError, OSError) as e:  # unreadable, truncated, too small, vanished
            reason = str(e)
            skipped.append((p, reason))
            log(f"warning: skipping {p}: {reason}")
            continue
        im.index = len(images)
        images.append(im)
        kept.append(p)
    return images, kept, skipped


def _host(a) -> np.ndarray:
    """A float32 NumPy array of `a` (a Tensor left on a device is copied back)."""
    return np.asarray(host_array(a), np.float32)


def _pair_output(o) -> Dict[str, Dict[str, np.ndarray]]:
    v1, v2 = o["view1"], o["view2"]
    p2 = v2["pts3d_in_other_view"] if "pts3d_in_other_view" in v2 else v2["pts3d"]
    return {"view1": {"pts3d": _host(v1["pts3d"]), "conf": _host(v1["conf"])},
            "view2": {"pts3d_in_other_view": _host(p2), "conf": _host(v2["conf"])}}


def run_mast3r(model, images: Sequence[Any], pairs: Sequence[Tuple[int, int]],
               progress: bool = True, device=None) -> List[Dict[str, Dict[str, np.ndarray]]]:
    """MASt3R's outputs for ``pairs``, keeping only what the alignment needs
    (points and confidences; the 24-d descriptors are dropped as each pair comes,
    which keeps ~30 MB per pair at 512 x 384 out of memory). Uses
    ``model.iter_pairs`` (each image encoded once) when the model has it, else
    ``infer_pairs`` or ``infer_pair`` per pair. ``device``: where the network
    runs (None: the CPU; a model without device support is called without it).
    On a GPU device the outputs stay there and only the points and confidences
    come back (``keep_on_device``: the descriptors, 4/5 of the bytes, never cross)."""
    import inspect

    kw = {}
    if device not in (None, "cpu"):
        fn = getattr(model, "iter_pairs", None) or getattr(model, "infer_pairs", None) or model.infer_pair
        params = inspect.signature(fn).parameters
        if "device" in params:
            kw = {"device": device}
            if "keep_on_device" in params:
                kw["keep_on_device"] = True
    if hasattr(model, "iter_pairs"):
        it = model.iter_pairs(images, pairs, progress=progress, **kw)
    elif hasattr(model, "infer_pairs"):
        it = model.infer_pairs(images, pairs, **kw)
    else:
        it = (model.infer_pair(images[i], images[j], **kw) for i, j in _bar(pairs, "MASt3R", progress, "pair"))
    return [_pair_output(o) for o in it]


def scan_train_config(iters: Optional[int] = None, seed: int = 0, sh_degree: int = 3):
    """The training schedule of a scan: the original 3DGS recipe
    (:class:`splatcore.trainer.TrainConfig`) for ``iters`` >= 30000 (default 30000);
    shorter runs densify from ``iters/10`` (at most step 500) to ``iters/2`` every
    100 steps, reset opacities every 3000 steps only when ``iters`` >= 6000, and
    add the SH bands within the first half of the run."""
    from ..trainer import TrainConfig
    cfg = TrainConfig(seed=seed, sh_degree=sh_degree)
    if iters is None or iters >= cfg.iters:
        cfg.iters = cfg.iters if iters is None else int(iters)
        return cfg
    iters = int(iters)
    if iters < 0:
        raise ValueError(f"iters: expected >= 0, got {iters}")
    cfg.iters = iters
    d = cfg.densify
    d.refine_start = min(d.refine_start, iters // 10)
    d.refine_stop = min(d.refine_stop, iters // 2)
    if iters < 2 * d.reset_every:
        d.reset_every = iters + 1
    cfg.sh_degree_interval = max(1, min(cfg.sh_degree_interval, iters // (2 * max(1, sh_degree))))
    return cfg


@dataclass
class ScanResult:
    """What :func:`scan` did. ``names``: the image names (as written to
    ``images/``) of every readable photo; ``dropped``: those the alignment could
    not connect; ``skipped``: (path, reason) of unreadable photos; ``alignment``:
    the :class:`~splatcore.align.AlignmentResult` (indices into ``names``);
    ``report``: what ``scan.json`` holds; ``metrics``: training metrics as
    ``metrics.json`` holds them."""

    out_dir: str
    names: List[str]
    paths: List[str]
    skipped: List[Tuple[str, str]]
    dropped: List[str]
    alignment: Any
    points: FusedPoints
    train_views: List[dict]
    test_views: List[dict]
    report: Dict[str, Any]
    metrics: Dict[str, Any] = field(default_factory=dict)
    trainer: Any = None
    interrupted: bool = False


def _json_safe(obj):
    """``obj`` with NaN / infinite floats as None and NumPy scalars as Python ones
    (strict JSON readers reject NaN)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _finite_cameras(res) -> List[int]:
    bad = []
    for k in range(res.n_images):
        if res.aligned[k] and not (np.isfinite(res.K[k]).all() and np.isfinite(res.cam_to_world[k]).all()
                                   and res.focals[k] > 0):
            bad.append(k)
    return bad


def scan(photos: Union[PathLike, Sequence[PathLike]], out_dir: PathLike,
         weights: Optional[PathLike] = None, scene_graph: Optional[str] = None,
         iters: Optional[int] = None, refine_poses: bool = False, eval: bool = False,
         image_size: int = 512, min_conf_thr: float = 3.0,
         max_points: Optional[int] = DEFAULT_MAX_POINTS, depth_tol: float = 0.05,
         align_iters: int = 300, align_init: str = "mst", sh_degree: int = 3, seed: int = 0,
         config=None, model=None, model_dtype: Optional[str] = None,
         weights_cache_dir: Optional[PathLike] = None, progress: bool = True,
         log: Callable[[str], None] = print) -> ScanResult:
    """Photos without poses -> cameras, a point cloud and trained 3D Gaussians in
    ``out_dir`` (see the module docstring for the stages and files).

    photos: a folder, one file or a list of paths. weights: the MASt3R
    ``model.safetensors`` (see :func:`resolve_weights`); ``model``: an already
    loaded :class:`splatcore.mast3r.Model` instead (``weights`` is then ignored).
    scene_graph: ``complete``, ``swin-W``, ``logwin-W``, ``oneref-K`` (default:
    :func:`splatcore.align.default_scene_graph`). iters: training steps (default
    30000; 0 writes the initial Gaussians). refine_poses: optimise the training
    views' poses jointly with the Gaussians. eval: hold out every 8th aligned
    photo from training and report PSNR / SSIM on them (the alignment uses all).
    image_size: the long side MASt3R works at (512 for the released checkpoint).
    min_conf_thr: MASt3R confidence above which pixels count (pairs in the
    alignment, points). max_points: cap on the initial Gaussians (None: no cap).
    depth_tol: relative depth tolerance of the co-visibility test. align_iters,
    align_init: the alignment's iterations and initialisation ('mst' or 'global').
    config: a :class:`splatcore.trainer.TrainConfig` (overrides iters, sh_degree,
    seed). model_dtype: precision of the model's Linear weights ('float32',
    'float16', 'bfloat16'; default as stored)."""
    from ..align import default_scene_graph, global_alignment, make_pairs, parse_scene_graph
    from ..io.images import save_png
    from ..io.ply import write_point_ply
    from ..trainer import fmt_time, write_json

    t_all = time.perf_counter()
    from .._device import resolve_device

    # MASt3R, alignment and training run on the training config's device
    scan_device = resolve_device(config.device) if getattr(config, "device", None) else "cpu"
    if scan_device != "cpu":
        _core.device_memory(scan_device, reset_peak=True)  # scan.json reports this scan's peak
    timings: Dict[str, float] = {}
    out_dir = os.fspath(out_dir)
    if scene_graph is not None:
        parse_scene_graph(scene_graph)  # a typo fails before any work
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"image_size: expected an integer >= 16 (512 for the released MASt3R), "
                         f"got {image_size!r}")
    if not min_conf_thr >= 0:
        raise ValueError(f"min_conf_thr: expected a number >= 0, got {min_conf_thr!r}")

    # 1. weights (before any heavy work) and the photo list
    weights_path = None
    if model is None:
        weights_path = resolve_weights(weights, weights_cache_dir)
    paths, ignored = list_photos(photos)
    if ignored:
        log(f"ignoring {len(ignored)} file(s) that are not photos: {', '.join(ignored[:5])}"
            + (" ..." if len(ignored) > 5 else ""))

    # 2. images
    t0 = time.perf_counter()
    images, paths, skipped = load_photos(paths, image_size, progress, log)
    if not images:
        raise ValueError(f"no readable photos among the {len(skipped)} file(s) given: "
                         + "; ".join(f"{p}: {r}" for p, r in skipped[:3]))
    n = len(images)
    names = image_names(paths)
    timings["images"] = time.perf_counter() - t0
    shapes = sorted({im.true_shape for im in images})
    log(f"scan: {n} photo(s) at {', '.join(f'{w}x{h}' for h, w in shapes)}"
        + (f" ({len(skipped)} skipped)" if skipped else ""))

    # 3. MASt3R
    graph = scene_graph or default_scene_graph(n)
    pairs = make_pairs(n, graph)
    t0 = time.perf_counter()
    if model is None:
        import splatcore.mast3r as m3
        if not hasattr(m3, "load"):
            raise ImportError("splatcore.mast3r has no model in this build: "
                              f"{getattr(m3, '_model_import_error', 'unknown error')}")
        model = m3.load(weights_path, dtype=model_dtype)
    timings["model_load"] = time.perf_counter() - t0
    log(f"MASt3R: {len(pairs)} image pair(s) ({graph if n > 1 else 'one photo, paired with itself'})")
    t0 = time.perf_counter()
    outputs = run_mast3r(model, images, pairs, progress, scan_device)
    timings["mast3r"] = time.perf_counter() - t0

    # 4. global alignment
    t0 = time.perf_counter()
    res = global_alignment(outputs, pairs, image_shapes=[im.true_shape for im in images],
                           niter=align_iters, min_conf_thr=min_conf_thr, init=align_init,
                           progress=progress, device=scan_device)
    timings["alignment"] = time.perf_counter() - t0
    for k in _finite_cameras(res):  # never train on a broken camera
        res.aligned[k] = False
        res.dropped.append(k)
        log(f"warning: the alignment gave a non-finite camera for {paths[k]}; leaving it out")
    res.dropped = sorted(set(res.dropped))
    dropped = [os.path.basename(paths[k]) for k in res.dropped]
    if dropped:
        log(f"warning: {len(dropped)} of {n} photo(s) could not be connected to the others (too "
            f"little confident overlap) and are left out: {', '.join(dropped)}")
    aligned = [k for k in range(n) if res.aligned[k]]
    log(f"alignment: {len(aligned)} of {n} photo(s) aligned in {fmt_time(timings['alignment'])}"
        f" (loss {res.init_loss:.4g} -> {res.loss:.4g})")

    # 5. views and points
    colours = [np.clip(np.asarray(im.img, np.float32) * 0.5 + 0.5, 0.0, 1.0) for im in images]
    views = make_views(res.K, res.world_to_cam, colours, names, aligned)
    train_pos, test_pos = split_views(len(views), 8 if eval else None)
    if eval and not test_pos:
        log("warning: --eval needs at least two aligned photos; nothing is held out")
    train_views = [views[i] for i in train_pos]
    test_views = [views[i] for i in test_pos]
    t0 = time.perf_counter()
    fused = fuse_points(res, colours, min_conf_thr=min_conf_thr,
                        use=[v["index"] for v in train_views], depth_tol=depth_tol,
                        max_points=max_points, seed=seed, log=log)
    timings["points"] = time.perf_counter() - t0
    if len(fused) == 0:
        raise RuntimeError("scan: the aligned pointmaps hold no finite point; nothing to train on")
    c = fused.counts
    log(f"points: {c['candidates']} candidate pixels -> {c['after_covisibility']} after the "
        f"co-visibility test -> {c['kept']} initial Gaussians")

    # report
    rep = reprojection_residual(res, outputs, pairs, min_conf_thr=min_conf_thr)
    del outputs
    cams = []
    for k in range(n):
        h, w = images[k].true_shape
        entry = {"name": names[k], "photo": paths[k], "width": w, "height": h,
                 "aligned": bool(res.aligned[k])}
        if res.aligned[k]:
            entry.update(focal_report(res.K[k], w, h))
            entry["focal_px_original"] = float(images[k].intrinsics_to_original(res.K[k])[0, 0])
        cams.append(entry)
    resid = res.residuals
    report: Dict[str, Any] = {
        "photos": len(paths) + len(skipped), "images": n, "aligned": len(aligned),
        "dropped": dropped, "skipped": [{"photo": p, "reason": r} for p, r in skipped],
        "ignored": ignored, "scene_graph": graph, "pairs": len(pairs),
        "pairs_used": len(res.pairs), "image_size": image_size, "min_conf_thr": min_conf_thr,
        "weights": None if weights_path is None else os.fspath(weights_path),
        "alignment": {"loss": res.loss, "init_loss": res.init_loss,
                      "residual": float(resid.get("weighted_mean", float("nan"))),
                      "residual_relative": float(resid.get("relative", float("nan"))),
                      "reprojection_px": rep["mean_px"], "reprojection_median_px": rep["median_px"],
                      "interrupted": res.interrupted},
        "cameras": cams, "points": dict(fused.counts), "train_views": [v["name"] for v in train_views],
        "test_views": [v["name"] for v in test_views], "refine_poses": bool(refine_poses),
        "timings": timings,
    }
    log("focal lengths (px at the scan resolution; horizontal field of view):")
    for e in cams:
        if e["aligned"]:
            log(f"  {e['name']:<28} {e['focal_px']:8.1f} px  ({e['width']}x{e['height']}, "
                f"{e['fov_x_deg']:.1f} deg)")
    reproj = ("n/a (no cross-view pixels)" if not np.isfinite(rep["mean_px"])
              else f"{rep['mean_px']:.2f} px (median {rep['median_px']:.2f})")
    log(f"alignment residual: {report['alignment']['residual']:.4g} "
        f"({100 * report['alignment']['residual_relative']:.2f}% of the median depth); "
        f"mean reprojection residual: {reproj}")

    # 6. outputs before training
    os.makedirs(out_dir, exist_ok=True)
    for v in views:
        save_png(os.path.join(out_dir, "images", v["name"]), v["image"])
    sparse = os.path.join(out_dir, "sparse", "0")
    write_colmap(sparse, views, fused.xyz, fused.rgb)
    write_point_ply(os.path.join(out_dir, "points.ply"), fused.xyz, fused.rgb)
    write_json(os.path.join(out_dir, "scan.json"), _json_safe(report))
    log(f"wrote {out_dir}/sparse/0 ({len(views)} cameras, PINHOLE at the scan resolution), "
        f"{out_dir}/images/, {out_dir}/points.ply ({len(fused)} points)")

    if res.interrupted:  # Ctrl-C during the alignment: keep what it found, do not train
        log("interrupted during the alignment: wrote the cameras and points found so far; "
            "no training")
        report["interrupted"] = True
        write_json(os.path.join(out_dir, "scan.json"), _json_safe(report))
        return ScanResult(out_dir=out_dir, names=names, paths=paths, skipped=skipped,
                          dropped=dropped, alignment=res, points=fused, train_views=train_views,
                          test_views=test_views, report=report, interrupted=True)

    # 7. training
    from ..pipeline import export_outputs, train_scene
    cfg = config or scan_train_config(iters, seed, sh_degree)
    extent = scene_extent(train_views, fused.xyz)
    t0 = time.perf_counter()
    if refine_poses:
        from ..gaussians import Gaussians
        from .poses import PoseRefiningTrainer
        g = Gaussians.from_points(fused.xyz, fused.rgb, sh_degree=cfg.sh_degree)
        trainer = PoseRefiningTrainer(train_views, g, extent, cfg)
        log(f"training {len(g)} initial Gaussians on {len(train_views)} views "
            f"({len(test_views)} held out) for {cfg.iters} steps, refining the poses")
        interrupted = trainer.train(progress=progress,
                                    checkpoint_path=os.path.join(out_dir, "checkpoint.safetensors"))
        if interrupted:
            log(f"interrupted at step {trainer.step}: writing a valid checkpoint and scene")
        metrics = export_outputs(trainer, train_views, test_views, out_dir, log=log)
        metrics["interrupted"] = interrupted
        changes = trainer.refiner.changes()
        report["pose_refinement"] = [{"name": v["name"], "rotation_deg": a, "translation": d}
                                     for v, (a, d) in zip(train_views, changes)]
        if changes:
            log(f"pose refinement: largest change {max(a for a, _ in changes):.3f} deg, "
                f"{max(d for _, d in changes):.4g} (scene units, extent {extent:.3g})")
        write_colmap(sparse, views, fused.xyz, fused.rgb)
    else:
        trainer, metrics = train_scene(train_views, test_views, (fused.xyz, fused.rgb), extent,
                                       out_dir, cfg, progress=progress, log=log)
    timings["training"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    report["training"] = {"steps": metrics.get("steps"), "gaussians": metrics.get("gaussians"),
                          "scene_extent": extent, "interrupted": bool(metrics.get("interrupted"))}
    if "mean" in metrics:
        report["training"]["test"] = metrics["mean"]
    if scan_device != "cpu":  # the most tensor storage the scan held on the device
        report["device"] = {"name": scan_device,
                            "peak_memory_bytes": int(_core.device_memory(scan_device)["peak_bytes"])}
    write_json(os.path.join(out_dir, "scan.json"), _json_safe(report))
    log(f"scan done in {fmt_time(timings['total'])} -> {out_dir}")
    return ScanResult(out_dir=out_dir, names=names, paths=paths, skipped=skipped, dropped=dropped,
                      alignment=res, points=fused, train_views=train_views, test_views=test_views,
                      report=report, metrics=metrics, trainer=trainer,
                      interrupted=bool(metrics.get("interrupted")))

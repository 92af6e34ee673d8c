"""The `splatcore` command line."""
import argparse
import json
import math
import os
import sys


def _cmd_info(args):
    from . import info

    facts = info()
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    print(f"splatcore {facts['version']} ({facts['build_type']} build)")
    built = [name for name, ok in facts["backends"].items() if ok]
    print(f"  backends built : {', '.join(built)}")
    seen = ", ".join(f"{k}: {v}" for k, v in facts["devices"].items())
    print(f"  devices seen   : {seen}")
    for gpu in facts["gpus"]:
        print(f"  {gpu['device']:<15}: {gpu['name']}, {gpu['memory_bytes'] / 2**30:.0f} GiB")
    print(f"  GPU GEMM       : {facts['gpu_gemm']}")
    print(f"  BLAS           : {facts['blas']}")
    print(f"  CPU threads    : {facts['threads']}")
    others = ", ".join(t for t in facts["cpu_targets"] if t != facts["cpu_target"])
    print(f"  CPU target     : {facts['cpu_target']} (also usable: {others}; "
          f"SPLATCORE_CPU_TARGET forces one)")
    return 0


def device_arg(text):
    """An argparse type for --device: auto, cpu, cuda[:N], metal[:N] or sim (the
    GPU simulator, for tests), available here; else argparse's one-line usage
    error (exit 2) naming --device, what it expects and what came."""
    from ._device import check_device

    if text.strip().lower() == "auto":
        return "auto"
    try:
        return check_device(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


device_arg.__name__ = "device"


def _device(args):
    """The device of a command: --device, with auto resolved and said."""
    from ._device import auto_device

    if args.device != "auto":
        return args.device
    picked = auto_device()
    print(f"device: auto picked {picked} (order: cuda, metal, cpu)", file=sys.stderr)
    return picked


def _device_opt(s):
    s.add_argument("--device", type=device_arg, default="cpu", metavar="{auto,cpu,cuda,metal}",
                   help="where to run: auto (CUDA, then Metal, then the CPU), cpu (default), "
                        "cuda[:N], metal; sim is the GPU simulator, for tests")


def _train_config(args):
    from .trainer import TrainConfig

    cfg = TrainConfig(seed=args.seed, random_background=args.random_background,
                      device=_device(args))
    if args.sh_degree is not None:
        cfg.sh_degree = args.sh_degree
    if args.iters is not None:
        cfg.iters = args.iters
    return cfg


def _cmd_train(args):
    from .io.dataset import ColmapDataset
    from .pipeline import train_scene

    kw = dict(downscale=args.downscale)
    if args.eval:
        train, test = ColmapDataset(args.data, split="train", **kw), ColmapDataset(args.data, split="test", **kw)
    else:
        train, test = ColmapDataset(args.data, split="all", **kw), []
    pts = train.points
    with _live_view(args) as live:
        _, metrics = train_scene(train, test, (pts.xyz, pts.rgb), train.scene_extent(), args.output,
                                 _train_config(args), resume=args.resume, progress=not args.quiet,
                                 checkpoint_every=args.checkpoint_every)
        live.finish(metrics)
    return 130 if metrics.get("interrupted") else 0


def demo_config(iters, seed=0):
    """A short schedule for small images: densify every 100 steps over the first
    70% of training, no opacity reset, SH bands added over the first half."""
    from .trainer import TrainConfig

    cfg = TrainConfig(seed=seed, iters=iters, sh_degree=1)
    d = cfg.densify
    d.refine_start = min(100, iters // 10)
    d.refine_stop = int(0.7 * iters)
    d.refine_every = 100
    d.reset_every = iters + 1
    cfg.sh_degree_interval = max(1, iters // 4)
    return cfg


def _cmd_demo(args):
    from .datasets.synthetic import make_dataset
    from .pipeline import train_scene

    ds = make_dataset(n_views=args.views, width=args.width, height=args.height, seed=args.seed)
    cfg = demo_config(args.iters, args.seed)
    cfg.device = _device(args)
    if args.sh_degree is not None:
        cfg.sh_degree = args.sh_degree
    xyz, rgb = ds.points
    with _live_view(args) as live:
        _, metrics = train_scene(ds.train, ds.test, (xyz, rgb), ds.scene_extent(), args.output, cfg,
                                 progress=not args.quiet)
        live.finish(metrics)
    print(f"demo: held-out PSNR {metrics['mean']['psnr']:.2f} dB -> {os.path.join(args.output, 'renders')}")
    return 130 if metrics.get("interrupted") else 0


def _load_scene(path, device="cpu"):
    from .gaussians import Gaussians

    if not os.path.exists(path):
        raise FileNotFoundError(f"scene file not found: {path}")
    return Gaussians.load_ply(path, device=device)


def _cmd_render(args):
    from .io.dataset import ColmapDataset
    from .pipeline import render_views

    g = _load_scene(args.scene, _device(args))
    views = ColmapDataset(args.cameras, split="all", downscale=args.downscale)
    render_views(g, views, args.output, progress=not args.quiet)
    print(f"rendered {len(views)} views to {args.output}")
    return 0


def _cmd_eval(args):
    from .io.dataset import ColmapDataset
    from .pipeline import evaluate_scene

    g = _load_scene(args.scene, _device(args))
    views = ColmapDataset(args.data, split=args.split, downscale=args.downscale)
    if len(views) == 0:
        raise ValueError(f"{args.data}: the {args.split!r} split has no views (every 8th image is "
                         f"held out for 'test'; try --split all)")
    res = evaluate_scene(g, views)
    print(json.dumps(_json_finite(res), indent=2, allow_nan=False))
    return 0


def _json_finite(obj):
    """obj with NaN/inf floats as None: JSON has no NaN (a perfect render's PSNR is inf)."""
    if isinstance(obj, dict):
        return {k: _json_finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _export_splats(args):
    from .io.scene_file import read_scene, write_scene

    scene = read_scene(args.scene)
    size = write_scene(args.output, scene, args.format)
    src = os.path.getsize(args.scene)
    print(f"export: {len(scene.means)} Gaussians ({args.format}, {size / 1e6:.2f} MB, "
          f"{src / max(size, 1):.1f}x smaller than {os.path.basename(args.scene)}) -> {args.output}")
    return 0


def _cmd_export(args):
    from .mesh import export_mesh

    if args.format is None and os.path.splitext(args.output)[1].lower() in (".spz", ".splat"):
        args.format = os.path.splitext(args.output)[1].lower()[1:]
    if args.format in ("spz", "splat"):
        return _export_splats(args)
    bounds = None if args.bounds is None else (args.bounds[:3], args.bounds[3:])
    device = _device(args)
    _, info = export_mesh(args.scene, args.output, method=args.method, cameras=args.cameras,
                          resolution=args.resolution, voxel_size=args.voxel_size, bounds=bounds,
                          level=args.level, keep_largest=args.largest, binary=not args.ascii,
                          colors=not args.no_colors, progress=not args.quiet,
                          tsdf_options={"device": device} if args.method == "tsdf" else None,
                          opacity_options={"device": device} if args.method == "opacity" else None)
    grid = "x".join(str(d) for d in info["grid"])
    print(f"export: {info['vertices']} vertices, {info['faces']} faces ({args.method}, "
          f"grid {grid}, voxel {info['voxel_size']:.4g}) -> {args.output}")
    return 0


def _cmd_scan(args):
    from .scan import scan, scan_train_config

    cfg = scan_train_config(args.iters, args.seed, 3 if args.sh_degree is None else args.sh_degree)
    cfg.random_background = args.random_background
    cfg.device = _device(args)
    with _live_view(args) as live:
        res = _run_scan(args, cfg, scan)
        live.finish(res.metrics or {})
    return 130 if res.interrupted else 0


def _run_scan(args, cfg, scan):
    res = scan(args.photos, args.output, weights=args.weights, scene_graph=args.scene_graph,
               refine_poses=args.refine_poses, eval=args.eval, image_size=args.image_size,
               min_conf_thr=args.min_conf, max_points=args.max_points,
               align_iters=args.align_iters, seed=args.seed, config=cfg, model_dtype=args.dtype,
               progress=not args.quiet)
    return res


class _NoLiveView:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def finish(self, metrics):
        pass


def _live_view(args):
    """The --viewer live view around a training command (a no-op without it)."""
    if not args.viewer:
        return _NoLiveView()
    from .viewer import live_viewer

    _need_viser()
    return live_viewer(args.host, args.port, args.viewer_every, wait=not args.viewer_no_wait)


def _need_viser():
    from .viewer import require_viser

    try:
        require_viser()
    except ImportError as e:
        raise SystemExit(f"splatcore: {e}") from None


def _cmd_view(args):
    from .viewer import open_view

    _need_viser()
    from .viewer.server import wait_for_ctrl_c

    v = open_view(args.path, mesh=args.mesh, host=args.host, port=args.port)
    print(f"view: open {v.url} in a browser (Ctrl-C to stop)")
    try:
        wait_for_ctrl_c()
    finally:
        v.close()
    return 0


def _viewer_opts(s, live):
    s.add_argument("--host", default="127.0.0.1",
                   help="interface the viewer listens on (default 127.0.0.1, this machine only; "
                        "others print a warning)")
    s.add_argument("--port", type=int, default=8080,
                   help="viewer port (default 8080; the next free one when busy)")
    if live:
        s.add_argument("--viewer", action="store_true",
                       help="live view in the browser while training (needs splatcore[viewer]); "
                            "stays open after training until Ctrl-C")
        s.add_argument("--viewer-every", type=int, default=100, metavar="N",
                       help="send the scene to the viewer every N steps (default 100)")
        s.add_argument("--viewer-no-wait", action="store_true",
                       help="close the viewer when training ends")


MAX_STEPS = 100_000_000  # --iters and --checkpoint-every


def build_parser():
    from .cli_errors import int_in

    p = argparse.ArgumentParser(prog="splatcore", description="Photos to 3D Gaussian splats and meshes.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="version, backends, devices, BLAS and threads of this build")
    s.add_argument("--json", action="store_true", help="print as JSON")
    s.set_defaults(func=_cmd_info)

    def train_opts(s):
        s.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0)
        s.add_argument("--sh-degree", type=int, choices=[0, 1, 2, 3], default=None)
        s.add_argument("--random-background", action="store_true")
        s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        _device_opt(s)
        _viewer_opts(s, live=True)

    s = sub.add_parser("train", help="train 3D Gaussians on a COLMAP dataset (images/ + sparse/0)")
    s.add_argument("data", help="dataset folder")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--iters", type=int_in(0, MAX_STEPS), default=None,
                   help="training steps (default 30000)")
    s.add_argument("--downscale", type=int, default=1, choices=[1, 2, 4, 8])
    s.add_argument("--eval", action="store_true", help="hold out every 8th image and report PSNR/SSIM")
    s.add_argument("--resume", default=None, help="checkpoint.safetensors to continue from")
    s.add_argument("--checkpoint-every", type=int_in(0, MAX_STEPS), default=1000, metavar="N",
                   help="write OUT/checkpoint.safetensors every N steps (default 1000; 0: only "
                        "at the end)")
    train_opts(s)
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("demo", help="train on the built-in synthetic scene (no download)")
    s.add_argument("-o", "--output", default="splatcore_demo")
    s.add_argument("--iters", type=int_in(1, MAX_STEPS), default=3000)
    s.add_argument("--views", type=int_in(2, 10_000), default=48)
    s.add_argument("--width", type=int_in(8, 4096), default=128)
    s.add_argument("--height", type=int_in(8, 4096), default=96)
    train_opts(s)
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("view", help="look at a scene, mesh or training folder in the browser",
                       description="Serve a web viewer (viser) for a scene (.ply, .spz, .splat), a "
                                   "mesh (.stl, .obj, .ply) or a training / scan output or COLMAP "
                                   "folder: the Gaussians, camera frustums with their images, "
                                   "points, the mesh, and a render by splatcore's rasterizer.")
    s.add_argument("path", help="scene file, mesh file or folder")
    s.add_argument("--mesh", default=None, help="a mesh file to show with it")
    _viewer_opts(s, live=False)
    s.set_defaults(func=_cmd_view)

    s = sub.add_parser("render", help="render a scene .ply from a dataset's cameras")
    s.add_argument("scene")
    s.add_argument("--cameras", required=True, help="COLMAP dataset folder with the cameras")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--downscale", type=int, default=1, choices=[1, 2, 4, 8])
    s.add_argument("-q", "--quiet", action="store_true")
    _device_opt(s)
    s.set_defaults(func=_cmd_render)

    s = sub.add_parser("eval", help="PSNR/SSIM of a scene .ply on a dataset's held-out views")
    s.add_argument("scene")
    s.add_argument("data")
    s.add_argument("--split", default="test", choices=["test", "train", "all"])
    s.add_argument("--downscale", type=int, default=1, choices=[1, 2, 4, 8])
    _device_opt(s)
    s.set_defaults(func=_cmd_eval)

    s = sub.add_parser("export", help="mesh a scene .ply (marching cubes) into .stl / .ply / .obj, "
                                      "or write it as .spz / .splat for web viewers")
    s.add_argument("scene", help="scene .ply (3DGS; .spz and .splat too for --format spz/splat)")
    s.add_argument("-o", "--output", required=True,
                   help="mesh file (.stl, .ply or .obj) or splat file (.spz, .splat)")
    s.add_argument("--format", choices=["spz", "splat"], default=None,
                   help="spz: Niantic's compressed splats (Spark, SuperSplat); splat: the "
                        "antimatter15 32-byte layout (default: from the output name; other "
                        "names are meshed)")
    s.add_argument("--method", choices=["tsdf", "opacity"], default="tsdf",
                   help="tsdf: fuse rendered depth from the cameras (default); opacity: "
                        "iso-surface of the Gaussians' opacity field")
    s.add_argument("--cameras", default=None,
                   help="COLMAP dataset folder, cameras.json, or a training output folder "
                        "(default: the cameras.json next to the scene)")
    s.add_argument("--resolution", type=int_in(2, 4096), default=256,
                   help="voxels along the longest side")
    s.add_argument("--voxel-size", type=float, default=None,
                   help="voxel size (overrides --resolution)")
    s.add_argument("--bounds", type=float, nargs=6, default=None,
                   metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
                   help="region to mesh (default: around the opaque Gaussians the cameras see)")
    s.add_argument("--level", type=float, default=None,
                   help="iso level (tsdf: 0; opacity: 0.5)")
    s.add_argument("--largest", action="store_true",
                   help="keep only the largest connected component")
    s.add_argument("--ascii", action="store_true", help="ASCII instead of binary PLY")
    s.add_argument("--no-colors", action="store_true", help="no vertex colours")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _device_opt(s)  # tsdf: the depth renders and their fusion; opacity: the field
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser(
        "scan", help="photos without poses -> cameras (MASt3R), points and trained 3D Gaussians",
        description="Recover the cameras of a folder of photos (MASt3R + global alignment), fuse "
                    "their pointmaps into a point cloud and train 3D Gaussians on it. Writes what "
                    "`splatcore train` writes, plus sparse/0 (COLMAP: one PINHOLE camera per photo "
                    "at the resolution MASt3R used, i.e. resized to --image-size on the long side "
                    "and centre-cropped to multiples of 16), images/ (those images, so OUT is a "
                    "COLMAP dataset), points.ply (the fused points) and scan.json (focal lengths, "
                    "residuals, dropped and skipped photos).")
    s.add_argument("photos", help="folder of photos (.jpg, .png, ...)")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--weights", default=None,
                   help="MASt3R model.safetensors (default: $SPLATCORE_MAST3R_WEIGHTS, else the "
                        "cached download of splatcore.mast3r.download())")
    s.add_argument("--scene-graph", default=None,
                   help="image pairs: complete, swin-W, logwin-W, oneref-K (default: complete up "
                        "to 12 photos, else logwin-3)")
    s.add_argument("--iters", type=int_in(0, MAX_STEPS), default=None,
                   help="training steps (default 30000)")
    s.add_argument("--eval", action="store_true", help="hold out every 8th photo from training "
                                                       "and report PSNR/SSIM")
    s.add_argument("--refine-poses", action="store_true",
                   help="refine the camera poses jointly with the Gaussians")
    s.add_argument("--image-size", type=int_in(16, 4096), default=512,
                   help="long side of the images MASt3R sees and training uses (default 512)")
    s.add_argument("--min-conf", type=float, default=3.0,
                   help="MASt3R confidence threshold for pairs and points (default 3)")
    s.add_argument("--max-points", type=int_in(1, 100_000_000), default=300_000,
                   help="at most this many initial Gaussians (default 300000)")
    s.add_argument("--align-iters", type=int_in(0, 1_000_000), default=300,
                   help="global alignment iterations (default 300)")
    s.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default=None,
                   help="precision of MASt3R's weights in memory (default: as stored)")
    train_opts(s)
    s.set_defaults(func=_cmd_scan)
    return p


def main(argv=None):
    from .cli_errors import run

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted before or after the subcommand
    parser = build_parser()
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args([a for a in argv if a != "--debug"])
    return run(args.command, args.func, args, debug=debug)


if __name__ == "__main__":
    sys.exit(main())

"""Orchestration shared by the command line and the Python API: train a scene
from views, evaluate it, and write every output atomically."""
import csv
import io as _io
import os

import numpy as np

from ._autograd import no_grad
from .evaluate import evaluate_views
from .gaussians import Gaussians
from .trainer import Trainer, TrainConfig, cameras_json, fmt_time, write_json


def train_scene(train_views, test_views, points, scene_extent, out_dir, config=None, resume=None,
                progress=True, log=print, checkpoint_every=1000, device=None):
    """Trains Gaussians initialised from `points` (xyz, rgb) and writes to out_dir:
    scene.ply, cameras.json, checkpoint.safetensors (also every `checkpoint_every`
    steps; 0: only at the end), curve.csv, metrics.json and renders/ (held-out
    views and ground-truth|render side by sides). Returns (trainer, metrics).
    Ctrl-C or SIGTERM stops training early; the outputs are still written in
    full, with "interrupted": true in metrics.json. Temporary files a hard kill
    left in out_dir are removed first. `device` ("cpu", "cuda", "metal", "sim",
    "auto"; None: config.device, else the default device) is where training
    runs; the outputs do not depend on it."""
    from .checkpoint import FILENAME
    from .io.atomic import remove_stale_temporaries
    from .stop import graceful_stop

    cfg = config or TrainConfig()
    os.makedirs(out_dir, exist_ok=True)
    for d in (out_dir, os.path.join(out_dir, "renders")):
        remove_stale_temporaries(d)
    xyz, rgb = points
    g = Gaussians.from_points(xyz, rgb, sh_degree=cfg.sh_degree)
    trainer = Trainer(train_views, g, scene_extent, cfg, device=device)
    if resume:
        trainer.load_checkpoint(resume)
        log(f"resumed from {resume} at step {trainer.step}")
    log(f"training {len(g)} initial Gaussians on {len(train_views)} views "
        f"({len(test_views)} held out) for {cfg.iters} steps on {trainer.device}")
    ckpt = os.path.join(out_dir, FILENAME)
    with graceful_stop():  # a signal while the outputs are written waits for them
        interrupted = trainer.train(progress=progress, checkpoint_path=ckpt,
                                    checkpoint_every=checkpoint_every)
        if interrupted:
            log(f"interrupted at step {trainer.step}: writing a valid checkpoint and scene")
        metrics = export_outputs(trainer, train_views, test_views, out_dir, log=log,
                                 extra={"interrupted": interrupted})
    return trainer, metrics


def export_outputs(trainer, train_views, test_views, out_dir, log=print, extra=None):
    n_kept = trainer.g.save_ply(os.path.join(out_dir, "scene.ply"))
    write_json(os.path.join(out_dir, "cameras.json"),
               {"train": cameras_json(train_views), "test": cameras_json(test_views)})
    _write_curve(os.path.join(out_dir, "curve.csv"), trainer.history)
    metrics = {"steps": trainer.step, "gaussians": len(trainer.g), "gaussians_exported": n_kept,
               "train_seconds": trainer.elapsed()}
    if len(test_views):
        ev = trainer.evaluate(test_views, render_dir=os.path.join(out_dir, "renders"))
        metrics.update(test=ev["views"], mean=ev["mean"])
        log(f"held-out PSNR {ev['mean']['psnr']:.2f} dB, SSIM {ev['mean']['ssim']:.4f} "
            f"over {len(test_views)} views")
    metrics.update(extra or {})
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    log(f"wrote {out_dir}/scene.ply ({n_kept} Gaussians) in {fmt_time(trainer.elapsed())} of training")
    return metrics


def _write_curve(path, history):
    from .io.atomic import atomic_write

    buf = _io.StringIO()
    w = csv.writer(buf)
    w.writerow(["step", "loss", "psnr", "gaussians", "seconds"])
    for row in history:
        w.writerow([row[0], f"{row[1]:.6f}", f"{row[2]:.4f}", row[3], f"{row[4]:.2f}"])
    with atomic_write(path, "w") as f:
        f.write(buf.getvalue())


def render_views(gaussians, views, out_dir, progress=True):
    """Renders `gaussians` from each view to out_dir/<name>.png."""
    from .io.images import save_png

    os.makedirs(out_dir, exist_ok=True)
    it = views
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(views, desc="render", unit="view")
    with no_grad():
        for v in it:
            img, _, _ = gaussians.render(v)
            base = os.path.splitext(os.path.basename(v["name"]))[0]
            save_png(os.path.join(out_dir, base + ".png"), np.clip(img.numpy(), 0, 1))


def evaluate_scene(gaussians, views):
    """PSNR / SSIM of a scene on `views` (no files written)."""
    return evaluate_views(gaussians, views)


__all__ = ["train_scene", "export_outputs", "render_views", "evaluate_scene"]

"""Training on a GPU device beside gsplat (issue 14's bar: the original 3DGS
recipe, 7000 steps, held-out PSNR >= gsplat's - 0.3 dB in <= 0.5x its time).

Reads the scenes gsplat's anchor script trains on (../shared/gpu/data/*.npz:
images, K, world-to-camera viewmats, COLMAP points and colours) with the same
split (every 8th image held out) and the same scene scale (1.1x the largest
camera distance from the cameras' mean). Run on the H200, in the same session
as `python3 gsplat_train.py DATA.npz 7000` (the anchor):
  SPLATCORE_GPU_DATA=.anchors/data SPLATCORE_BUILD_DIR=build/h200 PYTHONPATH=python \\
      python -m pytest bench/bench_gpu_train.py -q -s
SPLATCORE_TRAIN_ITERS (default 7000) and SPLATCORE_TRAIN_DEVICE (default cuda)
change the run; SPLATCORE_TRAIN_TIMELINE=1 brackets every kernel with CUDA events
and prints the share of the run the GPU idles (waiting for the host); SPLATCORE_TRAIN_CPROFILE=1 prints where the host's time goes
(cProfile: Python functions and the C++ calls they make); with SPLATCORE_PROFILE=1 it also prints the time per step of
each GPU kernel (each then runs alone: the run is slower) and host stage. Prints one JSON line per scene: held-out PSNR / SSIM,
Gaussians, training seconds (the loop only, as gsplat's script times it).
"""
import glob
import json
import os
import time

import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore.gaussians import Gaussians
from splatcore.trainer import Trainer, TrainConfig

DATA = os.environ.get("SPLATCORE_GPU_DATA", "")
SCENES = sorted(glob.glob(os.path.join(DATA, "*.npz"))) if DATA else []
DEVICE = os.environ.get("SPLATCORE_TRAIN_DEVICE", "cuda")
ITERS = int(os.environ.get("SPLATCORE_TRAIN_ITERS", "7000"))

if not SCENES:
    pytest.skip("set SPLATCORE_GPU_DATA to a folder of gsplat anchor scenes (*.npz)", allow_module_level=True)
if DEVICE != "cpu" and sc.device_count(DEVICE.split(":")[0]) == 0:
    pytest.skip(f"no {DEVICE} device to train on", allow_module_level=True)


def load_views(path):
    d = np.load(path)
    images = d["images"].astype(np.float32) / 255.0
    H, W = images.shape[1:3]
    views = [dict(image=images[i], viewmat=d["viewmats"][i], K=d["K"][i], width=W, height=H,
                  name=str(d["names"][i])) for i in range(len(images))]
    centers = np.stack([np.linalg.inv(v)[:3, 3] for v in d["viewmats"]])
    extent = float(np.linalg.norm(centers - centers.mean(0), axis=1).max()) * 1.1
    return views, d["points"], d["colors"], extent


@pytest.mark.parametrize("path", SCENES, ids=[os.path.basename(p) for p in SCENES])
def test_train_7000(path):
    views, points, colors, extent = load_views(path)
    train = [v for i, v in enumerate(views) if i % 8 != 0]
    test = [v for i, v in enumerate(views) if i % 8 == 0]
    g = Gaussians.from_points(points, colors, sh_degree=3, device=DEVICE)
    trainer = Trainer(train, g, extent, TrainConfig(iters=ITERS), device=DEVICE)
    if DEVICE != "cpu":
        sc.synchronize(DEVICE)
    _core._gpu_launch_count(True)
    _core._gpu_wait_seconds(True)
    prof = None
    if os.environ.get("SPLATCORE_TRAIN_CPROFILE"):  # where the host's time per step goes
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    timeline = bool(os.environ.get("SPLATCORE_TRAIN_TIMELINE")) and DEVICE.startswith("cuda")
    if timeline:  # every kernel bracketed by events: the GPU's idle share of the run
        _core._gpu_timeline(True)
    t0 = time.perf_counter()
    trainer.train(progress=False, log_every=500)
    if DEVICE != "cpu":
        sc.synchronize(DEVICE)
    seconds = time.perf_counter() - t0
    if timeline:
        t = _core._gpu_timeline(False)
        print(f"\n[gpu-train] GPU timeline (brackets slow the host a little: an upper bound on idle): kernels busy "
              f"{t['busy_seconds']:.2f} s of a {t['span_seconds']:.2f} s span: the GPU idles "
              f"{100 * (1 - t['busy_seconds'] / max(t['span_seconds'], 1e-12)):.1f}% of the run")
    if prof is not None:
        import io
        import pstats
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(30)
        print("\n[gpu-train] host profile (cProfile, tottime; SPLATCORE_TRAIN_CPROFILE)\n" + buf.getvalue())
    ev = trainer.evaluate(test)
    res = {"scene": os.path.basename(path), "device": DEVICE, "iters": ITERS, "psnr": ev["mean"]["psnr"],
           "ssim": ev["mean"]["ssim"], "gaussians": len(trainer.g), "train_seconds": seconds,
           "ms_per_step": seconds / ITERS * 1e3,
           "launches_per_step": _core._gpu_launch_count() / ITERS,  # kernels + GEMMs: the host's work
           # the host's own time per step (not waiting for the GPU): a step's host overhead
           # is the part of it the GPU waits for the host, at most this
           "host_busy_ms_per_step": (seconds - _core._gpu_wait_seconds()) / ITERS * 1e3}
    print("\n[gpu-train] " + json.dumps(res))
    if os.environ.get("SPLATCORE_PROFILE"):  # per step: each GPU kernel (alone) and each host stage
        for name, total in sorted(sc._core._stage_times(True), key=lambda kv: -kv[1])[:25]:
            print(f"[gpu-train] stage {name:40s} {total / ITERS * 1e3:8.3f} ms/step")
    out = os.environ.get("SPLATCORE_BENCH_JSON")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(res) + "\n")
    assert np.isfinite(res["psnr"])

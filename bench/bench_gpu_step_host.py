"""Where the host's time goes in one GPU training step (issue 14: per-step host
overhead under 10% of a step). Trains a gsplat anchor scene (SPLATCORE_GPU_DATA,
as bench_gpu_train.py; the first scene, llff_fern_ds2 by preference) for a few
hundred warm-up steps, then runs the steps of Trainer.train_step one phase at a
time and prints, per phase, the host's busy time (wall minus its waits on the
device's queue, _core._gpu_wait_seconds) and the kernels + GEMMs it queued;
then, with every kernel bracketed by CUDA events (_core._gpu_timeline), the
share of a step the GPU spends idle, waiting for the host:
  SPLATCORE_GPU_DATA=.anchors/data pytest bench/bench_gpu_step_host.py -q -s
With SPLATCORE_PROFILE=1 it also prints each kernel's time per step (each then runs
alone, so the host times are not a step's).
"""
import glob
import os
import time

import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore.gaussians import Gaussians
from splatcore.loss import gs_loss
from splatcore.trainer import Trainer, TrainConfig

DATA = os.environ.get("SPLATCORE_GPU_DATA", "")
SCENES = sorted(glob.glob(os.path.join(DATA, "*.npz"))) if DATA else []
DEVICE = os.environ.get("SPLATCORE_TRAIN_DEVICE", "cuda")

if not SCENES:
    pytest.skip("set SPLATCORE_GPU_DATA to a folder of gsplat anchor scenes (*.npz)", allow_module_level=True)
if sc.device_count(DEVICE.split(":")[0]) == 0:
    pytest.skip(f"no {DEVICE} device", allow_module_level=True)


def test_step_phases_host_time():
    from bench_gpu_train import load_views

    path = next((p for p in SCENES if "fern_ds2" in p), SCENES[0])
    views, points, colors, extent = load_views(path)
    train = [v for i, v in enumerate(views) if i % 8 != 0]
    g = Gaussians.from_points(points, colors, sh_degree=3, device=DEVICE)
    tr = Trainer(train, g, extent, TrainConfig(iters=7000), device=DEVICE)
    warmup = int(os.environ.get("SPLATCORE_STEP_HOST_WARMUP", "600"))
    for _ in range(warmup):  # past the first densification steps
        tr.train_step()
    sc.synchronize(DEVICE)
    phases = ["render", "target", "loss", "backward", "strategy", "adam", "zero_grad"]
    busy = dict.fromkeys(phases, 0.0)
    launches = dict.fromkeys(phases, 0)
    steps = int(os.environ.get("SPLATCORE_STEP_HOST_STEPS", "400"))
    clock = time.perf_counter

    def timed(name, fn):
        w0, n0, t0 = _core._gpu_wait_seconds(), _core._gpu_launch_count(), clock()
        r = fn()
        busy[name] += (clock() - t0) - (_core._gpu_wait_seconds() - w0)
        launches[name] += _core._gpu_launch_count() - n0
        return r

    sc._core._stage_times(True)
    t_all, w_all = clock(), _core._gpu_wait_seconds()
    for _ in range(steps):  # Trainer.train_step, phase by phase (no random background here)
        i = tr._next_index()
        view = tr.views[i]
        tr.means_schedule.step(tr.step)
        img, alpha, info = timed("render", lambda: tr.render(view))
        target = timed("target", lambda: tr._training_image(i).target(None))
        loss = timed("loss", lambda: gs_loss(img, target, tr.cfg.lambda_ssim))
        timed("backward", loss.backward)
        info["width"], info["height"] = int(view["width"]), int(view["height"])
        timed("strategy", lambda: tr.strategy.step_post_backward(tr.g, tr.opt, info, tr.step))
        timed("adam", tr.opt.step)
        timed("zero_grad", tr.opt.zero_grad)
        tr.step += 1
    sc.synchronize(DEVICE)
    wall = clock() - t_all
    waits = _core._gpu_wait_seconds() - w_all
    print(f"\n[step-host] {os.path.basename(path)}, {len(tr.g)} Gaussians, {steps} steps: "
          f"{wall / steps * 1e3:.3f} ms a step, host busy {(wall - waits) / steps * 1e3:.3f} ms, "
          f"waiting {waits / steps * 1e3:.3f} ms")
    for name in phases:
        print(f"[step-host] {name:10s} {busy[name] / steps * 1e3:7.3f} ms busy, "
              f"{launches[name] / steps:5.1f} launches a step")
    if os.environ.get("SPLATCORE_PROFILE"):  # each kernel alone (the host times above are then not a step's)
        for name, total in sorted(sc._core._stage_times(True), key=lambda kv: -kv[1])[:30]:
            print(f"[step-host] stage {name:40s} {total / steps * 1e3:8.3f} ms/step")
    # the GPU's own view: every kernel bracketed by events (which costs the host a
    # little more: an upper bound on the idle time); memsets and copies count as idle
    if DEVICE.startswith("cuda"):
        _core._gpu_timeline(True)
        for _ in range(steps):
            tr.train_step()
        t = _core._gpu_timeline(False)
        print(f"[step-host] GPU timeline over {steps} more steps: kernels busy {t['busy_seconds'] / steps * 1e3:.3f} ms "
              f"of a {t['span_seconds'] / steps * 1e3:.3f} ms step ({t['launches'] / steps:.1f} launches): the GPU idles "
              f"{100 * (1 - t['busy_seconds'] / max(t['span_seconds'], 1e-12)):.1f}% of the step")
    # the cost of one tiny op through the Python API (a 1-element add)
    a = sc.tensor(np.ones(1, np.float32), device=DEVICE)
    for _ in range(100):
        a + a
    sc.synchronize(DEVICE)
    t0 = clock()
    for _ in range(2000):
        a + a
    print(f"[step-host] tiny op {1e6 * (clock() - t0) / 2000:.2f} us host time")
    assert wall > 0

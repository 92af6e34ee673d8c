"""Milliseconds per training iteration (with the Gaussian count) on the demo
scene and, when ../shared is present, on llff_fern at --downscale 8.

Run: python -m pytest bench/bench_train.py -q -s
Each case first trains past the first densification steps so the count is
realistic, then times further iterations (densification included at its
normal rate).
"""
import os
import time

import pytest

from splatcore.cli import demo_config
from splatcore.gaussians import Gaussians
from splatcore.trainer import Trainer, TrainConfig

FERN = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "llff_fern")


def timed_iterations(trainer, warm_steps, steps):
    trainer.cfg.iters = warm_steps
    trainer.train(progress=False)
    trainer.cfg.iters = warm_steps + steps
    t = time.perf_counter()
    trainer.train(progress=False)
    return (time.perf_counter() - t) / steps


def test_demo_scene_iteration():
    from splatcore.datasets.synthetic import make_dataset

    ds = make_dataset(n_views=48, width=128, height=96, seed=0)
    xyz, rgb = ds.points
    t = Trainer(ds.train, Gaussians.from_points(xyz, rgb, sh_degree=1), ds.scene_extent(), demo_config(3000))
    s = timed_iterations(t, 1000, 100)
    print(f"\ndemo scene 128x96: {s * 1e3:.1f} ms/iteration with {len(t.g)} Gaussians")


@pytest.mark.skipif(not os.path.isdir(FERN), reason="needs ../shared/data/llff_fern")
def test_fern_iteration():
    from splatcore.io.dataset import ColmapDataset

    train = ColmapDataset(FERN, split="train", downscale=8)
    pts = train.points
    t = Trainer(train, Gaussians.from_points(pts.xyz, pts.rgb, sh_degree=3), train.scene_extent(),
                TrainConfig(iters=7000))
    s = timed_iterations(t, 1500, 100)
    w, h = train[0]["width"], train[0]["height"]
    print(f"\nllff_fern --downscale 8 ({w}x{h}): {s * 1e3:.1f} ms/iteration with {len(t.g)} Gaussians")

"""Training on the synthetic scene: it learns, it is deterministic, it resumes
exactly, densification changes the set, and the command line writes its files."""
import json
import os

import numpy as np
import pytest

import splatcore as sc
from splatcore.datasets.synthetic import make_dataset
from splatcore.gaussians import Gaussians
from splatcore.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def tiny():
    return make_dataset(n_views=10, width=40, height=30, seed=1, n_points=600)


def make_trainer(ds, iters=60, seed=0, **densify):
    cfg = TrainConfig(seed=seed, sh_degree=1).scaled_to(iters)
    for k, v in densify.items():
        setattr(cfg.densify, k, v)
    xyz, rgb = ds.points
    g = Gaussians.from_points(xyz, rgb, sh_degree=1)
    return Trainer(ds.train, g, ds.scene_extent(), cfg)


def test_from_points_initialisation():
    rng = np.random.default_rng(0)
    xyz = rng.standard_normal((200, 3))
    rgb = rng.integers(0, 256, (200, 3)).astype(np.uint8)
    g = Gaussians.from_points(xyz, rgb, sh_degree=3)
    a = g.numpy()
    assert a["shN"].shape == (200, 15, 3)
    # scale = mean distance to the 3 nearest neighbours
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=2)
    np.fill_diagonal(d, np.inf)
    ref = np.sort(d, axis=1)[:, :3].mean(1)
    np.testing.assert_allclose(np.exp(a["scales"][:, 0]), ref, rtol=1e-5)
    np.testing.assert_allclose(1 / (1 + np.exp(-a["opacities"])), 0.1, rtol=1e-5)
    colour = 0.28209479177387814 * a["sh0"][:, 0] + 0.5
    np.testing.assert_allclose(colour, rgb / 255.0, atol=1e-5)
    with pytest.raises(ValueError, match="xyz"):
        Gaussians.from_points(np.zeros((0, 3)))


def test_training_reduces_loss_and_is_deterministic(tiny):
    t1 = make_trainer(tiny, iters=80)
    t1.train(progress=False)
    losses = [h[1] for h in t1.history]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses
    t2 = make_trainer(tiny, iters=80)
    t2.train(progress=False)
    for name in Gaussians.NAMES:
        np.testing.assert_array_equal(getattr(t1.g, name).numpy(), getattr(t2.g, name).numpy())


def test_densification_grows_and_prunes(tiny):
    t = make_trainer(tiny, iters=120, refine_start=10, refine_every=20, grow_grad2d=1e-6)
    n0 = len(t.g)
    t.train(progress=False)
    assert len(t.g) > n0
    # the optimizer follows the new tensors: a step updates them
    for name in Gaussians.NAMES:
        assert getattr(t.g, name).shape[0] == len(t.g)


def test_checkpoint_resumes_exactly(tiny, tmp_path):
    ref = make_trainer(tiny, iters=60, refine_start=10, refine_every=15, grow_grad2d=1e-6)
    ref.cfg.iters = 30
    ref.train(progress=False)
    ckpt = str(tmp_path / "ck.safetensors")
    ref.save_checkpoint(ckpt)
    ref.cfg.iters = 60
    ref.train(progress=False)

    other = make_trainer(tiny, iters=60, refine_start=10, refine_every=15, grow_grad2d=1e-6)
    other.load_checkpoint(ckpt)
    assert other.step == 30
    other.train(progress=False)
    for name in Gaussians.NAMES:
        np.testing.assert_array_equal(getattr(ref.g, name).numpy(), getattr(other.g, name).numpy())


def test_ply_roundtrip_after_training(tiny, tmp_path):
    t = make_trainer(tiny, iters=20)
    t.train(progress=False)
    path = str(tmp_path / "scene.ply")
    n = t.g.save_ply(path)
    g2 = Gaussians.load_ply(path)
    assert len(g2) == n
    keep = 1 / (1 + np.exp(-t.g.opacities.numpy())) >= 1 / 255
    for name in Gaussians.NAMES:
        np.testing.assert_array_equal(getattr(g2, name).numpy(), getattr(t.g, name).numpy()[keep])


def test_cli_demo_writes_outputs(tmp_path):
    from splatcore.cli import main

    out = str(tmp_path / "demo")
    rc = main(["demo", "-o", out, "--iters", "40", "--views", "9", "--width", "32", "--height", "24", "-q"])
    assert rc == 0
    for f in ("scene.ply", "cameras.json", "metrics.json", "curve.csv", "checkpoint.safetensors"):
        assert os.path.exists(os.path.join(out, f)), f
    m = json.load(open(os.path.join(out, "metrics.json")))
    assert np.isfinite(m["mean"]["psnr"]) and m["mean"]["psnr"] > 10
    assert any(name.endswith("_compare.png") for name in os.listdir(os.path.join(out, "renders")))
    # no temporary files left behind
    assert not [f for f in os.listdir(out) if ".tmp" in f]

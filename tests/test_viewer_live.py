"""--viewer: the live view follows training (scene every N steps, status, final
numbers) without changing what training computes."""
import numpy as np
import pytest

from splatcore import trainer as trainer_mod
from splatcore.datasets.synthetic import make_dataset
from splatcore.gaussians import Gaussians
from splatcore.trainer import TrainConfig, Trainer
from splatcore.viewer.live import live_viewer
from splatcore.viewer.server import free_port


@pytest.fixture(scope="module")
def tiny():
    return make_dataset(n_views=8, width=40, height=30, seed=2, n_points=400)


def _trainer(ds, iters):
    cfg = TrainConfig(seed=0, sh_degree=1).scaled_to(iters)
    xyz, rgb = ds.points
    return Trainer(ds.train, Gaussians.from_points(xyz, rgb, sh_degree=1), ds.scene_extent(), cfg)


def test_live_view_follows_training_and_changes_nothing(tiny):
    ref = _trainer(tiny, 40)
    ref.train(progress=False)
    t = _trainer(tiny, 40)
    with live_viewer(port=free_port("127.0.0.1", 0), every=10, wait=False, log=lambda *_: None) as live:
        t.train(progress=False)
        live.finish({"steps": 40, "gaussians": len(t.g), "mean": {"psnr": 21.5, "ssim": 0.9}})
        v = live.viewer
        assert not v.worker.errors
        # steps 1 (first), 10, 20, 30, 40
        assert live.updates == 5
        np.testing.assert_array_equal(v.scene.means, t.g.means.numpy())
        assert v.scene.means is not t.g.means.numpy()   # a copy, not the live tensor
        assert "held-out PSNR 21.50 dB" in v.status.content
    assert trainer_mod._STEP_HOOKS == []
    for name in Gaussians.NAMES:   # the hook does not perturb training
        np.testing.assert_array_equal(getattr(t.g, name).numpy(), getattr(ref.g, name).numpy())


def test_demo_command_with_viewer(tmp_path, capsys):
    import json

    from splatcore.cli import main

    port = free_port("127.0.0.1", 0)
    rc = main(["demo", "-o", str(tmp_path / "d"), "--iters", "12", "--views", "8", "--width", "32",
               "--height", "24", "-q", "--viewer", "--viewer-no-wait", "--viewer-every", "5",
               "--port", str(port)])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"viewer: http://127.0.0.1:{port}" in out
    assert json.load(open(tmp_path / "d" / "metrics.json"))["steps"] == 12
    with pytest.raises(ValueError, match=">= 1 step"):
        from splatcore.viewer.live import LiveViewer

        LiveViewer(None, every=0)

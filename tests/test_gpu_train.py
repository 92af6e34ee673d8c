"""Training on a GPU device (the simulator in CI; CUDA / Metal where present)
against the same run on the CPU, the reference: same seed, same steps, loss
values and parameters within float32 tolerance. Densification on the device
keeps every parameter and Adam moment row-aligned and on the device; a
checkpoint written on one device resumes on another; --device parsing.

Problems are tiny (32x24 images, about 100 Gaussians, a few steps): the
simulator runs GPU kernels on the CPU, 50-1000x slower than the CPU backend."""
import os

import numpy as np
import pytest

import splatcore as sc
from splatcore.datasets.synthetic import make_dataset
from splatcore.gaussians import Gaussians
from splatcore.optim import Adam
from splatcore.strategy import DefaultStrategy, DensifyConfig
from splatcore.trainer import TrainConfig, Trainer

# Tolerances of a GPU run against the CPU run. The kernels compute in float32
# with another summation order (SSIM, the loss, the rasterizer's backward), so
# values differ by float32 rounding; a few Adam steps keep that at the 1e-6
# level (measured: 3e-6 on quaternions after 12 steps with densification).
LOSS_RTOL = 1e-4
PARAM_ATOL = 1e-4


@pytest.fixture(scope="module")
def scene():
    return make_dataset(n_views=4, width=32, height=24, seed=1, n_points=100)


def _config(iters, random_background=True):
    """A schedule that refines at steps 4 and 8 (clone, split and prune all happen
    on this scene) and resets opacities at step 6."""
    cfg = TrainConfig(seed=0, sh_degree=1, random_background=random_background).scaled_to(iters)
    d = cfg.densify
    d.refine_start, d.refine_stop, d.refine_every, d.reset_every = 3, iters, 4, 6
    d.grow_grad2d = 2e-3      # CPU run: +18 clone +14 split -2 prune, reset, +36 +1 -12
    d.grow_scale3d = 0.1
    d.prune_opacity = 0.095
    return cfg


def _trainer(scene, device, iters=9, **kw):
    g = Gaussians.from_points(*scene.points, sh_degree=1)
    return Trainer(scene.train, g, scene.scene_extent(), _config(iters, **kw), device=device)


def _on(t, device):
    return sc.tensor(np.zeros(1), device=device).device == t.device


def _moments(opt):
    """[(param, exp_avg, exp_avg_sq)] per group, as the optimizer holds them."""
    out = []
    for gi, group in enumerate(opt.param_groups):
        st = opt._core.get_state(gi, 0)
        out.append((group.params[0], st["exp_avg"], st["exp_avg_sq"]))
    return out


def _assert_aligned_on(trainer_or_parts, device):
    """Every parameter, Adam moment and statistic has one row per Gaussian and
    lives on `device`; the optimizer holds the Gaussians' own tensors."""
    g, opt, strat = trainer_or_parts
    n = len(g)
    for name, (p, m, v) in zip(Gaussians.NAMES, _moments(opt)):
        assert p.data_ptr == getattr(g, name).data_ptr, name
        for t in (p, m, v):
            assert t is not None and t.shape[0] == n, (name, None if t is None else t.shape, n)
            assert _on(t, device), (name, t.device, device)
    for t in (strat._grad_sum, strat._count):
        if t is not None:
            assert t.shape[0] == n and _on(t, device)


# ---- whole training steps: device against the CPU --------------------------------------

def test_training_steps_on_device_match_cpu(scene, gpu_device):
    cpu, dev = _trainer(scene, "cpu"), _trainer(scene, gpu_device)
    assert dev.g.device != "cpu" and _on(dev.g.means, gpu_device)
    for _ in range(dev.cfg.iters):
        loss_c, _, _, msg_c = cpu.train_step()
        loss_d, img_d, target_d, msg_d = dev.train_step()
        assert _on(img_d, gpu_device) and _on(target_d, gpu_device)
        assert msg_d == msg_c, (cpu.step, msg_c, msg_d)  # same densification decisions
        np.testing.assert_allclose(float(loss_d), float(loss_c), rtol=LOSS_RTOL)
        assert len(dev.g) == len(cpu.g)
    for name in Gaussians.NAMES:
        np.testing.assert_allclose(getattr(dev.g, name).numpy(), getattr(cpu.g, name).numpy(),
                                   atol=PARAM_ATOL, err_msg=name)
    for (_, mc, vc), (_, md, vd) in zip(_moments(cpu.opt), _moments(dev.opt)):
        np.testing.assert_allclose(md.numpy(), mc.numpy(), atol=PARAM_ATOL)
        np.testing.assert_allclose(vd.numpy(), vc.numpy(), rtol=1e-3, atol=1e-12)
    _assert_aligned_on((dev.g, dev.opt, dev.strategy), gpu_device)


def test_refine_messages_show_every_kind_of_change(scene):
    """The CPU reference run of the test above clones, splits, prunes and resets."""
    t = _trainer(scene, "cpu")
    msgs = [t.train_step()[3] for _ in range(t.cfg.iters)]
    refined = [m for m in msgs if m]
    assert any("opacity reset" in m for m in refined), msgs
    counts = np.array([[int(w[1:]) for w in m.split()[:5:2]] for m in refined if "clone" in m])
    assert (counts.sum(0) > 0).all(), msgs  # clones, splits and prunes all happened


def test_device_step_reads_nothing_back(scene, gpu_device, monkeypatch):
    """A step that does not refine reads no tensor on the host from Python (the
    loss included: it is read when the progress bar / log updates)."""
    t = _trainer(scene, gpu_device)
    t.train_step()
    reads = []
    for name in ("numpy", "item", "tolist", "__float__", "__int__", "__bool__", "__array__",
                 "__repr__", "__format__"):
        if hasattr(sc.Tensor, name):
            orig = getattr(sc.Tensor, name)

            def spy(self, *a, _orig=orig, _name=name, **k):
                if self.device != "cpu":
                    reads.append(_name)
                return _orig(self, *a, **k)
            monkeypatch.setattr(sc.Tensor, name, spy)
    loss, _, _, refined = t.train_step()  # step 1: no refinement, no reset
    assert refined == "" and reads == []
    monkeypatch.undo()
    assert np.isfinite(float(loss))


def test_images_are_uploaded_once(scene, gpu_device):
    t = _trainer(scene, gpu_device)
    for _ in range(len(scene.train)):
        t.train_step()
    first = {i: img.image for i, img in t._images.items()}
    assert sorted(first) == list(range(len(scene.train)))  # every view, once
    for _ in range(len(scene.train)):
        t.train_step()
    for i, img in t._images.items():
        assert img.image is first[i] and _on(img.image, gpu_device)


# ---- densification alone (no rasterizer): device against the CPU ------------------------

def _setup_refine(device, n=24, seed=5):
    """Gaussians with non-zero Adam moments and statistics chosen so that some
    clone, some split and some are pruned; the same numbers on every device."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([0.005, 0.05, 0.3], n)
    opac = rng.choice([0.5, 0.001], n, p=[0.7, 0.3])
    a = dict(means=rng.standard_normal((n, 3)),
             scales=np.log(scale)[:, None] + rng.uniform(-0.01, 0.0, (n, 3)),
             quats=rng.standard_normal((n, 4)), opacities=np.log(opac / (1 - opac)),
             sh0=rng.standard_normal((n, 1, 3)), shN=rng.standard_normal((n, 3, 3)))
    g = Gaussians(**a, device=device)
    opt = Adam([{"params": [getattr(g, k)], "name": k, "lr": 1e-3} for k in Gaussians.NAMES])
    for _ in range(2):
        for k in Gaussians.NAMES:
            t = getattr(g, k)
            t.grad = sc.tensor(rng.standard_normal(tuple(t.shape)).astype(np.float32), device=device)
        opt.step()
    strat = DefaultStrategy(DensifyConfig(), scene_extent=1.0, seed=3)
    # statistics by accumulation, as training makes them: a means2d gradient per view
    for _ in range(3):
        m2d = sc.tensor(np.zeros((n, 2), np.float32), device=device, requires_grad=True)
        m2d.grad = sc.tensor((rng.standard_normal((n, 2)) * 4e-6).astype(np.float32), device=device)
        radii = sc.tensor(rng.integers(0, 3, (n, 2)).astype(np.int32), device=device)
        strat.step_post_backward(g, opt, {"means2d": m2d, "radii": radii, "width": 64,
                                          "height": 48}, step=1)
    return g, opt, strat


@pytest.mark.parametrize("step", [1000, 3500])  # before / after the first reset (size pruning)
def test_refine_on_device_matches_cpu(gpu_device, step):
    ref = _setup_refine("cpu")
    dev = _setup_refine(gpu_device)
    np.testing.assert_allclose(dev[2].grad2d, ref[2].grad2d, rtol=1e-6)
    np.testing.assert_array_equal(dev[2].count, ref[2].count)
    msg_ref = ref[2]._refine(ref[0], ref[1], step)
    msg_dev = dev[2]._refine(dev[0], dev[1], step)
    assert msg_dev == msg_ref
    clones, splits, pruned = (int(w[1:]) for w in msg_ref.split()[::2])
    assert clones > 0 and splits > 0 and pruned > 0, msg_ref  # every path ran
    assert len(dev[0]) == len(ref[0])
    _assert_aligned_on(dev, gpu_device)
    for name in Gaussians.NAMES:
        np.testing.assert_allclose(getattr(dev[0], name).numpy(), getattr(ref[0], name).numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    for (_, mc, vc), (_, md, vd) in zip(_moments(ref[1]), _moments(dev[1])):
        np.testing.assert_array_equal(md.numpy(), mc.numpy())  # gathered rows and zeros: exact
        np.testing.assert_array_equal(vd.numpy(), vc.numpy())
    assert not dev[2].grad2d.any() and len(dev[2].grad2d) == len(dev[0])


def test_opacity_reset_on_device(gpu_device):
    g, opt, strat = _setup_refine(gpu_device)
    before = g.opacities.numpy().astype(np.float64)
    strat._reset_opacity(g, opt)
    cap = np.log(0.01 / 0.99)
    np.testing.assert_allclose(g.opacities.numpy(), np.minimum(before, cap), rtol=1e-6)
    _assert_aligned_on((g, opt, strat), gpu_device)
    _, m, v = _moments(opt)[Gaussians.NAMES.index("opacities")]
    assert not m.numpy().any() and not v.numpy().any()  # the opacity moments restart


def test_refine_cap_on_device_matches_cpu(gpu_device):
    """At max_gaussians only the strongest gradients grow, on every device alike."""
    out = []
    for device in ("cpu", gpu_device):
        g, opt, strat = _setup_refine(device)
        strat.cfg.max_gaussians = len(g) + 6  # budget 6: the 3 strongest grow
        msg = strat._refine(g, opt, 1000)
        out.append((msg, g.numpy()))
        _assert_aligned_on((g, opt, strat), device)
    assert out[0][0] == out[1][0]
    clones, splits, _ = (int(w[1:]) for w in out[0][0].split()[::2])
    assert clones + splits == 3
    for name in Gaussians.NAMES:
        np.testing.assert_allclose(out[1][1][name], out[0][1][name], rtol=1e-5, atol=1e-6)


# ---- checkpoints and PLY files do not depend on the device ---------------------------------

def _state_of(t):
    return (t.g.numpy(), [(m.numpy(), v.numpy()) for _, m, v in _moments(t.opt)],
            t.strategy.grad2d, t.strategy.count)


def _fake_steps(t, rng, steps=2):
    """Optimizer steps with given gradients (no rasterizer): non-zero moments and
    statistics to carry through a checkpoint."""
    for _ in range(steps):
        for name in Gaussians.NAMES:
            p = getattr(t.g, name)
            p.grad = sc.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32),
                               device=t.device)
        t.opt.step()
    t.strategy.grad2d = rng.uniform(0, 1e-3, len(t.g))
    t.strategy.count = rng.integers(0, 5, len(t.g)).astype(np.float64)
    t.step = steps


@pytest.mark.parametrize("direction", ["device_to_cpu", "cpu_to_device"])
def test_checkpoint_moves_between_devices_exactly(scene, gpu_device, direction, tmp_path):
    src_dev, dst_dev = ("cpu", gpu_device)[::-1 if direction == "device_to_cpu" else 1]
    src = _trainer(scene, src_dev)
    _fake_steps(src, np.random.default_rng(2))
    path = str(tmp_path / "ck.safetensors")
    src.save_checkpoint(path)
    dst = _trainer(scene, dst_dev)
    dst.load_checkpoint(path)
    assert dst.step == src.step and _on(dst.g.means, dst_dev)
    _assert_aligned_on((dst.g, dst.opt, dst.strategy), dst_dev)
    a, b = _state_of(src), _state_of(dst)
    for name in Gaussians.NAMES:
        np.testing.assert_array_equal(b[0][name], a[0][name])
    for (ma, va), (mb, vb) in zip(a[1], b[1]):
        np.testing.assert_array_equal(mb, ma)
        np.testing.assert_array_equal(vb, va)
    np.testing.assert_array_equal(b[2], a[2])
    np.testing.assert_array_equal(b[3], a[3])


def test_checkpoint_does_not_record_the_device(scene, gpu_device, tmp_path):
    from splatcore import checkpoint

    t = _trainer(scene, gpu_device)
    path = str(tmp_path / "ck.safetensors")
    t.save_checkpoint(path)
    state = checkpoint.load(path)
    assert "device" not in state["config"]
    assert b'"device"' not in open(path, "rb").read()


def test_ply_from_device_equals_ply_from_cpu(gpu_device, tmp_path):
    g, _, _ = _setup_refine(gpu_device)
    cpu = Gaussians(**g.numpy(), device="cpu")
    assert g.save_ply(str(tmp_path / "d.ply")) == cpu.save_ply(str(tmp_path / "c.ply"))
    assert open(tmp_path / "d.ply", "rb").read() == open(tmp_path / "c.ply", "rb").read()
    back = Gaussians.load_ply(str(tmp_path / "d.ply"), device=gpu_device)
    assert _on(back.means, gpu_device)


def test_training_resumes_on_another_device(scene, gpu_device, tmp_path):
    """4 steps on the device, checkpoint, 5 more on the CPU: the same as 9 on the CPU."""
    ref = _trainer(scene, "cpu")
    for _ in range(ref.cfg.iters):
        ref.train_step()
    first = _trainer(scene, gpu_device)
    for _ in range(4):
        first.train_step()
    path = str(tmp_path / "ck.safetensors")
    first.save_checkpoint(path)
    second = _trainer(scene, "cpu")
    second.load_checkpoint(path)
    while second.step < second.cfg.iters:
        second.train_step()
    assert len(second.g) == len(ref.g)
    for name in Gaussians.NAMES:
        np.testing.assert_allclose(getattr(second.g, name).numpy(), getattr(ref.g, name).numpy(),
                                   atol=PARAM_ATOL, err_msg=name)


# ---- the command line --------------------------------------------------------------------

def _parse(argv):
    from splatcore.cli import build_parser

    return build_parser().parse_args(argv)


COMMANDS = {
    "train": ["train", "data", "-o", "out"],
    "demo": ["demo"],
    "scan": ["scan", "photos", "-o", "out"],
    "render": ["render", "scene.ply", "--cameras", "data", "-o", "out"],
    "eval": ["eval", "scene.ply", "data"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_device_option_on_every_command(command):
    argv = COMMANDS[command]
    assert _parse(argv).device == "cpu"  # the default: the CPU backend, the reference
    for given, parsed in (("cpu", "cpu"), ("sim", "sim"), ("SIM", "sim"), ("auto", "auto")):
        assert _parse(argv + ["--device", given]).device == parsed


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:1", ""])
def test_bad_device_is_one_line_naming_the_option(bad, capsys):
    from splatcore.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "data", "-o", "out", "--device", bad])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --device" in err and "expected auto, cpu, cuda" in err
    assert f"got {bad!r}" in err


@pytest.mark.parametrize("kind", ["cuda", "metal"])
def test_missing_gpu_is_refused_with_what_is_available(kind, capsys):
    from splatcore.cli import main

    if sc.device_count(kind) > 0:
        pytest.skip(f"this machine has a {kind} device")
    with pytest.raises(SystemExit) as e:
        main(["eval", "scene.ply", "data", "--device", kind])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --device" in err and f"got {kind!r}" in err and "cpu, " in err and "sim" in err


def test_auto_picks_cuda_then_metal_then_cpu(capsys):
    from splatcore._device import auto_device
    from splatcore.cli import _device

    want = next((k for k in ("cuda", "metal") if sc.device_count(k) > 0), "cpu")
    assert auto_device() == want
    args = _parse(["demo", "--device", "auto"])
    assert _device(args) == want
    assert f"auto picked {want}" in capsys.readouterr().err


def test_auto_on_this_machine_is_the_cpu_without_a_gpu(capsys):
    if sc.device_count("cuda") or sc.device_count("metal"):
        pytest.skip("this machine has a GPU: auto picks it (test above)")
    from splatcore.cli import _device

    assert _device(_parse(["train", "d", "-o", "o", "--device", "auto"])) == "cpu"
    assert "auto picked cpu" in capsys.readouterr().err


def test_python_device_argument_errors(scene):
    a = [np.zeros((1, 3)), np.zeros((1, 3)), np.ones((1, 4)), np.zeros(1), np.zeros((1, 1, 3)),
         np.zeros((1, 0, 3))]
    with pytest.raises(ValueError, match=r"device: expected auto, cpu, cuda.*got 'tpu'"):
        Gaussians(*a, device="tpu")
    if sc.device_count("cuda") == 0:
        with pytest.raises(ValueError, match=r"device: .*got 'cuda': this build has no CUDA|"
                                             r"device: .*got 'cuda': 0 cuda devices"):
            Trainer(scene.train, Gaussians(*a), 1.0, TrainConfig(device="cuda"))


def test_cli_demo_on_device_writes_outputs(tmp_path, gpu_device):
    import json

    from splatcore.cli import main

    out = str(tmp_path / "demo")
    rc = main(["demo", "-o", out, "--iters", "6", "--views", "3", "--width", "32", "--height", "24",
               "--device", gpu_device, "-q"])
    assert rc == 0
    for f in ("scene.ply", "metrics.json", "checkpoint.safetensors"):
        assert os.path.exists(os.path.join(out, f)), f
    m = json.load(open(os.path.join(out, "metrics.json")))
    # eval of the written scene on the CPU gives the PSNR training reported
    from splatcore.evaluate import evaluate_views
    from splatcore.datasets.synthetic import make_dataset as md

    ds = md(n_views=3, width=32, height=24, seed=0)
    g = Gaussians.load_ply(os.path.join(out, "scene.ply"))
    if len(ds.test):
        ev = evaluate_views(g, ds.test)
        assert abs(ev["mean"]["psnr"] - m["mean"]["psnr"]) < 0.05


def test_cli_train_render_eval_on_device_match_cpu(tmp_path, gpu_device, capsys):
    """train / render / eval with --device on a COLMAP dataset: the device's
    renders and scores are the CPU's (same scene file) within float32 rounding."""
    import json

    from helpers_colmap import write_tiny_colmap
    from splatcore.cli import main
    from splatcore.io.images import load_image

    data = str(tmp_path / "data")
    write_tiny_colmap(data, n_images=3, n_points=60)
    out = str(tmp_path / "out")
    assert main(["train", data, "-o", out, "--iters", "3", "--device", gpu_device, "-q"]) == 0
    scene_ply = os.path.join(out, "scene.ply")
    from splatcore.cli import _load_scene

    assert _on(_load_scene(scene_ply, gpu_device).means, gpu_device)  # render / eval load it there
    renders, scores = {}, {}
    for device in ("cpu", gpu_device):
        r = str(tmp_path / f"r_{device.replace(':', '_')}")
        assert main(["render", scene_ply, "--cameras", data, "-o", r, "--device", device, "-q"]) == 0
        renders[device] = [load_image(os.path.join(r, f)) for f in sorted(os.listdir(r))]
        capsys.readouterr()
        assert main(["eval", scene_ply, data, "--split", "all", "--device", device]) == 0
        scores[device] = json.loads(capsys.readouterr().out)
    assert len(renders[gpu_device]) == 3
    for a, b in zip(renders["cpu"], renders[gpu_device]):
        assert np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).max() <= 1 / 255 + 1e-6
    for a, b in zip(scores["cpu"]["views"], scores[gpu_device]["views"]):
        assert a["name"] == b["name"]
        np.testing.assert_allclose(b["psnr"], a["psnr"], rtol=1e-4)
        np.testing.assert_allclose(b["ssim"], a["ssim"], rtol=1e-4, atol=1e-6)


def test_trainer_device_defaults_to_the_gaussians(scene, gpu_device):
    g = Gaussians.from_points(*scene.points, sh_degree=1, device=gpu_device)
    assert _on(g.means, gpu_device)
    t = Trainer(scene.train, g, scene.scene_extent(), _config(4))
    assert _on(t.g.means, gpu_device) and t.g is g
    cpu = Trainer(scene.train, g, scene.scene_extent(), _config(4), device="cpu")
    assert cpu.g.device == "cpu"  # moved, in place


def test_random_background_on_a_colmap_dataset(tmp_path, gpu_device):
    """Dataset items without alpha train with --random-background (the target is
    the image itself) on the device as on the CPU."""
    from helpers_colmap import write_tiny_colmap
    from splatcore.io.dataset import ColmapDataset

    write_tiny_colmap(str(tmp_path), n_images=2, n_points=40)
    ds = ColmapDataset(str(tmp_path), split="all")
    losses = []
    for device in ("cpu", gpu_device):
        cfg = TrainConfig(seed=0, sh_degree=0, random_background=True, device=device).scaled_to(3)
        t = Trainer(ds, Gaussians.from_points(ds.points.xyz, ds.points.rgb, sh_degree=0),
                    ds.scene_extent(), cfg)
        losses.append([float(t.train_step()[0]) for _ in range(3)])
    np.testing.assert_allclose(losses[1], losses[0], rtol=LOSS_RTOL)


@pytest.mark.parametrize("gdt,sdt", [("float32", "float64"), ("float64", "float64"), ("float32", "float32")])
def test_densify_stats_on_device(gpu_device, gdt, sdt):
    # the densification statistics as one kernel: against NumPy (float64), in place
    if sdt == "float64" and gpu_device.startswith("metal"):
        pytest.skip("Metal has no float64")
    rng = np.random.default_rng(21)
    n = 3001
    g = rng.standard_normal((n, 2)).astype(gdt)
    radii = rng.integers(0, 3, (n, 2)).astype(np.int32)
    radii[:50] = 0
    s0, c0 = rng.uniform(0, 1, n), rng.integers(0, 5, n).astype(np.float64)
    s, c = sc.tensor(s0.astype(sdt), device=gpu_device), sc.tensor(c0.astype(sdt), device=gpu_device)
    sc._core.accumulate_grad2d(sc.tensor(g, device=gpu_device), sc.tensor(radii, device=gpu_device),
                               174.0, 130.0, s, c)
    vis = (radii > 0).any(1)
    want = np.hypot(g[:, 0].astype(np.float64) * 174.0, g[:, 1].astype(np.float64) * 130.0)
    rtol = 1e-12 if sdt == "float64" and gdt == "float64" else 1e-6
    np.testing.assert_allclose(s.numpy(), s0.astype(sdt) + np.where(vis, want, 0.0), rtol=rtol)
    np.testing.assert_array_equal(c.numpy(), c0 + vis)
    with pytest.raises(ValueError, match="one device"):
        sc._core.accumulate_grad2d(sc.tensor(g, device=gpu_device), radii, 1.0, 1.0, s, c)
    with pytest.raises(ValueError, match=r"grad_sum must be a writable contiguous float\d+ array of shape \(3001,\)"):
        sc._core.accumulate_grad2d(sc.tensor(g, device=gpu_device), sc.tensor(radii, device=gpu_device), 1.0, 1.0,
                                   sc.tensor(s0[:-1].astype(sdt), device=gpu_device), c)

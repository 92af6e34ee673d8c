"""Densification (strategy.py) against a NumPy statement of gsplat's default
strategy: clone small / split large Gaussians with a high averaged 2D gradient,
then prune the grown set; every per-Gaussian array and the Adam moments stay
row-aligned, and new rows start with zero moments."""
import numpy as np

import splatcore as sc
from splatcore.gaussians import Gaussians
from splatcore.optim import Adam
from splatcore.strategy import DefaultStrategy, DensifyConfig


def _logit(p):
    return np.log(p / (1 - p))


def _setup(rng):
    """Eight Gaussians, each in a different case (extent 1, grow_scale3d 0.01,
    prune_scale3d 0.1, prune opacity 0.005)."""
    n = 8
    #            0 keep  1 clone 2 split 3 prune 4 clone+  5 split+ 6 big   7 split,
    #                                    (opac)  low opac  low opac (prune) children big
    scale = np.array([0.005, 0.005, 0.05, 0.005, 0.005, 0.05, 0.5, 0.3])
    opac = np.array([0.5, 0.5, 0.5, 0.001, 0.001, 0.001, 0.5, 0.5])
    high = np.array([0, 1, 1, 0, 1, 1, 0, 1], bool)
    a = dict(
        means=rng.standard_normal((n, 3)),
        scales=np.log(scale)[:, None] * np.ones(3) + rng.uniform(-0.01, 0.0, (n, 3)),
        quats=rng.standard_normal((n, 4)),
        opacities=_logit(opac),
        sh0=rng.standard_normal((n, 1, 3)),
        shN=rng.standard_normal((n, 3, 3)),
    )
    g = Gaussians(**a)
    opt = Adam([{"params": [getattr(g, k)], "name": k, "lr": 1e-3} for k in Gaussians.NAMES])
    for _ in range(2):  # non-zero moments everywhere
        for k in Gaussians.NAMES:
            t = getattr(g, k)
            t.grad = sc.tensor(rng.standard_normal(tuple(t.shape)).astype(np.float32))
        opt.step()
    strat = DefaultStrategy(DensifyConfig(), scene_extent=1.0, seed=3)
    strat.grad2d = np.where(high, 1e-3, 1e-5) * 4
    strat.count = np.full(n, 4.0)
    return g, opt, strat


def _moments(opt):
    st = opt.state_dict()["state"]
    return [{k: st[i][k] for k in ("exp_avg", "exp_avg_sq")} for i in range(len(Gaussians.NAMES))]


def test_refine_grows_then_prunes_with_aligned_state():
    rng = np.random.default_rng(7)
    g, opt, strat = _setup(rng)
    before = g.numpy()
    m_before = _moments(opt)
    step = 3500  # after the first opacity reset: the size rule applies
    msg = strat._refine(g, opt, step)
    after = g.numpy()
    m_after = _moments(opt)

    # grown: 0 1 3 4 6 | clones of 1, 4 | halves of 2, 5, 7 (twice); pruned: 3, 4 and its
    # clone (opacity), 6 (too big), the halves of 5 (opacity) and of 7 (0.3 / 1.6 > 0.1).
    survivors = [0, 1]
    assert msg == "+2 clone +3 split -8 prune"
    assert len(g) == len(survivors) + 1 + 2
    for name in Gaussians.NAMES:
        assert getattr(g, name).shape[0] == len(g)
        np.testing.assert_array_equal(after[name][:2], before[name][survivors])
        if name != "means" and name != "scales":
            np.testing.assert_array_equal(after[name][2], before[name][1])   # clone
            np.testing.assert_array_equal(after[name][3], before[name][2])   # split halves
            np.testing.assert_array_equal(after[name][4], before[name][2])
    np.testing.assert_array_equal(after["means"][2], before["means"][1])
    np.testing.assert_array_equal(after["scales"][2], before["scales"][1])
    np.testing.assert_allclose(after["scales"][3:], np.repeat(before["scales"][2:3], 2, 0) - np.log(1.6),
                               rtol=1e-6)
    # split samples are drawn from the parent Gaussian: within a few sigma of its mean
    d = np.linalg.norm(after["means"][3:] - before["means"][2], axis=1)
    assert np.all(d > 0) and np.all(d < 5 * np.exp(before["scales"][2]).max())
    # Adam moments: survivors keep theirs, new rows start at zero
    for pi, name in enumerate(Gaussians.NAMES):
        for k in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(m_after[pi][k][:2], m_before[pi][k][survivors])
            assert not np.any(m_after[pi][k][2:]), (name, k)
    assert len(strat.grad2d) == len(g) and not strat.grad2d.any()


def test_refine_before_first_reset_keeps_big_gaussians():
    rng = np.random.default_rng(8)
    g, opt, strat = _setup(rng)
    strat._refine(g, opt, 1000)
    sizes = np.exp(g.numpy()["scales"]).max(1)
    # 6 (0.5) and the halves of 7 (0.19) survive: the size rule starts after reset_every
    assert np.sum(sizes > 0.1) == 3
    assert len(g) == 2 + 1 + 2 + 1 + 2


def test_opacity_reset_at_start_as_gsplat():
    rng = np.random.default_rng(9)
    for at_start in (True, False):
        g, opt, strat = _setup(rng)
        strat.cfg.reset_at_start = at_start
        before = g.opacities.numpy().astype(np.float64)
        info = {"means2d": sc.tensor(np.zeros((len(g), 2), np.float32)),
                "radii": sc.tensor(np.zeros((len(g), 2), np.int32)), "width": 10, "height": 10}
        strat.step_post_backward(g, opt, info, 0)
        expect = np.minimum(before, _logit(0.01)) if at_start else before
        np.testing.assert_allclose(g.opacities.numpy(), expect, rtol=1e-6)
        assert (before > _logit(0.01)).sum() == 5
        st = opt.state_dict()["state"][Gaussians.NAMES.index("opacities")]
        assert np.any(st["exp_avg"]) != at_start  # a reset restarts the opacity moments


def test_accumulate_grad2d_matches_numpy():
    rng = np.random.default_rng(11)
    n = 5000
    g = rng.standard_normal((n, 2)).astype(np.float32)
    radii = rng.integers(0, 3, (n, 2)).astype(np.int32)
    radii[:100] = 0
    s0, c0 = rng.uniform(0, 1, n), rng.integers(0, 5, n).astype(np.float64)
    s, c = s0.copy(), c0.copy()
    sc._core.accumulate_grad2d(g, radii, 320.0, 240.0, s, c)
    vis = (radii > 0).any(1)
    want = np.hypot(g[:, 0].astype(np.float64) * 320.0, g[:, 1].astype(np.float64) * 240.0)
    np.testing.assert_allclose(s, s0 + np.where(vis, want, 0.0), rtol=1e-12)
    np.testing.assert_array_equal(c, c0 + vis)
    import pytest
    with pytest.raises(ValueError, match="count must be a writable contiguous float64"):
        sc._core.accumulate_grad2d(g, radii, 1.0, 1.0, s, c.astype(np.float32))
    with pytest.raises(ValueError, match="radii must be int32"):
        sc._core.accumulate_grad2d(g, radii.astype(np.int64), 1.0, 1.0, s, c)

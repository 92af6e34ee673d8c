"""The global-alignment loss and its gradient on every GPU device against the
CPU's fused pass (itself checked against a float64 NumPy reference and finite
differences in test_align.py): float64 to rounding, float32 within its
precision; the loss and gradients stay on the device; the optimisation loop
of global_alignment on the device matches the CPU's."""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore.align import global_alignment, make_pairs
from test_align import _rand_problem, _ref_loss


@pytest.fixture
def device(gpu_device):
    return gpu_device


def loss_and_grads(prob, params, device, dtype=np.float64, scale=1.0):
    ts = [sc.tensor(np.ascontiguousarray(p, dtype=dtype), requires_grad=True, device=device) for p in params]
    loss = prob.loss(*ts)
    assert loss.device.split(":")[0] == device and loss.shape == ()
    (loss * scale).backward()
    for t in ts:
        assert t.grad.device.split(":")[0] == device
    return float(loss.item()), [t.grad.cpu().numpy().astype(np.float64) for t in ts]


@pytest.mark.needs_float64
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_loss_and_gradients_float64(device, rng, stride):
    # images of 700+ pixels span several work items of 256; a complete graph and a repeated edge
    shapes = [(31, 29), (27, 33), (30, 24)]
    edges = [(0, 1), (1, 0), (1, 2), (2, 0), (0, 2)]
    prob, views, pp, params = _rand_problem(rng, shapes, edges, stride)
    want_loss, want = loss_and_grads(prob, params, "cpu", scale=2.5)
    got_loss, got = loss_and_grads(prob, params, device, scale=2.5)
    ref = _ref_loss(views, shapes, edges, pp, stride, params)
    assert got_loss == pytest.approx(ref, rel=1e-12)
    assert got_loss == pytest.approx(want_loss, rel=1e-12)
    for a, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12 * np.abs(w).max(), err_msg=f"parameter {a}")


def test_loss_and_gradients_float32(device, rng):
    shapes = [(24, 32)] * 4
    edges = make_pairs(4, "complete")
    prob, views, pp, params = _rand_problem(rng, shapes, edges, 2, dtype="float32")
    want_loss, want = loss_and_grads(prob, params, "cpu", np.float32)
    got_loss, got = loss_and_grads(prob, params, device, np.float32)
    assert got_loss == pytest.approx(want_loss, rel=1e-5)
    for a, (g, w) in enumerate(zip(got, want)):
        assert np.linalg.norm(g - w) / np.linalg.norm(w) < 1e-4, f"parameter {a}"


@pytest.mark.needs_float64
def test_focal_clamp_and_no_grad(device, rng):
    shapes = [(9, 11), (10, 8)]
    prob, views, pp, params = _rand_problem(rng, shapes, [(0, 1), (1, 0)], 1)
    params[3] = np.array([-1e3, 1e3])  # both focals clamped: no focal gradient
    want_loss, want = loss_and_grads(prob, params, "cpu")
    got_loss, got = loss_and_grads(prob, params, device)
    assert got_loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_array_equal(got[3], 0.0)
    with sc.no_grad():
        ts = [sc.tensor(p, device=device) for p in params]
        assert float(prob.loss(*ts).item()) == pytest.approx(want_loss, rel=1e-12)
    stats_cpu = np.asarray(prob.residual_stats(*[sc.tensor(p) for p in params]))
    stats_dev = np.asarray(prob.residual_stats(*[sc.tensor(p, device=device) for p in params]))
    np.testing.assert_array_equal(stats_dev, stats_cpu)


def test_parameters_on_two_devices(device, rng):
    prob, views, pp, params = _rand_problem(rng, [(6, 8), (6, 8)], [(0, 1)], 1, dtype="float32")
    ts = [sc.tensor(np.asarray(p, np.float32), device=device) for p in params]
    ts[4] = ts[4].cpu()
    with pytest.raises(ValueError, match="pw_quat: expected a Tensor on .* \\(the device of log_depth\\)"):
        prob.loss(*ts)


def test_global_alignment_on_device(device):
    """A few optimisation steps of the whole driver on the device and on the CPU."""
    from splatcore.align.synthetic import make_synthetic_pairs

    scene = make_synthetic_pairs(3, 32, 24, seed=3)
    kw = dict(niter=6, stride=2, progress=False, dense_iters=2)
    cpu = global_alignment(scene.outputs, scene.pairs, **kw)
    seen = []
    real_loss = _core._align_Problem.loss

    def spy(self, *params):  # where the driver's parameters live
        seen.append(params[0].device.split(":")[0])
        return real_loss(self, *params)

    _core._align_Problem.loss = spy
    try:
        dev = global_alignment(scene.outputs, scene.pairs, device=device, **kw)
    finally:
        _core._align_Problem.loss = real_loss
    assert seen and set(seen) == {device}
    np.testing.assert_allclose(dev.loss_history, cpu.loss_history, rtol=1e-4)
    np.testing.assert_allclose(dev.focals, cpu.focals, rtol=1e-4)
    np.testing.assert_allclose(dev.cam_to_world, cpu.cam_to_world, rtol=1e-3, atol=1e-4)

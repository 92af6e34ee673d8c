"""The GPU kernel dialect on every GPU device: barriers, shared memory, SIMD
collectives and atomics against NumPy; on the simulator, kernels that break
the rules (out-of-bounds, divergent barriers and collectives, Metal's limits)
must raise, naming the kernel."""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core


@pytest.fixture
def device(gpu_device):
    return gpu_device


def run(name, device, fin, fout_len, uout_len, groups, group_size, dynamic_shared=0):
    f, u = _core._gpu_selftest(name, device, sc.tensor(fin), fout_len, uout_len, groups, group_size,
                               dynamic_shared)
    return f.numpy(), u.numpy()


def test_barrier_orders_shared_memory(device):
    x = np.random.default_rng(1).standard_normal(4 * 256).astype(np.float32)
    f, _ = run("selftest_barrier", device, x, x.size, 1, 4, 256)
    np.testing.assert_array_equal(f, x.reshape(4, 256)[:, ::-1].ravel())


@pytest.mark.parametrize("group_size", [64, 96, 256])
def test_simd_collectives(device, group_size):
    groups = 3
    rng = np.random.default_rng(group_size)
    x = rng.standard_normal(groups * group_size).astype(np.float32)
    f, u = run("selftest_simd", device, x, x.size * 6, x.size, groups, group_size)
    f = f.reshape(-1, 6)
    w = x.reshape(-1, 32).astype(np.float64)  # SIMD groups of 32 (group sizes are multiples)
    lanes = np.arange(32)
    np.testing.assert_allclose(f[:, 0], np.repeat(w.sum(1), 32), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(f[:, 1], np.repeat(x.reshape(-1, 32).max(1), 32))
    np.testing.assert_array_equal(f[:, 2], np.repeat(x.reshape(-1, 32).min(1), 32))
    np.testing.assert_allclose(f[:, 3], np.cumsum(w, 1).ravel(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(f[:, 4], (np.cumsum(w, 1) - w).ravel(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(f[:, 5], x.reshape(-1, 32)[:, (lanes + 5) % 32].ravel())
    bits = ((x.reshape(-1, 32) > 0) << lanes).sum(1).astype(np.uint32)
    np.testing.assert_array_equal(u, np.repeat(bits, 32))


def tf32(x):
    """x rounded to TF32 (10 mantissa bits), to nearest with ties away from zero."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    return ((u + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def test_tf32_mma(device):
    # D = C + tf32(A) tf32(B) per SIMD group, in PTX's m16n8k8 fragment layout
    groups = 6
    rng = np.random.default_rng(11)
    a = rng.standard_normal((groups, 16, 8)).astype(np.float32)
    b = rng.standard_normal((groups, 8, 8)).astype(np.float32)
    c = rng.standard_normal((groups, 16, 8)).astype(np.float32)
    fin = np.concatenate([a.reshape(groups, -1), b.reshape(groups, -1), c.reshape(groups, -1)], 1)
    f, _ = run("selftest_mma", device, fin.ravel(), groups * 128, 1, groups, 32)
    want = c.astype(np.float64) + tf32(a).astype(np.float64) @ tf32(b).astype(np.float64)
    np.testing.assert_allclose(f.reshape(groups, 16, 8), want, rtol=1e-6, atol=1e-6)
    # the inputs were rounded: plain float32 products differ by far more than that
    assert np.abs(want - (c.astype(np.float64) + a.astype(np.float64) @ b)).max() > 1e-4


def test_exp_alpha(device):
    """The rasterizer's exp(-sigma) (the hardware's 2^x on CUDA, the portable exp elsewhere):
    within 1e-6 of float64 exp over the range alphas live in and beyond; 0 (or, where the
    portable exp keeps it, NaN) for -inf and NaN, both of which the compositing drops."""
    rng = np.random.default_rng(3)
    x = np.concatenate([-rng.exponential(4.0, 4000), rng.uniform(-87, 0, 4000), -rng.uniform(0, 1e-3, 64),
                        [0.0, -1e-30, -5.545, -87.0, 1.0, 10.0]]).astype(np.float32)
    specials = np.array([-np.inf, np.nan, -104.0, -150.0, -1e30], np.float32)
    fin = np.concatenate([x, specials])
    f, _ = run("selftest_exp_alpha", device, fin, fin.size, 1, (fin.size + 255) // 256, 256)
    want = np.exp(x.astype(np.float64))
    np.testing.assert_allclose(f[:x.size], want, rtol=1e-6, atol=0)
    got = f[x.size:]
    assert got[0] == 0.0 and (got[1] == 0.0 or np.isnan(got[1]))
    assert np.all(np.abs(got[2:]) < 1.2e-38)  # exp rounds to 0 (or a subnormal) there


def test_atomics(device):
    groups, gs = 5, 128
    x = np.random.default_rng(7).uniform(-1, 1, groups * gs).astype(np.float32)
    f, u = run("selftest_atomics", device, x, 1, 5, groups, gs)
    n = x.size
    codes = (x * 1000.0 + 5000.0).astype(np.uint32)
    assert abs(f[0] - x.astype(np.float64).sum()) < 1e-3
    assert u[0] == n
    assert u[1] == codes.min() and u[2] == codes.max()
    assert u[3] == 2 * n
    assert u[4] == n


@pytest.mark.parametrize("kernel, why", [
    ("selftest_out_of_bounds", "out-of-bounds"),
    ("selftest_wild_read", "out-of-bounds"),
    ("selftest_divergent_barrier", "barrier is not reached"),
    ("selftest_divergent_collective", "SIMD collective"),
])
def test_rule_breakers_are_caught_on_sim(kernel, why):
    """Each kernel breaks one rule; the simulator raises, naming the kernel and the rule."""
    x = np.random.default_rng(len(kernel)).standard_normal(64).astype(np.float32)
    with pytest.raises(RuntimeError, match=f"{kernel}.*{why}"):
        run(kernel, "sim", x, 64, 1, 1, 64)


def test_metal_limits_hold_on_sim():
    x = np.random.default_rng(5).standard_normal(64).astype(np.float32)
    with pytest.raises(ValueError, match="over Metal's limit of 1024"):
        run("selftest_barrier", "sim", x, 64, 1, 1, 2048)
    with pytest.raises(RuntimeError, match="shared memory over the limit"):
        run("selftest_shared_overflow", "sim", x, 64, 1, 1, 64)
    with pytest.raises(ValueError, match="dynamic shared memory"):
        run("selftest_barrier", "sim", x, 256, 1, 1, 256, dynamic_shared=40000)


def test_unknown_kernel_names_itself():
    with pytest.raises(RuntimeError, match="no kernel named 'no_such_kernel'"):
        run("no_such_kernel", "sim", np.ones(4, np.float32), 4, 1, 1, 4)


def test_sim_memory_is_poisoned():
    # Uninitialised device memory reads as NaN on the simulator, so a kernel
    # that forgets to write an element cannot pass by luck.
    t = sc.empty((16,), device="sim")
    assert np.isnan(t.numpy()).all()


@pytest.mark.skipif(sc.device_count("cuda") == 0, reason="needs a CUDA device")
@pytest.mark.parametrize("sync_every_launch", [True, False])
def test_cuda_kernel_fault_names_the_kernel(sync_every_launch):
    """A faulting CUDA kernel raises RuntimeError naming it (in a subprocess: a
    fault leaves the CUDA context unusable)."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, splatcore as sc\n"
            "from splatcore import _core\n"
            "try:\n"
            "    _core._gpu_selftest('selftest_wild_read', 'cuda', sc.tensor(np.ones(64, np.float32)), 64, 1, 1, 64)\n"
            "    sc.synchronize('cuda')\n"
            "except RuntimeError as e:\n"
            "    print('RAISED', e)\n")
    env = dict(os.environ, SPLATCORE_CUDA_SYNC="1" if sync_every_launch else "0")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "RAISED" in r.stdout, r.stdout + r.stderr
    assert "selftest_wild_read" in r.stdout


def test_launch_count_counts_each_kernel(gpu_device):
    a = sc.tensor(np.arange(10, dtype=np.float32), device=gpu_device)
    sc.synchronize(gpu_device)
    sc._core._gpu_launch_count(True)
    b = a + a
    c = b * b
    assert sc._core._gpu_launch_count() == 2
    assert sc._core._gpu_launch_count(True) == 2 and sc._core._gpu_launch_count() == 0
    np.testing.assert_array_equal(c.numpy(), (2 * np.arange(10)) ** 2)

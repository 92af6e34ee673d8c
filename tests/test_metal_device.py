"""The Metal runtime on a Mac (cpp/gpu/metal): device properties, float64
refused at creation, many launches batched into several command buffers and
read back, launch checks that name the kernel. Skips, saying why, where this
build has no Metal backend or the machine no Metal 3 GPU (GitHub's macOS
runners may only offer a paravirtual one). The GPU op tests of
tests/test_gpu_*.py run on "metal" as well, through the gpu_device fixture."""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core


def _why_not():
    if not _core.metal_built():
        return "this build has no Metal backend (macOS arm64 builds it)"
    if sc.device_count("metal") == 0:
        return "no Metal 3 GPU is visible on this machine (the Metal backend needs MTLGPUFamilyMetal3)"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


def test_properties():
    p = sc.device_properties("metal")
    assert p["device"] == "metal:0" and p["name"]
    assert p["float64"] is False and p["simd_width"] == 32
    assert 256 <= p["max_group_size"] <= 1024
    assert p["max_shared_bytes"] >= 16384 and p["memory_bytes"] > 0


def test_float64_is_refused_at_creation():
    with pytest.raises(TypeError, match="float64 tensors cannot live on metal:0"):
        sc.tensor(np.zeros(3), device="metal")
    with pytest.raises(TypeError, match="float64"):
        sc.tensor(np.zeros(3, np.float32), device="metal").astype("float64")


def test_many_launches_span_command_buffers():
    # More dispatches than one command buffer holds (SPLATCORE_METAL_BATCH, 256):
    # each buffer is committed without waiting, the read waits for all of them.
    x = np.arange(4096, dtype=np.float32)
    y = sc.tensor(x, device="metal")
    for _ in range(600):
        y = y + 1.0
    np.testing.assert_array_equal(y.numpy(), x + 600)


def test_unified_memory_round_trip_and_reduction():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((257, 129)).astype(np.float32)
    t = sc.tensor(a, device="metal")
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_allclose(t.sum(axis=0).numpy(), a.astype(np.float64).sum(0), rtol=1e-4, atol=1e-4)


def test_launch_checks_name_the_kernel():
    x = np.ones(64, np.float32)
    with pytest.raises(ValueError, match="metal kernel 'selftest_barrier': 2048 threads per group"):
        _core._gpu_selftest("selftest_barrier", "metal", sc.tensor(x), 64, 1, 1, 2048, 0)
    with pytest.raises(RuntimeError, match="no kernel named 'no_such_kernel'"):
        _core._gpu_selftest("no_such_kernel", "metal", sc.tensor(x), 4, 1, 1, 4, 0)


# ---- GEMM through MPS (cpp/gpu/metal/mps_gemm.cpp) against the tiled kernel and NumPy ----

def test_gemm_library_is_mps():
    assert _core._gpu_gemm_library().startswith("MPS: MPSMatrixMultiplication"), _core._gpu_gemm_library()


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-4), ("float16", 1e-2)])
@pytest.mark.parametrize("shapes", [((64, 48), (48, 80)), ((3, 17, 33), (3, 33, 5)), ((2, 4, 31, 7), (7, 9)),
                                    ((1, 1), (1, 1)), ((130, 257), (257, 3))])
def test_mps_matmul_matches_numpy_and_tiled_kernel(monkeypatch, shapes, dtype, rtol):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(shapes[0]).astype(dtype)
    b = rng.standard_normal(shapes[1]).astype(dtype)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    mps = (sc.tensor(a, device="metal") @ sc.tensor(b, device="metal")).numpy()
    monkeypatch.setenv("SPLATCORE_METAL_MPS", "0")  # the tiled kernel (the common path)
    tiled = (sc.tensor(a, device="metal") @ sc.tensor(b, device="metal")).numpy()
    for got in (mps, tiled):
        assert got.dtype == np.dtype(dtype) and got.shape == ref.shape
        err = np.linalg.norm(got.astype(np.float64) - ref) / max(np.linalg.norm(ref), 1e-30)
        assert err < rtol, err
    err = np.linalg.norm(mps.astype(np.float64) - tiled.astype(np.float64)) / max(np.linalg.norm(ref), 1e-30)
    assert err < rtol, err


def test_mps_matmul_on_views_and_in_one_command_buffer():
    # Operands at an offset inside their buffers (rows of a larger tensor), and a
    # chain of launches and GEMMs queued with no wait between them.
    rng = np.random.default_rng(2)
    big = rng.standard_normal((40, 24)).astype(np.float32)
    w = rng.standard_normal((24, 24)).astype(np.float32)
    x = sc.tensor(big, device="metal")[8:33]
    wt = sc.tensor(w, device="metal")
    y = x
    ref = big[8:33].astype(np.float64)
    for _ in range(5):
        y = (y @ wt) * 0.25 + 1.0
        ref = (ref @ w) * 0.25 + 1.0
    got = y.numpy()
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-4


def test_bfloat16_matmul_takes_the_tiled_kernel():
    # MPSMatrixMultiplication takes float32 and float16 only: bfloat16 runs the tiled kernel.
    rng = np.random.default_rng(3)
    a = rng.standard_normal((33, 20)).astype(np.float32)
    b = rng.standard_normal((20, 11)).astype(np.float32)
    got = (sc.tensor(a, device="metal").astype("bfloat16") @ sc.tensor(b, device="metal").astype("bfloat16"))
    ref = a.astype(np.float64) @ b.astype(np.float64)
    out = got.astype("float32").numpy()
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) < 2e-2

"""Device memory accounting: bytes of tensor storage in use and their peak."""
import numpy as np
import pytest

import splatcore as sc


def test_in_use_and_peak(gpu_device):
    sc.synchronize(gpu_device)
    base = sc.device_memory(gpu_device, reset_peak=True)["in_use_bytes"]
    a = sc.tensor(np.random.default_rng(0).standard_normal(1000).astype(np.float32), device=gpu_device)
    b = sc.zeros((250, 4), device=gpu_device)  # float32: 4000 bytes each
    m = sc.device_memory(gpu_device)
    assert m["in_use_bytes"] - base == 8000 and m["peak_bytes"] >= m["in_use_bytes"]
    del a, b
    m = sc.device_memory(gpu_device, reset_peak=True)
    assert m["in_use_bytes"] == base and m["peak_bytes"] - base == 8000
    assert sc.device_memory(gpu_device)["peak_bytes"] == base  # a new peak starts at the reset


def test_cpu_is_refused():
    with pytest.raises(ValueError, match="device_memory: expected a GPU device, got cpu"):
        sc.device_memory("cpu")

"""Shared fixtures. Tests import splatcore from SPLATCORE_BUILD_DIR when set."""
import os
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # `from helpers import ...`

try:
    from hypothesis import settings

    # Modest example counts: the suite runs on small shared machines.
    settings.register_profile("splatcore", max_examples=30, deadline=None)
    # HYPOTHESIS_PROFILE=thorough for a long local run
    settings.register_profile("thorough", max_examples=2000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "splatcore"))
except ImportError:  # hypothesis is an optional test dependency
    pass


@pytest.fixture
def rng(request):
    """A NumPy generator seeded from the test's name: fresh per test, reproducible."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


def _gpu_devices():
    """The simulator always; CUDA and Metal when this build and machine have them."""
    import splatcore as sc

    return ["sim"] + [k for k in ("cuda", "metal") if sc.device_count(k) > 0]


@pytest.fixture(params=_gpu_devices())
def gpu_device(request):
    """Every GPU device this run can use (tests of GPU ops compare it with the CPU).
    Metal has no float64: tests marked `needs_float64` skip there, with the reason."""
    if request.param == "metal" and request.node.get_closest_marker("needs_float64"):
        pytest.skip("Metal has no float64; this test compares float64 results")
    return request.param


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_float64: the test computes in float64 on the GPU device")

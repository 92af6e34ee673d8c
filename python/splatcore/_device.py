"""Devices: the default device and a context manager for it, and the cuBLAS
library of the nvidia-cublas wheel (``pip install splatcore[cuda]``).

Device names: "cpu" (the default), "cuda" / "cuda:N" where the CUDA backend is
built and a GPU is visible, "metal" (a Metal build; no runtime yet), and "sim",
the GPU simulator present in every build: it runs the GPU kernels on the CPU,
one fiber per GPU thread, stricter than a GPU (out-of-bounds accesses,
barriers or SIMD collectives not reached by every thread, and launches over
Metal's limits raise, naming the kernel). It is for tests and debugging, not
speed: about 50-1000x slower than the CPU backend (on the 2-core dev machine an
elementwise add of 1M floats takes 73 ms on "sim", 0.5 ms on "cpu")."""
import contextlib
import glob
import os

from . import _core


@contextlib.contextmanager
def default_device(device):
    """Within the block, factories (tensor, zeros, ...) make tensors on `device`."""
    old = _core.get_default_device()
    _core.set_default_device(device)
    try:
        yield
    finally:
        _core.set_default_device(old)


def _find_wheel_cublas():
    """Points SPLATCORE_CUBLAS at the nvidia-cublas wheel's library, if installed
    and not already chosen (the C++ side opens it on first use)."""
    if os.environ.get("SPLATCORE_CUBLAS") or not _core.cuda_built():
        return
    try:
        import nvidia.cublas as nvcublas  # the nvidia-cublas wheel, when installed
    except ImportError:
        return
    for root in list(getattr(nvcublas, "__path__", [])):
        found = sorted(glob.glob(os.path.join(root, "lib", "libcublas.so.*")))
        if found:
            os.environ["SPLATCORE_CUBLAS"] = found[-1]
            return

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

import numpy as np

from . import _core


def host_array(a):
    """A NumPy array of `a` (a Tensor on any device is copied to the host)."""
    if isinstance(a, _core.Tensor):
        return a.detach().numpy()
    return np.asarray(a)


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


# ---- choosing the device of a training run ------------------------------------------

# What --device and device= accept ("sim" too: the GPU simulator, for tests).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "metal")
_KINDS = ("cpu", "cuda", "metal", "sim")
_EXPECTED = "auto, cpu, cuda[:N], metal[:N] or sim (the GPU simulator, for tests)"


def _split_name(name):
    """("cuda", 1) for "cuda:1", ("cuda", 0) for "cuda"; ValueError for anything else."""
    if not isinstance(name, str):
        raise ValueError(f"expected {_EXPECTED}, got {name!r}")
    kind, sep, index = name.strip().lower().partition(":")
    if kind not in _KINDS or (sep and not index.isdigit()) or (kind == "cpu" and sep and index != "0"):
        raise ValueError(f"expected {_EXPECTED}, got {name!r}")
    return kind, int(index) if sep else 0


def _count(kind):
    return 1 if kind == "cpu" else _core.device_count(kind)


def _why_missing(kind, n):
    built = {"cuda": _core.cuda_built, "metal": _core.metal_built}.get(kind)
    if built is not None and not built():
        return f"this build has no {'CUDA' if kind == 'cuda' else 'Metal'} backend"
    return f"{n} {kind} device{'' if n == 1 else 's'} visible"


def available_devices():
    """The devices this build and machine can train on: "cpu", then each CUDA and
    Metal GPU, then "sim"."""
    gpus = [f"{kind}:{i}" if i else kind for kind in ("cuda", "metal") for i in range(_count(kind))]
    return ["cpu"] + gpus + ["sim"]


def auto_device():
    """What "auto" picks: the first CUDA GPU, else the first Metal GPU, else the CPU."""
    for kind in ("cuda", "metal"):
        if _count(kind) > 0:
            return kind
    return "cpu"


def check_device(name):
    """`name` in canonical form ("cpu", "cuda", "cuda:1", "metal", "sim"), "auto"
    resolved; ValueError (without the argument's name, the caller adds it) when
    `name` is not a device name or the device is not there."""
    if isinstance(name, str) and name.strip().lower() == "auto":
        return auto_device()
    kind, index = _split_name(name)
    n = _count(kind)
    if index >= n:
        raise ValueError(f"expected one of the devices available here "
                         f"({', '.join(available_devices())}, or auto), got {name!r}: "
                         f"{_why_missing(kind, n)}")
    return kind if index == 0 else f"{kind}:{index}"


def resolve_device(device=None):
    """The device of a training run: None -> the default device (see
    default_device), "auto" -> auto_device(), others checked by check_device.
    ValueError "device: expected ..., got ..." otherwise."""
    if device is None:
        device = _core.get_default_device()
    try:
        return check_device(device)
    except ValueError as e:
        raise ValueError(f"device: {e}") from None


def same_device(a, b):
    """True when device names `a` and `b` ("sim", "sim:0", ...) name one device."""
    return _split_name(a) == _split_name(b)


def on_device(t, device):
    """Tensor `t` on `device` (itself when already there; a copy otherwise)."""
    return t if same_device(t.device, device) else t.to(device)

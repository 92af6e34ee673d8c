"""splatcore: photos to 3D (MASt3R + 3D Gaussian Splatting) on a C++ core."""
import os as _os

# Developer builds: SPLATCORE_BUILD_DIR points at a CMake build tree holding _core.
if _os.environ.get("SPLATCORE_BUILD_DIR"):
    __path__.insert(0, _os.environ["SPLATCORE_BUILD_DIR"])

from . import _core
from ._blas import configure_blas as _configure_blas
from ._core import (  # noqa: F401  (re-exported API)
    Tensor,
    abs, add, arange, argmax, argmin, clamp, cos, divide, empty, equal, exp, from_dlpack,
    from_numpy, full, gelu, greater, greater_equal, less, less_equal, log, log_softmax,
    logical_and, logical_not, logical_or, max, maximum, mean, min, minimum, multiply, neg,
    norm, not_equal, num_threads, ones, power, rand, randn, relu, rsqrt, set_num_threads,
    sigmoid, sign, sin, softmax, sqrt, square, subtract, sum, tanh, where, zeros,
)
from ._autograd import enable_grad, is_grad_enabled, no_grad  # noqa: F401
from ._info import info  # noqa: F401
from ._tensor import tensor  # noqa: F401
from ._core import (  # noqa: F401,E402  (devices)
    device_count, device_memory, device_properties, get_default_device, get_matmul_precision,
    set_default_device,
    set_matmul_precision, synchronize,
)
from ._device import default_device, _find_wheel_cublas  # noqa: E402

_find_wheel_cublas()

__version__ = "0.1.0"

float16, bfloat16, float32, float64 = "float16", "bfloat16", "float32", "float64"
int32, int64, uint32, uint8, bool_ = "int32", "int64", "uint32", "uint8", "bool"

# Everything else the core binds (matmul, conv2d, concat, ...) is public too.
for _name in dir(_core):
    if not _name.startswith("_") and _name not in globals():
        globals()[_name] = getattr(_core, _name)
del _name

from . import loss, optim, sort, splat  # noqa: E402,F401  (submodules)

_configure_blas()

# Heavier subpackages load on first use: `splatcore.mesh.marching_cubes(...)`
# works after a plain `import splatcore` without slowing that import down.
_LAZY_SUBMODULES = ("align", "datasets", "io", "mast3r", "mesh", "scan")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'splatcore' has no attribute {name!r}")

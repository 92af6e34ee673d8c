"""Tell the core where OpenBLAS lives (the scipy-openblas32 wheel), without importing it."""
import importlib.util
import os
import sys

from . import _core


def _openblas_path():
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.submodule_search_locations:
        return None
    libdir = os.path.join(spec.submodule_search_locations[0], "lib")
    if not os.path.isdir(libdir):
        return None
    suffix = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")
    for name in sorted(os.listdir(libdir)):
        if name.startswith(("libscipy_openblas", "scipy_openblas")) and name.endswith(suffix):
            return os.path.join(libdir, name)
    return None


def configure_blas():
    """Loaded lazily by the core on the first matmul; here we only pass the path."""
    path = os.environ.get("SPLATCORE_BLAS") or _openblas_path()
    if path:
        _core.set_blas_library_path(path)

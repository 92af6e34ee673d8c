"""splatcore.info(): what this build has and sees."""
from . import _core


def info():
    """Version, build type, backends built, devices seen, BLAS in use, threads."""
    from . import __version__

    return {
        "version": __version__,
        "build_type": _core.build_type,
        "backends": {
            "cpu": True,
            "cuda": _core.cuda_built(),
            "metal": _core.metal_built(),
        },
        "devices": {
            "cpu": 1,
            "cuda": _core.cuda_device_count(),
            "metal": _core.metal_device_count(),
        },
        "blas": _core.blas_name(),
        "threads": _core.num_threads(),
    }

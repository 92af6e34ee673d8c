"""splatcore.info(): what this build has and sees."""
from . import _core


def info():
    """Version, build type, backends built, devices seen, BLAS in use, threads, CPU target."""
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
        # the CPU target of the multi-target kernels (SPLATCORE_CPU_TARGET forces one)
        "cpu_target": _core.cpu_target(),
        "cpu_targets": [name for name, compiled, ok in _core.cpu_targets() if compiled and ok],
    }

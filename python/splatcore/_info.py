"""splatcore.info(): what this build has and sees."""
import contextlib

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
            "sim": 1,  # the GPU simulator, in every build
        },
        "gpus": [_core.device_properties(f"{kind}:{i}") for kind in ("cuda", "metal")
                 for i in range(_core.device_count(kind))],
        "gpu_gemm": _core._gpu_gemm_library(),
        "blas": _core.blas_name(),
        "threads": _core.num_threads(),
        # the CPU target of the multi-target kernels (SPLATCORE_CPU_TARGET forces one)
        "cpu_target": _core.cpu_target(),
        "cpu_targets": [name for name, compiled, ok in _core.cpu_targets() if compiled and ok],
    }


@contextlib.contextmanager
def forced_cpu_target(name):
    """Run the block with CPU target `name` (see info()["cpu_targets"]), then
    restore the previous one; ValueError when it is not usable here."""
    before = _core.cpu_target()
    _core._set_cpu_target(name)
    try:
        yield name
    finally:
        _core._set_cpu_target(before)

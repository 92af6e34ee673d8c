"""Per-kernel times of one rasterizer forward+backward on a CUDA device, each
kernel alone (run with SPLATCORE_PROFILE=1: the runtime then synchronises around
every launch, so small kernels include their launch), on bench_gpu_raster.py's
scene: 1M Gaussians at 1920x1080 by default, or N W H as arguments.

  SPLATCORE_PROFILE=1 SPLATCORE_BUILD_DIR=build/h200 PYTHONPATH=python python3 tools/profile_gpu_raster.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import splatcore as sc  # noqa: E402
from splatcore import _core  # noqa: E402


def main(n=1_000_000, W=1920, H=1080, reps=5):
    if sc.device_count("cuda") == 0:
        sys.exit("profile_gpu_raster: no CUDA device")
    if os.environ.get("SPLATCORE_PROFILE", "") in ("", "0"):
        sys.exit("profile_gpu_raster: set SPLATCORE_PROFILE=1 (per-kernel times)")
    import bench_gpu_raster as b  # its scene (gsplat_bench.py's distributions and seeds)

    s = b.bench_scene(n, W, H)
    t = {k: sc.tensor(s[k].astype(np.float32), device="cuda", requires_grad=True)
         for k in ("means", "quats", "scales", "opacities", "sh")}
    view = sc.tensor(s["viewmat"].astype(np.float32), device="cuda")
    K = sc.tensor(s["K"].astype(np.float32))

    def step():
        img, _, info = sc.splat.rasterize(t["means"], t["quats"], t["scales"], t["opacities"], t["sh"], view, K,
                                          W, H, sh_degree=3)
        img.sum().backward()
        return info

    for _ in range(3):
        info = step()
    print(f"{n} Gaussians {W}x{H}: {int(info['n_isects'])} intersections")
    _core._stage_times(True)
    for _ in range(reps):
        step()
    sc.synchronize("cuda")
    times = sorted(_core._stage_times(True), key=lambda kv: -kv[1])
    print("kernels in all: %.2f ms a forward+backward" % (1e3 * sum(v for k, v in times if k.startswith("gpu.")) / reps))
    for k, v in times[:24]:
        print("%-40s %8.3f ms" % (k, 1e3 * v / reps))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))

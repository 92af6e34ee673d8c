"""Marching cubes on CUDA at 256^3 and 512^3 (issue 16's bar: 512^3 in under
20 ms, with the same mesh as the CPU), beside splatcore's CPU marching cubes
and scikit-image (when installed) on the same volume in the same run.

Run on a CUDA machine:
  SPLATCORE_BUILD_DIR=build/h200 PYTHONPATH=python python -m pytest bench/bench_gpu_mesh.py -q -s

Per case it prints
  * device: splatcore.mesh's GPU path with the mesh left on the device
    (classify, scans, the one host read of the totals, vertices, faces;
    median of CUDA-synchronised repetitions; the volume already on the GPU);
  * end to end: marching_cubes(tensor) returning the NumPy Mesh (adds the
    copy of the mesh to the host and the Python wrapper);
  * the CPU path (all threads of the pool) and scikit-image (one core), best of 3;
and checks that the GPU mesh is the CPU's bit for bit. Shapes: a sphere (one
closed surface) and a gyroid (surface through the whole volume, ~20x the
sphere's triangles). SPLATCORE_BENCH_JSON=path writes the numbers as JSON.
Skips without a CUDA device.
"""
import json
import os
import time

import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore import mesh as M
from anchor import median_seconds

if sc.device_count("cuda") == 0:
    pytest.skip("no CUDA device to measure on", allow_module_level=True)

try:
    import skimage.measure as skm
except ImportError:  # the anchor is optional here: the CPU path is always measured
    skm = None

RESULTS = []


def _sync():
    sc.synchronize("cuda")


def sphere_volume(n):
    x = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    return 0.7 - np.sqrt(x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2)


def gyroid_volume(n, periods=4):
    x = np.linspace(0.0, 2 * np.pi * periods, n, dtype=np.float32)
    a, b, c = x[:, None, None], x[None, :, None], x[None, None, :]
    return np.sin(a) * np.cos(b) + np.sin(b) * np.cos(c) + np.sin(c) * np.cos(a)


def best_seconds(fn, reps=3):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@pytest.mark.parametrize("shape, n, normals", [
    ("sphere", 256, True), ("sphere", 512, True), ("sphere", 512, False),
    ("gyroid", 256, True), ("gyroid", 512, True),
], ids=["sphere256", "sphere512", "sphere512-nonormals", "gyroid256", "gyroid512"])
def test_marching_cubes_cuda(shape, n, normals):
    vol = np.ascontiguousarray((sphere_volume if shape == "sphere" else gyroid_volume)(n), np.float32)
    dev = sc.tensor(vol, device="cuda")
    sc.synchronize("cuda")
    args = (0.0, 1.0, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), None, None, False, normals)

    device_s = median_seconds(lambda: _core._marching_cubes_device(dev, *args, to_host=False), _sync)
    end_to_end_s = median_seconds(lambda: M.marching_cubes(dev, 0.0, normals=normals), _sync, reps=10)
    gpu = M.marching_cubes(dev, 0.0, normals=normals)
    cpu_s = best_seconds(lambda: M.marching_cubes(vol, 0.0, normals=normals))
    cpu = M.marching_cubes(vol, 0.0, normals=normals)
    sk_s = best_seconds(lambda: skm.marching_cubes(vol, 0.0)) if skm is not None else None

    for name in ("vertices", "faces", "normals"):
        a, b = getattr(cpu, name), getattr(gpu, name)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), f"{name}: GPU mesh != CPU mesh"

    vox = float(n) ** 3
    row = {"case": f"{shape} {n}^3" + ("" if normals else " (no normals)"), "vertices": gpu.num_vertices,
           "faces": gpu.num_faces, "device_s": device_s, "end_to_end_s": end_to_end_s, "cpu_s": cpu_s,
           "cpu_threads": sc.num_threads(), "skimage_s": sk_s, "device_voxels_per_s": vox / device_s,
           "same_mesh_as_cpu": True}
    RESULTS.append(row)
    sk = f", scikit-image {sk_s * 1e3:.0f} ms ({sk_s / device_s:.0f}x)" if sk_s is not None else ""
    print(f"\n[gpu-mesh] {row['case']}: {gpu.num_vertices} vertices, {gpu.num_faces} faces; "
          f"device {device_s * 1e3:.2f} ms ({vox / device_s / 1e9:.1f} Gvoxel/s), end to end "
          f"{end_to_end_s * 1e3:.2f} ms; CPU {cpu_s * 1e3:.0f} ms on {sc.num_threads()} threads "
          f"({cpu_s / device_s:.0f}x){sk}; same mesh as the CPU")
    out = os.environ.get("SPLATCORE_BENCH_JSON")
    if out:
        with open(out, "w") as f:
            json.dump(RESULTS, f, indent=1)

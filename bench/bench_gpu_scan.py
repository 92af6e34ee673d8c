"""`splatcore scan` end to end on a CUDA device: the 20 photos of llff_fern
(../shared/data/llff_fern/images) through MASt3R (the full checkpoint's shape,
random weights: time and memory only, the geometry is meaningless), global
alignment, the point fusion and training, all on the device.

Run on the H200:
  SPLATCORE_BUILD_DIR=build/h200 PYTHONPATH=python python -m pytest bench/bench_gpu_scan.py -q -s
SPLATCORE_BENCH_SCAN_ITERS (default 7000) sets the training steps, SPLATCORE_BENCH_JSON=path
writes the numbers. Prints the seconds of every stage (scan.json's timings),
the pairs, the Gaussians and the peak device memory. Skips without a CUDA
device or without the photos (../shared is not in a user's clone).
"""
import json
import os
import time

import pytest

import splatcore as sc
from splatcore.mast3r.model import Model
from splatcore.scan.pipeline import scan, scan_train_config

if sc.device_count("cuda") == 0:
    pytest.skip("no CUDA device to measure on", allow_module_level=True)

from bench_gpu_mast3r import MANIFEST, full_random_weights  # noqa: E402  (after the skip)

PHOTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "llff_fern", "images")
ITERS = int(os.environ.get("SPLATCORE_BENCH_SCAN_ITERS", "7000"))


def test_scan_20_photos(tmp_path):
    if not os.path.isdir(PHOTOS) or not os.path.isfile(MANIFEST):
        pytest.skip(f"{PHOTOS} or {MANIFEST} not available")
    model = Model.from_weights(*full_random_weights())
    cfg = scan_train_config(ITERS)
    cfg.device = "cuda"
    sc.set_matmul_precision("high")  # TF32, as PyTorch MASt3R's users run it
    t0 = time.perf_counter()
    try:
        res = scan(PHOTOS, tmp_path / "out", model=model, config=cfg, progress=False, log=lambda s: None)
    finally:
        sc.set_matmul_precision("highest")
    wall = time.perf_counter() - t0
    with open(tmp_path / "out" / "scan.json") as f:
        report = json.load(f)
    t = report["timings"]
    peak_gb = report.get("device", {}).get("peak_memory_bytes", 0) / 1e9
    gaussians = report.get("training", {}).get("gaussians")
    print(f"\nscan 20 photos (llff_fern, 512 px, random MASt3R weights) on cuda, {ITERS} steps: {wall:.1f} s; "
          f"pairs {report['pairs']}, aligned {report['aligned']}, stages (s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in t.items() if isinstance(v, (int, float)))
          + f"; {gaussians} Gaussians; device peak {peak_gb:.2f} GB")
    out = os.environ.get("SPLATCORE_BENCH_JSON")
    if out:
        with open(out, "w") as f:
            json.dump({"device": sc.device_properties("cuda")["name"], "seconds": wall, "iters": ITERS,
                       "pairs": report["pairs"], "timings": t, "peak_GB": peak_gb, "gaussians": gaussians}, f, indent=1)
    assert report["images"] == 20 and res is not None

"""MASt3R (full ViT-L / ViT-B checkpoint shape, random weights) on a CUDA device:
seconds per pair at 512 x 384, batch 1 and 8, float32, TF32 and bfloat16 GEMMs
(set_matmul_precision 'highest' / 'high' / 'medium'; PyTorch's bf16 row is
autocast, which also runs its attention in bfloat16), with the peak device
memory, beside the original PyTorch MASt3R (../shared/gpu/mast3r_torch_bench.py).

Run on the H200, the anchor in the same session:
  python ../shared/gpu/mast3r_torch_bench.py            # PyTorch (build curope first:
                                                        #   ../shared/gpu/curope_build.sh)
  SPLATCORE_BUILD_DIR=build/h200 PYTHONPATH=python python -m pytest bench/bench_gpu_mast3r.py -q -s

Per precision it prints the median of 10 pairs after 3 warm-up pairs (each a
full infer_pair(..., device="cuda"): both images encoded once as a batch of 2,
both decoders and heads, the outputs copied back to NumPy: PyTorch's timing
keeps its outputs on the device), the stage times of the last pair
(synchronised at the stage boundaries), the peak device memory of the timed
pairs (weights included), and the PyTorch anchor of the same session
(SPLATCORE_MAST3R_ANCHOR, which tools/gpu_session.sh sets) or else of
../shared/gpu/anchors_h200_mast3r_torch.json. Batch 8: 8 pairs of 16 images
through infer_pairs (each image encoded once, the 8 decoders together), the
median of 5 calls divided by 8. Weights: float32
(SPLATCORE_BENCH_WEIGHTS=float16 / bfloat16 keeps the Linear weights half on the
device; the products stay float32). SPLATCORE_BENCH_JSON=path writes the numbers.
Skips without a CUDA device.
"""
import json
import os
import statistics
import time

import numpy as np
import pytest

import splatcore as sc
from splatcore.mast3r.model import Model

if sc.device_count("cuda") == 0:
    pytest.skip("no CUDA device to measure on", allow_module_level=True)

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
MANIFEST = os.path.join(SHARED, "golden", "mast3r", "full_checkpoint_manifest.json")
# the PyTorch run of this session (tools/gpu_session.sh sets it), else the stored figures
ANCHOR = os.environ.get("SPLATCORE_MAST3R_ANCHOR", os.path.join(SHARED, "gpu", "anchors_h200_mast3r_torch.json"))
H, W = 384, 512


def full_random_weights(seed=0):
    """The official state dict's names and shapes, N(0, 1/fan_in) weights, unit norms, small biases."""
    with open(MANIFEST) as f:
        man = json.load(f)
    rng = np.random.default_rng(seed)
    w = {}
    for name, info in man["tensors"].items():
        shape = tuple(info["shape"])
        if name.endswith(".bias") or name == "mask_token":
            a = rng.standard_normal(shape, dtype=np.float32) * 0.02
        elif "norm" in name and len(shape) == 1:
            a = np.ones(shape, np.float32)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            a = rng.standard_normal(shape, dtype=np.float32) * np.float32(1 / np.sqrt(fan_in))
        w[name] = a
    return w, man["config"]


@pytest.fixture(scope="module")
def model():
    if not os.path.isfile(MANIFEST):
        pytest.skip(f"{MANIFEST} not available")
    weights, config = full_random_weights()
    return Model.from_weights(weights, config, dtype=os.environ.get("SPLATCORE_BENCH_WEIGHTS", "float32"))


RESULTS = {}


PRECISIONS = pytest.mark.parametrize("precision", ["highest", "high", "medium"], ids=["fp32", "tf32", "bf16"])
MODES = {"highest": "fp32", "high": "tf32", "medium": "bf16"}


def timed_pairs(run, precision, reps=10):
    """Median and min seconds of run() at `precision` (3 warm-up calls) and the peak device memory."""
    prev = sc.get_matmul_precision()
    sc.set_matmul_precision(precision)
    try:
        for _ in range(3):
            out = None
            out = run()
        sc.synchronize("cuda")
        sc.device_memory("cuda", reset_peak=True)
        ts = []
        for _ in range(reps):  # each call until the device is done, as the anchor's
            out = None  # the previous call's outputs are not held during the next (nor are the anchor's)
            t0 = time.perf_counter()
            out = run()
            sc.synchronize("cuda")
            ts.append(time.perf_counter() - t0)
        peak = sc.device_memory("cuda")["peak_bytes"]
    finally:
        sc.set_matmul_precision(prev)
    return out, statistics.median(ts), min(ts), peak


def report(key, model, s_per_pair, s_min, peak):
    """Prints and stores one row beside the PyTorch anchor of the same key (B1_tf32, ...)."""
    r = {"s_per_pair_median": s_per_pair, "s_per_pair_min": s_min, "peak_GB": peak / 1e9,
         "stages_ms": dict(model.last_timings), "weights": model.weight_dtype}
    RESULTS[key] = r
    anchor = {}
    if os.path.isfile(ANCHOR):
        with open(ANCHOR) as f:
            text = f.read()  # mast3r_torch_bench.py prints progress lines before its JSON
        a = json.loads(text[text.index("{"):])
        anchor = {"torch_s_per_pair": a.get(f"{key}_s_per_pair_median"), "torch_peak_GB": a.get(f"{key}_peak_GB")}
        r.update(anchor)
    line = (f"MASt3R 512x384 {key.replace('_', ' ')}: {s_per_pair * 1e3:.1f} ms/pair (min {s_min * 1e3:.1f}), "
            f"peak {r['peak_GB']:.2f} GB, weights {model.weight_dtype}")
    if anchor.get("torch_s_per_pair"):
        line += (f" | PyTorch anchor {anchor['torch_s_per_pair'] * 1e3:.1f} ms, {anchor['torch_peak_GB']:.2f} GB"
                 f" -> ratio {s_per_pair / anchor['torch_s_per_pair']:.2f}x")
    print("\n" + line + "\n  stages of the last call (ms): "
          + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items()))
    out_json = os.environ.get("SPLATCORE_BENCH_JSON")
    if out_json:
        with open(out_json, "w") as f:
            json.dump({"device": sc.device_properties("cuda")["name"], **RESULTS}, f, indent=1)


@PRECISIONS
def test_pair_512x384(model, precision):
    rng = np.random.default_rng(1)
    img1 = rng.uniform(-1, 1, (H, W, 3)).astype(np.float32)
    img2 = rng.uniform(-1, 1, (H, W, 3)).astype(np.float32)
    # outputs left on the device, as PyTorch's anchor leaves them
    out, med, mn, peak = timed_pairs(lambda: model.infer_pair(img1, img2, device="cuda", keep_on_device=True),
                                     precision)
    assert tuple(out["view1"]["pts3d"].shape) == (H, W, 3) and out["view1"]["pts3d"].device == "cuda:0"
    report(f"B1_{MODES[precision]}", model, med, mn, peak)


def test_pair_512x384_to_host(model):
    # the same with the outputs copied back as NumPy arrays (infer_pair's default):
    # ~23 MB per view (desc is H x W x 24), which the anchor does not copy
    rng = np.random.default_rng(1)
    img1 = rng.uniform(-1, 1, (H, W, 3)).astype(np.float32)
    img2 = rng.uniform(-1, 1, (H, W, 3)).astype(np.float32)
    out, med, mn, peak = timed_pairs(lambda: model.infer_pair(img1, img2, device="cuda"), "high")
    assert out["view1"]["desc"].shape == (H, W, 24)
    report("B1_tf32_to_host", model, med, mn, peak)


@PRECISIONS
def test_pairs_batch8_512x384(model, precision):
    # as PyTorch's batch 8: 8 pairs of 16 different images, each image encoded
    # once (16 per encoder call), the 8 decoders together (pair_batch 8)
    rng = np.random.default_rng(2)
    imgs = [rng.uniform(-1, 1, (H, W, 3)).astype(np.float32) for _ in range(16)]
    pairs = [(2 * i, 2 * i + 1) for i in range(8)]
    out, med, mn, peak = timed_pairs(lambda: model.infer_pairs(imgs, pairs, batch=16, progress=False,
                                                               device="cuda", pair_batch=8, keep_on_device=True),
                                     precision, reps=5)
    assert len(out) == 8 and tuple(out[7]["view2"]["pts3d_in_other_view"].shape) == (H, W, 3)
    report(f"B8_{MODES[precision]}", model, med / 8, mn / 8, peak)

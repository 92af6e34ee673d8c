"""MASt3R inference: the full-size pair against its GEMM floor, the golden small
model, and full-size blocks.

Run:   SPLATCORE_BUILD_DIR=build/mast3r PYTHONPATH=python python -m pytest bench/bench_mast3r.py -q -s
Only the full-size pair:                              ... -k vitl_pair
Small cases only (deselect the full-size ones):       ... -k "not vitl"
The pair alone, without pytest (prints JSON):         python bench/bench_mast3r.py --pair [--rounds 2] [--dtype float16]

Cases
- vitl_pair_512x384: the full MASt3R architecture (ViT-L encoder 24 x 1024, ViT-B
  decoder 12 x 768 x 2, DPT + local-feature heads; shapes from the checkpoint
  manifest's config) with random weights made here (Linear weights in float16, so
  the model fits in 1.4 GB; nothing shipped), on one pair of 512 x 384 images.
  Run in a subprocess so that its peak memory is its own (ru_maxrss, which also
  covers making the random weights). Reports seconds per pair (one warm-up, then
  the best and median of --rounds), the peak RSS, the GEMM FLOPs of the model
  counted from the shapes (every Linear, attention's QK^T and PV, every conv of the
  heads: 2.02 TFLOP), the sgemm throughput of the same BLAS measured in the same
  process before and after each pair (splatcore.matmul at 768x1024x4096,
  1536x1024x4096 and 768x768x3072; the best), the floor = FLOPs / throughput and
  the ratio time / floor (bar: <= 1.5 on 2 cores, peak < 4 GB), and where the time
  goes per layer kind (cpp/nn's timers: GEMM tiles with their bias / GELU / half
  conversion, attention, layer norm, RoPE, convs, upsampling; the rest is copies
  and the heads' post-processing).
- small_model_pair: the random-weight golden model (encoder 64d x 3, decoder 48d
  x 10, DPT + local features) on its 96 x 64 image pair, one full forward;
  outputs checked against reference.npz.
- attention[...]: the fused attention core (online softmax) with both CPU
  schedules ("gemm": single-threaded BLAS calls per (head, query block) in
  parallel; "loops": register-tiled loops) and "auto", against NumPy's naive
  softmax(Q K^T / sqrt(d)) V (float32 BLAS matmuls, one head at a time), on the
  golden shapes and the ViT-L shapes at 512 x 384 (32 x 24 = 768 tokens).
- vitl_encoder_block / vitl_decoder_block: one full-size block with random
  weights at 512 x 384 against the same block written in NumPy (float32).

Measured (2-core AMD EPYC VM with AVX-512, OpenBLAS 0.3.34 from scipy-openblas32,
at a moment when no other process used the cores): 11.8-12.1 s per pair, floor
9.65 s (2024 GFLOP at 209 GFLOP/s), time / floor 1.22-1.25, peak RSS 1.99 GB;
with float32 weights 11.7 s and 3.2 GB. Per layer kind: GEMM tiles of the
Linears 8.1 s (~87% of the BLAS rate), convs 2.1 s (~81%), attention 1.6 s (~62%:
head dim 64 makes narrow products, plus the softmax's exp), all else 0.2 s. On a
shared machine the wall times swing with the load; the ratio of each pair to the
BLAS throughput measured just around it, and the ratio in CPU time (1.19-1.24
in every run, loaded or not), are steadier.

Each small case reports the best of several rounds (ms) and the ratio NumPy /
splatcore (> 1: splatcore is faster); a table is printed at the end of the module.

The model's GEMMs are single-threaded BLAS calls on tiles, run in parallel by
splatcore's own pool (gemm_serial), so OpenBLAS's threads never spin against the
pool between calls (with threaded BLAS calls alternating with pool work, the
idle BLAS threads spin for a while and take the cores the pool needs).
"""
import json
import math
import os
import resource
import struct
import subprocess
import sys
import time

import numpy as np

try:
    import pytest
except ImportError:  # pragma: no cover - the --pair worker (python bench_mast3r.py --pair) runs without it
    class _NoPytest:
        """Stands in for pytest's decorators so that the module imports without it."""

        def __getattr__(self, name):
            return _NoPytest()

        def __call__(self, *args, **kwargs):
            if len(args) == 1 and callable(args[0]) and not kwargs:
                return args[0]
            return _NoPytest()

    pytest = _NoPytest()

import splatcore as sc  # noqa: E402
from splatcore import _core  # noqa: E402

try:
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover
    _erf = np.vectorize(math.erf, otypes=[np.float32])

GOLDEN = "/work/shared/golden/mast3r"
for _cand in (os.environ.get("SPLATCORE_GOLDEN_MAST3R"),
              os.path.join(os.path.dirname(__file__), "..", "..", "shared", "golden", "mast3r")):
    if _cand and os.path.isfile(os.path.join(_cand, "reference.npz")):
        GOLDEN = _cand
        break
HAVE_GOLDEN = os.path.isfile(os.path.join(GOLDEN, "reference.npz"))

_rows = []


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    if not _rows:
        return
    print(f"\n\nMASt3R inference, {sc.num_threads()} threads, BLAS {sc.blas_name()}, "
          f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}")
    print(f"{'case':44s} {'splatcore ms':>13s} {'NumPy ms':>10s} {'ratio':>7s}")
    for name, ours, theirs in _rows:
        t = f"{theirs:10.2f}" if theirs else f"{'-':>10s}"
        r = f"{theirs / ours:7.2f}" if theirs else f"{'-':>7s}"
        print(f"{name:44s} {ours:13.2f} {t} {r}")


def best_ms(fn, rounds, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts) * 1e3


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ---------------------------------------------------------------------------
# NumPy anchors (float32)
# ---------------------------------------------------------------------------
def np_layer_norm(x, w, b, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def np_gelu(x):
    return (0.5 * x * (1.0 + _erf(x * np.float32(1 / math.sqrt(2))))).astype(np.float32)


def np_attention(q, k, v, heads, batch=1):
    nq, nk, c = q.shape[0] // batch, k.shape[0] // batch, q.shape[1]
    d = c // heads
    out = np.empty_like(q)
    for b in range(batch):
        for h in range(heads):
            Q = q[b * nq:(b + 1) * nq, h * d:(h + 1) * d]
            K = k[b * nk:(b + 1) * nk, h * d:(h + 1) * d]
            V = v[b * nk:(b + 1) * nk, h * d:(h + 1) * d]
            s = (Q @ K.T) * np.float32(1 / math.sqrt(d))
            p = np.exp(s - s.max(1, keepdims=True))
            out[b * nq:(b + 1) * nq, h * d:(h + 1) * d] = (p / p.sum(1, keepdims=True)) @ V
    return out


def np_rope(x, pos, heads, base=100.0):
    n, c = x.shape
    d = c // heads
    half = d // 2
    inv = (1.0 / base ** (np.arange(0, half, 2, dtype=np.float32) / half)).astype(np.float32)
    xr = x.reshape(n, heads, 2, 2, half // 2)  # (token, head, y/x half, pair half, i)
    out = np.empty_like(xr)
    for a in range(2):
        ang = pos[:, a:a + 1].astype(np.float32) * inv[None]  # (n, half/2)
        cs, sn = np.cos(ang)[:, None], np.sin(ang)[:, None]
        x1, x2 = xr[:, :, a, 0], xr[:, :, a, 1]
        out[:, :, a, 0] = x1 * cs - x2 * sn
        out[:, :, a, 1] = x2 * cs + x1 * sn
    return out.reshape(n, c)


def np_linear(x, W, pfx):
    return x @ W[pfx + ".weight"].T + W[pfx + ".bias"]


def np_mlp(x, W, pfx):
    return np_linear(np_gelu(np_linear(x, W, pfx + ".fc1")), W, pfx + ".fc2")


def np_self_attn(x, W, pfx, heads, pos, batch):
    c = x.shape[1]
    qkv = np_linear(x, W, pfx + ".qkv")
    q, k, v = qkv[:, :c], qkv[:, c:2 * c], qkv[:, 2 * c:]
    a = np_attention(np_rope(q, pos, heads), np_rope(k, pos, heads), np.ascontiguousarray(v), heads, batch)
    return np_linear(a, W, pfx + ".proj")


def np_cross_attn(x, y, W, pfx, heads, pos):
    q = np_rope(np_linear(x, W, pfx + ".projq"), pos, heads)
    k = np_rope(np_linear(y, W, pfx + ".projk"), pos, heads)
    v = np_linear(y, W, pfx + ".projv")
    return np_linear(np_attention(q, k, v, heads), W, pfx + ".proj")


def np_encoder_block(x, W, heads, pos, batch):
    x = x + np_self_attn(np_layer_norm(x, W["b.norm1.weight"], W["b.norm1.bias"]), W, "b.attn", heads, pos, batch)
    return x + np_mlp(np_layer_norm(x, W["b.norm2.weight"], W["b.norm2.bias"]), W, "b.mlp")


def np_decoder_block(x, y, W, heads, pos):
    n = lambda t, k: np_layer_norm(t, W[f"b.{k}.weight"], W[f"b.{k}.bias"])  # noqa: E731
    x = x + np_self_attn(n(x, "norm1"), W, "b.attn", heads, pos, 1)
    x = x + np_cross_attn(n(x, "norm2"), n(y, "norm_y"), W, "b.cross_attn", heads, pos)
    return x + np_mlp(n(x, "norm3"), W, "b.mlp")


def random_block_weights(dim, decoder, seed=0):
    rng = np.random.default_rng(seed)
    W = {}

    def lin(name, o, i):
        W[name + ".weight"] = (rng.standard_normal((o, i)) * 0.02).astype(np.float32)
        W[name + ".bias"] = (rng.standard_normal(o) * 0.02).astype(np.float32)

    def norm(name):
        W[name + ".weight"] = (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)
        W[name + ".bias"] = (0.1 * rng.standard_normal(dim)).astype(np.float32)

    norm("b.norm1")
    norm("b.norm2")
    lin("b.attn.qkv", 3 * dim, dim)
    lin("b.attn.proj", dim, dim)
    lin("b.mlp.fc1", 4 * dim, dim)
    lin("b.mlp.fc2", dim, 4 * dim)
    if decoder:
        norm("b.norm3")
        norm("b.norm_y")
        for p in ("projq", "projk", "projv", "proj"):
            lin("b.cross_attn." + p, dim, dim)
    return W


# 512 x 384 image (landscape, W x H): 24 x 32 patches of 16.
H_TOK, W_TOK = 384 // 16, 512 // 16
N_TOK = H_TOK * W_TOK


# ---------------------------------------------------------------------------
# the full-size pair against its GEMM floor
# ---------------------------------------------------------------------------
PAIR_H, PAIR_W = 384, 512
BLAS_SHAPES = [(768, 1024, 4096), (1536, 1024, 4096), (768, 768, 3072)]


def mast3r_gemm_flops(H, W, config, dpt=None, as_original=False):
    """GEMM FLOPs (2 per multiply-add) of one pair of H x W images, per part,
    counted from the shapes of every Linear, attention's QK^T and PV, and every
    conv of the two heads. By default as splatcore computes it (each refinenet's
    1x1 out_conv before its x2 upsampling); as_original: after it, as the
    PyTorch model does (12.8 GFLOP more at 512 x 384)."""
    dpt = dict(dpt or {})
    F = int(dpt.get("feature_dim", 256))
    last = int(dpt.get("last_dim", F // 2))
    L = [int(v) for v in dpt.get("layer_dims", [96, 192, 384, 768])]
    E, D = int(config["enc_embed_dim"]), int(config["dec_embed_dim"])
    ne, nd = int(config["enc_depth"]), int(config["dec_depth"])
    desc = int(str(config.get("output_mode", "pts3d+desc24")).split("desc")[-1])
    p = 16
    h, w = H // p, W // p
    N = h * w
    f = {}
    f["patch_embed"] = 2 * (2 * N * 3 * p * p * E)
    f["encoder linears"] = 2 * ne * 2 * N * E * (3 * E + E + 4 * E + 4 * E)   # qkv, proj, fc1, fc2
    f["encoder attention"] = 2 * ne * 2 * (2 * N * N * E)                     # QK^T + PV, all heads
    f["decoder_embed"] = 2 * (2 * N * E * D)
    f["decoder linears"] = 2 * nd * 2 * N * D * (3 * D + D + 4 * D + 4 * D + 4 * D)  # + cross q, k, v, proj
    f["decoder attention"] = 2 * nd * 2 * 2 * (2 * N * N * D)                 # 2 views, self + cross
    C = E + D
    f["local-feature MLPs"] = 2 * (2 * N * C * 4 * C + 2 * N * 4 * C * (desc + 1) * p * p)
    h3, w3 = (h + 1) // 2, (w + 1) // 2
    P = [16 * N, 4 * N, N, h3 * w3]  # pixels of the four DPT levels
    conv3 = 2 * 9 * F * F
    out1 = 2 * F * F * (4 if as_original else 1)
    d = 2 * N * (E * L[0] + D * (L[1] + L[2] + L[3]))                       # act_postprocess 1x1
    d += 2 * N * L[0] * L[0] * 16 + 2 * N * L[1] * L[1] * 4 + 2 * P[3] * L[3] * L[3] * 9  # resamplers
    d += sum(2 * 9 * F * P[i] * L[i] for i in range(4))                     # layer{i}_rn
    d += P[3] * (2 * conv3 + out1)                                          # refinenet4 (rcu2 only)
    d += sum(P[i] * (4 * conv3 + out1) for i in range(3))                  # refinenet1..3
    d += 2 * 64 * N * F * (F // 2) * 9                                      # head.0 (3x3)
    d += 2 * 256 * N * (F // 2) * last * 9 + 2 * 256 * N * last * 4        # head.2 (3x3), head.4 (1x1)
    f["DPT heads"] = 2 * d
    return f


def blas_gflops(rounds=3):
    """The best sgemm throughput of splatcore's BLAS (splatcore.matmul, all threads):
    (GFLOP per second of wall time, GFLOP per second of process CPU time)."""
    rng = np.random.default_rng(11)
    best = best_cpu = 0.0
    for m, k, n in BLAS_SHAPES:
        a = sc.tensor(rng.standard_normal((m, k), dtype=np.float32))
        b = sc.tensor(rng.standard_normal((k, n), dtype=np.float32))
        sc.matmul(a, b)
        for _ in range(rounds):
            c = time.process_time()
            t = time.perf_counter()
            sc.matmul(a, b)
            t, c = time.perf_counter() - t, time.process_time() - c
            best = max(best, 2.0 * m * k * n / t / 1e9)
            best_cpu = max(best_cpu, 2.0 * m * k * n / max(c, 1e-9) / 1e9)
    return best, best_cpu


def full_size_model(dtype="float16", seed=0):
    """The full MASt3R architecture (FULL_CONFIG, the manifest's) with random
    weights: Linear weights N(0, 1/fan_in)/4 in `dtype`, norms ~1, biases ~0.02."""
    from splatcore.mast3r import FULL_CONFIG, expected_shapes
    from splatcore.mast3r.model import Model, _is_linear_weight
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal(1 << 22, dtype=np.float32)  # values cycled from a pool: fast
    weights = {}
    for name, shape in expected_shapes(FULL_CONFIG).items():
        if ".scratch.layer_rn." in name:  # the tied twin of layer{i}_rn: one tensor
            continue
        n = int(np.prod(shape))
        a = np.resize(pool[int(rng.integers(0, 1 << 21)):], n).reshape(shape)
        if len(shape) == 1:
            a = (1.0 if name.endswith(("norm1.weight", "norm2.weight", "norm3.weight", "norm_y.weight",
                                       "enc_norm.weight", "dec_norm.weight")) else 0.0) + 0.02 * a
            weights[name] = a.astype(np.float32)
        else:
            a *= np.float32(0.5 / math.sqrt(int(np.prod(shape[1:]))))
            weights[name] = a.astype(dtype if _is_linear_weight(name) else np.float32)
        del a
    return Model.from_weights(weights, FULL_CONFIG, dtype=dtype)


def pair_worker(rounds=2, dtype="float16"):
    """One process: build the model, time `rounds` pairs after a warm-up; a dict."""
    from splatcore.mast3r import FULL_CONFIG
    t0 = time.perf_counter()
    model = full_size_model(dtype)
    build_s = time.perf_counter() - t0
    rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    flops = mast3r_gemm_flops(PAIR_H, PAIR_W, FULL_CONFIG)
    total = sum(flops.values())
    rng = np.random.default_rng(12)
    img1, img2 = (rng.uniform(-1, 1, (PAIR_H, PAIR_W, 3)).astype(np.float32) for _ in range(2))
    out = model.infer_pair(img1, img2)  # warm-up
    # BLAS measured right before and after every pair: on a shared machine the
    # load changes, and each pair is compared with the throughput of its own moment
    blas_before = blas = blas_gflops()
    blas_all = [blas]
    times, stages, ratios = [], [], []
    for _ in range(rounds):
        _core._nn_profile(True)  # the per-layer-kind timers, for this pair only
        c0 = time.process_time()
        t = time.perf_counter()
        out = model.infer_pair(img1, img2)
        times.append((time.perf_counter() - t, time.process_time() - c0))
        stages.append(dict(model.last_timings))
        stages[-1]["_prof"] = _core._nn_profile(False)
        after = blas_gflops()
        blas_all.append(after)
        ratios.append(times[-1][0] / (total / ((blas[0] + after[0]) / 2 * 1e9)))
        blas = after
    prof = {}
    for st in stages:
        for k, v in st.pop("_prof").items():
            prof[k] = (prof.get(k, (0.0, 0))[0] + v[0], prof.get(k, (0.0, 0))[1] + v[1])
    blas_after = blas
    blas = max(b[0] for b in blas_all)  # the best moment: the most demanding floor
    blas_cpu = max(b[1] for b in blas_all)
    cpu_best = min(c for _, c in times)
    wall = sorted(t for t, _ in times)
    best, median = wall[0], wall[len(wall) // 2]
    floor = total / (blas * 1e9)
    status = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmHWM", "VmRSS")):
                    status[line.split(":")[0]] = int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    finite = all(np.isfinite(v).all() for view in out.values() for v in view.values())
    return {
        "threads": sc.num_threads(), "blas": sc.blas_name(), "dtype": dtype,
        "size": f"{PAIR_W}x{PAIR_H}", "rounds": rounds, "build_s": build_s,
        "s_per_pair_best": best, "s_per_pair_median": median,
        "cpu_s_per_pair": min(c for _, c in times),
        "stages_ms": min(stages, key=lambda st: st["total"]),
        "mean_total_ms": sum(st["total"] for st in stages) / len(stages),
        "wall_s_all": [t for t, _ in times],
        "profile_ms_per_pair": {k: v[0] / rounds for k, v in prof.items()},
        "gemm_gflop": total / 1e9, "gemm_gflop_by_part": {k: v / 1e9 for k, v in flops.items()},
        "gemm_gflop_as_original": sum(mast3r_gemm_flops(PAIR_H, PAIR_W, FULL_CONFIG, as_original=True).values()) / 1e9,
        "blas_gflops_before": blas_before[0], "blas_gflops_after": blas_after[0], "blas_gflops": blas,
        "floor_s": floor, "ratio_best": best / floor, "ratio_median": median / floor,
        "ratios_adjacent": ratios,  # each pair against the mean BLAS throughput just before / after it
        # the same in CPU time (robust to other processes sharing the cores, blind to idle threads)
        "blas_gflop_per_cpu_s": blas_cpu, "cpu_floor_s": total / (blas_cpu * 1e9),
        "cpu_ratio": cpu_best / (total / (blas_cpu * 1e9)),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
        "rss_after_build_gb": rss_built, "vm_hwm_gb": status.get("VmHWM"),
        "outputs_finite": bool(finite),
    }


@pytest.mark.skipif(os.environ.get("SPLATCORE_BENCH_FULL", "1") == "0",
                    reason="SPLATCORE_BENCH_FULL=0: the full-size pair is skipped")
def test_vitl_pair_512x384():
    rounds = int(os.environ.get("SPLATCORE_BENCH_ROUNDS", "2"))
    cmd = [sys.executable, os.path.abspath(__file__), "--pair", "--rounds", str(rounds)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print_pair_report(res)
    assert res["outputs_finite"]
    assert res["peak_rss_gb"] < 4.0, f"peak RSS {res['peak_rss_gb']:.2f} GB"
    _rows.append((f"vitl pair 512x384 ({res['dtype']} weights)", res["s_per_pair_best"] * 1e3, None))


def print_pair_report(res):
    print(f"\n\nMASt3R full-size pair {res['size']}, {res['dtype']} Linear weights, {res['threads']} threads, "
          f"BLAS {res['blas']}")
    print(f"  seconds per pair        best {res['s_per_pair_best']:.2f} s, median {res['s_per_pair_median']:.2f} s "
          f"of {res['rounds']} (CPU {res['cpu_s_per_pair']:.2f} s; all: "
          + ", ".join(f"{t:.2f}" for t in res["wall_s_all"]) + ")")
    print(f"  GEMM FLOPs              {res['gemm_gflop']:.0f} GFLOP as computed "
          f"({res['gemm_gflop_as_original']:.0f} as the PyTorch model orders the DPT)")
    for k, v in res["gemm_gflop_by_part"].items():
        print(f"      {k:22s} {v:8.1f} GFLOP")
    print(f"  BLAS sgemm throughput   {res['blas_gflops']:.1f} GFLOP/s, the best of the measurements around "
          f"the pairs (first {res['blas_gflops_before']:.1f}, last {res['blas_gflops_after']:.1f})")
    print(f"  floor = FLOPs / BLAS    {res['floor_s']:.2f} s")
    print(f"  time / floor            {res['ratio_best']:.2f} (best), {res['ratio_median']:.2f} (median)   bar: <= 1.5")
    print("  each pair / floor of its own moment (BLAS just before and after it): "
          + ", ".join(f"{r:.2f}" for r in res["ratios_adjacent"]))
    print(f"  in CPU time             {res['cpu_s_per_pair']:.2f} CPU-s / ({res['gemm_gflop']:.0f} GFLOP at "
          f"{res['blas_gflop_per_cpu_s']:.1f} GFLOP per CPU-s = {res['cpu_floor_s']:.2f}) = {res['cpu_ratio']:.2f}"
          "   (robust to other processes on the cores)")
    print(f"  peak RSS                {res['peak_rss_gb']:.2f} GB (after building the weights "
          f"{res['rss_after_build_gb']:.2f} GB)   bar: < 4 GB")
    st = res["stages_ms"]
    print("  stages (best pair)      " + ", ".join(f"{k} {v / 1e3:.2f} s" for k, v in st.items()))
    prof = res["profile_ms_per_pair"]
    known = sum(prof.values())
    print("  per layer kind (s per pair, mean; wall time of the calling thread):")
    for k, v in sorted(prof.items(), key=lambda kv: -kv[1]):
        print(f"      {k:22s} {v / 1e3:8.2f}")
    print(f"      {'(rest: copies, post)':22s} {(res['mean_total_ms'] - known) / 1e3:8.2f}")
    print(f"      {'(mean total)':22s} {res['mean_total_ms'] / 1e3:8.2f}")


# ---------------------------------------------------------------------------
# the golden small model
# ---------------------------------------------------------------------------
def _golden_weights():
    with open(os.path.join(GOLDEN, "weights.safetensors"), "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    return {k: np.frombuffer(buf, np.float32, (v["data_offsets"][1] - v["data_offsets"][0]) // 4,
                             8 + n + v["data_offsets"][0]).reshape(v["shape"])
            for k, v in header.items() if k != "__metadata__"}


@pytest.mark.skipif(not HAVE_GOLDEN, reason="golden MASt3R reference not available")
def test_small_model_pair(benchmark):
    from splatcore.mast3r.model import Model
    with open(os.path.join(GOLDEN, "config.json")) as f:
        config = json.load(f)
    ref = np.load(os.path.join(GOLDEN, "reference.npz"))
    model = Model.from_weights(_golden_weights(), config)
    img1, img2 = ref["img1"], ref["img2"]
    out = model.infer_pair(img1, img2)
    assert rel(out["view1"]["pts3d"], ref["view1_pts3d"]) < 1e-4
    assert rel(out["view2"]["desc"], ref["view2_desc"]) < 1e-4
    benchmark.pedantic(lambda: model.infer_pair(img1, img2), rounds=10, iterations=1, warmup_rounds=2)
    ms = benchmark.stats.stats.min * 1e3
    benchmark.extra_info.update(ms=ms, size="96x64")
    _rows.append(("small model pair 96x64 (full forward)", ms, None))


# ---------------------------------------------------------------------------
# fused attention
# ---------------------------------------------------------------------------
ATTN_CASES = [
    # name, tokens, channels, heads, batch
    ("golden enc 24 tok 64d/4h x2", 24, 64, 4, 2),
    ("golden dec 24 tok 48d/4h", 24, 48, 4, 1),
    ("vitl enc 768 tok 1024d/16h x2", N_TOK, 1024, 16, 2),
    ("vitl dec 768 tok 768d/12h", N_TOK, 768, 12, 1),
]


@pytest.mark.parametrize("impl", ["gemm", "loops", "auto"])
@pytest.mark.parametrize("name,n,c,heads,batch", ATTN_CASES,
                         ids=["golden_enc", "golden_dec", "vitl_enc", "vitl_dec"])
def test_attention(benchmark, impl, name, n, c, heads, batch):
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((batch * n, c), dtype=np.float32) for _ in range(3))
    out = _core._nn_attention(q, k, v, heads, batch, impl).numpy()
    assert rel(out, np_attention(q, k, v, heads, batch)) < 1e-4
    small = n < 100
    benchmark.pedantic(lambda: _core._nn_attention(q, k, v, heads, batch, impl),
                       rounds=50 if small else 5, iterations=1, warmup_rounds=1)
    ms = benchmark.stats.stats.min * 1e3
    np_ms = best_ms(lambda: np_attention(q, k, v, heads, batch), 20 if small else 3)
    flops = 4.0 * n * n * c * batch
    benchmark.extra_info.update(ms=ms, numpy_ms=np_ms, gflops=flops / ms / 1e6)
    _rows.append((f"attention {impl:5s} {name}", ms, np_ms))


# ---------------------------------------------------------------------------
# full-size blocks
# ---------------------------------------------------------------------------
def test_vitl_encoder_block(benchmark):
    dim, heads, batch = 1024, 16, 2
    W = random_block_weights(dim, decoder=False)
    blk = _core._Mast3rEncoderBlock(W, "b", dim, heads)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((batch * N_TOK, dim), dtype=np.float32)
    pos = np.tile(_core._nn_grid_positions(H_TOK, W_TOK).numpy(), (batch, 1))
    out = blk.forward(x, batch, H_TOK, W_TOK).numpy()
    ref = np_encoder_block(x, W, heads, pos, batch)
    assert rel(out, ref) < 1e-4
    benchmark.pedantic(lambda: blk.forward(x, batch, H_TOK, W_TOK), rounds=3, iterations=1, warmup_rounds=1)
    ms = benchmark.stats.stats.min * 1e3
    np_ms = best_ms(lambda: np_encoder_block(x, W, heads, pos, batch), 2)
    # the parts: fused attention core on (q, k, v) of this size, and the MLP
    qkv = rng.standard_normal((batch * N_TOK, 3 * dim), dtype=np.float32)
    q, k, v = qkv[:, :dim], qkv[:, dim:2 * dim], qkv[:, 2 * dim:]
    attn_ms = best_ms(lambda: _core._nn_attention(q, k, v, heads, batch), 3)
    mlp_ms = best_ms(lambda: _core._nn_linear(_core._nn_linear(x, W["b.mlp.fc1.weight"], W["b.mlp.fc1.bias"], "gelu"),
                                              W["b.mlp.fc2.weight"], W["b.mlp.fc2.bias"]), 3)
    benchmark.extra_info.update(ms=ms, numpy_ms=np_ms, attention_core_ms=attn_ms, mlp_ms=mlp_ms)
    _rows.append(("vitl encoder block 512x384, 2 images", ms, np_ms))
    _rows.append(("  of which fused attention core", attn_ms, None))
    _rows.append(("  of which MLP (fc1 + gelu + fc2)", mlp_ms, None))


def test_vitl_decoder_block(benchmark):
    dim, heads = 768, 12
    W = random_block_weights(dim, decoder=True)
    blk = _core._Mast3rDecoderBlock(W, "b", dim, heads)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N_TOK, dim), dtype=np.float32)
    y = rng.standard_normal((N_TOK, dim), dtype=np.float32)
    pos = _core._nn_grid_positions(H_TOK, W_TOK).numpy()
    out = blk.forward(x, y, H_TOK, W_TOK).numpy()
    assert rel(out, np_decoder_block(x, y, W, heads, pos)) < 1e-4
    benchmark.pedantic(lambda: blk.forward(x, y, H_TOK, W_TOK), rounds=3, iterations=1, warmup_rounds=1)
    ms = benchmark.stats.stats.min * 1e3
    np_ms = best_ms(lambda: np_decoder_block(x, y, W, heads, pos), 2)
    q, k, v = (rng.standard_normal((N_TOK, dim), dtype=np.float32) for _ in range(3))
    attn_ms = best_ms(lambda: _core._nn_attention(q, k, v, heads), 3)
    mlp_ms = best_ms(lambda: _core._nn_linear(_core._nn_linear(x, W["b.mlp.fc1.weight"], W["b.mlp.fc1.bias"], "gelu"),
                                              W["b.mlp.fc2.weight"], W["b.mlp.fc2.bias"]), 3)
    benchmark.extra_info.update(ms=ms, numpy_ms=np_ms, attention_core_ms=attn_ms, mlp_ms=mlp_ms)
    _rows.append(("vitl decoder block 512x384, one view", ms, np_ms))
    _rows.append(("  of which fused attention core (x2: self, cross)", attn_ms, None))
    _rows.append(("  of which MLP (fc1 + gelu + fc2)", mlp_ms, None))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="MASt3R full-size pair benchmark (one process)")
    ap.add_argument("--pair", action="store_true", help="run the full-size pair and print JSON")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    ap.add_argument("--report", action="store_true", help="also print the human-readable report")
    args = ap.parse_args()
    if args.pair:
        result = pair_worker(args.rounds, args.dtype)
        if args.report:
            print_pair_report(result)
        print(json.dumps(result))

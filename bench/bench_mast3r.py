"""MASt3R inference: the golden small model on its pair, and full-size blocks.

Run:   SPLATCORE_BUILD_DIR=build/m3 PYTHONPATH=python python -m pytest bench/bench_mast3r.py -q -s
Small cases only (deselect the full-size ones):   ... -k "not vitl"

Cases
- small_model_pair: the random-weight golden model (encoder 64d x 3, decoder 48d
  x 10, DPT + local features) on its 96 x 64 image pair, one full forward;
  outputs checked against reference.npz.
- attention[...]: the fused attention core (online softmax) with both CPU
  schedules ("loops": register-tiled loops in parallel_for over (head, query
  block); "gemm": BLAS calls per (head, key block)) and "auto", against NumPy's
  naive softmax(Q K^T / sqrt(d)) V (float32 BLAS matmuls, one head at a time),
  on the golden shapes and the ViT-L shapes at 512 x 384 (32 x 24 = 768 tokens).
- vitl_encoder_block / vitl_decoder_block: one full-size block with random
  weights at 512 x 384 (encoder: 1024d, 16 heads, MLP 4096, both images in one
  batch as the model runs them; decoder: 768d, 12 heads, self + cross attention
  + MLP 3072), against the same block written in NumPy (float32); the attention
  and MLP parts are timed on their own too.

Each case reports the best of several rounds (ms) and the ratio NumPy / splatcore
(> 1: splatcore is faster); a table is printed at the end of the module.

OpenBLAS's worker threads spin for a while after each call (OPENBLAS_THREAD_TIMEOUT,
default 2^28 cycles) and then compete for the cores with splatcore's pool, which
runs the layer norms, RoPE, attention and activations between the BLAS calls. With
as many threads as cores this costs much: on a 16-core Xeon the full 512 x 384 pair
took 5.5 s by default and 3.1 s with OPENBLAS_THREAD_TIMEOUT=4 (set before the
first BLAS call). The summary prints the value in effect.
"""
import json
import math
import os
import struct
import time

import numpy as np
import pytest

import splatcore as sc
from splatcore import _core

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
    v1, v2 = model(img1, img2)
    assert rel(v1["pts3d"], ref["view1_pts3d"]) < 1e-4
    assert rel(v2["desc"], ref["view2_desc"]) < 1e-4
    benchmark.pedantic(lambda: model(img1, img2), rounds=10, iterations=1, warmup_rounds=2)
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


@pytest.mark.parametrize("impl", ["loops", "gemm", "auto"])
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

"""Inference layers of cpp/nn/ (linear, layer norm, 2-D RoPE, fused attention)
against NumPy float64 transcriptions."""
import math

import numpy as np
import pytest

from splatcore import _core

ATTN_IMPLS = ["loops", "gemm"]


def rel(out, ref):
    out = np.asarray(out, dtype=np.float64)
    return np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-300)


def f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------------------
# NumPy references (float64)
# ---------------------------------------------------------------------------
def gelu_ref(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layer_norm_ref(x, w, b, eps=1e-6):
    x = x.astype(np.float64)
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rope2d_ref(x, pos, heads, base=100.0):
    """CroCo's RoPE2D (models/pos_embed.py) transcribed: per head, the first half
    of the channels by y, the second by x; each half a rotate-half 1-D RoPE."""
    x = x.astype(np.float64)
    n_tok, c = x.shape
    d = c // heads
    half = d // 2
    inv_freq = 1.0 / base ** (np.arange(0, half, 2, dtype=np.float64) / half)

    def rope1d(t, p):  # t (N, half), p (N,)
        freqs = p[:, None] * inv_freq[None, :]
        freqs = np.concatenate([freqs, freqs], axis=1)
        t1, t2 = t[:, :half // 2], t[:, half // 2:]
        rot = np.concatenate([-t2, t1], axis=1)
        return t * np.cos(freqs) + rot * np.sin(freqs)

    out = np.empty_like(x)
    for h in range(heads):
        seg = x[:, h * d:(h + 1) * d]
        out[:, h * d:h * d + half] = rope1d(seg[:, :half], pos[:, 0].astype(np.float64))
        out[:, h * d + half:(h + 1) * d] = rope1d(seg[:, half:], pos[:, 1].astype(np.float64))
    return out


def attention_ref(q, k, v, heads, batch=1):
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    nq, nk, c = q.shape[0] // batch, k.shape[0] // batch, q.shape[1]
    d = c // heads
    out = np.empty_like(q)
    for b in range(batch):
        for h in range(heads):
            Q = q[b * nq:(b + 1) * nq, h * d:(h + 1) * d]
            K = k[b * nk:(b + 1) * nk, h * d:(h + 1) * d]
            V = v[b * nk:(b + 1) * nk, h * d:(h + 1) * d]
            s = Q @ K.T / math.sqrt(d)
            p = np.exp(s - s.max(axis=1, keepdims=True))
            out[b * nq:(b + 1) * nq, h * d:(h + 1) * d] = (p / p.sum(axis=1, keepdims=True)) @ V
    return out


# ---------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("n,cin,cout", [(1, 1, 1), (7, 5, 3), (24, 64, 192), (33, 48, 200)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(rng, n, cin, cout, bias):
    x, w = f32(rng, n, cin), f32(rng, cout, cin, scale=0.3)
    b = f32(rng, cout) if bias else None
    out = _core._nn_linear(x, w, b).numpy()
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + (0 if b is None else b)
    assert out.shape == (n, cout) and out.dtype == np.float32
    assert rel(out, ref) < 1e-5


def test_linear_gelu_and_strided_rows(rng):
    big = f32(rng, 40, 30)
    x = big[3:20, 5:25]  # row stride 30, width 20
    w, b = f32(rng, 50, 20, scale=0.5), f32(rng, 50)
    out = _core._nn_linear(x, w, b, "gelu").numpy()
    ref = gelu_ref(x.astype(np.float64) @ w.T.astype(np.float64) + b)
    assert rel(out, ref) < 1e-5


def test_linear_errors(rng):
    with pytest.raises(ValueError, match="weight"):
        _core._nn_linear(f32(rng, 4, 5), f32(rng, 3, 6))
    with pytest.raises(ValueError, match="bias"):
        _core._nn_linear(f32(rng, 4, 5), f32(rng, 3, 5), f32(rng, 4))
    with pytest.raises(ValueError, match="activation"):
        _core._nn_linear(f32(rng, 4, 5), f32(rng, 3, 5), None, "relu6")


# ---------------------------------------------------------------------------
# layer norm
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("n,c", [(1, 1), (5, 7), (24, 64), (17, 48), (3, 1029)])
def test_layer_norm(rng, n, c):
    x = f32(rng, n, c, scale=3.0) + np.float32(5.0)  # an offset: the variance must not cancel
    w, b = f32(rng, c), f32(rng, c)
    out = _core._nn_layer_norm(x, w, b).numpy()
    assert rel(out, layer_norm_ref(x, w, b)) < 1e-5


def test_layer_norm_eps_and_constant_rows(rng):
    x = np.full((3, 16), 2.5, np.float32)
    w, b = np.ones(16, np.float32), f32(rng, 16)
    out = _core._nn_layer_norm(x, w, b, eps=1e-6).numpy()
    np.testing.assert_allclose(out, np.broadcast_to(b, (3, 16)), atol=1e-6)
    x = f32(rng, 4, 10, scale=1e-3)
    out = _core._nn_layer_norm(x, w[:10], b[:10], eps=1e-2).numpy()
    assert rel(out, layer_norm_ref(x, w[:10], b[:10], eps=1e-2)) < 1e-5


# ---------------------------------------------------------------------------
# 2-D RoPE
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("heads,d", [(1, 4), (4, 16), (4, 12), (2, 64), (16, 64)])
def test_rope2d(rng, heads, d):
    n = 37
    x = f32(rng, n, heads * d)
    pos = rng.integers(0, 40, size=(n, 2)).astype(np.int64)
    out = _core._nn_rope2d(x, pos, heads).numpy()
    assert rel(out, rope2d_ref(x, pos, heads)) < 1e-5
    # a rotation: norms of every pair are kept
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(x, axis=1), rtol=1e-5)


def test_rope2d_grid_and_base(rng):
    pos = _core._nn_grid_positions(4, 6).numpy()
    assert pos.shape == (24, 2) and pos.dtype == np.int64
    np.testing.assert_array_equal(pos, np.stack(np.meshgrid(np.arange(4), np.arange(6), indexing="ij"), -1).reshape(-1, 2))
    x = f32(rng, 24, 32)
    out = _core._nn_rope2d(x, pos, 2, base=10000.0).numpy()
    assert rel(out, rope2d_ref(x, pos, 2, base=10000.0)) < 1e-5
    # position (0, 0) is the identity
    np.testing.assert_array_equal(out[0], x[0])


def test_rope2d_errors(rng):
    with pytest.raises(ValueError, match="multiple of 4"):
        _core._nn_rope2d(f32(rng, 3, 12), np.zeros((3, 2), np.int64), 2)  # head_dim 6
    with pytest.raises(ValueError, match="pos"):
        _core._nn_rope2d(f32(rng, 3, 16), np.zeros((4, 2), np.int64), 2)
    with pytest.raises(ValueError, match="position"):
        _core._nn_rope2d(f32(rng, 2, 16), np.array([[0, 0], [-1, 0]], np.int64), 2)


# ---------------------------------------------------------------------------
# fused attention
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ATTN_IMPLS)
@pytest.mark.parametrize("nq,nk,heads,d", [
    (1, 1, 1, 4),
    (24, 24, 4, 16),     # the golden encoder
    (24, 24, 4, 12),     # the golden decoder
    (31, 33, 2, 8),      # not multiples of the blocks
    (65, 63, 3, 20),
    (100, 129, 2, 64),
    (130, 700, 1, 32),   # several key blocks, Nk > the Gemm block too
])
def test_attention_vs_naive(rng, impl, nq, nk, heads, d):
    c = heads * d
    q, k, v = f32(rng, nq, c, scale=1.5), f32(rng, nk, c, scale=1.5), f32(rng, nk, c)
    out = _core._nn_attention(q, k, v, heads, 1, impl).numpy()
    assert out.shape == (nq, c)
    assert rel(out, attention_ref(q, k, v, heads)) < 1e-5


@pytest.mark.parametrize("impl", ATTN_IMPLS)
def test_attention_batch_and_strided(rng, impl):
    batch, n, heads, d = 2, 45, 3, 16
    c = heads * d
    qkv = f32(rng, batch * n, 3 * c)  # q, k, v read in place from one fused matrix
    q, k, v = qkv[:, :c], qkv[:, c:2 * c], qkv[:, 2 * c:]
    out = _core._nn_attention(q, k, v, heads, batch, impl).numpy()
    assert rel(out, attention_ref(q, k, v, heads, batch)) < 1e-5


@pytest.mark.parametrize("impl", ATTN_IMPLS)
def test_attention_large_scores_stable(rng, impl):
    q, k, v = f32(rng, 50, 32, scale=30.0), f32(rng, 90, 32, scale=30.0), f32(rng, 90, 32)
    out = _core._nn_attention(q, k, v, 2, 1, impl).numpy()
    assert np.isfinite(out).all()
    assert rel(out, attention_ref(q, k, v, 2)) < 1e-4


def test_attention_impls_agree(rng):
    q, k, v = f32(rng, 300, 64), f32(rng, 300, 64), f32(rng, 300, 64)
    a = _core._nn_attention(q, k, v, 4, 1, "loops").numpy()
    b = _core._nn_attention(q, k, v, 4, 1, "gemm").numpy()
    c = _core._nn_attention(q, k, v, 4).numpy()
    assert rel(a, b.astype(np.float64)) < 1e-6
    assert rel(c, a.astype(np.float64)) < 1e-6  # auto picks one of them


def test_attention_errors(rng):
    q = f32(rng, 10, 16)
    with pytest.raises(ValueError, match="heads"):
        _core._nn_attention(q, q, q, 3)
    with pytest.raises(ValueError, match="same number of channels"):
        _core._nn_attention(q, f32(rng, 10, 8), f32(rng, 10, 8), 2)
    with pytest.raises(ValueError, match="same number of tokens"):
        _core._nn_attention(q, q, f32(rng, 9, 16), 2)
    with pytest.raises(ValueError, match="batch"):
        _core._nn_attention(q, q, q, 2, 3)
    with pytest.raises(ValueError, match="impl"):
        _core._nn_attention(q, q, q, 2, 1, "flash")

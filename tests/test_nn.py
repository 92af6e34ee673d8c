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


# ---------------------------------------------------------------------------
# half-precision weights
# ---------------------------------------------------------------------------
def bf16_round(a):
    """float32 -> nearest bfloat16 (ties to even), returned as float32."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32).reshape(np.shape(a))


def test_convert_weight_rounding(rng):
    # normal, tiny (float16 subnormal), large and exact-tie values
    x = np.concatenate([f32(rng, 997), f32(rng, 50, scale=1e-6), f32(rng, 50, scale=3e4),
                        np.float32([0.0, -0.0, 1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 65504.0, 70000.0])])
    h = _core._nn_convert_weight(x, "float16")
    assert str(h.dtype) == "float16"
    with np.errstate(over="ignore"):  # 70000 -> inf, in both
        want = x.astype(np.float16)
    np.testing.assert_array_equal(h.numpy().view(np.uint16), want.view(np.uint16))
    b = _core._nn_convert_weight(x, "bfloat16")
    assert str(b.dtype) == "bfloat16"
    np.testing.assert_array_equal(_core._nn_convert_weight(b, "float32").numpy(), bf16_round(x))
    # and back: half -> float32 is exact
    back = _core._nn_convert_weight(h, "float32").numpy()
    np.testing.assert_array_equal(back, want.astype(np.float32))
    # a strided float64 source
    y = rng.standard_normal((20, 30))[:, ::3]
    np.testing.assert_array_equal(_core._nn_convert_weight(y, "float16").numpy(), y.astype(np.float16))
    with pytest.raises(TypeError):
        _core._nn_convert_weight(x, "int32")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("n,cin,cout", [(5, 7, 3), (40, 96, 520), (300, 64, 33)])
def test_linear_half_weights(rng, dtype, n, cin, cout):
    """Half weights are used exactly as their float32 values (converted per tile)."""
    x, w, b = f32(rng, n, cin), f32(rng, cout, cin, scale=0.3), f32(rng, cout)
    wh = _core._nn_convert_weight(w, dtype)
    w_exact = w.astype(np.float16).astype(np.float64) if dtype == "float16" else bf16_round(w).astype(np.float64)
    out = _core._nn_linear(x, wh, b, "gelu").numpy()
    ref = gelu_ref(x.astype(np.float64) @ w_exact.T + b)
    assert rel(out, ref) < 1e-5
    # the rounding is real: against the unrounded weights the error is of the half's precision
    err = rel(out, gelu_ref(x.astype(np.float64) @ w.T.astype(np.float64) + b))
    assert 1e-6 < err < (3e-3 if dtype == "float16" else 2e-2)


# ---------------------------------------------------------------------------
# convolutions (the DPT head's), NumPy float64 references
# ---------------------------------------------------------------------------
def conv2d_ref(x, w, b, stride, pad):
    x = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
    o, c, k, _ = w.shape
    H = (x.shape[1] - k) // stride + 1
    W = (x.shape[2] - k) // stride + 1
    out = np.zeros((o, H, W))
    for i in range(k):
        for j in range(k):
            patch = x[:, i:i + stride * (H - 1) + 1:stride, j:j + stride * (W - 1) + 1:stride]
            out += np.einsum("oc,chw->ohw", w[:, :, i, j].astype(np.float64), patch)
    if b is not None:
        out += b[:, None, None]
    return out


@pytest.mark.parametrize("c,o,h,w,k,stride,pad", [
    (3, 5, 7, 9, 3, 1, 1),
    (16, 24, 12, 16, 3, 2, 1),   # DPT act_postprocess[3]
    (8, 6, 11, 5, 1, 1, 0),      # pointwise, read in place
    (5, 7, 9, 13, 3, 1, 0),
    (4, 3, 6, 6, 5, 2, 2),
    (32, 32, 40, 52, 3, 1, 1),   # several pixel tiles
])
def test_conv2d(rng, c, o, h, w, k, stride, pad):
    x, wt, b = f32(rng, c, h, w), f32(rng, o, c, k, k, scale=0.3), f32(rng, o)
    out = _core._nn_conv2d(x, wt, b, stride, pad).numpy()
    ref = conv2d_ref(x, wt, b, stride, pad)
    assert out.shape == ref.shape
    assert rel(out, ref) < 1e-5
    out_nb = _core._nn_conv2d(x[None], wt, None, stride, pad).numpy()  # (1, C, H, W), no bias
    assert rel(out_nb, conv2d_ref(x, wt, None, stride, pad)) < 1e-5


def test_conv2d_fused_relu_residual_pointwise(rng):
    c, o, o2, h, w = 12, 10, 4, 17, 23
    x, wt, b = f32(rng, c, h, w), f32(rng, o, c, 3, 3, scale=0.3), f32(rng, o)
    res = f32(rng, o, h, w)
    w2, b2 = f32(rng, o2, o, 1, 1), f32(rng, o2)
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    # conv(relu(x)) + b + residual, then relu
    out = _core._nn_conv2d(x, wt, b, 1, 1, relu_in=True, relu_out=True, residual=res).numpy()
    ref = relu(conv2d_ref(relu(x), wt, b, 1, 1) + res)
    assert rel(out, ref) < 1e-5
    # relu(conv(x) + b) followed by a fused 1x1 conv (the DPT head's last two layers)
    out = _core._nn_conv2d(x, wt, b, 1, 1, relu_out=True, w2=w2, b2=b2).numpy()
    ref = conv2d_ref(relu(conv2d_ref(x, wt, b, 1, 1)), w2, b2, 1, 0)
    assert out.shape == (o2, h, w)
    assert rel(out, ref) < 1e-5
    with pytest.raises(ValueError, match="residual"):
        _core._nn_conv2d(x, wt, b, 1, 1, residual=res[:, :-1])
    with pytest.raises(ValueError, match="weight"):
        _core._nn_conv2d(x, wt[:, :-1], b, 1, 1)


@pytest.mark.parametrize("c,o,h,w,s", [(6, 5, 4, 7, 4), (12, 12, 9, 3, 2), (3, 2, 1, 1, 3)])
def test_conv_transpose_k_eq_s(rng, c, o, h, w, s):
    x, wt, b = f32(rng, c, h, w), f32(rng, c, o, s, s), f32(rng, o)
    out = _core._nn_conv_transpose2d_k_eq_s(x, wt, b).numpy()
    # each input pixel paints an s x s block: y[o, y s + i, x s + j] = sum_c x[c, y, x] w[c, o, i, j] + b
    ref = np.einsum("chw,coij->ohiwj", x.astype(np.float64), wt.astype(np.float64)).reshape(o, h * s, w * s)
    ref += b[:, None, None]
    assert rel(out, ref) < 1e-5


def upsample2x_ref(x):
    """torch's bilinear interpolation, align_corners=True, scale 2, float64."""
    c, h, w = x.shape

    def axis(n_in):
        n_out = 2 * n_in
        src = np.arange(n_out) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    a = x.astype(np.float64)
    top = a[:, y0][:, :, x0] * (1 - fx) + a[:, y0][:, :, x1] * fx
    bot = a[:, y1][:, :, x0] * (1 - fx) + a[:, y1][:, :, x1] * fx
    return top * (1 - fy)[:, None] + bot * fy[:, None]


@pytest.mark.parametrize("c,h,w", [(3, 4, 5), (2, 1, 7), (5, 12, 16)])
def test_upsample2x_bilinear(rng, c, h, w):
    x = f32(rng, c, h, w)
    out = _core._nn_upsample2x_bilinear(x).numpy()
    assert out.shape == (c, 2 * h, 2 * w)
    assert rel(out, upsample2x_ref(x)) < 1e-6
    # align_corners: the corner pixels are kept
    for yo, yi in ((0, 0), (-1, -1)):
        for xo, xi in ((0, 0), (-1, -1)):
            np.testing.assert_allclose(out[:, yo, xo], x[:, yi, xi], rtol=1e-6)


# ---------------------------------------------------------------------------
# whole blocks (CroCo's encoder / decoder blocks) against NumPy float64
# ---------------------------------------------------------------------------
def block_weights(rng, dim, decoder, hidden=None):
    hidden = hidden or 4 * dim
    W = {}

    def lin(name, o, i):
        W[name + ".weight"] = f32(rng, o, i, scale=1 / math.sqrt(i))
        W[name + ".bias"] = f32(rng, o, scale=0.1)

    def norm(name):
        W[name + ".weight"] = (1 + 0.2 * rng.standard_normal(dim)).astype(np.float32)
        W[name + ".bias"] = f32(rng, dim, scale=0.1)

    norm("b.norm1")
    norm("b.norm2")
    lin("b.attn.qkv", 3 * dim, dim)
    lin("b.attn.proj", dim, dim)
    lin("b.mlp.fc1", hidden, dim)
    lin("b.mlp.fc2", dim, hidden)
    if decoder:
        norm("b.norm3")
        norm("b.norm_y")
        for p in ("projq", "projk", "projv", "proj"):
            lin("b.cross_attn." + p, dim, dim)
    return W


def _lin(x, W, p):
    return x @ W[p + ".weight"].T.astype(np.float64) + W[p + ".bias"]


def _ln(x, W, p):
    return layer_norm_ref(x, W[p + ".weight"], W[p + ".bias"])


def _mlp(x, W, p):
    return _lin(gelu_ref(_lin(x, W, p + ".fc1")), W, p + ".fc2")


def _self_attn(x, W, heads, pos, batch):
    c = x.shape[1]
    qkv = _lin(x, W, "b.attn.qkv")
    q, k, v = qkv[:, :c], qkv[:, c:2 * c], qkv[:, 2 * c:]
    return _lin(attention_ref(rope2d_ref(q, pos, heads), rope2d_ref(k, pos, heads), v, heads, batch), W, "b.attn.proj")


def test_encoder_block_vs_float64(rng):
    from splatcore import _core as core
    dim, heads, h, w, batch = 64, 4, 3, 5, 2
    W = block_weights(rng, dim, decoder=False)
    x = f32(rng, batch * h * w, dim)
    pos = np.tile(core._nn_grid_positions(h, w).numpy(), (batch, 1))
    out = core._Mast3rEncoderBlock(W, "b", dim, heads).forward(x, batch, h, w).numpy()
    x64 = x.astype(np.float64)
    x64 = x64 + _self_attn(_ln(x64, W, "b.norm1"), W, heads, pos, batch)
    ref = x64 + _mlp(_ln(x64, W, "b.norm2"), W, "b.mlp")
    assert rel(out, ref) < 1e-5


def test_decoder_block_vs_float64(rng):
    from splatcore import _core as core
    dim, heads, h, w = 48, 4, 4, 6
    W = block_weights(rng, dim, decoder=True)
    x, y = f32(rng, h * w, dim), f32(rng, h * w, dim)
    pos = core._nn_grid_positions(h, w).numpy()
    out = core._Mast3rDecoderBlock(W, "b", dim, heads).forward(x, y, h, w).numpy()
    x64 = x.astype(np.float64)
    x64 = x64 + _self_attn(_ln(x64, W, "b.norm1"), W, heads, pos, 1)
    yn = _ln(y.astype(np.float64), W, "b.norm_y")
    xn = _ln(x64, W, "b.norm2")
    q = rope2d_ref(_lin(xn, W, "b.cross_attn.projq"), pos, heads)
    k = rope2d_ref(_lin(yn, W, "b.cross_attn.projk"), pos, heads)
    v = _lin(yn, W, "b.cross_attn.projv")
    x64 = x64 + _lin(attention_ref(q, k, v, heads), W, "b.cross_attn.proj")
    ref = x64 + _mlp(_ln(x64, W, "b.norm3"), W, "b.mlp")
    assert rel(out, ref) < 1e-5

"""MASt3R inference on GPU devices (cpp/mast3r/gpu_forward.cpp, gpu/kernels/mast3r.h):
sim always, cuda / metal when present.

* each new kernel against a float64 NumPy reference on fresh random inputs:
  fused attention (sequence lengths that are not multiples of the blocks, every
  head-dimension class of the kernel's layout), 2-D RoPE, LayerNorm;
* a small random MASt3R configuration on the device against the CPU model
  (float32 and float16 weights; relative L2 < 1e-4 per output array), images of
  two sizes, infer_pairs, weights resident after the first call;
* the golden pair (../shared/golden/mast3r) on the device, when present.
The simulator runs the kernels on the CPU (slow): the configurations are tiny."""
import json
import os

import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore.mast3r.model import Model

TOL = 1e-4       # device vs CPU model, float32 (ARCHITECTURE.md: reductions and matmul)
KTOL = 1e-5      # a kernel vs the float64 reference

GOLDEN = os.environ.get(
    "SPLATCORE_GOLDEN_MAST3R",
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "golden", "mast3r"))
if not os.path.isdir(GOLDEN) and os.path.isdir("/work/shared/golden/mast3r"):
    GOLDEN = "/work/shared/golden/mast3r"
HAVE_GOLDEN = os.path.isfile(os.path.join(GOLDEN, "reference.npz"))


def full(dev):
    """A device name with its index ("sim" -> "sim:0"), as Tensor.device reports it."""
    return dev if ":" in dev else dev + ":0"


def rel(out, ref):
    out = np.asarray(out, np.float64)
    ref = np.asarray(ref, np.float64)
    return np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30)


# ---- kernels against float64 references ------------------------------------------------

def attention_ref(q, k, v, heads, batch):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    C = q.shape[1]
    D = C // heads
    Nq, Nk = q.shape[0] // batch, k.shape[0] // batch
    out = np.zeros(q.shape)
    for b in range(batch):
        for h in range(heads):
            cs = slice(h * D, (h + 1) * D)
            qb, kb, vb = q[b * Nq:(b + 1) * Nq, cs], k[b * Nk:(b + 1) * Nk, cs], v[b * Nk:(b + 1) * Nk, cs]
            s = qb @ kb.T / np.sqrt(D)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            out[b * Nq:(b + 1) * Nq, cs] = (s / s.sum(axis=1, keepdims=True)) @ vb
    return out


# (head_dim, Nq, Nk): every layout class (D <= 16, 32, 64, 128) and token counts
# that are not multiples of the query block (128 / 64 / 32 / 16) or key block (32 / 16);
# D = 64 takes the register-tiled kernel (query block 64, key block 32): one and
# several blocks each way, exact multiples and partial last blocks; with few
# query blocks the keys are split among groups (2 to 4 splits here)
ATTN_CASES = [(12, 1, 1), (16, 130, 45), (8, 5, 33), (24, 70, 31), (32, 65, 97), (64, 33, 70),
              (48, 40, 65), (100, 17, 50), (128, 31, 17), (64, 1, 1), (64, 64, 32), (64, 130, 97),
              (64, 200, 257), (64, 20, 1000), (63, 70, 40)]


@pytest.mark.parametrize("D,Nq,Nk", ATTN_CASES)
def test_attention_kernel(gpu_device, rng, D, Nq, Nk):
    heads, batch = 2, 2
    q = rng.standard_normal((batch * Nq, heads * D)).astype(np.float32) * 2
    k = rng.standard_normal((batch * Nk, heads * D)).astype(np.float32) * 2
    v = rng.standard_normal((batch * Nk, heads * D)).astype(np.float32)
    dev = [sc.tensor(a, device=gpu_device) for a in (q, k, v)]
    out = _core._nn_attention(*dev, heads, batch)
    assert out.device == full(gpu_device)
    got = out.numpy()
    assert got.shape == q.shape and got.dtype == np.float32
    assert rel(got, attention_ref(q, k, v, heads, batch)) < KTOL


@pytest.mark.parametrize("D", [32, 64])
def test_attention_kernel_large_scores(gpu_device, rng, D):
    # scores far from 0 (standard deviation 144, exp overflows float32 past 88): the
    # online softmax must rescale (no overflow, no NaN). Larger scores make the
    # float32 answer itself ill-conditioned (the CPU kernel's error passes 1e-5 at
    # a standard deviation of 900), which is not what this checks.
    q = rng.standard_normal((150, D)).astype(np.float32) * 12
    k = rng.standard_normal((301, D)).astype(np.float32) * 12  # 301 keys: split on D = 64
    v = rng.standard_normal((301, D)).astype(np.float32)
    got = _core._nn_attention(*(sc.tensor(a, device=gpu_device) for a in (q, k, v)), 1, 1).numpy()
    assert np.isfinite(got).all()
    assert rel(got, attention_ref(q, k, v, 1, 1)) < KTOL


TF32_CASES = [(1, 1), (64, 32), (33, 70), (130, 97), (200, 257), (20, 1000)]


@pytest.mark.parametrize("Nq,Nk", TF32_CASES)
def test_attention_kernel_tf32(gpu_device, rng, Nq, Nk):
    # under a TF32 matmul precision, D = 64 takes the matrix-unit kernel
    # (mast3r_attention64_tc.h): q k^T and p v on TF32 inputs (10-bit mantissa),
    # float32 sums; blocks, padding and splits as the float32 kernel
    heads, batch, D = 3, 2, 64
    q = rng.standard_normal((batch * Nq, heads * D)).astype(np.float32) * 2
    k = rng.standard_normal((batch * Nk, heads * D)).astype(np.float32) * 2
    v = rng.standard_normal((batch * Nk, heads * D)).astype(np.float32)
    dev = [sc.tensor(a, device=gpu_device) for a in (q, k, v)]
    prev = sc.get_matmul_precision()
    sc.set_matmul_precision("high")
    try:
        got = _core._nn_attention(*dev, heads, batch).numpy()
    finally:
        sc.set_matmul_precision(prev)
    err = rel(got, attention_ref(q, k, v, heads, batch))
    assert err < 3e-3
    if Nk > 1:  # TF32 rounding shows (one key: the output is v itself)
        assert err > KTOL


def test_attention_kernel_tf32_large_scores(gpu_device, rng):
    # the matrix-unit kernel under scores far from 0 (standard deviation 144): the
    # online softmax must rescale there too. Each output is a convex combination
    # of the value rows, up to the TF32 rounding of v and of the weights (2^-11
    # each, relative): finite, inside their range but for that, and near float64
    q = rng.standard_normal((150, 64)).astype(np.float32) * 12
    k = rng.standard_normal((301, 64)).astype(np.float32) * 12
    v = rng.standard_normal((301, 64)).astype(np.float32)
    prev = sc.get_matmul_precision()
    sc.set_matmul_precision("high")
    try:
        got = _core._nn_attention(*(sc.tensor(a, device=gpu_device) for a in (q, k, v)), 1, 1).numpy()
    finally:
        sc.set_matmul_precision(prev)
    assert np.isfinite(got).all()
    slack = 4 * 2.0 ** -11 * np.abs(v).max()
    assert (got >= v.min(0) - slack).all() and (got <= v.max(0) + slack).all()
    assert rel(got, attention_ref(q, k, v, 1, 1)) < 1e-2  # measured 2.3e-3 on sim


def test_attention_kernel_errors(gpu_device, rng):
    q = sc.tensor(rng.standard_normal((4, 8)).astype(np.float32), device=gpu_device)
    k_cpu = sc.tensor(rng.standard_normal((4, 8)).astype(np.float32))
    with pytest.raises(ValueError, match="one device"):
        _core._nn_attention(q, k_cpu, k_cpu, 1)
    big = sc.tensor(np.zeros((4, 2 * 136), np.float32), device=gpu_device)
    with pytest.raises(ValueError, match="> 128"):
        _core._nn_attention(big, big, big, 2)


def rope_ref(x, pos, heads, base):
    x = np.asarray(x, np.float64).copy()
    N, C = x.shape
    D = C // heads
    n = D // 4
    inv = 1.0 / base ** (np.arange(n) * 2.0 / (2 * n))
    for h in range(heads):
        for seg in range(2):
            ang = pos[:, seg:seg + 1].astype(np.float64) * inv[None, :]
            o = h * D + seg * 2 * n
            a, b = x[:, o:o + n].copy(), x[:, o + n:o + 2 * n].copy()
            x[:, o:o + n] = a * np.cos(ang) - b * np.sin(ang)
            x[:, o + n:o + 2 * n] = b * np.cos(ang) + a * np.sin(ang)
    return x


@pytest.mark.parametrize("N,heads,D", [(1, 1, 4), (37, 3, 16), (70, 2, 64), (5, 4, 12)])
def test_rope_kernel(gpu_device, rng, N, heads, D):
    x = rng.standard_normal((N, heads * D)).astype(np.float32)
    pos = rng.integers(0, 25, (N, 2))
    got = _core._nn_rope2d(sc.tensor(x, device=gpu_device), pos, heads, 100.0)
    assert got.device == full(gpu_device)
    assert rel(got.numpy(), rope_ref(x, pos, heads, 100.0)) < KTOL


def test_rope_kernel_matches_cpu(gpu_device, rng):
    x = rng.standard_normal((29, 2 * 24)).astype(np.float32)
    pos = rng.integers(0, 40, (29, 2))
    cpu = _core._nn_rope2d(sc.tensor(x), pos, 2, 100.0).numpy()
    dev = _core._nn_rope2d(sc.tensor(x, device=gpu_device), pos, 2, 100.0).numpy()
    assert np.abs(dev - cpu).max() <= 1e-6 * np.abs(cpu).max()


def test_rope_kernel_bad_position(gpu_device):
    x = sc.tensor(np.zeros((2, 8), np.float32), device=gpu_device)
    with pytest.raises(ValueError, match="outside"):
        _core._nn_rope2d(x, np.array([[0, 0], [-1, 2]]), 2, 100.0)


@pytest.mark.parametrize("N,n", [(1, 1), (37, 7), (9, 64), (20, 100), (3, 1024)])
def test_layer_norm_kernel(gpu_device, rng, N, n):
    x = (rng.standard_normal((N, n)) * 3 + 1.5).astype(np.float32)
    w = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    got = _core._nn_layer_norm(*(sc.tensor(a, device=gpu_device) for a in (x, w, b)), 1e-6)
    assert got.device == full(gpu_device)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=1, keepdims=True)
    var = ((xd - mu) ** 2).mean(axis=1, keepdims=True)
    ref = (xd - mu) / np.sqrt(var + 1e-6) * w + b
    assert rel(got.numpy(), ref) < KTOL


def test_layer_norm_kernel_devices(gpu_device):
    x = sc.tensor(np.ones((2, 4), np.float32), device=gpu_device)
    w = sc.tensor(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="device"):
        _core._nn_layer_norm(x, w, w)


# ---- a small random MASt3R ------------------------------------------------------------

def random_weights(rng, E=32, enc_depth=2, Dd=24, dec_depth=4, layer_dims=(8, 12, 16, 20), F=8,
                   head_mid=4, desc_dim=8, p=16):
    """A random state dict with the official AsymmetricMASt3R names (catmlp+dpt)."""
    w = {}

    def t(name, *shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        s = (1.0 / np.sqrt(fan_in)) if scale is None else scale
        w[name] = (rng.standard_normal(shape) * s).astype(np.float32)

    def lin(name, out, inp):
        t(name + ".weight", out, inp)
        t(name + ".bias", out, scale=0.1)

    def ln(name, d):
        w[name + ".weight"] = (1 + 0.2 * rng.standard_normal(d)).astype(np.float32)
        w[name + ".bias"] = (0.1 * rng.standard_normal(d)).astype(np.float32)

    t("patch_embed.proj.weight", E, 3, p, p)
    t("patch_embed.proj.bias", E, scale=0.1)
    for i in range(enc_depth):
        b = f"enc_blocks.{i}"
        ln(b + ".norm1", E), ln(b + ".norm2", E)
        lin(b + ".attn.qkv", 3 * E, E), lin(b + ".attn.proj", E, E)
        lin(b + ".mlp.fc1", 4 * E, E), lin(b + ".mlp.fc2", E, 4 * E)
    ln("enc_norm", E)
    lin("decoder_embed", Dd, E)
    for stack in ("dec_blocks", "dec_blocks2"):
        for i in range(dec_depth):
            b = f"{stack}.{i}"
            for nm in ("norm1", "norm2", "norm3", "norm_y"):
                ln(f"{b}.{nm}", Dd)
            lin(b + ".attn.qkv", 3 * Dd, Dd), lin(b + ".attn.proj", Dd, Dd)
            for nm in ("projq", "projk", "projv", "proj"):
                lin(f"{b}.cross_attn.{nm}", Dd, Dd)
            lin(b + ".mlp.fc1", 4 * Dd, Dd), lin(b + ".mlp.fc2", Dd, 4 * Dd)
    ln("dec_norm", Dd)
    L = layer_dims
    for k in (1, 2):
        h = f"downstream_head{k}"
        a = h + ".dpt.act_postprocess"
        t(f"{a}.0.0.weight", L[0], E, 1, 1), t(f"{a}.0.0.bias", L[0], scale=0.1)
        t(f"{a}.0.1.weight", L[0], L[0], 4, 4), t(f"{a}.0.1.bias", L[0], scale=0.1)
        t(f"{a}.1.0.weight", L[1], Dd, 1, 1), t(f"{a}.1.0.bias", L[1], scale=0.1)
        t(f"{a}.1.1.weight", L[1], L[1], 2, 2), t(f"{a}.1.1.bias", L[1], scale=0.1)
        t(f"{a}.2.0.weight", L[2], Dd, 1, 1), t(f"{a}.2.0.bias", L[2], scale=0.1)
        t(f"{a}.3.0.weight", L[3], Dd, 1, 1), t(f"{a}.3.0.bias", L[3], scale=0.1)
        t(f"{a}.3.1.weight", L[3], L[3], 3, 3), t(f"{a}.3.1.bias", L[3], scale=0.1)
        s = h + ".dpt.scratch"
        for i in range(4):
            t(f"{s}.layer{i + 1}_rn.weight", F, L[i], 3, 3)
            r = f"{s}.refinenet{i + 1}"
            t(r + ".out_conv.weight", F, F, 1, 1), t(r + ".out_conv.bias", F, scale=0.1)
            for u in ("resConfUnit1", "resConfUnit2"):
                for c in ("conv1", "conv2"):
                    t(f"{r}.{u}.{c}.weight", F, F, 3, 3), t(f"{r}.{u}.{c}.bias", F, scale=0.1)
        t(h + ".dpt.head.0.weight", head_mid, F, 3, 3), t(h + ".dpt.head.0.bias", head_mid, scale=0.1)
        t(h + ".dpt.head.2.weight", head_mid, head_mid, 3, 3), t(h + ".dpt.head.2.bias", head_mid, scale=0.1)
        t(h + ".dpt.head.4.weight", 4, head_mid, 1, 1, scale=0.3), t(h + ".dpt.head.4.bias", 4, scale=0.1)
        lin(h + ".head_local_features.fc1", 4 * (E + Dd), E + Dd)
        lin(h + ".head_local_features.fc2", (desc_dim + 1) * p * p, 4 * (E + Dd))
    return w


CONFIG = {"pos_embed": "RoPE100", "head_type": "catmlp+dpt", "output_mode": "pts3d+desc8",
          "depth_mode": ["exp", -np.inf, np.inf], "conf_mode": ["exp", 1, np.inf],
          "desc_conf_mode": ["exp", 0, np.inf], "two_confs": True,
          "enc_num_heads": 2, "dec_num_heads": 2}


@pytest.fixture(scope="module")
def small_weights():
    return random_weights(np.random.default_rng(1234))


@pytest.fixture(scope="module")
def small_model(small_weights):
    return Model.from_weights(small_weights, dict(CONFIG))


def images(rng, *shapes):
    return [rng.uniform(-1, 1, s).astype(np.float32) for s in shapes]


def compare(dev_out, cpu_out, tol=TOL):
    for view in ("view1", "view2"):
        assert set(dev_out[view]) == set(cpu_out[view])
        for key, ref in cpu_out[view].items():
            got = dev_out[view][key]
            assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == ref.shape, (view, key)
            assert np.isfinite(got).all(), (view, key)
            e = rel(got, ref)
            assert e < tol, f"{view}/{key}: relative error {e:.3e}"


def test_small_model_float32(gpu_device, small_model, rng):
    m = small_model
    assert m.enc_num_heads == 2 and m.dec_num_heads == 2 and m.desc_dim == 8
    a, b = images(rng, (32, 48, 3), (32, 48, 3))
    cpu = m.infer_pair(a, b, intermediates=True)
    dev = m.infer_pair(a, b, intermediates=True, device=gpu_device)
    compare(dev, cpu)
    assert full(gpu_device) in m._core.resident_devices
    assert set(m.last_timings) == {"encoder", "decoder", "head1", "head2", "total"}
    # the descriptors are unit vectors, the confidences above their minima
    assert np.allclose(np.linalg.norm(dev["view1"]["desc"], axis=-1), 1, atol=1e-5)
    assert (dev["view1"]["conf"] >= 1).all() and (dev["view2"]["desc_conf"] >= 0).all()


def test_small_model_two_sizes(gpu_device, small_model, rng):
    # different patch grids: cross-attention with Nq != Nk, the encoder run per image
    a, b = images(rng, (48, 32, 3), (32, 64, 3))
    compare(small_model.infer_pair(a, b, device=gpu_device), small_model.infer_pair(a, b))


def test_small_model_conv_bands(gpu_device, small_model, rng, monkeypatch):
    # the DPT convs in bands of a few output rows (as the full-size head's large
    # convs run), with the zero rows at the image edges: same outputs
    monkeypatch.setenv("SPLATCORE_MAST3R_CONV_BAND_BYTES", "20000")
    a, b = images(rng, (48, 32, 3), (32, 48, 3))
    compare(small_model.infer_pair(a, b, device=gpu_device), small_model.infer_pair(a, b))


def test_weights_resident(gpu_device, small_weights, rng):
    m = Model.from_weights(small_weights, dict(CONFIG))
    assert m._core.resident_devices == []
    a, b = images(rng, (32, 32, 3), (32, 32, 3))
    r1 = m.infer_pair(a, b, device=gpu_device)
    assert m._core.resident_devices == [full(gpu_device)]
    r2 = m.infer_pair(b, a, device=gpu_device)
    assert m._core.resident_devices == [full(gpu_device)]  # uploaded once
    r3 = m.infer_pair(a, b, device=gpu_device)
    for v in ("view1", "view2"):  # deterministic
        for k in r1[v]:
            assert np.array_equal(r1[v][k], r3[v][k])
    compare(r2, m.infer_pair(b, a))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_small_model_half_weights(gpu_device, small_weights, rng, dtype):
    # half weights stay half on the device, the products are float32 as on the CPU
    m = Model.from_weights(small_weights, dict(CONFIG), dtype=dtype)
    assert m.weight_dtype == dtype
    a, b = images(rng, (32, 32, 3), (32, 32, 3))
    compare(m.infer_pair(a, b, device=gpu_device), m.infer_pair(a, b))


def test_infer_pairs_on_device(gpu_device, small_model, rng):
    imgs = images(rng, (32, 32, 3), (32, 32, 3), (32, 48, 3))
    pairs = [(0, 1), (2, 0)]
    got = small_model.infer_pairs(imgs, pairs, progress=False, device=gpu_device, intermediates=True)
    for (i, j), r in zip(pairs, got):
        compare(r, small_model.infer_pair(imgs[i], imgs[j], intermediates=True))
    enc = small_model.encode(imgs[:2], device=gpu_device)
    ref = small_model.encode(imgs[:2])
    for e, r in zip(enc, ref):
        assert isinstance(e, np.ndarray) and rel(e, r) < TOL


@pytest.mark.parametrize("pair_batch", [None, 2])
def test_pairs_decoded_together_on_device(gpu_device, small_model, rng, pair_batch):
    # runs of pairs of one shape decode as one batch (pair_batch None: up to 8);
    # a pair of another shape breaks the run; every result equals its own pair's
    imgs = images(rng, (32, 32, 3), (32, 32, 3), (32, 32, 3), (48, 32, 3))
    pairs = [(0, 1), (1, 2), (2, 0), (3, 0), (1, 0)]
    got = small_model.infer_pairs(imgs, pairs, progress=False, device=gpu_device, intermediates=True,
                                  pair_batch=pair_batch)
    assert len(got) == len(pairs)
    for (i, j), r in zip(pairs, got):
        compare(r, small_model.infer_pair(imgs[i], imgs[j], intermediates=True))


def test_outputs_kept_on_device(gpu_device, small_model, rng):
    # keep_on_device: the same outputs, as Tensors on the device (infer_pair and
    # batched infer_pairs); a CPU run has no device to keep them on
    imgs = images(rng, (32, 32, 3), (32, 32, 3), (32, 32, 3))
    host = small_model.infer_pair(imgs[0], imgs[1], device=gpu_device, intermediates=True)
    kept = small_model.infer_pair(imgs[0], imgs[1], device=gpu_device, intermediates=True, keep_on_device=True)
    pairs = [(0, 1), (2, 1)]
    batched = small_model.infer_pairs(imgs, pairs, progress=False, device=gpu_device, pair_batch=2,
                                      keep_on_device=True)
    refs = [host] + [small_model.infer_pair(imgs[i], imgs[j], device=gpu_device) for i, j in pairs]
    for got, ref in zip([kept] + batched, refs):
        for view in ("view1", "view2"):
            assert set(ref[view]) == set(got[view])
            for key, want in ref[view].items():
                t = got[view][key]
                assert isinstance(t, sc.Tensor) and t.device == full(gpu_device), (view, key)
                np.testing.assert_allclose(t.numpy(), want, rtol=1e-5, atol=1e-6, err_msg=f"{view}/{key}")
    with pytest.raises(ValueError, match="keep_on_device needs a GPU device"):
        small_model.infer_pair(imgs[0], imgs[1], keep_on_device=True)
    with pytest.raises(ValueError, match="keep_on_device needs a GPU device"):
        small_model.infer_pairs(imgs, pairs, progress=False, keep_on_device=True)


def test_scan_mast3r_stage_on_device(gpu_device, small_model, rng):
    # scan's MASt3R stage on a GPU device keeps the outputs there and brings back
    # only points and confidences, as NumPy float32, equal to the CPU run's
    from splatcore.scan import run_mast3r

    imgs = images(rng, (32, 32, 3), (32, 32, 3), (32, 48, 3))
    pairs = [(0, 1), (1, 0), (2, 0)]
    got = run_mast3r(small_model, imgs, pairs, progress=False, device=gpu_device)
    ref = run_mast3r(small_model, imgs, pairs, progress=False)
    assert len(got) == len(pairs)
    for g, r in zip(got, ref):
        for view in ("view1", "view2"):
            assert set(g[view]) == set(r[view]) and "desc" not in g[view]
            for key, want in r[view].items():
                assert isinstance(g[view][key], np.ndarray) and g[view][key].dtype == np.float32
                assert rel(g[view][key], want) < TOL, (view, key)


def test_decode_batch_errors(gpu_device, small_model, rng):
    imgs = images(rng, (32, 32, 3), (32, 32, 3))
    with pytest.raises(ValueError, match="pair_batch"):
        small_model.infer_pairs(imgs, [(0, 1)], progress=False, device=gpu_device, pair_batch=0)
    enc = small_model._core.encode([np.asarray(im, np.float32) for im in imgs], gpu_device)  # (2 * 4, E)
    with pytest.raises(ValueError, match="as many enc1 as enc2"):
        small_model._core.decode_batch([enc], 2, 2, [], 2, 2)
    with pytest.raises(ValueError, match=r"enc2\[0\] must be the encoder output"):
        small_model._core.decode_batch([enc[:4]], 2, 2, [enc], 2, 2)


def test_device_errors(gpu_device, small_model, rng):
    a, b = images(rng, (32, 32, 3), (32, 32, 3))
    with pytest.raises(ValueError):
        small_model.infer_pair(a, b, device="nosuchdevice")
    with pytest.raises(ValueError, match="patch size"):
        small_model._core.forward(np.zeros((20, 32, 3), np.float32), b, False, gpu_device)
    enc = small_model._core.encode([a], gpu_device)
    assert enc.device == full(gpu_device)
    enc_cpu = small_model._core.encode([b])
    with pytest.raises(ValueError, match="one device"):
        small_model._core.decode(enc, 2, 2, enc_cpu, 2, 2, False)


# ---- the golden pair -------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_GOLDEN, reason="golden MASt3R reference (../shared/golden/mast3r) not available")
def test_golden_on_device(gpu_device):
    from test_mast3r import load_safetensors_numpy

    weights = load_safetensors_numpy(os.path.join(GOLDEN, "weights.safetensors"))
    with open(os.path.join(GOLDEN, "config.json")) as f:
        config = json.load(f)
    ref = dict(np.load(os.path.join(GOLDEN, "reference.npz")))
    m = Model.from_weights(weights, config)
    out = m.infer_pair(ref["img1"], ref["img2"], intermediates=True, device=gpu_device)
    checks = [("enc1", "view1", "enc"), ("enc2", "view2", "enc"),
              ("dec1_last", "view1", "dec_last"), ("dec2_last", "view2", "dec_last"),
              ("view1_pts3d", "view1", "pts3d"), ("view1_conf", "view1", "conf"),
              ("view1_desc", "view1", "desc"), ("view1_desc_conf", "view1", "desc_conf"),
              ("view2_pts3d_in_other_view", "view2", "pts3d_in_other_view"),
              ("view2_conf", "view2", "conf"), ("view2_desc", "view2", "desc"),
              ("view2_desc_conf", "view2", "desc_conf")]
    for name, view, key in checks:
        e = rel(out[view][key], ref[name])
        assert out[view][key].shape == ref[name].shape and e < TOL, f"{name}: relative error {e:.3e}"

"""conv2d, conv_transpose2d, upsample_bilinear, pixel_shuffle: forward against
float64 NumPy references written here (torch's semantics), backward against
finite differences and adjoint identities, and error messages."""
import numpy as np
import pytest

import splatcore as sc
from helpers import check_grad, rel_err


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---- NumPy references (float64) -------------------------------------------------

def conv2d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((N, O, Ho, Wo))
    Og = O // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * Cg:(g + 1) * Cg,
                           i * dh:i * dh + sh * (Ho - 1) + 1:sh,
                           j * dw:j * dw + sw * (Wo - 1) + 1:sw]
                out[:, g * Og:(g + 1) * Og] += np.einsum("nchw,oc->nohw", patch,
                                                         w[g * Og:(g + 1) * Og, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def conv_transpose2d_ref(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Scatter definition: every input pixel adds w[c] * x into a kh x kw window."""
    (sh, sw), (ph, pw), (oph, opw) = pair(stride), pair(padding), pair(output_padding)
    N, Cin, H, W = x.shape
    _, Cout, kh, kw = w.shape
    Hout = (H - 1) * sh - 2 * ph + kh + oph
    Wout = (W - 1) * sw - 2 * pw + kw + opw
    full = np.zeros((N, Cout, (H - 1) * sh + kh + oph, (W - 1) * sw + kw + opw))
    for i in range(kh):
        for j in range(kw):
            full[:, :, i:i + sh * (H - 1) + 1:sh, j:j + sw * (W - 1) + 1:sw] += np.einsum(
                "nchw,co->nohw", x, w[:, :, i, j])
    out = full[:, :, ph:ph + Hout, pw:pw + Wout]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def upsample_ref(x, size, align_corners):
    N, C, H, W = x.shape
    Ho, Wo = size

    def taps(n_in, n_out):
        rows = []
        for d in range(n_out):
            if align_corners:
                src = d * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            else:
                src = max((d + 0.5) * n_in / n_out - 0.5, 0.0)
            i0 = min(int(np.floor(src)), n_in - 1)
            i1 = min(i0 + 1, n_in - 1)
            lam = src - i0
            m = np.zeros(n_in)
            m[i0] += 1 - lam
            m[i1] += lam
            rows.append(m)
        return np.array(rows)  # (n_out, n_in) interpolation matrix

    Ry, Rx = taps(H, Ho), taps(W, Wo)
    return np.einsum("oh,nchw,pw->ncop", Ry, x, Rx)


def pixel_shuffle_ref(x, r):
    *lead, Cr, H, W = x.shape
    C = Cr // (r * r)
    out = np.zeros((*lead, C, H * r, W * r))
    for c in range(C):
        for i in range(r):
            for j in range(r):
                out[..., c, i::r, j::r] = x[..., c * r * r + i * r + j, :, :]
    return out


def T(a, dtype=np.float64):
    return sc.tensor(np.ascontiguousarray(a, dtype=dtype))


# ---- conv2d ------------------------------------------------------------------------

CONV_CASES = [
    # x shape, w shape, kwargs
    ((2, 3, 7, 9), (4, 3, 3, 3), dict()),
    ((1, 3, 8, 8), (5, 3, 3, 3), dict(padding=1)),
    ((2, 4, 9, 10), (6, 4, 3, 2), dict(stride=2, padding=(1, 0))),
    ((1, 2, 11, 12), (3, 2, 3, 3), dict(dilation=2, padding=2)),
    ((1, 2, 13, 11), (4, 2, 3, 3), dict(stride=(2, 3), padding=(2, 1), dilation=(1, 2))),
    ((2, 6, 7, 8), (4, 3, 3, 3), dict(groups=2, padding=1)),
    ((1, 6, 7, 7), (6, 1, 3, 3), dict(groups=6, padding=1, stride=2)),   # depthwise
    ((2, 8, 5, 6), (16, 8, 1, 1), dict()),                              # pointwise (no im2col)
    ((1, 8, 6, 6), (4, 8, 1, 1), dict(stride=2)),                       # 1x1 strided
    ((1, 3, 16, 16), (8, 3, 4, 4), dict(stride=4)),                     # patch embedding
    ((1, 2, 3, 3), (2, 2, 5, 5), dict(padding=2)),                      # kernel > input
]


@pytest.mark.parametrize("xs,ws,kw", CONV_CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_forward(rng, xs, ws, kw, bias):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    ref = conv2d_ref(x, w, b, **kw)
    out64 = sc.conv2d(T(x), T(w), None if b is None else T(b), **kw)
    assert out64.dtype == "float64" and out64.shape == ref.shape
    assert rel_err(out64.numpy(), ref) < 1e-12
    out32 = sc.conv2d(T(x, np.float32), T(w, np.float32), None if b is None else T(b, np.float32), **kw)
    assert out32.dtype == "float32"
    assert rel_err(out32.numpy(), ref) < 1e-5


def test_conv2d_noncontiguous_input(rng):
    x = rng.standard_normal((1, 7, 9, 3))  # NHWC storage, NCHW view
    w = rng.standard_normal((4, 3, 3, 3))
    xv = sc.tensor(x).permute(0, 3, 1, 2)
    ref = conv2d_ref(x.transpose(0, 3, 1, 2), w, padding=1)
    assert rel_err(sc.conv2d(xv, T(w), padding=1).numpy(), ref) < 1e-12


def test_conv2d_half(rng):
    x, w = rng.standard_normal((1, 4, 6, 6)), rng.standard_normal((3, 4, 3, 3))
    out = sc.conv2d(T(x, np.float32).to("float16"), T(w, np.float32).to("float16"), padding=1)
    assert out.dtype == "float16"
    assert rel_err(out.to("float32").numpy(), conv2d_ref(x, w, padding=1)) < 1e-2


@pytest.mark.parametrize("xs,ws,kw", [
    ((1, 2, 5, 5), (3, 2, 3, 3), dict(padding=1)),
    ((2, 2, 6, 5), (2, 2, 2, 3), dict(stride=2, padding=(1, 0))),
    ((1, 2, 7, 7), (2, 2, 3, 3), dict(dilation=2, padding=1, stride=(1, 2))),
    ((1, 4, 4, 5), (4, 2, 3, 3), dict(groups=2, padding=1)),
    ((1, 4, 4, 4), (6, 4, 1, 1), dict()),
])
def test_conv2d_backward_fd(rng, xs, ws, kw):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    check_grad(lambda x, w, b: sc.conv2d(x, w, b, **kw), [x, w, b])


def test_conv2d_backward_large_adjoint(rng):
    """Sizes where im2col works in several column chunks (partial output rows):
    check the gradients through the adjoint identities
    <g, conv(x', w)> = <x', dL/dx> and <g, conv(x, w')> = <w', dL/dw>."""
    x, w = rng.standard_normal((1, 64, 100, 100)), rng.standard_normal((3, 64, 3, 3))
    kw = dict(stride=1, padding=1)
    tx, tw = sc.tensor(x, requires_grad=True), sc.tensor(w, requires_grad=True)
    y = sc.conv2d(tx, tw, **kw)
    assert rel_err(y.numpy(), conv2d_ref(x, w, **kw)) < 1e-12
    g = rng.standard_normal(y.shape)
    (y * sc.tensor(g)).sum().backward()
    x2, w2 = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    lhs_x = np.sum(g * conv2d_ref(x2, w, **kw))
    lhs_w = np.sum(g * conv2d_ref(x, w2, **kw))
    assert abs(lhs_x - np.sum(x2 * tx.grad.numpy())) < 1e-10 * abs(lhs_x) + 1e-8
    assert abs(lhs_w - np.sum(w2 * tw.grad.numpy())) < 1e-10 * abs(lhs_w) + 1e-8


def test_conv2d_float32_chunked_forward(rng):
    # 64*9 im2col rows -> ~7300-column chunks; 9900 output pixels span two, the
    # boundary in the middle of an output row
    x, w = rng.standard_normal((1, 64, 90, 110)), rng.standard_normal((5, 64, 3, 3))
    ref = conv2d_ref(x, w, padding=1)
    out = sc.conv2d(T(x, np.float32), T(w, np.float32), padding=1)
    assert rel_err(out.numpy(), ref) < 1e-5


def test_conv_family_through_fallback_gemm(rng):
    """The same ops with the portable blocked GEMM instead of BLAS."""
    sc.set_blas_library_path("none")
    try:
        assert sc.blas_name() == "blocked fallback"
        x, w = rng.standard_normal((2, 4, 6, 7)), rng.standard_normal((6, 2, 3, 3))
        kw = dict(stride=2, padding=1, groups=2)
        assert rel_err(sc.conv2d(T(x), T(w), **kw).numpy(), conv2d_ref(x, w, **kw)) < 1e-12
        check_grad(lambda x, w: sc.conv2d(x, w, **kw), [x[:1, :, :4, :5], w])
        wt = rng.standard_normal((4, 3, 3, 3))
        kt = dict(stride=2, padding=1, output_padding=1)
        assert rel_err(sc.conv_transpose2d(T(x), T(wt), **kt).numpy(),
                       conv_transpose2d_ref(x, wt, **kt)) < 1e-12
        check_grad(lambda x, w: sc.conv_transpose2d(x, w, **kt), [x[:1, :, :3, :2], wt])
    finally:
        sc.set_blas_library_path("")
        sc._blas.configure_blas()


def test_conv2d_errors():
    x = T(np.ones((1, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"x must be 4-D.*\(4, 5, 5\)"):
        sc.conv2d(T(np.ones((4, 5, 5))), T(np.ones((2, 4, 3, 3))))
    with pytest.raises(ValueError, match=r"weight must be 4-D.*\(2, 4, 3\)"):
        sc.conv2d(x, T(np.ones((2, 4, 3))))
    with pytest.raises(ValueError, match=r"weight shape \(2, 3, 3, 3\).*x shape \(1, 4, 5, 5\)"):
        sc.conv2d(x, T(np.ones((2, 3, 3, 3))))
    with pytest.raises(ValueError, match=r"divisible by groups = 3"):
        sc.conv2d(x, T(np.ones((3, 1, 3, 3))), groups=3)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\), got \(3,\)"):
        sc.conv2d(x, T(np.ones((2, 4, 3, 3))), T(np.ones(3)))
    with pytest.raises(ValueError, match=r"does not fit the padded input"):
        sc.conv2d(x, T(np.ones((2, 4, 7, 7))))
    with pytest.raises(ValueError, match=r"stride must be >= 1"):
        sc.conv2d(x, T(np.ones((2, 4, 3, 3))), stride=0)
    with pytest.raises(ValueError, match=r"padding must be >= 0"):
        sc.conv2d(x, T(np.ones((2, 4, 3, 3))), padding=-1)
    with pytest.raises(ValueError, match=r"stride must be an int or a pair"):
        sc.conv2d(x, T(np.ones((2, 4, 3, 3))), stride=(1, 2, 3))
    with pytest.raises(TypeError, match=r"floating-point.*int64"):
        sc.conv2d(T(np.ones((1, 4, 5, 5)), np.int64), T(np.ones((2, 4, 3, 3))))


# ---- conv_transpose2d ----------------------------------------------------------------

CONVT_CASES = [
    ((1, 3, 4, 5), (3, 2, 3, 3), dict()),
    ((2, 3, 4, 4), (3, 4, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 3, 5), (4, 3, 4, 4), dict(stride=4)),                     # DPT: kernel 4, stride 4
    ((1, 4, 5, 3), (4, 2, 2, 2), dict(stride=2)),                     # DPT: kernel 2, stride 2
    ((1, 2, 5, 4), (2, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(0, 2))),
    ((2, 5, 3, 3), (5, 4, 1, 1), dict()),                             # pointwise
]


@pytest.mark.parametrize("xs,ws,kw", CONVT_CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose2d_forward(rng, xs, ws, kw, bias):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[1]) if bias else None
    ref = conv_transpose2d_ref(x, w, b, **kw)
    out64 = sc.conv_transpose2d(T(x), T(w), None if b is None else T(b), **kw)
    assert out64.shape == ref.shape
    assert rel_err(out64.numpy(), ref) < 1e-12
    out32 = sc.conv_transpose2d(T(x, np.float32), T(w, np.float32),
                                None if b is None else T(b, np.float32), **kw)
    assert out32.dtype == "float32"
    assert rel_err(out32.numpy(), ref) < 1e-5


@pytest.mark.parametrize("xs,ws,kw", [
    ((1, 2, 3, 3), (2, 3, 3, 3), dict()),
    ((2, 2, 3, 2), (2, 2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 3, 2, 3), (3, 2, 2, 2), dict(stride=2)),
    ((1, 2, 3, 3), (2, 2, 3, 2), dict(stride=(3, 2), padding=(1, 1), output_padding=(2, 0))),
])
def test_conv_transpose2d_backward_fd(rng, xs, ws, kw):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1])
    check_grad(lambda x, w, b: sc.conv_transpose2d(x, w, b, **kw), [x, w, b])


def test_conv_transpose2d_errors():
    x = T(np.ones((1, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"weight shape \(3, 2, 3, 3\).*x shape \(1, 4, 5, 5\)"):
        sc.conv_transpose2d(x, T(np.ones((3, 2, 3, 3))))
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than stride \(2, 2\)"):
        sc.conv_transpose2d(x, T(np.ones((4, 2, 3, 3))), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"x must be 4-D"):
        sc.conv_transpose2d(T(np.ones((4, 5, 5))), T(np.ones((4, 2, 3, 3))))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        sc.conv_transpose2d(x, T(np.ones((4, 2, 3, 3))), T(np.ones(4)))
    with pytest.raises(ValueError, match=r"output size .* is not positive"):
        sc.conv_transpose2d(T(np.ones((1, 4, 1, 1))), T(np.ones((4, 2, 1, 1))), padding=1)


# ---- upsample_bilinear ---------------------------------------------------------------

def test_upsample_known_values():
    x = T(np.array([0.0, 1.0]).reshape(1, 1, 1, 2))
    out = sc.upsample_bilinear(x, size=(1, 4), align_corners=False).numpy().ravel()
    assert np.allclose(out, [0.0, 0.25, 0.75, 1.0], atol=1e-15)
    out = sc.upsample_bilinear(x, size=(1, 4), align_corners=True).numpy().ravel()
    assert np.allclose(out, [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-15)
    # align_corners=True with out = 2*in - 1 keeps the input samples exactly
    rng = np.random.default_rng(5)
    y = rng.standard_normal((1, 2, 4, 5))
    up = sc.upsample_bilinear(T(y), size=(7, 9), align_corners=True).numpy()
    assert np.allclose(up[:, :, ::2, ::2], y, atol=1e-14)


@pytest.mark.parametrize("xs,size", [
    ((2, 3, 4, 5), (8, 10)),     # x2 up (DPT)
    ((1, 2, 6, 7), (3, 4)),      # down
    ((1, 2, 5, 5), (11, 3)),     # mixed
    ((1, 1, 1, 4), (3, 4)),      # single input row
    ((1, 2, 4, 4), (1, 1)),      # single output pixel
    ((1, 2, 3, 6), (3, 6)),      # same size
])
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_forward(rng, xs, size, align_corners):
    x = rng.standard_normal(xs)
    ref = upsample_ref(x, size, align_corners)
    out64 = sc.upsample_bilinear(T(x), size=size, align_corners=align_corners)
    assert out64.shape == ref.shape
    assert rel_err(out64.numpy(), ref) < 1e-12
    out32 = sc.upsample_bilinear(T(x, np.float32), size=size, align_corners=align_corners)
    assert out32.dtype == "float32"
    assert rel_err(out32.numpy(), ref) < 1e-5


@pytest.mark.parametrize("xs,size", [((1, 2, 3, 4), (6, 7)), ((2, 1, 5, 4), (3, 2))])
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_backward_fd(rng, xs, size, align_corners):
    check_grad(lambda x: sc.upsample_bilinear(x, size=size, align_corners=align_corners),
               [rng.standard_normal(xs)])


def test_upsample_errors():
    with pytest.raises(ValueError, match=r"x must be 4-D.*\(2, 3, 4\)"):
        sc.upsample_bilinear(T(np.ones((2, 3, 4))), size=(4, 4))
    with pytest.raises(ValueError, match=r"size must be positive, got \(0, 4\)"):
        sc.upsample_bilinear(T(np.ones((1, 1, 2, 2))), size=(0, 4))
    with pytest.raises(ValueError, match=r"size must be an int or a pair"):
        sc.upsample_bilinear(T(np.ones((1, 1, 2, 2))), size=(1, 2, 3))


# ---- pixel_shuffle ---------------------------------------------------------------------

@pytest.mark.parametrize("xs,r", [((2, 8, 3, 4), 2), ((1, 18, 2, 3), 3), ((9, 2, 2), 3), ((2, 3, 4, 2, 2), 1)])
def test_pixel_shuffle(rng, xs, r):
    x = rng.standard_normal(xs)
    ref = pixel_shuffle_ref(x, r)
    out = sc.pixel_shuffle(T(x, np.float32), r)
    assert out.shape == ref.shape
    assert rel_err(out.numpy(), ref) < 1e-7  # a permutation: exact up to the float32 cast


def test_pixel_shuffle_backward_fd(rng):
    check_grad(lambda x: sc.pixel_shuffle(x, 2), [rng.standard_normal((1, 8, 2, 3))])


def test_pixel_shuffle_errors():
    with pytest.raises(ValueError, match=r"\(1, 6, 2, 2\).*divisible by upscale_factor\^2 = 4"):
        sc.pixel_shuffle(T(np.ones((1, 6, 2, 2))), 2)
    with pytest.raises(ValueError, match=r"at least 3 dimensions.*\(4, 4\)"):
        sc.pixel_shuffle(T(np.ones((4, 4))), 2)
    with pytest.raises(ValueError, match=r"upscale_factor must be >= 1"):
        sc.pixel_shuffle(T(np.ones((1, 4, 2, 2))), 0)


# ---- a DPT-like head fragment, end to end with backward ----------------------------------

def test_dpt_like_chain_backward(rng):
    """conv_transpose (x2) -> conv 3x3 -> upsample x2 (align_corners) -> 1x1 conv."""
    x = rng.standard_normal((1, 3, 2, 3))
    w1 = rng.standard_normal((3, 2, 2, 2))
    w2 = rng.standard_normal((3, 2, 3, 3))
    w3 = rng.standard_normal((1, 3, 1, 1))

    def f(x, w1, w2, w3):
        y = sc.conv_transpose2d(x, w1, stride=2)
        y = sc.relu(sc.conv2d(y, w2, padding=1))
        y = sc.upsample_bilinear(y, size=(8, 12), align_corners=True)
        return sc.conv2d(y, w3)

    ref = conv2d_ref(upsample_ref(np.maximum(conv2d_ref(conv_transpose2d_ref(x, w1, stride=2), w2, padding=1), 0),
                                  (8, 12), True), w3)
    assert rel_err(f(T(x), T(w1), T(w2), T(w3)).numpy(), ref) < 1e-12
    check_grad(f, [x, w1, w2, w3])

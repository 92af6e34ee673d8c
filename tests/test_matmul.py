"""matmul: NumPy semantics, BLAS and fallback paths, non-contiguous operands, backward."""
import sys

import numpy as np
import pytest

import splatcore as sc
from helpers import check_grad, rel_err


def rnd(rng, *shape):
    return rng.standard_normal(shape)


@pytest.fixture(params=["blas", "fallback"])
def backend(request):
    """Run a test through the BLAS in use and through the blocked fallback GEMM."""
    if request.param == "fallback":
        sc.set_blas_library_path("none")
        assert sc.blas_name() == "blocked fallback"
    yield request.param
    if request.param == "fallback":
        sc.set_blas_library_path("")  # back to the default search
        sc._blas.configure_blas()


def mm(a, b, dtype=np.float32):
    return sc.matmul(sc.tensor(a.astype(dtype)), sc.tensor(b.astype(dtype))).numpy()


def test_blas_name_reports_the_library():
    name = sc.blas_name()
    assert isinstance(name, str) and name
    if sys.platform == "darwin" and name == "Accelerate":
        return
    try:
        import scipy_openblas32  # noqa: F401
    except ImportError:
        pytest.skip("scipy-openblas32 not installed")
    assert "OpenBLAS" in name and "scipy-openblas32" in name


def test_blas_path_switch_and_bad_path(rng):
    a, b = rnd(rng, 9, 4), rnd(rng, 4, 5)
    try:
        sc.set_blas_library_path("/nonexistent/libnothing.so")  # falls through to the next choices
        assert sc.blas_name()
        assert rel_err(mm(a, b, np.float64), a @ b) < 1e-12
    finally:
        sc.set_blas_library_path("")
        sc._blas.configure_blas()


SHAPES_2D = [(1, 1, 1), (7, 5, 3), (64, 64, 64), (33, 129, 65), (300, 17, 257), (5, 1000, 2)]


@pytest.mark.parametrize("m,k,n", SHAPES_2D)
def test_2d_float32_and_float64(rng, backend, m, k, n):
    a, b = rnd(rng, m, k), rnd(rng, k, n)
    ref = a @ b
    assert rel_err(mm(a, b, np.float32), ref) < 1e-4
    out64 = mm(a, b, np.float64)
    assert sc.matmul(sc.tensor(a), sc.tensor(b)).dtype == "float64"
    assert rel_err(out64, ref) < 1e-12


def test_large_blocked_edges(rng, backend):
    # crosses the fallback's KC / MC / NR block edges
    a, b = rnd(rng, 130, 600), rnd(rng, 600, 70)
    assert rel_err(mm(a, b, np.float32), a @ b) < 1e-4
    assert rel_err(mm(a, b, np.float64), a @ b) < 1e-12


def test_one_dimensional(rng):
    v, w, A, B = rnd(rng, 6), rnd(rng, 6), rnd(rng, 6, 4), rnd(rng, 3, 6)
    out = sc.matmul(sc.tensor(v), sc.tensor(w))
    assert out.shape == () and abs(out.item() - v @ w) < 1e-12
    assert sc.matmul(sc.tensor(v), sc.tensor(A)).shape == (4,)
    assert rel_err(sc.matmul(sc.tensor(v), sc.tensor(A)).numpy(), v @ A) < 1e-12
    assert rel_err(sc.matmul(sc.tensor(B), sc.tensor(v)).numpy(), B @ v) < 1e-12
    Ab = rnd(rng, 2, 3, 6, 4)
    assert rel_err(sc.matmul(sc.tensor(v), sc.tensor(Ab)).numpy(), v @ Ab) < 1e-12
    assert rel_err(sc.matmul(sc.tensor(Ab.swapaxes(-1, -2).copy()), sc.tensor(v)).numpy(),
                   Ab.swapaxes(-1, -2) @ v) < 1e-12


@pytest.mark.parametrize("sa,sb", [
    ((4, 5, 6), (4, 6, 3)),          # plain batch
    ((4, 5, 6), (6, 3)),             # shared right operand (linear layer)
    ((5, 6), (4, 6, 3)),             # shared left operand
    ((2, 1, 5, 6), (3, 6, 7)),       # broadcast both ways
    ((1, 3, 5, 6), (2, 1, 6, 4)),
    ((2, 3, 0, 6), (6, 4)),          # empty batch rows
    ((2, 3, 5, 0), (2, 3, 0, 4)),    # K = 0 -> zeros
    ((50, 3, 4), (50, 4, 2)),        # many tiny products (direct loop, no BLAS)
    ((2, 30, 3, 3), (30, 3, 3)),
    ((40, 1, 3), (3, 3)),
])
def test_batched_broadcast(rng, backend, sa, sb):
    a, b = rnd(rng, *sa), rnd(rng, *sb)
    ref = a @ b
    out = mm(a, b, np.float32)
    assert out.shape == ref.shape
    assert rel_err(out, ref) < 1e-4
    assert rel_err(mm(a, b, np.float64), ref) < 1e-12


def test_transposed_and_strided_views(rng, backend):
    a, b = rnd(rng, 40, 30), rnd(rng, 50, 40)
    ta, tb = sc.tensor(a), sc.tensor(b)
    # a.T @ b.T: both operands column-major views (BLAS transpose flags)
    assert rel_err(sc.matmul(ta.T, tb.T).numpy(), a.T @ b.T) < 1e-12
    assert rel_err(sc.matmul(tb, ta).numpy(), b @ a) < 1e-12
    # strided slices (row gaps) and a view with no unit stride (needs a copy)
    s = sc.tensor(rnd(rng, 80, 60))
    s_np = s.numpy()
    assert rel_err(sc.matmul(s[::2, :40], ta).numpy(), s_np[::2, :40] @ a) < 1e-12
    assert rel_err(sc.matmul(s[::2, ::2], ta[:30, :7]).numpy(), s_np[::2, ::2] @ a[:30, :7]) < 1e-12
    # batched permuted views
    x = rnd(rng, 3, 8, 4, 5)  # (B, K, H, M) -> permute to (B, H, M, K)
    y = rnd(rng, 4, 8, 6)     # (H, K, N)
    tx = sc.tensor(x).permute(0, 2, 3, 1)
    ty = sc.tensor(y)
    ref = x.transpose(0, 2, 3, 1) @ y
    assert rel_err(sc.matmul(tx, ty).numpy(), ref) < 1e-12
    # float32 with a transposed operand
    a32 = sc.tensor(a.astype(np.float32))
    b9 = rnd(rng, 40, 9)
    assert rel_err(sc.matmul(a32.T, sc.tensor(b9.astype(np.float32))).numpy(), a.T @ b9) < 1e-4


def test_small_batched_views(rng):
    x = rnd(rng, 3, 3, 20)   # (K, M, B) storage -> (B, M, K) view
    y = rnd(rng, 20, 2, 3)   # (B, N, K) -> (B, K, N) view
    tx = sc.tensor(x).permute(2, 1, 0)
    ty = sc.tensor(y).permute(0, 2, 1)
    ref = x.transpose(2, 1, 0) @ y.transpose(0, 2, 1)
    assert rel_err(sc.matmul(tx, ty).numpy(), ref) < 1e-12
    v = rnd(rng, 3)
    assert rel_err(sc.matmul(tx, sc.tensor(v)).numpy(), x.transpose(2, 1, 0) @ v) < 1e-12


def test_broadcast_expanded_operand(rng):
    # a stride-0 (expanded) matrix needs a copy; the result must still be right
    row = rnd(rng, 1, 7)
    b = rnd(rng, 7, 5)
    e = sc.tensor(row).expand((6, 7))
    assert rel_err(sc.matmul(e, sc.tensor(b)).numpy(), np.broadcast_to(row, (6, 7)) @ b) < 1e-12


def test_operator_and_numpy_inputs(rng):
    a, b = rnd(rng, 4, 3), rnd(rng, 3, 2)
    assert rel_err((sc.tensor(a) @ sc.tensor(b)).numpy(), a @ b) < 1e-12
    assert rel_err(sc.matmul(sc.tensor(a), b).numpy(), a @ b) < 1e-12
    assert rel_err(sc.matmul(a, sc.tensor(b)).numpy(), a @ b) < 1e-12


def test_dtypes(rng):
    a, b = rnd(rng, 8, 5), rnd(rng, 5, 3)
    mixed = sc.matmul(sc.tensor(a.astype(np.float32)), sc.tensor(b))
    assert mixed.dtype == "float64"
    assert rel_err(mixed.numpy(), a.astype(np.float32).astype(np.float64) @ b) < 1e-12
    h = sc.matmul(sc.tensor(a.astype(np.float32)).to("float16"), sc.tensor(b.astype(np.float32)).to("float16"))
    assert h.dtype == "float16"
    assert rel_err(h.to("float32").numpy(), a @ b) < 1e-2
    bf = sc.matmul(sc.tensor(a.astype(np.float32)).to("bfloat16"), sc.tensor(b.astype(np.float32)).to("bfloat16"))
    assert bf.dtype == "bfloat16"
    assert rel_err(bf.to("float32").numpy(), a @ b) < 1e-2
    with pytest.raises(TypeError, match="floating-point.*int64"):
        sc.matmul(sc.tensor(np.ones((2, 2), np.int64)), sc.tensor(b[:2]))


def test_errors():
    a = sc.tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 2\)"):
        sc.matmul(a, sc.tensor(np.ones((5, 2))))
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(3,\)"):
        sc.matmul(a, sc.tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"batch axes.*\(2, 3, 4\) and \(3, 4, 2\)"):
        sc.matmul(sc.tensor(np.ones((2, 3, 4))), sc.tensor(np.ones((3, 4, 2))))
    with pytest.raises(ValueError, match="at least one dimension"):
        sc.matmul(sc.tensor(np.ones(())), a)


# ---- backward ------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", [
    ((3, 4), (4, 5)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),         # shared B: folded dB
    ((3, 4), (2, 4, 5)),         # shared A: folded dA
    ((2, 1, 3, 4), (3, 4, 2)),   # broadcast both ways: sum_to
    ((1, 3, 4), (2, 4, 2)),
    ((10, 2, 3), (10, 3, 2)),      # tiny-product loop
    ((3, 4, 2, 3), (4, 3, 1)),
])
def test_backward_fd(rng, sa, sb):
    a, b = rnd(rng, *sa), rnd(rng, *sb)
    check_grad(lambda x, y: sc.matmul(x, y), [a, b])


def test_backward_transposed_views(rng):
    a, b = rnd(rng, 4, 3), rnd(rng, 5, 4)
    check_grad(lambda x, y: sc.matmul(x.T, y.T), [a, b])
    x = rnd(rng, 2, 4, 3)
    check_grad(lambda x, y: sc.matmul(x.permute(0, 2, 1), y), [x, rnd(rng, 4, 2)])


def test_backward_one_input_only(rng):
    a = rnd(rng, 3, 4)
    w = sc.tensor(rnd(rng, 4, 2))  # constant: no gradient requested
    check_grad(lambda x: sc.matmul(x, w), [a])


def test_backward_float32(rng):
    a, b = rnd(rng, 2, 6, 5), rnd(rng, 5, 4)
    ta = sc.tensor(a.astype(np.float32), requires_grad=True)
    tb = sc.tensor(b.astype(np.float32), requires_grad=True)
    g = rnd(rng, 2, 6, 4)
    (sc.matmul(ta, tb) * sc.tensor(g.astype(np.float32))).sum().backward()
    assert ta.grad.dtype == "float32"
    assert rel_err(ta.grad.numpy(), g @ b.T) < 1e-4
    assert rel_err(tb.grad.numpy(), np.einsum("bmk,bmn->kn", a, g)) < 1e-4

// matmul with NumPy semantics on top of gemm (ops/blas.h), and its backward.
//
// dtypes: float32 and float64 go to BLAS; float16/bfloat16 are computed in
// float32 and cast back; mixed float dtypes promote like NumPy. Integer and
// bool operands raise TypeError (NumPy would return an integer product, which
// BLAS cannot give; convert explicitly with .to("float32")).
#include <algorithm>

#include "autograd/function.h"
#include "core/thread_pool.h"
#include "gpu/ops/gpu_ops.h"
#include "ops/blas.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

namespace {

struct BlasMat {
  bool trans = false;
  int64_t ld = 0;
};

// Can BLAS read the R x C matrix with element strides (sr, sc) in place?
// Row-major (sc == 1) is passed as is, column-major (sr == 1, e.g. a .T view)
// with the transpose flag; anything else (broadcast rows, gaps in both axes)
// needs a copy.
bool blas_layout(int64_t R, int64_t C, int64_t sr, int64_t sc, BlasMat& m) {
  const int64_t c1 = std::max<int64_t>(C, 1), r1 = std::max<int64_t>(R, 1);
  if ((C <= 1 || sc == 1) && (R <= 1 || sr >= c1)) {
    m = {false, R <= 1 ? c1 : sr};
    return true;
  }
  if ((R <= 1 || sr == 1) && (C <= 1 || sc >= r1)) {
    m = {true, C <= 1 ? r1 : sc};
    return true;
  }
  return false;
}

// A (..., M, K) or the contiguous copy BLAS needs, plus how BLAS reads it.
Tensor blas_ready(const Tensor& x, BlasMat& m) {
  int64_t nd = x.ndim();
  if (blas_layout(x.shape()[nd - 2], x.shape()[nd - 1], x.strides()[nd - 2], x.strides()[nd - 1], m))
    return x;
  Tensor c = x.contiguous();
  blas_layout(c.shape()[nd - 2], c.shape()[nd - 1], c.strides()[nd - 2], c.strides()[nd - 1], m);
  return c;
}

// Do the batch axes and the row axis of x (already expanded to `batch`)
// merge into a single row axis of stride `row_stride`?
bool rows_merge(const Tensor& x, int64_t row_stride) {
  int64_t nd = x.ndim();
  int64_t expect = row_stride * x.shape()[nd - 2];
  for (int64_t d = nd - 3; d >= 0; --d) {
    if (x.shape()[d] == 1) continue;
    if (x.strides()[d] != expect) return false;
    expect *= x.shape()[d];
  }
  return true;
}

// Many tiny products (e.g. per-Gaussian 3x3): one BLAS call each would cost
// more than the arithmetic, so loop directly over the strided operands, in
// parallel over the batch. Ae, Be are already expanded to the batch.
template <typename T>
void small_batched(const Tensor& Ae, const Tensor& Be, const Shape& batch, const Tensor& C) {
  const int64_t nd = Ae.ndim(), nbd = (int64_t)batch.size();
  const int64_t M = Ae.shape()[nd - 2], K = Ae.shape()[nd - 1], N = Be.shape()[nd - 1];
  const int64_t sam = Ae.strides()[nd - 2], sak = Ae.strides()[nd - 1];
  const int64_t sbk = Be.strides()[nd - 2], sbn = Be.strides()[nd - 1];
  const T* a = Ae.data<T>();
  const T* b = Be.data<T>();
  T* c = C.data<T>();
  const int64_t nb = numel_of(batch);
  parallel_for(nb, std::max<int64_t>(1, 4096 / std::max<int64_t>(M * N * K, 1)), [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) {
      int64_t oa = 0, ob = 0, rem = i;
      for (int64_t d = nbd - 1; d >= 0; --d) {
        const int64_t id = rem % batch[d];
        rem /= batch[d];
        oa += id * Ae.strides()[d];
        ob += id * Be.strides()[d];
      }
      const T* ai = a + oa;
      const T* bi = b + ob;
      T* ci = c + i * M * N;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          T acc = T(0);
          for (int64_t k = 0; k < K; ++k) acc += ai[m * sam + k * sak] * bi[k * sbk + n * sbn];
          ci[m * N + n] = acc;
        }
    }
  });
}

// C (batch..., M, N) contiguous = A (..., M, K) @ B (..., K, N), no autograd.
// A and B are detached, same float dtype, ndim >= 2; batch is their broadcast.
template <typename T>
void mm_into(const Tensor& A0, const Tensor& B0, const Shape& batch, const Tensor& C) {
  {
    const int64_t M = A0.shape()[A0.ndim() - 2], K = A0.shape()[A0.ndim() - 1], N = B0.shape()[B0.ndim() - 1];
    const int64_t nb = numel_of(batch);
    if (nb >= 8 && M * N * K <= 4096 && M * N * K > 0) {
      Shape sa = batch, sb = batch;
      sa.push_back(M), sa.push_back(K);
      sb.push_back(K), sb.push_back(N);
      small_batched<T>(A0.expand(sa), B0.expand(sb), batch, C);
      return;
    }
  }
  BlasMat ma, mb;
  Tensor A = blas_ready(A0, ma), B = blas_ready(B0, mb);
  const int64_t M = A.shape()[A.ndim() - 2], K = A.shape()[A.ndim() - 1], N = B.shape()[B.ndim() - 1];
  Shape sa = batch, sb = batch;
  sa.push_back(M), sa.push_back(K);
  sb.push_back(K), sb.push_back(N);
  Tensor Ae = A.expand(sa), Be = B.expand(sb);
  const int64_t nb = numel_of(batch), nbd = (int64_t)batch.size();
  T* c = C.data<T>();
  const T* a = Ae.data<T>();
  const T* b = Be.data<T>();
  if (nb == 0 || M == 0 || N == 0) return;

  bool b_shared = true;  // one B for the whole batch
  for (int64_t d = 0; d < nbd; ++d)
    if (batch[d] != 1 && Be.strides()[d] != 0) b_shared = false;
  if (nb == 1 || (b_shared && !ma.trans && rows_merge(Ae, ma.ld))) {
    // (batch*M, K) @ (K, N) in one call: the linear-layer case.
    gemm(ma.trans, mb.trans, nb * M, N, K, T(1), a, ma.ld, b, mb.ld, T(0), c, N);
    return;
  }
  std::vector<int64_t> idx(nbd, 0);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t oa = 0, ob = 0;
    for (int64_t d = 0; d < nbd; ++d) {
      oa += idx[d] * Ae.strides()[d];
      ob += idx[d] * Be.strides()[d];
    }
    gemm(ma.trans, mb.trans, M, N, K, T(1), a + oa, ma.ld, b + ob, mb.ld, T(0), c + i * M * N, N);
    for (int64_t d = nbd - 1; d >= 0; --d) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
}

Shape batch_of(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

// GPU: both operands broadcast to the batch and packed as (nb, M, K), (nb, K, N).
Tensor mm_gpu(const Tensor& A, const Tensor& B, const Shape& batch, const Shape& out_shape) {
  const int64_t M = A.shape()[A.ndim() - 2], K = A.shape()[A.ndim() - 1], N = B.shape()[B.ndim() - 1];
  const int64_t nb = numel_of(batch);
  Shape sa = batch, sb = batch;
  sa.push_back(M), sa.push_back(K);
  sb.push_back(K), sb.push_back(N);
  Tensor C = Tensor::empty(out_shape, A.dtype(), A.device());
  if (numel_of(batch_of(B)) == 1) {
    // One B for the whole batch (the linear-layer case): a single (nb*M, K) @ (K, N),
    // with no copy of B per batch entry.
    Tensor Ap = A.expand(sa).contiguous().reshape({1, nb * M, K});
    Tensor Bp = B.contiguous().reshape({1, K, N});
    gpu::batched_matmul(C.reshape({1, nb * M, N}), Ap, Bp);
    return C;
  }
  Tensor Ap = A.expand(sa).contiguous().reshape({nb, M, K});
  Tensor Bp = B.expand(sb).contiguous().reshape({nb, K, N});
  gpu::batched_matmul(C.reshape({nb, M, N}), Ap, Bp);
  return C;
}

Tensor mm_raw(const Tensor& A, const Tensor& B, const Shape& batch) {
  Shape out_shape = batch;
  out_shape.push_back(A.shape()[A.ndim() - 2]);
  out_shape.push_back(B.shape()[B.ndim() - 1]);
  if (A.device().is_gpu()) return mm_gpu(A, B, batch, out_shape);
  Tensor C = Tensor::empty(out_shape, A.dtype());
  SC_DISPATCH_FLOAT(A.dtype(), "matmul", { mm_into<scalar_t>(A, B, batch, C); });
  return C;
}

Tensor mT(const Tensor& x) { return x.transpose(-1, -2); }

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) throw ValueError("matmul: got an undefined tensor");
  if (a.ndim() == 0 || b.ndim() == 0)
    throw ValueError("matmul: operands must have at least one dimension, got shapes " +
                     shape_str(a.shape()) + " and " + shape_str(b.shape()));
  if (!is_floating(a.dtype()) || !is_floating(b.dtype()))
    throw TypeError(std::string("matmul: expected floating-point tensors, got ") +
                    dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()) +
                    " (convert with .to(\"float32\") first)");
  if (a.device() != b.device())
    throw ValueError("matmul: operands are on different devices, " + a.device().str() + " and " +
                     b.device().str() + "; move one with .to()");
  DType dt = promote(a.dtype(), b.dtype());
  // float16 / bfloat16 run in float32, except on CUDA, where cuBLAS takes them
  // directly (float32 accumulation on tensor cores).
  if (is_half(dt) && a.device().type != DeviceType::CUDA)
    return matmul(a.to(DType::Float32), b.to(DType::Float32)).to(dt);
  Tensor ac = a.to(dt), bc = b.to(dt);

  const bool a1 = ac.ndim() == 1, b1 = bc.ndim() == 1;
  Tensor A = a1 ? ac.detach().unsqueeze(0) : ac.detach();
  Tensor B = b1 ? bc.detach().unsqueeze(1) : bc.detach();
  const int64_t M = A.shape()[A.ndim() - 2], K = A.shape()[A.ndim() - 1];
  const int64_t K2 = B.shape()[B.ndim() - 2], N = B.shape()[B.ndim() - 1];
  if (K != K2)
    throw ValueError("matmul: shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) +
                     " are not aligned: the last axis of the first (" + std::to_string(K) +
                     ") must equal " +
                     (b1 ? std::string("the length of the second") : std::string("the second-to-last axis of the second")) +
                     " (" + std::to_string(K2) + ")");
  Shape batch;
  try {
    batch = broadcast_shapes(batch_of(A), batch_of(B));
  } catch (const ValueError&) {
    throw ValueError("matmul: batch axes of shapes " + shape_str(a.shape()) + " and " +
                     shape_str(b.shape()) + " cannot be broadcast together");
  }
  Tensor C = mm_raw(A, B, batch);
  Shape out_shape = batch;
  if (!a1) out_shape.push_back(M);
  if (!b1) out_shape.push_back(N);
  Tensor out = C.reshape(out_shape);

  const bool need_a = ac.requires_grad(), need_b = bc.requires_grad();
  Shape full = C.shape(), a_shape = ac.shape(), b_shape = bc.shape();
  return record_op1("matmul", {ac, bc}, out, [=](const Grads& g) -> Grads {
    Tensor G = g[0].to(dt).reshape(full);  // restore the axes dropped for 1-D operands
    const Shape ba = batch_of(A), bb = batch_of(B);
    const int64_t nb = numel_of(batch);
    Tensor dA, dB;
    if (need_a) {
      if (numel_of(ba) == 1 && nb > 1) {
        // A shared by the batch: dA = sum_b G_b B_b^T = G' B'^T with the batch
        // folded into the contracted axis, G' (M, nb*N), B' (K, nb*N).
        Shape sbe = batch;
        sbe.push_back(K), sbe.push_back(N);
        const int64_t nbd = (int64_t)batch.size();
        std::vector<int64_t> perm{nbd};
        for (int64_t d = 0; d < nbd; ++d) perm.push_back(d);
        perm.push_back(nbd + 1);
        Tensor Gp = G.permute(perm).reshape({M, nb * N});
        Tensor Bp = B.expand(sbe).permute(perm).reshape({K, nb * N});
        dA = mm_raw(Gp, mT(Bp), {});
      } else {
        dA = sum_to(mm_raw(G, mT(B), batch), A.shape());
      }
      dA = dA.reshape(a_shape);
    }
    if (need_b) {
      if (numel_of(bb) == 1 && nb > 1) {
        // B shared by the batch: dB = A'^T G' with A' (nb*M, K), G' (nb*M, N).
        Shape sae = batch;
        sae.push_back(M), sae.push_back(K);
        Tensor Ap = A.expand(sae).reshape({nb * M, K});
        dB = mm_raw(mT(Ap), G.reshape({nb * M, N}), {});
      } else {
        dB = sum_to(mm_raw(mT(A), G, batch), B.shape());
      }
      dB = dB.reshape(b_shape);
    }
    return {dA, dB};
  });
}

}  // namespace sc

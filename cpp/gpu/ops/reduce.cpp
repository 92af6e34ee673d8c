// Host side of the reduction GPU kernels.
#include <algorithm>
#include <limits>
#include <string>

#include "core/dtype.h"
#include "gpu/kernels/reduce_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"

namespace sc::gpu {

static_assert((int)Reduce::SumSquares == SC_RED_SUM_SQUARES, "opcodes follow gpu::Reduce");

namespace {

template <typename T>
T identity(Reduce op) {
  if (op == Reduce::Max)
    return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::lowest();
  if (op == Reduce::Min)
    return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::max();
  return T(0);
}

constexpr int64_t kChunk = 65536;  // row elements per group of the row kernel

}  // namespace

void reduce(Reduce op, const Tensor& out, const Tensor& src, int64_t A, int64_t R, int64_t K) {
  if (A * K == 0) return;
  Runtime& rt = runtime(out.device());
  SC_DISPATCH_NUMERIC(src.dtype(), "GPU reduction", {
    using T = kernel_t<scalar_t>;
    ScReduceArgs<T> a;
    a.src = gpu_ptr<const T>(src);
    a.A = A;
    a.R = R;
    a.K = K;
    a.identity = identity<T>(op);
    a.op = (int)op;
        if (K > 1 || R <= 256) {
      // A thread per output, or per (output, chunk of rows) when few outputs
      // would each walk a long column (then a second pass over the chunks).
      int64_t chunks = 1;
      if (A * K < 65536 && R > 1024) chunks = std::min<int64_t>((R + 255) / 256, 65536 / (A * K) + 1);
      a.chunks = chunks;
      a.chunk = (R + chunks - 1) / chunks;
      if (chunks == 1) {
        a.out = gpu_ptr<T>(out);
        launch(rt, typed_kernel("reduce_cols", src.dtype()), groups_for(A * K), a,
               {src.storage().get(), out.storage().get()});
        return;
      }
      Tensor partial = Tensor::empty({A, chunks, K}, src.dtype(), out.device());
      a.out = gpu_ptr<T>(partial);
      launch(rt, typed_kernel("reduce_cols", src.dtype()), groups_for(A * chunks * K), a,
             {src.storage().get(), partial.storage().get()});
      reduce(op == Reduce::SumSquares ? Reduce::Sum : op, out, partial, A, chunks, K);
      return;
    }
    a.chunks = (R + kChunk - 1) / kChunk;
    a.chunk = (R + a.chunks - 1) / a.chunks;
    LaunchDims d;
    d.group.x = 256;
    d.grid.x = (uint32_t)(A * a.chunks);
    if (a.chunks == 1) {
      a.out = gpu_ptr<T>(out);
      launch(rt, typed_kernel("reduce_rows", src.dtype()), d, a, {src.storage().get(), out.storage().get()});
      return;
    }
    // Per-chunk partials, then the partials of each row (squares are already taken).
    Tensor partial = Tensor::empty({A, a.chunks}, src.dtype(), out.device());
    a.out = gpu_ptr<T>(partial);
    launch(rt, typed_kernel("reduce_rows", src.dtype()), d, a, {src.storage().get(), partial.storage().get()});
    reduce(op == Reduce::SumSquares ? Reduce::Sum : op, out, partial, A, a.chunks, 1);
  });
}

void arg_reduce(bool is_max, const Tensor& out, const Tensor& src, int64_t rows, int64_t len) {
  if (rows == 0) return;
  Runtime& rt = runtime(out.device());
  SC_DISPATCH_NUMERIC(src.dtype(), "GPU argmax/argmin", {
    using T = kernel_t<scalar_t>;
    ScArgReduceArgs<T> a;
    a.src = gpu_ptr<const T>(src);
    a.out = gpu_ptr<long long>(out);
    a.rows = rows;
    a.len = len;
    a.is_max = is_max;
    launch(rt, typed_kernel("arg_reduce", src.dtype()), groups_for(rows), a,
           {src.storage().get(), out.storage().get()});
  });
}

void softmax(const Tensor& out, const Tensor& src, int64_t rows, int64_t len, bool log_space) {
  if (rows == 0 || len == 0) return;
  Runtime& rt = runtime(out.device());
  SC_DISPATCH_FLOAT(src.dtype(), "GPU softmax", {
    ScSoftmaxArgs<scalar_t> a;
    a.src = gpu_ptr<const scalar_t>(src);
    a.out = gpu_ptr<scalar_t>(out);
    a.rows = rows;
    a.len = len;
    a.log_space = log_space;
    LaunchDims d = groups_for(rows * 256);  // a group per row
    launch(rt, typed_kernel("softmax", src.dtype()), d, a,
           {src.storage().get(), out.storage().get()});
  });
}

}  // namespace sc::gpu

// Host side of the reduction GPU kernels.
#include <limits>
#include <string>

#include "core/dtype.h"
#include "gpu/kernels/reduce_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/runtime.h"

namespace sc::gpu {

static_assert((int)Reduce::SumSquares == SC_RED_SUM_SQUARES, "opcodes follow gpu::Reduce");

namespace {

const char* suffix(DType dt) {
  switch (dt) {
    case DType::UInt8: case DType::Bool: return "u8";
    case DType::Int32: return "i32";
    case DType::UInt32: return "u32";
    case DType::Int64: return "i64";
    case DType::Float32: return "f32";
    case DType::Float64: return "f64";
    default: throw TypeError(std::string("GPU reduction: unsupported dtype ") + dtype_name(dt));
  }
}

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

// The kernels' element type for int64 (sc_i64 is long long).
template <typename S>
using kernel_t = std::conditional_t<std::is_same_v<S, int64_t>, long long, S>;

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
    const std::string sfx = suffix(src.dtype());
    if (K > 1 || R <= 256) {
      // A thread per output.
      a.out = gpu_ptr<T>(out);
      a.chunk = R;
      a.chunks = 1;
      LaunchDims d;
      d.group.x = 256;
      d.grid.x = (uint32_t)((A * K + 255) / 256);
      launch(rt, kernel("reduce_cols_" + sfx), d, a, {src.storage().get(), out.storage().get()});
      return;
    }
    a.chunks = (R + kChunk - 1) / kChunk;
    a.chunk = (R + a.chunks - 1) / a.chunks;
    LaunchDims d;
    d.group.x = 256;
    d.grid.x = (uint32_t)(A * a.chunks);
    if (a.chunks == 1) {
      a.out = gpu_ptr<T>(out);
      launch(rt, kernel("reduce_rows_" + sfx), d, a, {src.storage().get(), out.storage().get()});
      return;
    }
    // Per-chunk partials, then the partials of each row (squares are already taken).
    Tensor partial = Tensor::empty({A, a.chunks}, src.dtype(), out.device());
    a.out = gpu_ptr<T>(partial);
    launch(rt, kernel("reduce_rows_" + sfx), d, a, {src.storage().get(), partial.storage().get()});
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
    LaunchDims d;
    d.group.x = 256;
    d.grid.x = (uint32_t)((rows + 255) / 256);
    launch(rt, kernel(std::string("arg_reduce_") + suffix(src.dtype())), d, a,
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
    LaunchDims d;
    d.group.x = 256;
    d.grid.x = (uint32_t)rows;
    launch(rt, kernel(std::string("softmax_") + suffix(src.dtype())), d, a,
           {src.storage().get(), out.storage().get()});
  });
}

}  // namespace sc::gpu

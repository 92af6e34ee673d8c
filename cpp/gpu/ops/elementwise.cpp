// Host side of the elementwise GPU kernels: merge dimensions, pick each
// operand's addressing, fill the argument struct, launch.
#include <cstring>
#include <string>

#include "core/convert.h"
#include "core/strided_loop.h"
#include "gpu/kernels/elementwise_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"
#include "ops/ops.h"

static_assert((int)sc::BinaryOp::Minimum == SC_BIN_MINIMUM && (int)sc::BinaryOp::Pow == SC_BIN_POW,
              "GPU binary opcodes follow sc::BinaryOp");
static_assert((int)sc::CompareOp::Ge == SC_CMP_GE, "GPU compare opcodes follow sc::CompareOp");
static_assert((int)sc::UnaryOp::Sign == SC_UN_SIGN && (int)sc::UnaryOp::Gelu == SC_UN_GELU,
              "GPU unary opcodes follow sc::UnaryOp");
static_assert((int)sc::DType::Float64 == SC_DT_F64 && (int)sc::DType::BFloat16 == SC_DT_BF16,
              "GPU dtype codes follow sc::DType");

namespace sc::gpu {

namespace {

// Operands broadcast to `shape`; null entries are immediates.
template <int K>
ScStrided layout(const Shape& shape, const std::array<const Tensor*, K>& ops) {
  std::array<Shape, K> st;
  std::array<const Shape*, K> sp;
  for (int k = 0; k < K; ++k) {
    if (ops[k]) {
      Tensor b = ops[k]->shape() == shape ? *ops[k] : ops[k]->detach().expand(shape);
      st[k] = b.strides();
    } else {
      st[k] = Shape(shape.size(), 0);
    }
    sp[k] = &st[k];
  }
  StridedLayout<K> L = coalesce<K>(shape, sp);
  ScStrided it;
  std::memset(&it, 0, sizeof(it));
  it.n = numel_of(shape);
  it.ndim = (int)L.shape.size();
  if (it.ndim > SC_GPU_MAX_DIMS)
    throw ValueError("GPU elementwise op: the operands' strides leave " + std::to_string(it.ndim) +
                     " dimensions that cannot be merged (at most " +
                     std::to_string(SC_GPU_MAX_DIMS) + "); make them contiguous first");
  for (int d = 0; d < it.ndim; ++d) it.shape[d] = L.shape[d];
  for (int k = 0; k < K; ++k) {
    if (!ops[k]) {
      it.mode[k] = SC_OPERAND_IMMEDIATE;
      continue;
    }
    bool zero = true, contiguous = true;
    int64_t expect = 1;
    for (int d = it.ndim - 1; d >= 0; --d) {
      int64_t s = L.strides[d][k];
      it.strides[k][d] = s;
      zero &= s == 0;
      contiguous &= s == expect;
      expect *= L.shape[d];
    }
    it.mode[k] = zero ? SC_OPERAND_BROADCAST : contiguous ? SC_OPERAND_CONTIGUOUS : SC_OPERAND_STRIDED;
  }
  return it;
}

template <typename T>
T immediate_value(const Tensor& t) {
  T v = T(0);
  SC_DISPATCH_STORAGE(t.dtype(), { v = convert<T>(*t.data<scalar_t>()); });
  return v;
}

const Storage* storage_of(const Tensor& t) { return is_immediate(t) ? nullptr : t.storage().get(); }

template <typename T>
const T* operand_ptr(const Tensor& t) {
  return is_immediate(t) ? nullptr : gpu_ptr<const T>(t);
}

template <typename T>
T operand_immediate(const Tensor& t) {
  return is_immediate(t) ? immediate_value<T>(t) : T(0);
}

template <int K>
std::array<const Tensor*, K> operands(std::initializer_list<const Tensor*> ts) {
  std::array<const Tensor*, K> a{};
  int k = 0;
  for (const Tensor* t : ts) a[k++] = is_immediate(*t) ? nullptr : t;
  return a;
}

}  // namespace

void unary(int op, const Tensor& out, const Tensor& x) {
  if (out.numel() == 0) return;
  Runtime& rt = runtime(out.device());
  SC_DISPATCH_NUMERIC(out.dtype(), "GPU unary", {
    using T = kernel_t<scalar_t>;
    ScUnaryArgs<T> a;
    a.out = gpu_ptr<T>(out);
    a.x = gpu_ptr<const T>(x);
    a.it = layout<2>(out.shape(), {&out, &x});
    a.op = op;
    if (is_floating(out.dtype()) && a.it.mode[0] == SC_OPERAND_CONTIGUOUS &&
        a.it.mode[1] == SC_OPERAND_CONTIGUOUS && a.it.n < (int64_t(1) << 31)) {
      launch(rt, typed_kernel("ew_unary_dense", out.dtype()), groups_for((a.it.n + 3) / 4), a,
             {out.storage().get(), x.storage().get()});
      return;
    }
    launch(rt, typed_kernel("ew_unary", out.dtype()), grid_stride_groups(a.it.n), a,
           {out.storage().get(), x.storage().get()});
  });
}

void unary_backward(int op, const Tensor& out, const Tensor& g, const Tensor& v) {
  if (out.numel() == 0) return;
  Runtime& rt = runtime(out.device());
  SC_DISPATCH_FLOAT(out.dtype(), "GPU unary backward", {
    ScUnaryBackwardArgs<scalar_t> a;
    a.out = gpu_ptr<scalar_t>(out);
    a.g = gpu_ptr<const scalar_t>(g);
    a.v = gpu_ptr<const scalar_t>(v);
    a.n = out.numel();
    a.op = op;
    launch(rt, typed_kernel("ew_unary_backward", out.dtype()), grid_stride_groups(a.n),
           a, {out.storage().get(), g.storage().get(), v.storage().get()});
  });
}

template <typename T, typename Out>
static void fill_binary_operands(ScBinaryArgs<T, Out>& a, const Tensor& out, const Tensor& x, const Tensor& y) {
  a.a = operand_ptr<T>(x);
  a.b = operand_ptr<T>(y);
  a.a_imm = operand_immediate<T>(x);
  a.b_imm = operand_immediate<T>(y);
  a.it = layout<3>(out.shape(), operands<3>({&out, &x, &y}));
}

void binary(int op, const Tensor& out, const Tensor& x, const Tensor& y) {
  if (out.numel() == 0) return;
  Runtime& rt = runtime(out.device());
  SC_DISPATCH_NUMERIC(out.dtype(), "GPU binary", {
    using T = kernel_t<scalar_t>;
    ScBinaryArgs<T> a;
    a.out = gpu_ptr<T>(out);
    fill_binary_operands<T>(a, out, x, y);
    a.op = op;
    auto dense = [&](int k) { return a.it.mode[k] == SC_OPERAND_CONTIGUOUS || a.it.mode[k] == SC_OPERAND_IMMEDIATE; };
    if (a.it.mode[0] == SC_OPERAND_CONTIGUOUS && dense(1) && dense(2) && a.it.n < (int64_t(1) << 31)) {
      launch(rt, typed_kernel("ew_binary_dense", out.dtype()), groups_for((a.it.n + 3) / 4), a,
             {out.storage().get(), storage_of(x), storage_of(y)});
      return;
    }
    launch(rt, typed_kernel("ew_binary", out.dtype()), grid_stride_groups(a.it.n), a,
           {out.storage().get(), storage_of(x), storage_of(y)});
  });
}

void compare(int op, const Tensor& out, const Tensor& x, const Tensor& y) {
  if (out.numel() == 0) return;
  Runtime& rt = runtime(out.device());
  SC_DISPATCH_NUMERIC(x.dtype(), "GPU compare", {
    using T = kernel_t<scalar_t>;
    ScCompareArgs<T> a;
    a.out = gpu_ptr<unsigned char>(out);
    fill_binary_operands<T>(a, out, x, y);
    a.op = op;
    launch(rt, typed_kernel("ew_compare", x.dtype()), grid_stride_groups(a.it.n), a,
           {out.storage().get(), storage_of(x), storage_of(y)});
  });
}

template <typename T>
static void where_sized(Runtime& rt, const char* name, const Tensor& out, const Tensor& c,
                        const Tensor& x, const Tensor& y) {
  ScWhereArgs<T> a;
  a.out = gpu_ptr<T>(out);
  a.cond = gpu_ptr<const unsigned char>(c);
  a.a = operand_ptr<T>(x);
  a.b = operand_ptr<T>(y);
  std::memset(&a.a_imm, 0, sizeof(T));
  std::memset(&a.b_imm, 0, sizeof(T));
  // Immediates keep out's dtype: convert, then take the bits.
  auto bits = [&](const Tensor& t, T& dst) {
    if (!is_immediate(t)) return;
    Tensor v = t.to(out.dtype());
    std::memcpy(&dst, v.raw(), sizeof(T));
  };
  bits(x, a.a_imm);
  bits(y, a.b_imm);
  a.it = layout<4>(out.shape(), operands<4>({&out, &c, &x, &y}));
  launch(rt, kernel(name), grid_stride_groups(a.it.n), a,
         {out.storage().get(), c.storage().get(), storage_of(x), storage_of(y)});
}

void where(const Tensor& out, const Tensor& c, const Tensor& x, const Tensor& y) {
  if (out.numel() == 0) return;
  if (is_immediate(c))
    throw ValueError("where: the condition must be on " + out.device().str() + ", got a CPU scalar");
  Runtime& rt = runtime(out.device());
  switch (itemsize(out.dtype())) {
    case 1: where_sized<unsigned char>(rt, "ew_where_b1", out, c, x, y); break;
    case 2: where_sized<unsigned short>(rt, "ew_where_b2", out, c, x, y); break;
    case 4: where_sized<unsigned int>(rt, "ew_where_b4", out, c, x, y); break;
    default: where_sized<unsigned long long>(rt, "ew_where_b8", out, c, x, y); break;
  }
}

void fill(const Tensor& out, double value) {
  if (out.numel() == 0) return;
  Runtime& rt = runtime(out.device());
  Tensor v = Tensor::full({}, value, out.dtype());  // the value's bits, converted on the CPU
  ScFillArgs a;
  a.out = gpu_ptr<unsigned char>(out);
  a.n = out.numel();
  a.bits = 0;
  std::memcpy(&a.bits, v.raw(), itemsize(out.dtype()));
  a.size = (int)itemsize(out.dtype());
  if (!out.is_contiguous()) throw ValueError("GPU fill: expected a contiguous tensor");
  if (a.bits == 0) {
    rt.fill_bytes(a.out, 0, a.n * a.size);
    return;
  }
  launch(rt, kernel("ew_fill"), grid_stride_groups(a.n), a, {out.storage().get()});
}

static bool dense(const Tensor& t) { return t.is_contiguous(); }

void copy(const Tensor& dst, const Tensor& src_in) {
  if (dst.numel() == 0) return;
  Tensor src = src_in.shape() == dst.shape() ? src_in : src_in.detach().expand(dst.shape());
  const bool dst_gpu = dst.device().is_gpu(), src_gpu = src.device().is_gpu();
  if (dst_gpu && src_gpu && dst.device() != src.device()) {
    // Between two GPU devices: through the host.
    copy(dst, src.detach().contiguous().to_device(Device{}));
    return;
  }
  if (!src_gpu) {
    // Host to device: convert and pack on the CPU, then one transfer.
    Runtime& rt = runtime(dst.device());
    Tensor packed = src.detach().to(dst.dtype()).contiguous();
    if (dense(dst)) {
      rt.copy_from_host(gpu_address(dst), packed.raw(), packed.numel() * itemsize(dst.dtype()));
      return;
    }
    Tensor staged = Tensor::empty(dst.shape(), dst.dtype(), dst.device());
    rt.copy_from_host(gpu_address(staged), packed.raw(), packed.numel() * itemsize(dst.dtype()));
    copy(dst, staged);
    return;
  }
  if (!dst_gpu) {
    // Device to host: pack and convert on the device, then one transfer.
    Runtime& rt = runtime(src.device());
    Tensor packed = src;
    if (!dense(src) || src.dtype() != dst.dtype()) {
      packed = Tensor::empty(dst.shape(), dst.dtype(), src.device());
      copy(packed, src);
    }
    if (dense(dst)) {
      rt.copy_to_host(dst.raw(), gpu_address(packed), packed.numel() * itemsize(dst.dtype()));
    } else {
      Tensor host = Tensor::empty(dst.shape(), dst.dtype());
      rt.copy_to_host(host.raw(), gpu_address(packed), packed.numel() * itemsize(dst.dtype()));
      Tensor(dst).copy_from(host);
    }
    check_device_errors(src.device());
    return;
  }
  Runtime& rt = runtime(dst.device());
  if (dense(dst) && dense(src) && dst.dtype() == src.dtype()) {
    rt.copy(gpu_address(dst), gpu_address(src), dst.numel() * itemsize(dst.dtype()));
    return;
  }
  ScCopyArgs a;
  a.dst = gpu_ptr<unsigned char>(dst);
  a.src = gpu_ptr<const unsigned char>(src);
  a.it = layout<2>(dst.shape(), {&dst, &src});
  a.dst_dtype = (int)dst.dtype();
  a.src_dtype = (int)src.dtype();
  launch(rt, kernel("ew_copy"), grid_stride_groups(a.it.n), a, {dst.storage().get(), src.storage().get()});
}

}  // namespace sc::gpu

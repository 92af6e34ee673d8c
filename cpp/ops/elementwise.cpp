// Elementwise unary and binary ops with NumPy broadcasting, and their backward.
#include <cmath>
#include <type_traits>

#include "autograd/function.h"
#include "core/convert.h"
#include "core/strided_loop.h"
#include "gpu/kernels/elementwise_args.h"
#include "gpu/ops/gpu_ops.h"
#include "kernels/elementwise.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw ValueError("operands could not be broadcast together with shapes " + shape_str(a) +
                       " and " + shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.ndim() - (int64_t)shape.size();
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < g.ndim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  Tensor r = sum(g, axes, true);
  return r.reshape(shape);
}

// Broadcast view without autograd (for kernels only).
static Tensor bview(const Tensor& t, const Shape& shape) {
  return t.shape() == shape ? t : t.detach().expand(shape);
}

// ---- generic loops -------------------------------------------------------------
template <typename TO, typename TI, typename F>
static void map1(const Tensor& out, const Tensor& x, F f) {
  Tensor xb = bview(x, out.shape());
  strided_for_each<2>(out.shape(), {&out.strides(), &xb.strides()}, {(char*)out.raw(), (char*)xb.raw()},
                      {(int64_t)sizeof(TO), (int64_t)sizeof(TI)},
                      [&](int64_t n, const std::array<char*, 2>& p, const std::array<int64_t, 2>& s) {
                        TO* o = (TO*)p[0];
                        const TI* a = (const TI*)p[1];
                        if (s[0] == 1 && s[1] == 1) {
                          for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
                        } else {
                          for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(a[i * s[1]]);
                        }
                      });
}

template <typename TO, typename TI, typename F>
static void map2(const Tensor& out, const Tensor& x, const Tensor& y, F f) {
  Tensor xb = bview(x, out.shape()), yb = bview(y, out.shape());
  strided_for_each<3>(
      out.shape(), {&out.strides(), &xb.strides(), &yb.strides()},
      {(char*)out.raw(), (char*)xb.raw(), (char*)yb.raw()},
      {(int64_t)sizeof(TO), (int64_t)sizeof(TI), (int64_t)sizeof(TI)},
      [&](int64_t n, const std::array<char*, 3>& p, const std::array<int64_t, 3>& s) {
        TO* o = (TO*)p[0];
        const TI* a = (const TI*)p[1];
        const TI* b = (const TI*)p[2];
        if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
        } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
          const TI bv = b[0];
          for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
        } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
          const TI av = a[0];
          for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(a[i * s[1]], b[i * s[2]]);
        }
      });
}

// ---- scalars -------------------------------------------------------------------
Tensor scalar_like(double value, const Tensor& t, bool value_is_float) {
  DType dt = t.dtype();
  if (value_is_float && !is_floating(dt)) dt = DType::Float32;
  if (dt == DType::Bool) dt = value_is_float ? DType::Float32 : DType::Int64;
  return Tensor::scalar(value, dt);
}

// ---- binary --------------------------------------------------------------------
// Integer add/sub/mul wrap around like NumPy's; done in the unsigned type so
// that signed overflow is defined behaviour.
template <typename T, bool = std::is_integral_v<T>> struct wrap { using type = T; };
template <typename T> struct wrap<T, true> { using type = std::make_unsigned_t<T>; };
template <typename T> using wrap_t = typename wrap<T>::type;

template <typename T>
static void binary_kernel(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  using U = wrap_t<T>;
  switch (op) {
    case BinaryOp::Add: map2<T, T>(out, a, b, [](T x, T y) { return T(U(U(x) + U(y))); }); break;
    case BinaryOp::Sub: map2<T, T>(out, a, b, [](T x, T y) { return T(U(U(x) - U(y))); }); break;
    case BinaryOp::Mul: map2<T, T>(out, a, b, [](T x, T y) { return T(U(U(x) * U(y))); }); break;
    case BinaryOp::Div: map2<T, T>(out, a, b, [](T x, T y) { return T(x / y); }); break;
    case BinaryOp::Pow:
      if constexpr (std::is_integral_v<T>) {
        // exponentiation by squaring, wrapping like NumPy (y >= 0 checked by the caller)
        map2<T, T>(out, a, b, [](T x, T y) {
          U r = 1, base = U(x);
          for (U e = U(y); e > 0; e >>= 1) {
            if (e & 1) r = U(r * base);
            base = U(base * base);
          }
          return T(r);
        });
      } else {
        map2<T, T>(out, a, b, [](T x, T y) { return T(std::pow(x, y)); });
      }
      break;
    case BinaryOp::Maximum:
      map2<T, T>(out, a, b, [](T x, T y) { return (x != x || y != y) ? T(x + y) : (x > y ? x : y); });
      break;
    case BinaryOp::Minimum:
      map2<T, T>(out, a, b, [](T x, T y) { return (x != x || y != y) ? T(x + y) : (x < y ? x : y); });
      break;
  }
}

template <>
void binary_kernel<float>(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  using T = float;
  switch (op) {
    case BinaryOp::Add: map2<T, T>(out, a, b, [](T x, T y) { return x + y; }); break;
    case BinaryOp::Sub: map2<T, T>(out, a, b, [](T x, T y) { return x - y; }); break;
    case BinaryOp::Mul: map2<T, T>(out, a, b, [](T x, T y) { return x * y; }); break;
    case BinaryOp::Div: map2<T, T>(out, a, b, [](T x, T y) { return x / y; }); break;
    case BinaryOp::Pow: map2<T, T>(out, a, b, [](T x, T y) { return std::pow(x, y); }); break;
    case BinaryOp::Maximum:
      map2<T, T>(out, a, b, [](T x, T y) { return (x != x || y != y) ? x + y : (x > y ? x : y); });
      break;
    case BinaryOp::Minimum:
      map2<T, T>(out, a, b, [](T x, T y) { return (x != x || y != y) ? x + y : (x < y ? x : y); });
      break;
  }
}

static const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Pow: return "pow";
    case BinaryOp::Maximum: return "maximum";
    case BinaryOp::Minimum: return "minimum";
  }
  return "?";
}

// Where an op of a and b runs: their common device; a 0-d CPU tensor (a
// scalar) may join a GPU operand, travelling by value. Other mixes raise.
static Device op_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.device() == b.device()) return a.device();
  if (gpu::is_immediate(b)) return a.device();
  if (gpu::is_immediate(a)) return b.device();
  throw ValueError(std::string(op) + ": operands are on different devices, " + a.device().str() +
                   " and " + b.device().str() + "; move one with .to()");
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  Device dev = op_device(a, b, name);
  DType dt = promote(a.dtype(), b.dtype());
  if (dt == DType::Bool) dt = DType::Int32;
  if (op == BinaryOp::Div && !is_floating(dt)) dt = DType::Float32;
  if (is_half(dt)) return binary(op, a.to(DType::Float32), b.to(DType::Float32)).to(dt);
  Tensor ac = a.to(dt), bc = b.to(dt);
  Shape shape = broadcast_shapes(a.shape(), b.shape());
  // (CPU only: on a GPU the check would wait for the device; there a negative
  // integer exponent gives 0, or +-1 for a base of +-1.)
  if (op == BinaryOp::Pow && !is_floating(dt) && dt != DType::UInt8 && dt != DType::UInt32 &&
      !bc.device().is_gpu() && !dev.is_gpu() && bc.numel() > 0 && min(bc.detach()).item() < 0)
    throw ValueError("pow: integers to negative integer powers are not allowed (got a negative "
                     "exponent with dtype " + std::string(dtype_name(dt)) + ")");
  Tensor out = Tensor::empty(shape, dt, dev);
  if (dev.is_gpu()) gpu::binary((int)op, out, ac, bc);
  else SC_DISPATCH_NUMERIC(dt, name, binary_kernel<scalar_t>(op, out, ac, bc));
  if (!is_floating(dt)) return out;
  Shape sa = a.shape(), sb = b.shape();
  Tensor ad = ac.detach(), bd = bc.detach(), od = out.detach();
  return record_op1(name, {ac, bc}, out, [=](const Grads& gs) -> Grads {
    const Tensor& g = gs[0];
    Tensor ga, gb;
    switch (op) {
      case BinaryOp::Add: ga = g; gb = g; break;
      case BinaryOp::Sub: ga = g; gb = neg(g); break;
      case BinaryOp::Mul: ga = g * bd; gb = g * ad; break;
      case BinaryOp::Div: ga = g / bd; gb = neg(g * od / bd); break;
      case BinaryOp::Pow: {
        // d/da a^b = b a^(b-1), taken as 0 where b == 0 (not 0 * inf at a == 0)
        ga = where(compare(CompareOp::Eq, bd, Tensor::scalar(0.0, bd.dtype())),
                   Tensor::scalar(0.0, g.dtype()), g * bd * pow(ad, bd - 1.0));
        Tensor zero = Tensor::scalar(0.0, od.dtype());
        Tensor pos = compare(CompareOp::Gt, ad, zero);
        gb = where(pos, g * od * log(where(pos, ad, Tensor::scalar(1.0, od.dtype()))), zero);
        break;
      }
      case BinaryOp::Maximum: {
        Tensor m = compare(CompareOp::Ge, ad, bd);
        Tensor zero = Tensor::scalar(0.0, g.dtype());
        ga = where(m, g, zero);
        gb = where(m, zero, g);
        break;
      }
      case BinaryOp::Minimum: {
        Tensor m = compare(CompareOp::Le, ad, bd);
        Tensor zero = Tensor::scalar(0.0, g.dtype());
        ga = where(m, g, zero);
        gb = where(m, zero, g);
        break;
      }
    }
    return {sum_to(ga, sa), sum_to(gb, sb)};
  });
}

// ---- comparisons and logic --------------------------------------------------------
Tensor compare(CompareOp op, const Tensor& a, const Tensor& b) {
  Device dev = op_device(a, b, "compare");
  DType dt = promote(a.dtype(), b.dtype());
  if (is_half(dt)) dt = DType::Float32;
  if (dt == DType::Bool) dt = DType::UInt8;
  Tensor ac = a.detach().to(dt), bc = b.detach().to(dt);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape()), DType::Bool, dev);
  if (dev.is_gpu()) {
    gpu::compare((int)op, out, ac, bc);
    return out;
  }
  SC_DISPATCH_NUMERIC(dt, "compare", {
    using T = scalar_t;
    switch (op) {
      case CompareOp::Eq: map2<uint8_t, T>(out, ac, bc, [](T x, T y) { return uint8_t(x == y); }); break;
      case CompareOp::Ne: map2<uint8_t, T>(out, ac, bc, [](T x, T y) { return uint8_t(x != y); }); break;
      case CompareOp::Lt: map2<uint8_t, T>(out, ac, bc, [](T x, T y) { return uint8_t(x < y); }); break;
      case CompareOp::Le: map2<uint8_t, T>(out, ac, bc, [](T x, T y) { return uint8_t(x <= y); }); break;
      case CompareOp::Gt: map2<uint8_t, T>(out, ac, bc, [](T x, T y) { return uint8_t(x > y); }); break;
      case CompareOp::Ge: map2<uint8_t, T>(out, ac, bc, [](T x, T y) { return uint8_t(x >= y); }); break;
    }
  });
  return out;
}

static Tensor as_bool(const Tensor& t) { return t.dtype() == DType::Bool ? t : t.detach().to(DType::Bool); }

// Bool tensors seen as uint8 (0/1 bytes), for the GPU's integer kernels.
static Tensor bytes_of(const Tensor& t) {
  return gpu::is_immediate(t) ? t.to(DType::UInt8)
                              : Tensor::from_storage(t.storage(), t.shape(), t.strides(), t.offset(), DType::UInt8);
}

static Tensor logical_binary(int gpu_op, const Tensor& a, const Tensor& b, const char* name) {
  Device dev = op_device(a, b, name);
  Tensor ac = as_bool(a), bc = as_bool(b);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape()), DType::Bool, dev);
  gpu::binary(gpu_op, bytes_of(out), bytes_of(ac), bytes_of(bc));
  return out;
}

Tensor logical_and(const Tensor& a, const Tensor& b) {
  if (a.device().is_gpu() || b.device().is_gpu()) return logical_binary(SC_BIN_LOGICAL_AND, a, b, "logical_and");
  Tensor ac = as_bool(a), bc = as_bool(b);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape()), DType::Bool);
  map2<uint8_t, uint8_t>(out, ac, bc, [](uint8_t x, uint8_t y) { return uint8_t(x & y); });
  return out;
}

Tensor logical_or(const Tensor& a, const Tensor& b) {
  if (a.device().is_gpu() || b.device().is_gpu()) return logical_binary(SC_BIN_LOGICAL_OR, a, b, "logical_or");
  Tensor ac = as_bool(a), bc = as_bool(b);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape()), DType::Bool);
  map2<uint8_t, uint8_t>(out, ac, bc, [](uint8_t x, uint8_t y) { return uint8_t(x | y); });
  return out;
}

Tensor logical_not(const Tensor& a) {
  if (a.device().is_gpu()) return compare(CompareOp::Eq, as_bool(a).to(DType::UInt8), Tensor::scalar(0, DType::UInt8));
  Tensor ac = as_bool(a);
  Tensor out = Tensor::empty(a.shape(), DType::Bool);
  map1<uint8_t, uint8_t>(out, ac, [](uint8_t x) { return uint8_t(!x); });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Device dev = op_device(a, b, "where");
  if (cond.device() != dev)
    throw ValueError("where: the condition is on " + cond.device().str() + " and the values on " +
                     dev.str());
  DType dt = promote(a.dtype(), b.dtype());
  Tensor c = as_bool(cond);
  Tensor ac = a.to(dt), bc = b.to(dt);
  Shape shape = broadcast_shapes(broadcast_shapes(c.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(shape, dt, dev);
  if (dev.is_gpu()) gpu::where(out, c, ac, bc);
  else {
  Tensor cb = bview(c, shape), ab = bview(ac, shape), bb = bview(bc, shape);
  SC_DISPATCH_ALL(dt, "where", {
    using T = scalar_t;
    strided_for_each<4>(
        shape, {&out.strides(), &cb.strides(), &ab.strides(), &bb.strides()},
        {(char*)out.raw(), (char*)cb.raw(), (char*)ab.raw(), (char*)bb.raw()},
        {(int64_t)sizeof(T), 1, (int64_t)sizeof(T), (int64_t)sizeof(T)},
        [](int64_t n, const std::array<char*, 4>& p, const std::array<int64_t, 4>& s) {
          T* o = (T*)p[0];
          const uint8_t* m = (const uint8_t*)p[1];
          const T* x = (const T*)p[2];
          const T* y = (const T*)p[3];
          for (int64_t i = 0; i < n; ++i) o[i * s[0]] = m[i * s[1]] ? x[i * s[2]] : y[i * s[3]];
        });
  });
  }
  if (!is_floating(dt)) return out;
  Shape sa = a.shape(), sb = b.shape();
  return record_op1("where", {ac, bc}, out, [=](const Grads& gs) -> Grads {
    Tensor zero = Tensor::scalar(0.0, gs[0].dtype());
    return {sum_to(where(c, gs[0], zero), sa), sum_to(where(c, zero, gs[0]), sb)};
  });
}

// ---- unary -----------------------------------------------------------------------
static const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Rsqrt: return "rsqrt";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Gelu: return "gelu";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Sin: return "sin";
    case UnaryOp::Cos: return "cos";
    case UnaryOp::Square: return "square";
    case UnaryOp::Sign: return "sign";
  }
  return "?";
}

static bool keeps_integers(UnaryOp op) {
  return op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Square ||
         op == UnaryOp::Sign || op == UnaryOp::Relu;
}

template <typename T>
static void unary_kernel(UnaryOp op, const Tensor& out, const Tensor& x) {
  switch (op) {
    case UnaryOp::Neg: map1<T, T>(out, x, [](T v) { return T(-v); }); break;
    case UnaryOp::Abs: map1<T, T>(out, x, [](T v) { return v < T(0) ? T(-v) : v; }); break;
    case UnaryOp::Square: map1<T, T>(out, x, [](T v) { return T(v * v); }); break;
    case UnaryOp::Sign: map1<T, T>(out, x, [](T v) { return sc_sign(v); }); break;
    case UnaryOp::Relu: map1<T, T>(out, x, [](T v) { return sc_relu(v); }); break;
    default:
      if constexpr (std::is_floating_point_v<T>) {
        switch (op) {
          case UnaryOp::Exp: map1<T, T>(out, x, [](T v) { return sc_exp(v); }); break;
          case UnaryOp::Log: map1<T, T>(out, x, [](T v) { return std::log(v); }); break;
          case UnaryOp::Sqrt: map1<T, T>(out, x, [](T v) { return std::sqrt(v); }); break;
          case UnaryOp::Rsqrt: map1<T, T>(out, x, [](T v) { return sc_rsqrt(v); }); break;
          case UnaryOp::Sigmoid: map1<T, T>(out, x, [](T v) { return sc_sigmoid(v); }); break;
          case UnaryOp::Tanh: map1<T, T>(out, x, [](T v) { return std::tanh(v); }); break;
          case UnaryOp::Gelu: map1<T, T>(out, x, [](T v) { return sc_gelu(v); }); break;
          case UnaryOp::Sin: map1<T, T>(out, x, [](T v) { return std::sin(v); }); break;
          case UnaryOp::Cos: map1<T, T>(out, x, [](T v) { return std::cos(v); }); break;
          default: break;
        }
      }
  }
}

// Gradient of a unary op given x, y = f(x) and the incoming g, fused in one pass
// where the formula is per element.
static Tensor unary_backward(UnaryOp op, const Tensor& g, const Tensor& x, const Tensor& y) {
  Tensor out = Tensor::empty(g.shape(), g.dtype(), g.device());
  if (g.device().is_gpu()) {
    bool uses_y = op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt ||
                  op == UnaryOp::Sigmoid || op == UnaryOp::Tanh;
    gpu::unary_backward((int)op, out, g, (uses_y ? y : x).contiguous());
    return out;
  }
  SC_DISPATCH_FLOAT(g.dtype(), "backward", {
    using T = scalar_t;
    Tensor v = (op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt ||
                op == UnaryOp::Sigmoid || op == UnaryOp::Tanh) ? y : x;
    auto run = [&](auto f) { map2<T, T>(out, g, v, f); };
    switch (op) {
      case UnaryOp::Neg: run([](T gg, T) { return -gg; }); break;
      case UnaryOp::Exp: run([](T gg, T yy) { return gg * yy; }); break;
      case UnaryOp::Log: run([](T gg, T xx) { return gg / xx; }); break;
      case UnaryOp::Sqrt: run([](T gg, T yy) { return gg * T(0.5) / yy; }); break;
      case UnaryOp::Rsqrt: run([](T gg, T yy) { return T(-0.5) * gg * yy * yy * yy; }); break;
      case UnaryOp::Sigmoid: run([](T gg, T yy) { return gg * yy * (T(1) - yy); }); break;
      case UnaryOp::Tanh: run([](T gg, T yy) { return gg * (T(1) - yy * yy); }); break;
      case UnaryOp::Gelu: run([](T gg, T xx) { return gg * sc_gelu_grad(xx); }); break;
      case UnaryOp::Relu: run([](T gg, T xx) { return xx > T(0) ? gg : T(0); }); break;
      case UnaryOp::Abs: run([](T gg, T xx) { return gg * sc_sign(xx); }); break;
      case UnaryOp::Sin: run([](T gg, T xx) { return gg * std::cos(xx); }); break;
      case UnaryOp::Cos: run([](T gg, T xx) { return -gg * std::sin(xx); }); break;
      case UnaryOp::Square: run([](T gg, T xx) { return T(2) * gg * xx; }); break;
      case UnaryOp::Sign: run([](T, T) { return T(0); }); break;
    }
  });
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x) {
  const char* name = unary_name(op);
  DType dt = x.dtype();
  if (is_half(dt)) return unary(op, x.to(DType::Float32)).to(dt);
  if (dt == DType::Bool) return unary(op, x.to(DType::Int32));
  if (!is_floating(dt) && !keeps_integers(op)) return unary(op, x.to(DType::Float32));
  Tensor out = Tensor::empty(x.shape(), dt, x.device());
  if (x.device().is_gpu()) gpu::unary((int)op, out, x);
  else SC_DISPATCH_NUMERIC(dt, name, unary_kernel<scalar_t>(op, out, x));
  if (!is_floating(dt)) return out;
  Tensor xd = x.detach(), yd = out.detach();
  return record_op1(name, {x}, out, [=](const Grads& g) -> Grads {
    return {unary_backward(op, g[0].contiguous(), xd, yd)};
  });
}

Tensor pow_scalar(const Tensor& x, double p) {
  if (!is_floating(x.dtype()) || is_half(x.dtype()))
    return pow(x, scalar_like(p, x, p != std::floor(p)));
  if (p == 2.0) return square(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_gpu()) gpu::binary((int)BinaryOp::Pow, out, x, Tensor::scalar(p, x.dtype()));
  else SC_DISPATCH_FLOAT(x.dtype(), "pow", {
    using T = scalar_t;
    T pp = (T)p;
    map1<T, T>(out, x, [pp](T v) { return std::pow(v, pp); });
  });
  Tensor xd = x.detach();
  return record_op1("pow", {x}, out, [=](const Grads& g) -> Grads {
    if (p == 0.0) return {Tensor::zeros(xd.shape(), g[0].dtype(), xd.device())};  // x^0 is constant
    return {g[0] * p * pow_scalar(xd, p - 1.0)};
  });
}

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  if (lo && hi && *lo > *hi)
    throw ValueError("clamp: min (" + std::to_string(*lo) + ") is greater than max (" +
                     std::to_string(*hi) + ")");
  if (is_half(x.dtype())) return clamp(x.to(DType::Float32), lo, hi).to(x.dtype());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_gpu()) {
    // max(x, lo) then min(., hi), each with the bound by value; NaN stays NaN.
    Tensor src = x.detach();
    if (lo) {
      gpu::binary((int)BinaryOp::Maximum, out, src, Tensor::scalar(*lo, x.dtype()));
      src = out;
    }
    if (hi) gpu::binary((int)BinaryOp::Minimum, out, src, Tensor::scalar(*hi, x.dtype()));
    if (!lo && !hi) out.copy_from(x);
  } else SC_DISPATCH_NUMERIC(x.dtype(), "clamp", {
    using T = scalar_t;
    bool has_lo = lo.has_value(), has_hi = hi.has_value();
    T l = has_lo ? (T)*lo : T(0), h = has_hi ? (T)*hi : T(0);
    map1<T, T>(out, x, [=](T v) {
      if (has_lo && v < l) v = l;
      if (has_hi && v > h) v = h;
      return v;
    });
  });
  if (!is_floating(x.dtype())) return out;
  Tensor xd = x.detach();
  return record_op1("clamp", {x}, out, [=](const Grads& g) -> Grads {
    Tensor inside = Tensor::full(xd.shape(), 1.0, DType::Bool, xd.device());
    if (lo) inside = logical_and(inside, compare(CompareOp::Ge, xd, scalar_like(*lo, xd, true)));
    if (hi) inside = logical_and(inside, compare(CompareOp::Le, xd, scalar_like(*hi, xd, true)));
    return {where(inside, g[0], Tensor::scalar(0.0, g[0].dtype()))};
  });
}

}  // namespace sc

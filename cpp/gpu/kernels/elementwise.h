// Elementwise GPU kernels: unary, binary, comparisons, where, the converting
// copy (every dtype to every dtype, any strides) and fill. One kernel per
// element type; the op is a uniform argument, so a launch's threads all take
// the same branch. Per-element math comes from kernels/elementwise.h and
// kernels/half.h, shared with the CPU.
#pragma once
#include "gpu/kernels/elementwise_args.h"
#include "kernels/elementwise.h"
#include "kernels/half.h"

// Element offsets of operands [0, nops) for linear index i.
SC_FN void sc_operand_offsets(SC_ARGS_REF(ScStrided) it, int nops, sc_i64 i, SC_THREAD sc_i64* off) {
  bool strided = false;
  for (int k = 0; k < nops; ++k) {
    off[k] = it.mode[k] == SC_OPERAND_CONTIGUOUS ? i : 0;
    strided = strided || it.mode[k] == SC_OPERAND_STRIDED;
  }
  if (!strided) return;
  sc_i64 r = i;
  for (int d = it.ndim - 1; d >= 0; --d) {
    sc_i64 s = it.shape[d];
    sc_i64 q = r / s;
    sc_i64 idx = r - q * s;
    r = q;
    for (int k = 0; k < nops; ++k)
      if (it.mode[k] == SC_OPERAND_STRIDED) off[k] += idx * it.strides[k][d];
  }
}

// Integer add/sub/mul wrap like NumPy: done in the unsigned type.
template <typename T> struct ScWrap { typedef T type; };
template <> struct ScWrap<int> { typedef unsigned int type; };
template <> struct ScWrap<sc_i64> { typedef sc_u64 type; };

template <typename T>
SC_FN T sc_int_pow(T x, T y) {
  typedef typename ScWrap<T>::type U;
  if (y < T(0)) return x == T(1) ? T(1) : (x == T(-1) ? ((y & T(1)) ? T(-1) : T(1)) : T(0));
  U r = 1, base = U(x);
  for (U e = U(y); e > U(0); e >>= 1) {
    if (e & U(1)) r = U(r * base);
    base = U(base * base);
  }
  return T(r);
}

template <typename T>
SC_FN T sc_pow_of(T x, T y) { return sc_int_pow(x, y); }
SC_FN float sc_pow_of(float x, float y) { return pow(x, y); }
#if SC_GPU_HAS_FLOAT64
SC_FN double sc_pow_of(double x, double y) { return pow(x, y); }
#endif

template <typename T>
SC_FN T sc_gpu_binary(int op, T x, T y) {
  typedef typename ScWrap<T>::type U;
  switch (op) {
    case SC_BIN_ADD: return T(U(x) + U(y));
    case SC_BIN_SUB: return T(U(x) - U(y));
    case SC_BIN_MUL: return T(U(x) * U(y));
    case SC_BIN_DIV: return T(x / y);
    case SC_BIN_POW: return sc_pow_of(x, y);
    case SC_BIN_MAXIMUM: return (x != x || y != y) ? T(x + y) : (x > y ? x : y);
    case SC_BIN_MINIMUM: return (x != x || y != y) ? T(x + y) : (x < y ? x : y);
    case SC_BIN_LOGICAL_AND: return T((x != T(0)) && (y != T(0)));
    default: return T((x != T(0)) || (y != T(0)));
  }
}

template <typename T>
SC_FN bool sc_gpu_compare(int op, T x, T y) {
  switch (op) {
    case SC_CMP_EQ: return x == y;
    case SC_CMP_NE: return x != y;
    case SC_CMP_LT: return x < y;
    case SC_CMP_LE: return x <= y;
    case SC_CMP_GT: return x > y;
    default: return x >= y;
  }
}

// Integer-preserving unary ops (neg, abs, square, sign, relu); every op for floats.
template <typename T>
SC_FN T sc_gpu_unary_int(int op, T v) {
  switch (op) {
    case SC_UN_NEG: return T(-v);
    case SC_UN_ABS: return v < T(0) ? T(-v) : v;
    case SC_UN_SQUARE: return T(v * v);
    case SC_UN_SIGN: return sc_sign(v);
    default: return sc_relu(v);
  }
}
template <typename T>
SC_FN T sc_gpu_unary_float(int op, T v) {
  switch (op) {
    case SC_UN_EXP: return sc_exp(v);
    case SC_UN_LOG: return log(v);
    case SC_UN_SQRT: return sqrt(v);
    case SC_UN_RSQRT: return sc_rsqrt(v);
    case SC_UN_SIGMOID: return sc_sigmoid(v);
    case SC_UN_TANH: return tanh(v);
    case SC_UN_GELU: return sc_gelu(v);
    case SC_UN_SIN: return sin(v);
    case SC_UN_COS: return cos(v);
    default: return sc_gpu_unary_int(op, v);
  }
}

// Unary gradients: v is y for exp, sqrt, rsqrt, sigmoid, tanh, x otherwise (as on the CPU).
template <typename T>
SC_FN T sc_gpu_unary_grad(int op, T g, T v) {
  switch (op) {
    case SC_UN_NEG: return -g;
    case SC_UN_EXP: return g * v;
    case SC_UN_LOG: return g / v;
    case SC_UN_SQRT: return g * T(0.5) / v;
    case SC_UN_RSQRT: return T(-0.5) * g * v * v * v;
    case SC_UN_SIGMOID: return g * v * (T(1) - v);
    case SC_UN_TANH: return g * (T(1) - v * v);
    case SC_UN_GELU: return g * sc_gelu_grad(v);
    case SC_UN_RELU: return v > T(0) ? g : T(0);
    case SC_UN_ABS: return g * sc_sign(v);
    case SC_UN_SIN: return g * cos(v);
    case SC_UN_COS: return -g * sin(v);
    case SC_UN_SQUARE: return T(2) * g * v;
    default: return T(0);
  }
}

#define SC_GRID_STRIDE_LOOP(i, n)                                                  \
  for (sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X; i < (n);               \
       i += (sc_i64)SC_NGROUPS_X * SC_GSIZE_X)

#define SC_EW_UNARY_FLOAT(SUF, T)                                                    \
  SC_KERNEL(ew_unary_##SUF, ScUnaryArgs<T>) {                                       \
    SC_GRID_STRIDE_LOOP(i, args.it.n) {                                             \
      sc_i64 off[2];                                                                \
      sc_operand_offsets(args.it, 2, i, off);                                       \
      args.out[off[0]] = sc_gpu_unary_float<T>(args.op, args.x[off[1]]);            \
    }                                                                               \
  }                                                                                 \
  SC_KERNEL(ew_unary_backward_##SUF, ScUnaryBackwardArgs<T>) {                      \
    SC_GRID_STRIDE_LOOP(i, args.n) { args.out[i] = sc_gpu_unary_grad<T>(args.op, args.g[i], args.v[i]); } \
  }
SC_GPU_FOR_FLOATS(SC_EW_UNARY_FLOAT)

// The dense case of a float unary op (contiguous in and out, < 2^31 elements),
// shaped like ew_binary_dense: 32-bit indices, four elements per thread.
#define SC_EW_UNARY_DENSE(SUF, T)                                                    \
  SC_KERNEL(ew_unary_dense_##SUF, ScUnaryArgs<T>) {                                 \
    const unsigned n = (unsigned)args.it.n;                                         \
    const unsigned base = SC_GID_X * (SC_GSIZE_X * 4u) + SC_TID_X;                  \
    T v[4];                                                                         \
    for (unsigned k = 0; k < 4u; ++k) {                                             \
      const unsigned i = base + k * SC_GSIZE_X;                                     \
      v[k] = i < n ? args.x[i] : (T)0;                                              \
    }                                                                               \
    for (unsigned k = 0; k < 4u; ++k) {                                             \
      const unsigned i = base + k * SC_GSIZE_X;                                     \
      if (i < n) args.out[i] = sc_gpu_unary_float<T>(args.op, v[k]);                \
    }                                                                               \
  }
SC_GPU_FOR_FLOATS(SC_EW_UNARY_DENSE)

#define SC_EW_UNARY_INT(SUF, T)                                                      \
  SC_KERNEL(ew_unary_##SUF, ScUnaryArgs<T>) {                                       \
    SC_GRID_STRIDE_LOOP(i, args.it.n) {                                             \
      sc_i64 off[2];                                                                \
      sc_operand_offsets(args.it, 2, i, off);                                       \
      args.out[off[0]] = sc_gpu_unary_int<T>(args.op, args.x[off[1]]);              \
    }                                                                               \
  }
SC_GPU_FOR_INTS(SC_EW_UNARY_INT)

#define SC_EW_BINARY(SUF, T)                                                         \
  SC_KERNEL(ew_binary_##SUF, ScBinaryArgs<T>) {                                     \
    SC_GRID_STRIDE_LOOP(i, args.it.n) {                                             \
      sc_i64 off[3];                                                                \
      sc_operand_offsets(args.it, 3, i, off);                                       \
      T x = args.it.mode[1] == SC_OPERAND_IMMEDIATE ? args.a_imm : args.a[off[1]];  \
      T y = args.it.mode[2] == SC_OPERAND_IMMEDIATE ? args.b_imm : args.b[off[2]];  \
      args.out[off[0]] = sc_gpu_binary<T>(args.op, x, y);                           \
    }                                                                               \
  }                                                                                 \
  SC_KERNEL(ew_compare_##SUF, ScCompareArgs<T>) {                                   \
    SC_GRID_STRIDE_LOOP(i, args.it.n) {                                             \
      sc_i64 off[3];                                                                \
      sc_operand_offsets(args.it, 3, i, off);                                       \
      T x = args.it.mode[1] == SC_OPERAND_IMMEDIATE ? args.a_imm : args.a[off[1]];  \
      T y = args.it.mode[2] == SC_OPERAND_IMMEDIATE ? args.b_imm : args.b[off[2]];  \
      args.out[off[0]] = sc_gpu_compare<T>(args.op, x, y) ? 1 : 0;                  \
    }                                                                               \
  }
SC_GPU_FOR_NUMERIC(SC_EW_BINARY)

// The dense case of a binary op (out and every array operand contiguous, fewer
// than 2^31 elements): 32-bit indices and four independent elements per thread,
// a group's 1024 consecutive elements read in four coalesced sweeps.
#define SC_EW_BINARY_DENSE(SUF, T)                                                   \
  SC_KERNEL(ew_binary_dense_##SUF, ScBinaryArgs<T>) {                               \
    const unsigned n = (unsigned)args.it.n;                                         \
    const bool a_imm = args.it.mode[1] == SC_OPERAND_IMMEDIATE;                     \
    const bool b_imm = args.it.mode[2] == SC_OPERAND_IMMEDIATE;                     \
    const unsigned base = SC_GID_X * (SC_GSIZE_X * 4u) + SC_TID_X;                  \
    T x[4], y[4];                                                                   \
    for (unsigned k = 0; k < 4u; ++k) {                                             \
      const unsigned i = base + k * SC_GSIZE_X;                                     \
      x[k] = (a_imm || i >= n) ? args.a_imm : args.a[i];                            \
      y[k] = (b_imm || i >= n) ? args.b_imm : args.b[i];                            \
    }                                                                               \
    for (unsigned k = 0; k < 4u; ++k) {                                             \
      const unsigned i = base + k * SC_GSIZE_X;                                     \
      if (i < n) args.out[i] = sc_gpu_binary<T>(args.op, x[k], y[k]);               \
    }                                                                               \
  }
SC_GPU_FOR_NUMERIC(SC_EW_BINARY_DENSE)

// where() moves bits: one kernel per element size.
#define SC_EW_WHERE(SUF, T)                                                          \
  SC_KERNEL(ew_where_##SUF, ScWhereArgs<T>) {                                       \
    SC_GRID_STRIDE_LOOP(i, args.it.n) {                                             \
      sc_i64 off[4];                                                                \
      sc_operand_offsets(args.it, 4, i, off);                                       \
      bool c = args.cond[off[1]] != 0;                                              \
      T x = c ? (args.it.mode[2] == SC_OPERAND_IMMEDIATE ? args.a_imm : args.a[off[2]]) \
              : (args.it.mode[3] == SC_OPERAND_IMMEDIATE ? args.b_imm : args.b[off[3]]); \
      args.out[off[0]] = x;                                                         \
    }                                                                               \
  }
SC_EW_WHERE(b1, unsigned char)
SC_EW_WHERE(b2, unsigned short)
SC_EW_WHERE(b4, unsigned int)
SC_EW_WHERE(b8, sc_u64)

// The converting copy: integers travel as 64-bit integers, floating values as
// the widest float the backend has. Bool reads any nonzero byte as true.
#if SC_GPU_HAS_FLOAT64
typedef double sc_wide_float;
#else
typedef float sc_wide_float;
#endif

SC_FN bool sc_dtype_is_float(int dt) { return dt >= SC_DT_F16; }

SC_FN sc_i64 sc_load_int(SC_PTR(const unsigned char) p, int dt) {
  switch (dt) {
    case SC_DT_BOOL: return p[0] != 0 ? 1 : 0;
    case SC_DT_U8: return p[0];
    case SC_DT_I32: return SC_PTR_CAST(const int, p)[0];
    case SC_DT_U32: return SC_PTR_CAST(const unsigned int, p)[0];
    default: return SC_PTR_CAST(const sc_i64, p)[0];
  }
}
SC_FN sc_wide_float sc_load_float(SC_PTR(const unsigned char) p, int dt) {
  switch (dt) {
    case SC_DT_F16: return sc_f16_to_f32(SC_PTR_CAST(const unsigned short, p)[0]);
    case SC_DT_BF16: return sc_bf16_to_f32(SC_PTR_CAST(const unsigned short, p)[0]);
    case SC_DT_F32: return SC_PTR_CAST(const float, p)[0];
#if SC_GPU_HAS_FLOAT64
    case SC_DT_F64: return SC_PTR_CAST(const double, p)[0];
#endif
    default: return (sc_wide_float)sc_load_int(p, dt);
  }
}
SC_FN void sc_store_int(SC_PTR(unsigned char) p, int dt, sc_i64 v) {
  switch (dt) {
    case SC_DT_BOOL: p[0] = v != 0 ? 1 : 0; break;
    case SC_DT_U8: p[0] = (unsigned char)v; break;
    case SC_DT_I32: SC_PTR_CAST(int, p)[0] = (int)v; break;
    case SC_DT_U32: SC_PTR_CAST(unsigned int, p)[0] = (unsigned int)v; break;
    default: SC_PTR_CAST(sc_i64, p)[0] = v; break;
  }
}
SC_FN void sc_store_float(SC_PTR(unsigned char) p, int dt, sc_wide_float v) {
  switch (dt) {
    case SC_DT_BOOL: p[0] = v != 0 ? 1 : 0; break;
    case SC_DT_F16: SC_PTR_CAST(unsigned short, p)[0] = sc_f32_to_f16((float)v); break;
    case SC_DT_BF16: SC_PTR_CAST(unsigned short, p)[0] = sc_f32_to_bf16((float)v); break;
    case SC_DT_F32: SC_PTR_CAST(float, p)[0] = (float)v; break;
#if SC_GPU_HAS_FLOAT64
    case SC_DT_F64: SC_PTR_CAST(double, p)[0] = v; break;
#endif
    default: sc_store_int(p, dt, (sc_i64)v); break;
  }
}
SC_FN int sc_dtype_size(int dt) {
  return dt <= SC_DT_U8 ? 1 : (dt == SC_DT_F16 || dt == SC_DT_BF16) ? 2 : (dt == SC_DT_I64 || dt == SC_DT_F64) ? 8 : 4;
}

SC_KERNEL(ew_copy, ScCopyArgs) {
  const int ds = sc_dtype_size(args.dst_dtype), ss = sc_dtype_size(args.src_dtype);
  const bool via_float = sc_dtype_is_float(args.dst_dtype) || sc_dtype_is_float(args.src_dtype);
  SC_GRID_STRIDE_LOOP(i, args.it.n) {
    sc_i64 off[2];
    sc_operand_offsets(args.it, 2, i, off);
    SC_PTR(unsigned char) d = args.dst + off[0] * ds;
    SC_PTR(const unsigned char) s = args.src + off[1] * ss;
    if (args.dst_dtype == args.src_dtype) {
      for (int b = 0; b < ds; ++b) d[b] = s[b];
    } else if (via_float) {
      sc_store_float(d, args.dst_dtype, sc_load_float(s, args.src_dtype));
    } else {
      sc_store_int(d, args.dst_dtype, sc_load_int(s, args.src_dtype));
    }
  }
}

SC_KERNEL(ew_fill, ScFillArgs) {
  SC_GRID_STRIDE_LOOP(i, args.n) {
    switch (args.size) {
      case 1: args.out[i] = (unsigned char)args.bits; break;
      case 2: SC_PTR_CAST(unsigned short, args.out)[i] = (unsigned short)args.bits; break;
      case 4: SC_PTR_CAST(unsigned int, args.out)[i] = (unsigned int)args.bits; break;
      default: SC_PTR_CAST(sc_u64, args.out)[i] = args.bits; break;
    }
  }
}

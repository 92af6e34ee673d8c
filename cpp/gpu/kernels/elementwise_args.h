// Argument structs of the elementwise GPU kernels (gpu/kernels/elementwise.h),
// shared by the host side (gpu/ops/elementwise.cpp) and the kernels.
//
// Every operand is addressed one of four ways, chosen on the host after
// merging dimensions: contiguous (element i), an immediate value held in the
// struct (a Python scalar or a 0-d CPU tensor: no copy, no host round trip),
// one element broadcast to all, or strided through the shared shape (at most
// SC_GPU_MAX_DIMS dimensions).
#pragma once
#include "gpu/dialect.h"

#define SC_GPU_MAX_DIMS 8

enum ScOperandMode {
  SC_OPERAND_CONTIGUOUS = 0,  // element i
  SC_OPERAND_IMMEDIATE = 1,   // the value in the struct
  SC_OPERAND_STRIDED = 2,     // through shape and strides
  SC_OPERAND_BROADCAST = 3    // element 0 for every i (all strides 0)
};

// Opcodes: the first seven follow sc::BinaryOp, the rest are GPU-only.
enum ScBinaryOp {
  SC_BIN_ADD = 0, SC_BIN_SUB, SC_BIN_MUL, SC_BIN_DIV, SC_BIN_POW, SC_BIN_MAXIMUM, SC_BIN_MINIMUM,
  SC_BIN_LOGICAL_AND, SC_BIN_LOGICAL_OR
};
// Follow sc::CompareOp.
enum ScCompareOp { SC_CMP_EQ = 0, SC_CMP_NE, SC_CMP_LT, SC_CMP_LE, SC_CMP_GT, SC_CMP_GE };
// Follow sc::UnaryOp.
enum ScUnaryOp {
  SC_UN_NEG = 0, SC_UN_EXP, SC_UN_LOG, SC_UN_SQRT, SC_UN_RSQRT, SC_UN_SIGMOID, SC_UN_TANH,
  SC_UN_GELU, SC_UN_RELU, SC_UN_ABS, SC_UN_SIN, SC_UN_COS, SC_UN_SQUARE, SC_UN_SIGN
};

// The iteration space and each operand's strides (in elements).
struct ScStrided {
  sc_i64 n;                                // elements
  sc_i32 ndim;
  sc_i32 mode[4];                          // ScOperandMode per operand (out first)
  sc_i64 shape[SC_GPU_MAX_DIMS];
  sc_i64 strides[4][SC_GPU_MAX_DIMS];
};

template <typename T>
struct ScUnaryArgs {
  SC_PTR(T) out;
  SC_PTR(const T) x;
  ScStrided it;
  sc_i32 op;
};

// Out is T for arithmetic, one byte 0/1 (bool) for comparisons.
template <typename T, typename Out = T>
struct ScBinaryArgs {
  SC_PTR(Out) out;
  SC_PTR(const T) a;
  SC_PTR(const T) b;
  T a_imm, b_imm;
  ScStrided it;
  sc_i32 op;
};
template <typename T>
using ScCompareArgs = ScBinaryArgs<T, unsigned char>;

// out = cond ? a : b on raw elements of T (a bit pattern of the element's size).
template <typename T>
struct ScWhereArgs {
  SC_PTR(T) out;
  SC_PTR(const unsigned char) cond;
  SC_PTR(const T) a;
  SC_PTR(const T) b;
  T a_imm, b_imm;
  ScStrided it;  // operands: out, cond, a, b
};

// The gradient of a unary op from g and v (x, or y = f(x) where that is cheaper).
template <typename T>
struct ScUnaryBackwardArgs {
  SC_PTR(T) out;
  SC_PTR(const T) g;
  SC_PTR(const T) v;
  sc_i64 n;  // all contiguous
  sc_i32 op;
};

// Dtype codes of sc::DType, for the converting copy.
enum ScDType {
  SC_DT_BOOL = 0, SC_DT_U8, SC_DT_I32, SC_DT_U32, SC_DT_I64, SC_DT_F16, SC_DT_BF16, SC_DT_F32,
  SC_DT_F64
};

struct ScCopyArgs {
  SC_PTR(unsigned char) dst;
  SC_PTR(const unsigned char) src;
  ScStrided it;  // operands: dst, src
  sc_i32 dst_dtype, src_dtype;
};

// Fills n elements of `size` bytes with a bit pattern.
struct ScFillArgs {
  SC_PTR(unsigned char) out;
  sc_i64 n;
  sc_u64 bits;
  sc_i32 size;
};

// Every tensor operation of the core, CPU backend. All broadcast like NumPy;
// all floating-point ops are differentiable (see autograd/function.h).
#pragma once
#include <optional>
#include <vector>

#include "core/tensor.h"
#include "ops/index.h"
#include "ops/linalg.h"

namespace sc {

// ---- broadcasting helpers --------------------------------------------------
Shape broadcast_shapes(const Shape& a, const Shape& b);   // ValueError naming both
Tensor sum_to(const Tensor& g, const Shape& shape);      // undo broadcasting in backward
Shape infer_reshape(const Shape& requested, int64_t numel, const Shape& from);

// ---- creation ---------------------------------------------------------------
Tensor arange(double start, double stop, double step, DType dtype);
Tensor rand(const Shape& shape, uint64_t seed, DType dtype = DType::Float32);   // U[0,1)
Tensor randn(const Shape& shape, uint64_t seed, DType dtype = DType::Float32);  // N(0,1)

// ---- elementwise binary -------------------------------------------------------
enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum };
enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge };
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);  // -> bool
inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
inline Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Pow, a, b); }
inline Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Maximum, a, b); }
inline Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Minimum, a, b); }
// A Python scalar next to a tensor: keeps the tensor's dtype (a float scalar
// next to an integer tensor gives float32), like NumPy 2's weak scalars.
Tensor scalar_like(double value, const Tensor& t, bool value_is_float);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
// cond ? a : b, broadcasting all three; differentiable in a and b.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- elementwise unary --------------------------------------------------------
enum class UnaryOp { Neg, Exp, Log, Sqrt, Rsqrt, Sigmoid, Tanh, Gelu, Relu, Abs, Sin, Cos, Square, Sign };
Tensor unary(UnaryOp op, const Tensor& x);
inline Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
inline Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
inline Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
inline Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
inline Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::Rsqrt, x); }
inline Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::Sigmoid, x); }
inline Tensor tanh(const Tensor& x) { return unary(UnaryOp::Tanh, x); }
inline Tensor gelu(const Tensor& x) { return unary(UnaryOp::Gelu, x); }  // exact (erf)
inline Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, x); }
inline Tensor abs(const Tensor& x) { return unary(UnaryOp::Abs, x); }
inline Tensor sin(const Tensor& x) { return unary(UnaryOp::Sin, x); }
inline Tensor cos(const Tensor& x) { return unary(UnaryOp::Cos, x); }
inline Tensor square(const Tensor& x) { return unary(UnaryOp::Square, x); }
inline Tensor sign(const Tensor& x) { return unary(UnaryOp::Sign, x); }
Tensor pow_scalar(const Tensor& x, double p);
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);

// ---- reductions (axes empty = all axes) ------------------------------------
Tensor sum(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);
Tensor norm(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);  // L2
// Index of the largest value along `axis` (flattened when absent) -> int64.
Tensor argmax(const Tensor& x, std::optional<int64_t> axis = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> axis = std::nullopt, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);

// Operators for C++ callers.
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, scalar_like(s, a, true)); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, scalar_like(s, a, true)); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, scalar_like(s, a, true)); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, scalar_like(s, a, true)); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, scalar_like(s, a, true)); }

}  // namespace sc

// arange and counter-based random tensors (same values for any thread count).
#include <cmath>

#include "core/convert.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace sc {

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0) throw ValueError("arange: step must be nonzero");
  double n = std::ceil((stop - start) / step);
  if (!std::isfinite(n) || n > 9.0e15)
    throw ValueError("arange: cannot make a range from " + std::to_string(start) + " to " +
                     std::to_string(stop) + " in steps of " + std::to_string(step));
  int64_t len = n > 0 ? (int64_t)n : 0;
  Tensor t = Tensor::empty({len}, dtype);
  SC_DISPATCH_STORAGE(dtype, {
    scalar_t* p = t.data<scalar_t>();
    parallel_for(len, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = convert<scalar_t>(start + (double)i * step);
    });
  });
  return t;
}

// splitmix64 finaliser: a bijective 64-bit mix (Steele et al., 2014).
static inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) from 53 random bits of element i of stream `seed`.
static inline double uniform(uint64_t seed, uint64_t i) {
  return (double)(mix64(mix64(seed) ^ (i * 0xD1B54A32D192ED03ull)) >> 11) * (1.0 / 9007199254740992.0);
}

static void check_float(DType dt, const char* name) {
  if (!is_floating(dt))
    throw TypeError(std::string(name) + ": dtype must be floating point, got " + dtype_name(dt));
}

Tensor rand(const Shape& shape, uint64_t seed, DType dtype) {
  check_float(dtype, "rand");
  Tensor t = Tensor::empty(shape, DType::Float64);
  double* p = t.data<double>();
  parallel_for(t.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = uniform(seed, (uint64_t)i);
  });
  return t.to(dtype);
}

Tensor randn(const Shape& shape, uint64_t seed, DType dtype) {
  check_float(dtype, "randn");
  Tensor t = Tensor::empty(shape, DType::Float64);
  double* p = t.data<double>();
  // Box-Muller on the pair of uniforms (2i, 2i+1) of the stream.
  parallel_for(t.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double u1 = 1.0 - uniform(seed, 2 * (uint64_t)i), u2 = uniform(seed, 2 * (uint64_t)i + 1);
      p[i] = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
  });
  return t.to(dtype);
}

}  // namespace sc

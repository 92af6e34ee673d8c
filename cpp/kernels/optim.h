// Per-element optimizer updates shared by every backend (kernel subset, see
// compat.h). Each function updates element i of a parameter in place from its
// gradient and its optimizer state. T is float on GPUs; the CPU also
// instantiates T = double. Hyper-parameters come in as T so that float64
// parameters are updated with float64 hyper-parameters. I is the index type.
//
// Scalars that do not depend on the element (bias corrections, step sizes) are
// computed once per tensor on the host and passed in.
#pragma once
#include "kernels/compat.h"

// Adam (Kingma & Ba 2015, Algorithm 1) in the form torch.optim.Adam computes:
//   g  <- g + wd * p                      (L2 penalty, only when !decoupled)
//   p  <- p * (1 - lr * wd)               (AdamW: decoupled weight decay,
//                                          Loshchilov & Hutter 2019, only when decoupled)
//   m  <- beta1 * m + (1 - beta1) * g
//   v  <- beta2 * v + (1 - beta2) * g^2
//   p  <- p - step_size * m / (sqrt(v) / bc2_sqrt + eps)
// with step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t), t the
// step count of this parameter (1 on the first step).
template <typename T, typename I>
SC_FN void sc_adam_update(I i, SC_DEVICE T* p, SC_DEVICE const T* g, SC_DEVICE T* m,
                          SC_DEVICE T* v, T beta1, T beta2, T eps, T weight_decay,
                          T decay_factor, T step_size, T bc2_sqrt, int decoupled) {
  T pi = p[i];
  T gi = g[i];
  if (decoupled) {
    pi = pi * decay_factor;  // decay_factor = 1 - lr * weight_decay
  } else if (weight_decay != T(0)) {
    gi = gi + weight_decay * pi;
  }
  T mi = beta1 * m[i] + (T(1) - beta1) * gi;
  T vi = beta2 * v[i] + (T(1) - beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  T denom = sqrt(vi) / bc2_sqrt + eps;
  p[i] = pi - step_size * mi / denom;
}

// SGD with momentum in the form torch.optim.SGD computes:
//   g   <- g + wd * p
//   buf <- g                                     (first step: has_buf == 0)
//   buf <- momentum * buf + (1 - dampening) * g  (later steps)
//   g   <- g + momentum * buf   (nesterov)   or   g <- buf
//   p   <- p - lr * g
// `buf` may be null when momentum == 0 (no buffer kept).
template <typename T, typename I>
SC_FN void sc_sgd_update(I i, SC_DEVICE T* p, SC_DEVICE const T* g, SC_DEVICE T* buf, T lr,
                         T momentum, T dampening, T weight_decay, int nesterov, int has_buf) {
  T pi = p[i];
  T gi = g[i];
  if (weight_decay != T(0)) gi = gi + weight_decay * pi;
  if (momentum != T(0)) {
    T b = has_buf ? momentum * buf[i] + (T(1) - dampening) * gi : gi;
    buf[i] = b;
    gi = nesterov ? gi + momentum * b : b;
  }
  p[i] = pi - lr * gi;
}

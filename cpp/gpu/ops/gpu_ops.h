// The tensor ops on a GPU device, written once over gpu/runtime.h for every
// GPU backend (the simulator, CUDA, Metal). The CPU ops in cpp/ops call these
// when their output lives on a GPU; shapes, dtypes and autograd stay there.
// Inputs are already on the output's device, except 0-d CPU tensors (scalars),
// which travel by value in the argument struct.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace sc::gpu {

// ---- elementwise (gpu/ops/elementwise.cpp); ops are the codes of gpu/kernels/elementwise_args.h
void unary(int op, const Tensor& out, const Tensor& x);
void unary_backward(int op, const Tensor& out, const Tensor& g, const Tensor& v);  // all contiguous
void binary(int op, const Tensor& out, const Tensor& a, const Tensor& b);
void compare(int op, const Tensor& out, const Tensor& a, const Tensor& b);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
void fill(const Tensor& out, double value);
// dst = src (broadcast to dst's shape), converting dtypes; either side may be on
// the CPU (a staged transfer) or on dst's GPU.
void copy(const Tensor& dst, const Tensor& src);

// ---- reductions (gpu/ops/reduce.cpp): `src` is a contiguous (A, R, K) block
// reduced over R into the contiguous (A * K) elements of `out` (same dtype).
enum class Reduce { Sum = 0, Max, Min, SumSquares };
void reduce(Reduce op, const Tensor& out, const Tensor& src, int64_t A, int64_t R, int64_t K);
// Index of the first extreme of each contiguous row of `src` (rows, len) into int64 `out`.
void arg_reduce(bool is_max, const Tensor& out, const Tensor& src, int64_t rows, int64_t len);
// Softmax or log-softmax of each contiguous row.
void softmax(const Tensor& out, const Tensor& src, int64_t rows, int64_t len, bool log_space);

// ---- matmul (gpu/ops/matmul.cpp): out[b] = a[b] @ b[b], float32/float64, contiguous (B, M, K) x (B, K, N)
void batched_matmul(const Tensor& out, const Tensor& a, const Tensor& b);
// out += a @ b: out a 2-D (M, N) view with contiguous rows at any row stride (a
// band of a larger tensor), a (M, K), b (K, N) contiguous, one float dtype. cuBLAS
// accumulates in place (beta = 1); elsewhere the product is added afterwards.
void matmul_accumulate(const Tensor& out, const Tensor& a, const Tensor& b);

// ---- indexing (gpu/ops/index.cpp). `index` is a contiguous int64 tensor on the
// device: of shape `it` (gather, scatter_add), or 1-D along `axis` only
// (along_only: index_select). dst[.., j, ..] = src[.., index, ..] (gather) or
// dst[.., index, ..] += src[.., j, ..] (scatter_add, atomics) over `it`.
void gather(const Tensor& out, const Tensor& src, const Tensor& index, int64_t axis, const Shape& it,
            bool along_only);
void scatter_add(const Tensor& dst, const Tensor& src, const Tensor& index, int64_t axis, const Shape& it,
                 bool along_only);
// cumsum of a contiguous (outer, len, inner) block along len.
void cumsum(const Tensor& out, const Tensor& src, int64_t outer, int64_t len, int64_t inner, bool reverse);
// Raises IndexError when an indexing kernel on `d` met an index out of bounds
// since the last check (called at host reads).
void check_device_errors(Device d);

// ---- convolution (gpu/ops/conv.cpp): one image (C, H, W), contiguous, and its
// columns (G, K = C/G*kh*kw, Ho*Wo); col2im overwrites the image.
struct ConvShape {
  int64_t C, H, W, G, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw;
  int64_t oh0 = 0;       // im2col: the columns of output rows [oh0, oh0 + Ho) (a band)
  bool relu_in = false;  // im2col: max(x, 0) of the image (a ReLU before the conv)
};
void im2col(const Tensor& image, const Tensor& cols, const ConvShape& s);
void col2im(const Tensor& cols, const Tensor& image, const ConvShape& s);

// Bilinear resampling of contiguous planes: forward src (planes, H, W) -> dst
// (planes, Ho, Wo); backward src = dy (planes, Ho, Wo) accumulated into dst = dx (zeroed).
void bilinear(bool backward, const Tensor& src, const Tensor& dst, int64_t planes, int64_t H, int64_t W,
              int64_t Ho, int64_t Wo, bool align_corners);

// ---- sorting (gpu/ops/sort.cpp): stable LSD radix sort of contiguous uint32
// (key, value) pairs by key bits [begin_bit, end_bit); outputs are distinct
// from the inputs. exclusive_scan_u32 scans a contiguous uint32 tensor in place.
void radix_sort_pairs(const Tensor& keys_out, const Tensor& values_out, const Tensor& keys_in,
                      const Tensor& values_in, int begin_bit, int end_bit);
void exclusive_scan_u32(const Tensor& data);

// ---- SSIM (gpu/ops/ssim.cpp) of contiguous (B, H, W, C) images: the per-pixel
// map (and, when `partials` is defined, its 4 partial planes of numel each),
// and the backward from those partials with the upstream gradient `grad` (a
// device scalar) into dx / dy (either may be undefined). loss_lambda >= 0: the
// map and gradient of the 3DGS loss (1 - lambda) |x - y| + lambda (1 - SSIM)
// per element instead (gpu/kernels/ssim.h).
struct SsimShape {
  int64_t B, H, W, C;
  double loss_lambda = -1;
};
void ssim_map(const Tensor& x, const Tensor& y, const SsimShape& s, const Tensor& map, const Tensor& partials);
void ssim_grad(const Tensor& x, const Tensor& y, const SsimShape& s, const Tensor& partials,
               const Tensor& grad, const Tensor& dx, const Tensor& dy);

// ---- fused optimizers (gpu/ops/optim.cpp): per-tensor scalars from the host
struct AdamScalars {
  double beta1, beta2, eps, weight_decay, decay_factor, step_size, bc2_sqrt;
  int decoupled;
};
struct AdamJob {
  Tensor p, g, m, v;  // contiguous, one device and dtype per job
  AdamScalars s;
};
// Queues the Adam updates of every job: one launch for up to
// SC_ADAM_MAX_TENSORS consecutive jobs of one device and dtype.
void adam_steps(const std::vector<AdamJob>& jobs);
struct SgdScalars {
  double lr, momentum, dampening, weight_decay;
  int nesterov, has_buf;
};
void sgd_step(const Tensor& p, const Tensor& g, const Tensor& buf, const SgdScalars& s);
// Densification statistics in place (splat/densify_stats.h, checked there):
// grad2d float32 / float64, the sums and counts float64, or float32 beside float32 grad2d.
void accumulate_grad2d(const Tensor& grad2d, const Tensor& radii, double scale_x, double scale_y,
                       const Tensor& grad_sum, const Tensor& count);

// A 0-d CPU tensor next to a GPU operand travels by value.
inline bool is_immediate(const Tensor& t) { return t.device().type == DeviceType::CPU && t.ndim() == 0; }

}  // namespace sc::gpu

// Matrix products and the convolution family (ops/matmul.cpp, ops/conv.cpp).
#pragma once
#include <string>

#include "core/tensor.h"

namespace sc {

// NumPy matmul semantics: 1-D operands are promoted and the added axis removed,
// batch axes broadcast. float32/float64 through BLAS.
Tensor matmul(const Tensor& a, const Tensor& b);

// NCHW input, OIHW weight (I = C / groups); bias (O,) optional (undefined Tensor).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride_h,
              int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h = 1,
              int64_t dilation_w = 1, int64_t groups = 1);
// weight (C, O, kh, kw) as torch.nn.ConvTranspose2d (groups = 1).
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride_h,
                        int64_t stride_w, int64_t pad_h, int64_t pad_w,
                        int64_t output_padding_h = 0, int64_t output_padding_w = 0);
// NCHW bilinear resize to (out_h, out_w), torch's align_corners semantics.
Tensor upsample_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);
// (N, C*r*r, H, W) -> (N, C, H*r, W*r), torch.nn.functional.pixel_shuffle.
Tensor pixel_shuffle(const Tensor& x, int64_t r);

// BLAS in use, e.g. "OpenBLAS 0.3.27 (scipy-openblas32)", "Accelerate", "blocked fallback".
std::string blas_name();
// Where to find libscipy_openblas at run time (set by the Python package).
void set_blas_library_path(const std::string& path);

}  // namespace sc

// Running statistics of adaptive density control (3DGS sec. 5.2): the norm of
// each Gaussian's view-space positional gradient, summed over the views that
// saw it, and the number of those views.
#pragma once
#include "core/tensor.h"

namespace sc {

// For every i with radii[i] != (0, 0): grad_sum[i] += |(g[i,0] * scale_x, g[i,1] * scale_y)|
// and count[i] += 1. grad2d (N,2) float32/64, radii (N,2) int32; grad_sum and
// count (N,) float64 (on a GPU device float32 too, beside float32 grad2d: Metal),
// contiguous and writable, updated in place, all on one device (a GPU device:
// one kernel).
void accumulate_grad2d(const Tensor& grad2d, const Tensor& radii, double scale_x, double scale_y,
                       Tensor& grad_sum, Tensor& count);

}  // namespace sc

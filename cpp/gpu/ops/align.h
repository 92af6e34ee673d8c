// Host side of the global-alignment kernels (gpu/kernels/align.h): the fused
// loss-and-gradient pass of align/align.h on a GPU device. AlignProblem builds
// the tables once per device and calls align_loss each step.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace sc::gpu {

// The problem on one device (layouts: gpu/kernels/align_args.h).
struct AlignTables {
  Tensor data, image_f, image_i, inc, item, edge_inc;
  int64_t n = 0, E = 0, items = 0, partials = 0;
};

struct AlignScalars {
  int stride = 1, offset = 0;
  double inv_area1 = 0, inv_area2 = 0, base_scale = 0.5, focal_break = 20, eps = 1e-12, quat_eps = 1e-12;
};

// The loss as a 1-element device tensor; with `grads`, also the gradients of
// the 7 parameters (log_depth, quat, trans, log_focal, pw_quat, pw_trans,
// pw_log_scale), all on the parameters' device. Nothing is read back.
Tensor align_loss(const AlignTables& t, const Tensor* params, const AlignScalars& s, std::vector<Tensor>* grads);

}  // namespace sc::gpu

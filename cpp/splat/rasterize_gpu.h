// The rasterizer on a GPU device (the simulator, CUDA, Metal): the same
// inputs, outputs and autograd node as the CPU rasterizer (splat/rasterize.h),
// over the kernels of gpu/ops/raster.h. Called by rasterize / rasterize_params
// after their argument checks when means lives on a GPU device.
#pragma once
#include "splat/rasterize.h"

namespace sc::raster {

RasterizeResult rasterize_gpu(const Tensor& means, const Tensor& quats, const Tensor& scales,
                              const Tensor& opacities, const Tensor& colors, const Tensor& colors_rest,
                              const Tensor& viewmat, const Tensor& K, const Tensor& background,
                              const RasterizeOptions& opt, bool raw);

}  // namespace sc::raster

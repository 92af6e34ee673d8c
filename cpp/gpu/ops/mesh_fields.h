// Host side of the meshing fields on a GPU device: TSDF fusion of one view
// (gpu/ops/tsdf.cpp) and the opacity field (gpu/ops/opacity_field.cpp), over
// the CPU's per-voxel bodies (kernels/marching_cubes_fields.h).
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "mesh/fields.h"

namespace sc::gpu {

// ---- TSDF fusion (gpu/ops/tsdf.cpp): one depth view (H, W) (and rgb (H, W, 3)
// or undefined) into contiguous float32 grids tsdf / weight (D0, D1, D2) and
// colour (D0, D1, D2, 3) / cweight (or undefined), as mesh::tsdf_integrate.
struct TsdfView {
  float viewmat[16], K[9], origin[3];
  float voxel, trunc, near_plane, max_weight;
  int carve;
};
void tsdf_integrate(const TsdfView& view, const Tensor& tsdf, const Tensor& weight, const Tensor& color,
                    const Tensor& cweight, const Tensor& depth, const Tensor& rgb);

// ---- the opacity field (gpu/ops/opacity_field.cpp): the Gaussians binned on the
// host (mesh::bin_gaussians; colors (N, 3) or null) evaluated into float32 grids
// field (D0, D1, D2) and color (D0, D1, D2, 3) (or undefined) on their device.
void opacity_field(const mesh::VoxelGrid& g, const mesh::GaussianBins& bins, const float* colors, int64_t n,
                   const Tensor& field, const Tensor& color);

}  // namespace sc::gpu

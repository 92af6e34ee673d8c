// Scalar fields for meshing a scene (CPU host side; per-voxel bodies in
// kernels/marching_cubes_fields.h). Grids are C-order (dims[0], dims[1],
// dims[2]) with voxel (i, j, k) at world position origin + voxel * (i, j, k).
#pragma once
#include <cstdint>
#include <vector>

namespace sc {
namespace mesh {

struct VoxelGrid {
  int64_t dims[3] = {0, 0, 0};
  float origin[3] = {0.0f, 0.0f, 0.0f};
  float voxel = 1.0f;
  int64_t count() const { return dims[0] * dims[1] * dims[2]; }
};

// One view of TSDF fusion, in place. depth (H, W): camera z, 0 = no surface;
// rgb (H, W, 3) or null; viewmat (4, 4) world-to-camera row-major; K (3, 3).
// color (count, 3) and cweight (count) may be null (no colour).
void tsdf_integrate(const VoxelGrid& g, float* tsdf, float* weight, float* color, float* cweight,
                    const float* depth, const float* rgb, int64_t width, int64_t height,
                    const float* viewmat, const float* K, float trunc, float near_plane,
                    float max_weight, bool carve);

// The Gaussians of an opacity field binned into blocks of kOpacityBlock^3
// voxels: each Gaussian packed once (rec, SC_GAUSS_RECORD floats), its voxel
// index box (lo[3], hi[3]; empty when lo > hi), and per block (start, CSR)
// the Gaussians touching it, in Gaussian order. Shared by the CPU and GPU
// evaluations, so each voxel sums the same Gaussians in the same order.
constexpr int64_t kOpacityBlock = 8;
struct GaussianBins {
  std::vector<float> rec;
  std::vector<int32_t> box;
  std::vector<int64_t> start;
  std::vector<int32_t> list;
  int64_t blocks[3] = {0, 0, 0};
  int64_t pairs() const { return start.empty() ? 0 : start.back(); }
};
GaussianBins bin_gaussians(const VoxelGrid& g, const float* means, const float* quats, const float* scales,
                           const float* opacities, int64_t n, float min_scale, float max_sigma);

// Opacity field of N Gaussians (means (N,3), quats wxyz (N,4), activated scales
// (N,3) and opacities (N,)), written to field (count); colors (N,3) or null,
// then color (count, 3) gets the contribution-weighted mean colour.
// Returns the number of (Gaussian, block) pairs evaluated.
int64_t opacity_field(const VoxelGrid& g, const float* means, const float* quats,
                      const float* scales, const float* opacities, const float* colors, int64_t n,
                      float min_scale, float max_sigma, float* field, float* color);

// Voxels on the outside (sign * (v - level) <= 0) that cannot be reached from
// the grid's boundary through outside voxels (6-connected) are enclosed
// voids: they get fill_value. Returns how many were filled.
int64_t fill_enclosed(const int64_t* dims, float* field, float level, float sign, float fill_value);

}  // namespace mesh
}  // namespace sc

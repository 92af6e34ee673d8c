// Argument struct of the GPU opacity field (gpu/kernels/opacity_field.h).
#pragma once
#include "gpu/dialect.h"

#define SC_OPACITY_BLOCK 8  // voxels per block edge (mesh::kOpacityBlock)

struct ScOpacityFieldArgs {
  SC_PTR(const float) rec;      // (N, SC_GAUSS_RECORD) packed Gaussians
  SC_PTR(const int) box;        // (N, 6) voxel index boxes
  SC_PTR(const sc_i64) start;   // (blocks + 1,) CSR offsets
  SC_PTR(const int) list;       // Gaussians per block, in Gaussian order
  SC_PTR(const float) colors;   // (N, 3) or null
  SC_PTR(float) field;          // (count,)
  SC_PTR(float) color;          // (count, 3) or null
  sc_i64 dims[3], blocks[3];
  float origin[3];
  float voxel;
};

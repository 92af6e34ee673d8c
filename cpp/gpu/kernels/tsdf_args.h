// Argument struct of the GPU TSDF fusion (gpu/kernels/tsdf.h).
#pragma once
#include "gpu/dialect.h"
#include "kernels/marching_cubes_fields.h"

struct ScTsdfArgs {
  SC_PTR(float) tsdf;     // (count,) C-order grid
  SC_PTR(float) weight;   // (count,)
  SC_PTR(float) color;    // (count, 3) or null
  SC_PTR(float) cweight;  // (count,) or null
  SC_PTR(const float) depth;  // (H, W) camera z, 0 = no surface
  SC_PTR(const float) rgb;    // (H, W, 3) or null
  ScTsdfCamera cam;
  sc_i64 dims[3];
  float origin[3];
  float voxel, trunc, near_plane, max_weight;
  int carve;
};

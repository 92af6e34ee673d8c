// The opacity field on the GPU: a group per block of 8^3 voxels, a thread per
// voxel, summing the block's Gaussians (binned on the host, mesh/fields.h) in
// the CPU's order through the CPU's body (kernels/marching_cubes_fields.h).
#pragma once
#include "gpu/kernels/opacity_field_args.h"
#include "kernels/marching_cubes_fields.h"

SC_KERNEL(opacity_field_eval, ScOpacityFieldArgs) {
  const sc_i64 blk = SC_GID_X, b1 = args.blocks[1], b2 = args.blocks[2];
  const sc_i64 l = SC_TID_X;  // (x * 8 + y) * 8 + z within the block
  const sc_i64 x = (blk / (b1 * b2)) * SC_OPACITY_BLOCK + l / (SC_OPACITY_BLOCK * SC_OPACITY_BLOCK);
  const sc_i64 y = ((blk / b2) % b1) * SC_OPACITY_BLOCK + (l / SC_OPACITY_BLOCK) % SC_OPACITY_BLOCK;
  const sc_i64 z = (blk % b2) * SC_OPACITY_BLOCK + l % SC_OPACITY_BLOCK;
  if (x >= args.dims[0] || y >= args.dims[1] || z >= args.dims[2]) return;
  const float px = args.origin[0] + args.voxel * (float)x;
  const float py = args.origin[1] + args.voxel * (float)y;
  const float pz = args.origin[2] + args.voxel * (float)z;
  float acc = 0.0f, c0 = 0.0f, c1 = 0.0f, c2 = 0.0f;
  for (sc_i64 p = args.start[blk]; p < args.start[blk + 1]; ++p) {
    const sc_i64 g = args.list[p];
    SC_DEVICE const int* gb = args.box + 6 * g;
    if (x < gb[0] || x > gb[3] || y < gb[1] || y > gb[4] || z < gb[2] || z > gb[5]) continue;
    SC_DEVICE const float* r = args.rec + SC_GAUSS_RECORD * g;
    const float w = sc_gauss_eval(r, px, py, pz);
    acc += w;
    if (args.colors) {
      c0 += w * args.colors[3 * g];
      c1 += w * args.colors[3 * g + 1];
      c2 += w * args.colors[3 * g + 2];
    }
  }
  const sc_i64 v = (x * args.dims[1] + y) * args.dims[2] + z;
  args.field[v] = acc;
  if (args.color) {
    const float inv = acc > 0.0f ? 1.0f / acc : 0.0f;
    args.color[3 * v] = c0 * inv;
    args.color[3 * v + 1] = c1 * inv;
    args.color[3 * v + 2] = c2 * inv;
  }
}
